//! Replay throughput through the example bundles, and the latency of one plugin call
//! (fresh store + instantiate + call). Run with `make bench` (or `cargo bench -p leitstand`
//! after `make guests`); figures go into docs/BENCHMARKS.md.
//!
//! Replay runs on one thread, so events/s here is events/s on one core.
#![allow(missing_docs)]

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use leitstand::replay::{Replay, ReplayOptions};
use leitstand_contract::envelope::{IntakeLimits, parse_structured};
use leitstand_engine::dispatch::Dispatcher;
use leitstand_engine::sandbox::{EventView, Sandbox, SandboxConfig, TenantScope};
use leitstand_engine::state::{MemoryStore, StateStore};
use leitstand_engine::tenants::Bundle;
use leitstand_metrics::CustomMetrics;
use leitstand_store::{Store, StoreConfig};

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

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()?;
    // Replay throughput: the whole day, several rounds, fresh state each round.
    let mut rates = Vec::new();
    let mut plugin_calls = 0;
    for round in 0..16 {
        let state: Arc<dyn StateStore> = Arc::new(MemoryStore::new());
        let dispatcher = Dispatcher::load(&root.join("examples/bundles"), sandbox.clone(), state)
            .map_err(|e| anyhow::anyhow!("{e:?}"))?;
        // The path `leitstand replay` takes: a throw-away in-memory store.
        let store = runtime.block_on(Store::open(&StoreConfig {
            url: "sqlite::memory:".into(),
            ..StoreConfig::default()
        }))?;
        let mut sink = std::io::sink();
        let mut ignore = |_| {};
        let start = Instant::now();
        let report = Replay::new(
            &dispatcher,
            store,
            runtime.handle().clone(),
            ReplayOptions::default(),
            &mut sink,
            &mut ignore,
        )
        .run(events.as_slice())?;
        let elapsed = start.elapsed();
        plugin_calls = report.replay.plugin_calls;
        if round > 0 {
            // round 0 warms caches and is not counted
            rates.push(lines as f64 / elapsed.as_secs_f64());
        }
    }
    rates.sort_by(f64::total_cmp);
    println!(
        "replay: {lines} events, {plugin_calls} plugin calls per pass; events/s median {:.0} (min {:.0}, max {:.0}) over {} passes",
        rates[rates.len() / 2],
        rates[0],
        rates[rates.len() - 1],
        rates.len()
    );

    // One plugin call: the example router on a call.offered event.
    let bundle = Bundle::load(&root.join("examples/bundles/rlp-impf"))
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let spec = bundle
        .plugins
        .iter()
        .find(|p| p.subscribe.contains("call.offered"))
        .ok_or_else(|| anyhow::anyhow!("no plugin for call.offered in rlp-impf"))?;
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
    let body = br#"{"specversion":"1.0","id":"bench-1","source":"acd/kaiserslautern","type":"call.offered","tenant":"rlp-impf","time":"2026-11-19T11:05:00+01:00","data":{"call_id":"c-1","queue":"impf","site":"kaiserslautern","priority":"normal","concern":"termin","caller_ref":"p-0001"}}"#;
    let env = parse_structured(body, IntakeLimits::default(), chrono::Utc::now())
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
        "plugin call (fresh store + instantiate + call): mean {mean:?}, p50 {:?}, p99 {:?} over {n} calls",
        q(0.5),
        q(0.99)
    );
    Ok(())
}
