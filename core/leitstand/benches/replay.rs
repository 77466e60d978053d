//! Replay throughput through the example bundles, and the latency of one plugin call, each
//! with prepared instances kept warm (the default) and with a fresh instance for every
//! event (`sandbox.warm_instances = 0`). Run with `make bench` (or `cargo bench -p
//! leitstand` after `make guests`); figures go into docs/BENCHMARKS.md.
//!
//! Replay runs on one thread, so events/s here is events/s on one core.
#![allow(missing_docs)]

mod support;

/// The allocator of the `leitstand` binary, so that the figures are the command's.
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use leitstand::replay::{Replay, ReplayJournal, ReplayOptions};
use leitstand_contract::envelope::{IntakeLimits, parse_structured};
use leitstand_engine::dispatch::Dispatcher;
use leitstand_engine::pipeline::memory::MemoryJournal;
use leitstand_engine::sandbox::{EventView, Sandbox, SandboxConfig, TenantScope};
use leitstand_engine::state::{MemoryStore, StateStore};
use leitstand_engine::tenants::Bundle;
use leitstand_metrics::CustomMetrics;
use leitstand_store::{Store, StoreConfig};

/// The example day and what replays it.
struct Day<'a> {
    root: &'a Path,
    events: &'a [u8],
    lines: usize,
    sandbox: &'a Arc<Sandbox>,
    runtime: &'a tokio::runtime::Runtime,
}

impl Day<'_> {
    /// Replays the day 16 times on one thread, each on a fresh journal from `journal`;
    /// the first pass warms caches and is not counted.
    fn rate<J: ReplayJournal>(
        &self,
        label: &str,
        journal: impl Fn() -> anyhow::Result<J>,
    ) -> anyhow::Result<()> {
        let mut rates = Vec::new();
        let mut plugin_calls = 0;
        for round in 0..16 {
            let state: Arc<dyn StateStore> = Arc::new(MemoryStore::new());
            let dispatcher = Dispatcher::load(
                &self.root.join("examples/bundles"),
                self.sandbox.clone(),
                state,
            )
            .map_err(|e| anyhow::anyhow!("{e:?}"))?;
            let journal = journal()?;
            let mut sink = std::io::sink();
            let mut ignore = |_| {};
            let start = Instant::now();
            let report = Replay::new(
                &dispatcher,
                journal,
                self.runtime.handle().clone(),
                ReplayOptions::default(),
                &mut sink,
                &mut ignore,
            )
            .run(self.events)?;
            let elapsed = start.elapsed();
            plugin_calls = report.replay.plugin_calls;
            if round > 0 {
                rates.push(self.lines as f64 / elapsed.as_secs_f64());
            }
        }
        rates.sort_by(f64::total_cmp);
        println!(
            "replay on the {label}: {} events, {plugin_calls} plugin calls per pass; events/s median {:.0} (min {:.0}, max {:.0}) over {} passes",
            self.lines,
            rates[rates.len() / 2],
            rates[0],
            rates[rates.len() - 1],
            rates.len()
        );
        Ok(())
    }
}

/// `n` copies of the rlp-impf bundle, each a tenant of its own, and the example day's
/// rlp-impf events for each, interleaved line by line.
struct Copies {
    bundles: tempfile::TempDir,
    events: Vec<u8>,
    lines: usize,
    tenants: usize,
}

impl Copies {
    fn new(root: &Path, day: &[u8], n: usize) -> anyhow::Result<Self> {
        let bundles = tempfile::tempdir()?;
        let ids: Vec<String> = (1..=n).map(|i| format!("rlp-impf-{i}")).collect();
        for id in &ids {
            support::rlp_impf_copy(root, bundles.path(), id)?;
        }
        let own: Vec<&str> = std::str::from_utf8(day)?
            .lines()
            .filter(|l| l.contains("\"tenant\":\"rlp-impf\""))
            .collect();
        let mut events = Vec::new();
        for line in &own {
            for id in &ids {
                events.extend_from_slice(
                    line.replacen(
                        "\"tenant\":\"rlp-impf\"",
                        &format!("\"tenant\":\"{id}\""),
                        1,
                    )
                    .as_bytes(),
                );
                events.push(b'\n');
            }
        }
        Ok(Self {
            bundles,
            events,
            lines: own.len() * n,
            tenants: n,
        })
    }

    /// One pass on `jobs` jobs: events/s, the commands written, and the pass's wall-clock
    /// and CPU seconds.
    fn pass(
        &self,
        sandbox: &Arc<Sandbox>,
        runtime: &tokio::runtime::Runtime,
        jobs: usize,
    ) -> anyhow::Result<(f64, Vec<u8>, Times)> {
        let state: Arc<dyn StateStore> = Arc::new(MemoryStore::new());
        let dispatcher = Dispatcher::load(self.bundles.path(), sandbox.clone(), state)
            .map_err(|e| anyhow::anyhow!("{e:?}"))?;
        let mut commands = Vec::new();
        let mut ignore = |_| {};
        let cpu = cpu_seconds()?;
        let start = Instant::now();
        Replay::new(
            &dispatcher,
            MemoryJournal::new(),
            runtime.handle().clone(),
            ReplayOptions::default(),
            &mut commands,
            &mut ignore,
        )
        .with_jobs(jobs)?
        .run(self.events.as_slice())?;
        let wall = start.elapsed().as_secs_f64();
        let times = Times {
            wall,
            cpu: cpu_seconds()? - cpu,
        };
        Ok((self.lines as f64 / wall, commands, times))
    }

    /// Alternating passes on one job and on `cores` jobs, the first of each not counted.
    /// The gain is the median of each round's ratio (its two passes run back to back, so
    /// that a machine whose speed drifts between rounds slows both alike); the ratio of the
    /// two medians is printed beside it.
    fn compare(
        &self,
        sandbox: &Arc<Sandbox>,
        runtime: &tokio::runtime::Runtime,
        cores: usize,
    ) -> anyhow::Result<()> {
        let (mut one, mut all, mut gains) = (Vec::new(), Vec::new(), Vec::new());
        let (mut one_times, mut all_times) = (Times::default(), Times::default());
        for round in 0..=ROUNDS {
            let (a, first, a_times) = self.pass(sandbox, runtime, 1)?;
            let (b, spread, b_times) = self.pass(sandbox, runtime, cores)?;
            anyhow::ensure!(
                first == spread,
                "the commands of {cores} jobs differ from those of one"
            );
            if round > 0 {
                one.push(a);
                all.push(b);
                gains.push(b / a);
                one_times.add(a_times);
                all_times.add(b_times);
            }
        }
        let median = |v: &mut Vec<f64>| {
            v.sort_by(f64::total_cmp);
            v[v.len() / 2]
        };
        let (a, b) = (median(&mut one), median(&mut all));
        let gain = median(&mut gains);
        println!(
            "replay of {} tenants ({} events, the same commands byte for byte): one job {a:.0} events/s, {cores} jobs {b:.0} events/s, gain {gain:.2}x (median of {} rounds' ratios, {:.2}x to {:.2}x; ratio of the medians {:.2}x)",
            self.tenants,
            self.lines,
            gains.len(),
            gains[0],
            gains[gains.len() - 1],
            b / a,
        );
        // The gain is the cores kept busy divided by the work grown: what the jobs' waits
        // and the serial steps cost, and what running side by side costs each core.
        println!(
            "replay of {} tenants, CPU seconds per wall-clock second over all rounds: one job {:.2}, {cores} jobs {:.2}; CPU seconds of {cores} jobs per one job's {:.2}",
            self.tenants,
            one_times.cpu / one_times.wall,
            all_times.cpu / all_times.wall,
            all_times.cpu / one_times.cpu,
        );
        Ok(())
    }
}

/// Wall-clock and CPU seconds of passes.
#[derive(Debug, Clone, Copy, Default)]
struct Times {
    wall: f64,
    cpu: f64,
}

impl Times {
    fn add(&mut self, other: Self) {
        self.wall += other.wall;
        self.cpu += other.cpu;
    }
}

/// The CPU seconds this process has used so far, its exited threads included.
fn cpu_seconds() -> anyhow::Result<f64> {
    support::cpu_seconds("self").ok_or_else(|| anyhow::anyhow!("/proc/self/stat has no CPU times"))
}

/// Rounds of one pass on one job and one on all cores that count (after one that does not).
const ROUNDS: usize = 11;

fn main() -> anyhow::Result<()> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let events = std::fs::read(root.join("examples/day.jsonl"))?;
    let lines = events
        .split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .count();
    let sandbox = Arc::new(Sandbox::new(
        SandboxConfig::default(),
        Arc::new(CustomMetrics::new()),
    )?);
    let fresh = Arc::new(Sandbox::new(
        SandboxConfig {
            warm_instances: 0,
            ..SandboxConfig::default()
        },
        Arc::new(CustomMetrics::new()),
    )?);

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()?;
    // Replay throughput: the whole day, several rounds, fresh state each round, on the
    // journal in memory (the path `leitstand replay` takes without `--state`) and on the
    // store (`--state`, here an in-memory SQLite database).
    let day = Day {
        root: &root,
        events: &events,
        lines,
        sandbox: &sandbox,
        runtime: &runtime,
    };
    day.rate("journal in memory (`leitstand replay`)", || {
        Ok(MemoryJournal::new())
    })?;
    let day_fresh = Day {
        sandbox: &fresh,
        ..day
    };
    day_fresh.rate(
        "journal in memory, a fresh instance for every event (`warm_instances = 0`)",
        || Ok(MemoryJournal::new()),
    )?;
    day.rate("store, SQLite in memory (`--state`)", || {
        Ok(runtime.block_on(Store::open(&StoreConfig {
            url: "sqlite::memory:".into(),
            ..StoreConfig::default()
        }))?)
    })?;

    // Several tenants in parallel: copies of rlp-impf, each a tenant of its own, their days
    // interleaved line by line, replayed on one job and on one job per core.
    let copies = Copies::new(&root, &events, 4)?;
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    copies.compare(&sandbox, &runtime, cores)?;

    // One plugin call: the rota of rlp-impf on a call.offered, the switchboard of soest on
    // a call.offered and a call.ended; warm (the instance prepared once and kept) and
    // fresh (store, instance and `prepare` for every call).
    let calls = [
        (
            "rlp-impf",
            "call.offered",
            r#"{"call_id":"c-1","queue":"impf","site":"kaiserslautern","priority":"normal","concern":"termin","caller_ref":"p-0001"}"#,
        ),
        (
            "soest",
            "call.offered",
            r#"{"call_id":"c-1","queue":"buergerservice","site":"soest","concern":"Kfz-Zulassung","caller_ref":"p-0001"}"#,
        ),
        (
            "soest",
            "call.ended",
            r#"{"call_id":"c-1","queue":"buergerservice","site":"soest","talk_seconds":100}"#,
        ),
    ];
    for (tenant, ty, data) in calls {
        for (how, sandbox) in [("warm", &sandbox), ("fresh", &fresh)] {
            one_call(&root, sandbox, tenant, ty, data, how)?;
        }
    }
    Ok(())
}

/// The latency of one plugin call of `tenant`'s plugin for `ty` on the event `data`,
/// 20,000 calls.
fn one_call(
    root: &Path,
    sandbox: &Sandbox,
    tenant: &str,
    ty: &str,
    data: &str,
    how: &str,
) -> anyhow::Result<()> {
    let bundle = Bundle::load(&root.join("examples/bundles").join(tenant))
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let spec = bundle
        .plugins
        .iter()
        .find(|p| p.subscribe.contains(ty))
        .ok_or_else(|| anyhow::anyhow!("no plugin for {ty} in {tenant}"))?;
    let plugin = sandbox
        .prepare(
            spec,
            &bundle.tenant,
            bundle.timezone.name(),
            bundle.service.calendars.clone(),
        )
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let scope = TenantScope {
        tenant: bundle.tenant.clone(),
        timezone: Arc::from(bundle.timezone.name()),
        state: Arc::new(MemoryStore::new()),
        quota: Arc::new(leitstand_engine::sandbox::TenantQuota::new(bundle.limits)),
        calendars: bundle.service.calendars.clone(),
    };
    let body = format!(
        r#"{{"specversion":"1.0","id":"bench-1","source":"acd/bench","type":"{ty}","tenant":"{tenant}","time":"2026-11-19T11:05:00+01:00","data":{data}}}"#
    );
    let env = parse_structured(body.as_bytes(), IntakeLimits::default(), chrono::Utc::now())
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let view = EventView::of(&env);
    let n = 20_000;
    let mut samples = Vec::with_capacity(n);
    for _ in 0..n {
        let start = Instant::now();
        let out = sandbox
            .invoke(&plugin, &scope, &view)
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        samples.push(start.elapsed());
        std::hint::black_box(out);
    }
    samples.sort();
    let q = |p: f64| samples[((samples.len() as f64 - 1.0) * p) as usize];
    let mean = samples.iter().sum::<Duration>() / n as u32;
    println!(
        "plugin call, {tenant} {} on {ty} ({how}): mean {mean:?}, p50 {:?}, p99 {:?} over {n} calls",
        spec.name,
        q(0.5),
        q(0.99)
    );
    Ok(())
}
