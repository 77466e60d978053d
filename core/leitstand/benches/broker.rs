//! `leitstand run` against a bare relay on the same RabbitMQ, measured in the same run.
//!
//! **Drain** (the headline figure): the input queues are filled first with
//! `LEITSTAND_BENCH_DRAIN` (default 50,000) events of a realistic mix over the example
//! tenants — copies of the example day (offers, answers, abandons, ends, site status,
//! bookings), each on a day of its own — and only then does the path start consuming; the
//! rate is the events over the time from the first output to the last. The relay forwards
//! every event; the daemon decides on each with the example bundles and publishes the
//! commands they make (it is done when nothing more comes and its queues are empty).
//! `LEITSTAND_BENCH_BINARY` measures another build of `leitstand` (the one before a change).
//!
//! **Live** (as it has always been measured): a publisher in this process feeds the path
//! while it runs, so the publisher bounds both sides; kept for comparison with earlier
//! figures.
//!
//! Run with `make bench`, or `cargo bench -p leitstand --bench broker` after `make guests`.
//! It needs RabbitMQ on 127.0.0.1:5672 (guest/guest) and `rabbitmqctl` on the PATH; each run
//! works in a vhost of its own, deleted afterwards. Figures go into docs/BENCHMARKS.md.
//!
//! Both paths have the daemon's shape: events are published persistent, with confirms, to
//! a topic exchange routing them into one quorum queue per tenant (`rlp-impf` and `soest`);
//! each queue is consumed with prefetch 256 on its own channel; each message is published
//! persistent and `mandatory` on a confirm-mode channel of a second connection to a topic
//! exchange, and its input is acknowledged once the confirm is in (confirms awaited in
//! order by a second task, so up to the prefetch are in flight); a quorum "tap" queue bound
//! `#` to that exchange is read by the bench. The relay forwards each message unchanged;
//! the daemon parses it, runs the example router plugin and publishes the `call.route`
//! command the plugin decides on, effectively once: each batch's state, timers, processed
//! ids and outbox are committed to its store before the batch is acknowledged. The daemon
//! is measured with its state on SQLite (a fresh file per run) and on PostgreSQL
//! (`LEITSTAND_BENCH_POSTGRES`, default `postgres://postgres@127.0.0.1:5432/test`; empty
//! leaves it out), whose rows for the example tenants are deleted first with `psql`.
//!
//! Two measurements per path, after a warm-up that is not counted:
//! - **throughput**: `LEITSTAND_BENCH_EVENTS` (default 20,000) events published as fast as
//!   the publisher goes (confirms pipelined), timed from the first publish until the last
//!   output has reached the reader;
//! - **latency**: `LEITSTAND_BENCH_PACED` (default 5,000) events at 1,000 per second, each
//!   timed from its publish to its output's arrival at the reader (p50, p99); beside the
//!   daemon's figures, where its time went by its own histograms over that phase (`/metrics`
//!   read before and after): a batch from its deliveries in hand to its messages handed to
//!   the relay, the commit alone, and the broker's confirm of a relayed batch.
//!
//! **Many tenants** (after the comparison): `LEITSTAND_BENCH_TENANTS` (default 1,000; 0 leaves
//! it out) copies of the `rlp-impf` bundle, each a tenant of its own, on one daemon with state
//! on SQLite: the time from its start to `/readyz`, and its resident memory at rest and after
//! one `call.offered` per tenant has gone through each tenant's plugins, beside a daemon with
//! one copy, so that the memory each further tenant-plugin costs is shown.
//!
//! The comparison runs `LEITSTAND_BENCH_RUNS` times (default 3). Publisher, reader, relay,
//! daemon and broker share the machine's cores; the CPU each used during the throughput
//! phase is printed with the figures.

mod support;

use std::collections::{HashMap, HashSet};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail, ensure};
use chrono::{SecondsFormat, Utc};
use futures_util::StreamExt;
use lapin::message::Delivery;
use lapin::options::{
    BasicAckOptions, BasicConsumeOptions, BasicNackOptions, BasicPublishOptions, BasicQosOptions,
    ConfirmSelectOptions, ExchangeDeclareOptions, QueueBindOptions, QueueDeclareOptions,
};
use lapin::types::{AMQPValue, FieldTable, LongString};
use lapin::{
    Acker, BasicProperties, Channel, Confirmation, Connection, ConnectionProperties, Consumer,
    ExchangeKind, PublisherConfirm,
};
use serde::Deserialize;
use tokio::sync::{mpsc, oneshot, watch};

/// Unacknowledged deliveries per input queue, as the daemon's default `amqp.prefetch`.
const PREFETCH: u16 = 256;
/// Events sent before each path's figures are taken, not counted.
const WARM_UP: usize = 2_000;
/// The pace of the latency measurement, events per second.
const PACE: u32 = 1_000;
/// Confirms the publisher may have outstanding.
const CONFIRM_WINDOW: usize = 1_024;
/// How long the reader waits for the next output before giving up.
const PATIENCE: Duration = Duration::from_secs(60);

/// The two example tenants: id, queue names of their bundle, the site calls come from.
const TENANTS: [(&str, &[&str], &str); 2] = [
    ("rlp-impf", &["impf"], "kaiserslautern"),
    ("soest", &["stadt", "kreis"], "soest"),
];

/// What to run, from `LEITSTAND_BENCH_*` or the defaults.
struct Settings {
    events: usize,
    paced: usize,
    runs: usize,
    drain: usize,
    tenants: usize,
}

impl Settings {
    fn from_env() -> Result<Self> {
        let get = |key: &str, default: usize| -> Result<usize> {
            match std::env::var(key) {
                Ok(v) => v
                    .parse()
                    .with_context(|| format!("{key}={v:?} is not a count")),
                Err(_) => Ok(default),
            }
        };
        Ok(Self {
            events: get("LEITSTAND_BENCH_EVENTS", 20_000)?,
            paced: get("LEITSTAND_BENCH_PACED", 5_000)?,
            runs: get("LEITSTAND_BENCH_RUNS", 3)?.max(1),
            drain: get("LEITSTAND_BENCH_DRAIN", 50_000)?,
            tenants: get("LEITSTAND_BENCH_TENANTS", 1_000)?,
        })
    }
}

fn main() -> Result<()> {
    let settings = Settings::from_env()?;
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let binary = std::env::var_os("LEITSTAND_BENCH_BINARY").map_or_else(
        || PathBuf::from(env!("CARGO_BIN_EXE_leitstand")),
        PathBuf::from,
    );
    ensure!(
        binary.exists(),
        "{} is missing; build it with `cargo build --release --locked -p leitstand`",
        binary.display()
    );
    ensure!(
        TcpStream::connect_timeout(
            &SocketAddr::from(([127, 0, 0, 1], 5672)),
            Duration::from_secs(2)
        )
        .is_ok(),
        "RabbitMQ is not reachable on 127.0.0.1:5672; start it with `make broker`"
    );
    let broker_pid = broker_pid();
    println!(
        "broker bench: {} events for throughput, {} at {PACE}/s for latency, {WARM_UP} to warm up; {} runs",
        settings.events, settings.paced, settings.runs
    );

    // The relay runs on a runtime of its own, as the daemon runs in a process of its own.
    let relay_rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("relay")
        .build()
        .context("starting the relay's runtime")?;
    let load_rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("load")
        .build()
        .context("starting the load runtime")?;
    let log_dir = tempfile::tempdir().context("a directory for the daemon's log")?;

    // Event ids are unique per invocation: the PostgreSQL store outlives a run, and ids it
    // has seen would be skipped as duplicates instead of measured.
    let nonce = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default();
    let postgres = std::env::var("LEITSTAND_BENCH_POSTGRES")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
    let mut stores = Vec::new();
    if !postgres.is_empty() {
        stores.push(postgres);
    }
    if settings.drain > 0 {
        let events = realistic(&root.join("examples/day.jsonl"), settings.drain, nonce)?;
        println!(
            "drain: {} events of the example day's mix, queued before the path starts",
            events.len()
        );
        let mut drains = Vec::new();
        for run in 1..=settings.runs {
            let vhost = Vhost::new(100 + run)?;
            let relay = load_rt
                .block_on(drain_relay(&vhost, &events, relay_rt.handle()))
                .context("the relay's drain")?;
            println!("run {run}: bare relay     {}", relay.line());
            let mut daemons = Vec::new();
            let sqlite = format!(
                "sqlite://{}",
                log_dir.path().join(format!("drain-{run}.db")).display()
            );
            for url in std::iter::once(&sqlite).chain(&stores) {
                let kind = store_kind(url);
                if kind == "postgres" {
                    forget_example_tenants(url)?;
                }
                let vhost = Vhost::new(200 + run * 10 + daemons.len())?;
                let d = load_rt
                    .block_on(drain_daemon(
                        &vhost,
                        &events,
                        &binary,
                        &root.join("examples/bundles"),
                        log_dir.path(),
                        url,
                        broker_pid,
                    ))
                    .with_context(|| format!("the daemon's drain on {kind}"))?;
                println!(
                    "run {run}: daemon {kind:<9} {}  ratio {:.2}",
                    d.line(),
                    d.rate / relay.rate
                );
                daemons.push((kind, d));
            }
            drains.push((relay, daemons));
        }
        println!();
        println!(
            "| run | path (drain of {} queued events) | events/s | of relay |",
            events.len()
        );
        println!("|---|---|---|---|");
        for (i, (relay, daemons)) in drains.iter().enumerate() {
            println!("| {} | bare relay | {:.0} | 1.00 |", i + 1, relay.rate);
            for (kind, d) in daemons {
                println!(
                    "| {} | daemon, state on {kind} | {:.0} | {:.2} |",
                    i + 1,
                    d.rate,
                    d.rate / relay.rate
                );
            }
        }
        let kinds: Vec<&str> = drains
            .first()
            .map(|(_, d)| d.iter().map(|(k, _)| *k).collect())
            .unwrap_or_default();
        for (j, kind) in kinds.iter().enumerate() {
            println!(
                "drain, median over {} runs: daemon on {kind} {:.0} events/s, relay {:.0} msg/s, ratio {:.2}",
                drains.len(),
                median(drains.iter().map(|(_, d)| d[j].1.rate).collect()),
                median(drains.iter().map(|(r, _)| r.rate).collect()),
                median(drains.iter().map(|(r, d)| d[j].1.rate / r.rate).collect()),
            );
        }
        println!();
    }
    if settings.events > 0 {
        live(
            &settings,
            &binary,
            &root,
            &stores,
            &load_rt,
            &relay_rt,
            log_dir.path(),
            broker_pid,
            nonce,
        )?;
    }
    if settings.tenants > 0 {
        // A first start fills the cache of compiled plugin code, so that the start-up
        // figures below are those of a daemon started again on the same bundles.
        load_rt
            .block_on(many_tenants(&binary, &root, 1, log_dir.path()))
            .context("a daemon filling the compile cache")?;
        let one = load_rt
            .block_on(many_tenants(&binary, &root, 1, log_dir.path()))
            .context("one tenant on a daemon")?;
        let many = load_rt
            .block_on(many_tenants(
                &binary,
                &root,
                settings.tenants,
                log_dir.path(),
            ))
            .with_context(|| format!("{} tenants on one daemon", settings.tenants))?;
        println!();
        println!(
            "| tenants | tenant-plugins | start to /readyz | resident at rest | resident after one event each | peak resident |"
        );
        println!("|---|---|---|---|---|---|");
        for t in [&one, &many] {
            println!("{}", t.row());
        }
        let added = (many.plugins - one.plugins).max(1) as f64;
        println!(
            "each further tenant-plugin: {:.2} MiB resident at rest, {:.2} MiB after one event each; over all: {:.2} MiB per tenant-plugin",
            mib(many.at_rest.saturating_sub(one.at_rest)) / added,
            mib(many.active.saturating_sub(one.active)) / added,
            mib(many.active) / many.plugins.max(1) as f64,
        );
    }
    Ok(())
}

/// The live comparison: a publisher in this process feeds each path while it runs.
#[allow(clippy::too_many_arguments)]
fn live(
    settings: &Settings,
    binary: &Path,
    root: &Path,
    stores: &[String],
    load_rt: &tokio::runtime::Runtime,
    relay_rt: &tokio::runtime::Runtime,
    log_dir: &Path,
    broker_pid: Option<u32>,
    nonce: u64,
) -> Result<()> {
    println!("live: a publisher in this process feeds each path while it runs");
    let mut runs = Vec::new();
    for run in 1..=settings.runs {
        let vhost = Vhost::new(run)?;
        let cx = Run {
            vhost: &vhost,
            settings,
            broker_pid,
            tag: format!("r{run}-{nonce}"),
        };
        let relay = load_rt
            .block_on(cx.relay_path(relay_rt.handle()))
            .context("the relay path")?;
        println!("run {run}:");
        println!("  relay            {}", relay.line());
        let sqlite = format!(
            "sqlite://{}",
            log_dir.join(format!("state-{run}.db")).display()
        );
        let mut daemons = Vec::new();
        for url in std::iter::once(&sqlite).chain(stores) {
            let kind = store_kind(url);
            if kind == "postgres" {
                forget_example_tenants(url)?;
            }
            let cx = Run {
                tag: format!("r{run}-{nonce}-{kind}"),
                ..cx
            };
            let daemon = load_rt
                .block_on(cx.daemon_path(binary, &root.join("examples/bundles"), log_dir, url))
                .with_context(|| format!("the daemon path on {kind}"))?;
            println!(
                "  daemon {kind:<9} {}  ratio {:.2}",
                daemon.line(),
                daemon.rate / relay.rate
            );
            daemons.push((kind, daemon));
        }
        runs.push((relay, daemons));
    }

    println!();
    println!("| run | path | events/s | of relay | p50 / p99 at {PACE}/s |");
    println!("|---|---|---|---|---|");
    for (i, (relay, daemons)) in runs.iter().enumerate() {
        println!(
            "| {} | bare relay | {:.0} | 1.00 | {} / {} |",
            i + 1,
            relay.rate,
            ms(relay.p50),
            ms(relay.p99)
        );
        for (kind, d) in daemons {
            println!(
                "| {} | daemon, state on {kind} | {:.0} | {:.2} | {} / {} |",
                i + 1,
                d.rate,
                d.rate / relay.rate,
                ms(d.p50),
                ms(d.p99)
            );
        }
    }
    let kinds: Vec<&str> = runs
        .first()
        .map(|(_, d)| d.iter().map(|(k, _)| *k).collect())
        .unwrap_or_default();
    for (j, kind) in kinds.iter().enumerate() {
        let ratio = median(runs.iter().map(|(r, d)| d[j].1.rate / r.rate).collect());
        println!(
            "median over {} runs: daemon on {kind} {:.0} events/s, relay {:.0} msg/s, ratio {ratio:.2}; N = {}, M = {}",
            runs.len(),
            median(runs.iter().map(|(_, d)| d[j].1.rate).collect()),
            median(runs.iter().map(|(r, _)| r.rate).collect()),
            settings.events,
            settings.paced
        );
    }
    Ok(())
}

/// One run's context: its vhost and what to send.
#[derive(Clone)]
struct Run<'a> {
    vhost: &'a Vhost,
    settings: &'a Settings,
    broker_pid: Option<u32>,
    tag: String,
}

/// What one path achieved in one run.
struct Figures {
    /// Outputs per second end to end in the throughput phase.
    rate: f64,
    /// Events per second the publisher had confirmed in the throughput phase.
    offered: f64,
    p50: Duration,
    p99: Duration,
    /// Cores used during the throughput phase: broker, the bench process (publisher and
    /// reader, and the relay in the relay path), the daemon.
    cores: Cores,
    /// The daemon's own view of the latency phase, from its `/metrics` before and after.
    inside: Option<String>,
}

struct Cores {
    broker: Option<f64>,
    bench: f64,
    daemon: Option<f64>,
}

impl Figures {
    fn line(&self) -> String {
        let mut cores = format!("bench process {:.2}", self.cores.bench);
        if let Some(d) = self.cores.daemon {
            cores.push_str(&format!(", daemon {d:.2}"));
        }
        if let Some(b) = self.cores.broker {
            cores.push_str(&format!(", broker {b:.2}"));
        }
        let mut line = format!(
            "{:>6.0}/s end to end (publisher confirmed {:.0}/s); latency p50 {} p99 {}; cores used: {cores}",
            self.rate,
            self.offered,
            ms(self.p50),
            ms(self.p99)
        );
        if let Some(inside) = &self.inside {
            line.push_str(&format!("\n    inside the daemon at 1,000/s: {inside}"));
        }
        line
    }
}

/// The daemon's histograms of where an event's time goes: a batch from its deliveries in
/// hand to its messages handed to the relay (plugins, commit, acknowledgement), the
/// commit alone, and the broker's confirm of a relayed batch.
const INSIDE: [(&str, &str); 3] = [
    ("batch", "leitstand_event_seconds"),
    ("commit", "leitstand_store_commit_seconds"),
    ("confirm", "leitstand_publish_confirm_seconds"),
];

/// One histogram family summed over its series: cumulative bucket counts (upper bound,
/// count), sum and count.
#[derive(Default, Clone)]
struct Histogram {
    buckets: Vec<(f64, f64)>,
    sum: f64,
    count: f64,
}

/// The families of [`INSIDE`] from a `/metrics` text.
#[derive(Default)]
struct Histograms(HashMap<String, Histogram>);

impl Histograms {
    fn scrape(addr: SocketAddr) -> Result<Self> {
        let text = http_get(addr, "/metrics")
            .map(|(_, body)| body)
            .ok_or_else(|| anyhow!("/metrics of the daemon did not answer"))?;
        let mut out: HashMap<String, Histogram> = HashMap::new();
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            let Some((series, value)) = line.rsplit_once(' ') else {
                continue;
            };
            let Ok(value) = value.parse::<f64>() else {
                continue;
            };
            let name = series.split('{').next().unwrap_or(series);
            let Some((family, part)) = INSIDE
                .iter()
                .find_map(|(_, f)| Some((*f, name.strip_prefix(f)?)))
            else {
                continue;
            };
            let entry = out.entry(family.to_owned()).or_default();
            match part {
                "_bucket" => {
                    let le = series
                        .split("le=\"")
                        .nth(1)
                        .and_then(|r| r.split('"').next())
                        // `+Inf` parses as infinity.
                        .and_then(|b| b.parse().ok())
                        .unwrap_or(f64::NAN);
                    match entry.buckets.iter_mut().find(|(b, _)| *b == le) {
                        Some((_, n)) => *n += value,
                        None => entry.buckets.push((le, value)),
                    }
                }
                "_sum" => entry.sum += value,
                "_count" => entry.count += value,
                _ => {}
            }
        }
        for h in out.values_mut() {
            h.buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
        }
        Ok(Self(out))
    }

    /// What was observed since `before`: per family its mean and the bucket bounds its
    /// p50 and p99 fall under.
    fn since(&self, before: &Self) -> String {
        let mut parts = Vec::new();
        for (label, family) in INSIDE {
            let Some(after) = self.0.get(family) else {
                continue;
            };
            let earlier = before.0.get(family).cloned().unwrap_or_default();
            let n = after.count - earlier.count;
            if n <= 0.0 {
                continue;
            }
            let cumulative: Vec<(f64, f64)> = after
                .buckets
                .iter()
                .map(|(le, c)| {
                    let c0 = earlier
                        .buckets
                        .iter()
                        .find(|(b, _)| b == le)
                        .map_or(0.0, |(_, c)| *c);
                    (*le, c - c0)
                })
                .collect();
            let under = |q: f64| {
                cumulative
                    .iter()
                    .find(|(_, c)| *c >= q * n)
                    .map_or(f64::INFINITY, |(le, _)| *le)
            };
            parts.push(format!(
                "{label} mean {:.2} ms, p50 ≤ {} ms, p99 ≤ {} ms ({n:.0})",
                (after.sum - earlier.sum) / n * 1000.0,
                under(0.5) * 1000.0,
                under(0.99) * 1000.0
            ));
        }
        parts.join("; ")
    }
}

/// Deletes what earlier runs left in the PostgreSQL store for the example tenants: their
/// pending timers would fire during this run and their outbox would be published again.
fn forget_example_tenants(url: &str) -> Result<()> {
    let tenants = DRAIN_TENANTS
        .iter()
        .map(|t| format!("'{t}'"))
        .collect::<Vec<_>>()
        .join(", ");
    // One statement per table, so that a table the store has not made yet (before the
    // first daemon ran, or of an older build) does not keep the others from being reset.
    let mut args = vec![url.to_owned(), "-q".to_owned()];
    for table in [
        "leitstand_kv",
        "leitstand_timers",
        "leitstand_processed",
        "leitstand_outbox",
        "leitstand_leases",
        "leitstand_boards",
        "leitstand_board_calls",
    ] {
        args.push("-c".to_owned());
        args.push(format!("DELETE FROM {table} WHERE tenant IN ({tenants});"));
    }
    let out = Command::new("psql")
        .args(&args)
        .output()
        .context("running psql to reset the example tenants")?;
    if !out.status.success() {
        eprintln!(
            "  (resetting the example tenants: {})",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
}

/// `sqlite` or `postgres`, for labels.
fn store_kind(url: &str) -> &'static str {
    if url.starts_with("postgres") {
        "postgres"
    } else {
        "sqlite"
    }
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1e3)
}

impl Run<'_> {
    /// The bare relay: topology declared here, the relay on `relay_rt`.
    async fn relay_path(&self, relay_rt: &tokio::runtime::Handle) -> Result<Figures> {
        let conn = connect(&self.vhost.url(), "bench-load").await?;
        let ch = conn.create_channel().await?;
        let tenants: Vec<&str> = TENANTS.iter().map(|(t, _, _)| *t).collect();
        let inputs = relay_topology(&ch, &tenants).await?;

        let (stop_tx, stop_rx) = watch::channel(false);
        let (ready_tx, ready_rx) = oneshot::channel();
        let relay = relay_rt.spawn(relay(
            self.vhost.url(),
            inputs,
            "relay.commands",
            ready_tx,
            stop_rx,
        ));
        ready_rx
            .await
            .map_err(|_| anyhow!("the relay stopped before it was consuming"))?;
        let figures = self
            .measure(&conn, "relay.events", "relay.tap", Output::Relayed, None)
            .await;
        let _ = stop_tx.send(true);
        relay.await.context("the relay task")??;
        conn.close(200, "done".into()).await?;
        figures
    }

    /// `leitstand run` as a child process on the example bundles, its state in `store_url`.
    async fn daemon_path(
        &self,
        binary: &Path,
        bundles: &Path,
        log_dir: &Path,
        store_url: &str,
    ) -> Result<Figures> {
        let mut daemon = Daemon::start(
            binary,
            self.vhost,
            bundles,
            log_dir,
            store_url,
            Duration::from_secs(60),
        )
        .await?;
        let conn = connect(&self.vhost.url(), "bench-load").await?;
        let ch = conn.create_channel().await?;
        quorum_queue(&ch, "tap", "leitstand.commands", "#").await?;
        let figures = self
            .measure(
                &conn,
                "leitstand.events",
                "tap",
                Output::Commands,
                Some((daemon.child.id(), daemon.http)),
            )
            .await;
        if let Err(e) = &figures {
            bail!("{e:#}\n--- daemon log ---\n{}", daemon.log_text());
        }
        daemon.terminate(Duration::from_secs(40)).await?;
        conn.close(200, "done".into()).await?;
        figures
    }

    /// Warm-up, throughput and latency through the path that reads `exchange` and writes
    /// to the queue `tap`.
    async fn measure(
        &self,
        conn: &Connection,
        exchange: &str,
        tap: &str,
        output: Output,
        daemon: Option<(u32, SocketAddr)>,
    ) -> Result<Figures> {
        let daemon_pid = daemon.map(|(pid, _)| pid);
        let publisher = conn.create_channel().await?;
        publisher
            .confirm_select(ConfirmSelectOptions::default())
            .await?;
        let kind = output.label();

        let warm = events(&format!("{}-{kind}-warm", self.tag), WARM_UP)?;
        let reader = Reader::open(conn, tap, output, &warm).await?;
        publish_fast(&publisher, exchange, &warm).await?;
        reader.finish().await.context("warming up")?;

        let load = events(&format!("{}-{kind}-load", self.tag), self.settings.events)?;
        let reader = Reader::open(conn, tap, output, &load).await?;
        let before = CpuSample::take(self.broker_pid, daemon_pid);
        let start = Instant::now();
        let confirmed = publish_fast(&publisher, exchange, &load).await?;
        let arrived = reader.finish().await.context("the throughput phase")?;
        let elapsed = arrived.last.saturating_duration_since(start);
        let cores = CpuSample::take(self.broker_pid, daemon_pid).cores_since(&before, elapsed);
        let confirmed = confirmed.saturating_duration_since(start);

        let paced = events(&format!("{}-{kind}-paced", self.tag), self.settings.paced)?;
        let reader = Reader::open(conn, tap, output, &paced).await?;
        let scrape = |addr| tokio::task::spawn_blocking(move || Histograms::scrape(addr));
        let inside_before = match daemon {
            Some((_, addr)) => Some(scrape(addr).await??),
            None => None,
        };
        let sent = publish_paced(&publisher, exchange, &paced).await?;
        let arrived = reader.finish().await.context("the latency phase")?;
        let inside = match (daemon, inside_before) {
            (Some((_, addr)), Some(before)) => Some(scrape(addr).await??.since(&before)),
            _ => None,
        };
        let mut latencies = paced
            .iter()
            .zip(&sent)
            .map(|(event, at)| {
                arrived
                    .at
                    .get(&event.id)
                    .map(|got| got.saturating_duration_since(*at))
                    .ok_or_else(|| anyhow!("no output for event {}", event.id))
            })
            .collect::<Result<Vec<_>>>()?;
        latencies.sort();
        let _ = publisher.close(200, "done".into()).await;
        Ok(Figures {
            rate: load.len() as f64 / elapsed.as_secs_f64(),
            offered: load.len() as f64 / confirmed.as_secs_f64(),
            p50: percentile(&latencies, 0.50),
            p99: percentile(&latencies, 0.99),
            cores,
            inside,
        })
    }
}

/// The nearest-rank percentile of sorted `v`.
/// The middle of `v` (the upper one of an even count); runs are at least one.
fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
}

fn percentile(v: &[Duration], p: f64) -> Duration {
    let rank = ((v.len() as f64 * p).ceil() as usize).clamp(1, v.len().max(1));
    v.get(rank - 1).copied().unwrap_or_default()
}

// ---------------------------------------------------------------------------------------
// Events and the publisher

/// One event to send.
struct Event {
    id: String,
    routing_key: String,
    body: Vec<u8>,
}

/// `n` structured `call.offered` events, alternating between the two tenants and their
/// queues; every id (and call id) starts with `prefix`.
fn events(prefix: &str, n: usize) -> Result<Vec<Event>> {
    let time = Utc::now().to_rfc3339_opts(SecondsFormat::Millis, true);
    (0..n)
        .map(|i| {
            let (tenant, queues, site) = TENANTS[i % TENANTS.len()];
            let queue = queues[(i / TENANTS.len()) % queues.len()];
            let id = format!("{prefix}-{i:06}");
            let body = serde_json::to_vec(&serde_json::json!({
                "specversion": "1.0",
                "id": id,
                "source": format!("acd/provider/{site}/switch-1"),
                "type": "call.offered",
                "tenant": tenant,
                "time": time,
                "datacontenttype": "application/json",
                "data": {"call_id": format!("call-{id}"), "queue": queue, "site": site}
            }))?;
            Ok(Event {
                id,
                routing_key: format!("{tenant}.call.offered"),
                body,
            })
        })
        .collect()
}

fn properties(event: &Event) -> BasicProperties {
    BasicProperties::default()
        .with_delivery_mode(2)
        .with_message_id(event.id.as_str().into())
        .with_content_type("application/cloudevents+json".into())
}

async fn publish_one(ch: &Channel, exchange: &str, event: &Event) -> Result<PublisherConfirm> {
    Ok(ch
        .basic_publish(
            exchange.into(),
            event.routing_key.as_str().into(),
            BasicPublishOptions {
                mandatory: true,
                ..BasicPublishOptions::default()
            },
            &event.body,
            properties(event),
        )
        .await?)
}

/// Awaits confirms in publishing order; the first refusal is an error.
fn confirm_task(mut rx: mpsc::Receiver<PublisherConfirm>) -> tokio::task::JoinHandle<Result<()>> {
    tokio::spawn(async move {
        while let Some(confirm) = rx.recv().await {
            match confirm.await? {
                Confirmation::Ack(None) => {}
                other => bail!("the broker did not take an event: {other:?}"),
            }
        }
        Ok(())
    })
}

/// Publishes `events` back to back with up to [`CONFIRM_WINDOW`] confirms outstanding;
/// returns when the last confirm arrived.
async fn publish_fast(ch: &Channel, exchange: &str, events: &[Event]) -> Result<Instant> {
    let (tx, rx) = mpsc::channel(CONFIRM_WINDOW);
    let confirms = confirm_task(rx);
    for event in events {
        let confirm = publish_one(ch, exchange, event).await?;
        tx.send(confirm)
            .await
            .map_err(|_| anyhow!("the confirm task stopped"))?;
    }
    drop(tx);
    confirms.await??;
    Ok(Instant::now())
}

/// Publishes `events` at [`PACE`] per second; returns each one's send time.
async fn publish_paced(ch: &Channel, exchange: &str, events: &[Event]) -> Result<Vec<Instant>> {
    let (tx, rx) = mpsc::channel(CONFIRM_WINDOW);
    let confirms = confirm_task(rx);
    let mut tick = tokio::time::interval(Duration::from_secs(1) / PACE);
    let mut sent = Vec::with_capacity(events.len());
    for event in events {
        tick.tick().await;
        sent.push(Instant::now());
        let confirm = publish_one(ch, exchange, event).await?;
        tx.send(confirm)
            .await
            .map_err(|_| anyhow!("the confirm task stopped"))?;
    }
    drop(tx);
    confirms.await??;
    Ok(sent)
}

// ---------------------------------------------------------------------------------------
// The drain of a pre-filled queue

/// Copies of the example day until there are at least `n` events: copy `k` on the `k`-th
/// day after it, every id (and call and booking id) suffixed, so that no two are alike.
fn realistic(day: &Path, n: usize, nonce: u64) -> Result<Vec<Event>> {
    let text =
        std::fs::read_to_string(day).with_context(|| format!("reading {}", day.display()))?;
    let lines: Vec<serde_json::Value> = text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(serde_json::from_str)
        .collect::<std::result::Result<_, _>>()
        .context("the example day is JSON Lines")?;
    ensure!(!lines.is_empty(), "the example day is empty");
    let mut out = Vec::with_capacity(n + lines.len());
    let mut copy = 0i64;
    while out.len() < n {
        for line in &lines {
            let mut v = line.clone();
            let suffix = format!("-{nonce}-{copy}");
            for key in ["id", "subject"] {
                if let Some(s) = v[key].as_str() {
                    v[key] = format!("{s}{suffix}").into();
                }
            }
            for key in ["call_id", "booking_id"] {
                if let Some(s) = v["data"][key].as_str() {
                    v["data"][key] = format!("{s}{suffix}").into();
                }
            }
            if let Some(t) = v["time"].as_str() {
                let t = chrono::DateTime::parse_from_rfc3339(t).context("an event time")?;
                v["time"] = (t + chrono::Duration::days(copy))
                    .to_rfc3339_opts(SecondsFormat::Secs, true)
                    .into();
            }
            let routing_key = format!(
                "{}.{}",
                v["tenant"].as_str().unwrap_or_default(),
                v["type"].as_str().unwrap_or_default()
            );
            out.push(Event {
                id: v["id"].as_str().unwrap_or_default().to_owned(),
                routing_key,
                body: serde_json::to_vec(&v)?,
            });
        }
        copy += 1;
    }
    Ok(out)
}

/// The example tenants, for the drain's queues.
const DRAIN_TENANTS: [&str; 3] = ["rlp-impf", "soest", "notruf-pfalz"];

/// Waits until `queues` hold `n` messages together.
async fn filled(ch: &Channel, queues: &[String], n: usize) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(300);
    loop {
        let mut depth = 0usize;
        for q in queues {
            depth += depth_of(ch, q).await? as usize;
        }
        if depth >= n {
            return Ok(());
        }
        ensure!(Instant::now() < deadline, "the queues hold {depth} of {n}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn depth_of(ch: &Channel, queue: &str) -> Result<u32> {
    let q = ch
        .queue_declare(
            queue.into(),
            QueueDeclareOptions {
                passive: true,
                ..QueueDeclareOptions::default()
            },
            FieldTable::default(),
        )
        .await
        .with_context(|| format!("asking {queue} for its depth"))?;
    Ok(q.message_count())
}

/// Messages of `queues` delivered and not yet acknowledged, as the broker counts them.
fn unacknowledged(vhost: &Vhost, queues: &[String]) -> Result<u64> {
    let out = rabbitmqctl(&[
        "list_queues",
        "-q",
        "-p",
        &vhost.name,
        "name",
        "messages_unacknowledged",
    ])?;
    Ok(out
        .lines()
        .filter_map(|l| l.split_once('\t'))
        .filter(|(name, _)| queues.iter().any(|q| q == name.trim()))
        .filter_map(|(_, n)| n.trim().parse::<u64>().ok())
        .sum())
}

/// Reads `tap` until `queues` are empty, nothing of them is in the path's hands and nothing
/// arrived for two seconds; the time of the first and of the last output, and how many
/// there were.
async fn drained(
    conn: &Connection,
    vhost: &Vhost,
    tap: &str,
    queues: &[String],
) -> Result<(Instant, Instant, usize)> {
    let ch = conn.create_channel().await?;
    let mut consumer = ch
        .basic_consume(
            tap.into(),
            "".into(),
            BasicConsumeOptions {
                no_ack: true,
                ..BasicConsumeOptions::default()
            },
            FieldTable::default(),
        )
        .await
        .with_context(|| format!("consuming {tap}"))?;
    let probe = conn.create_channel().await?;
    let mut first = None;
    let mut last = Instant::now();
    let mut count = 0usize;
    let deadline = Instant::now() + Duration::from_secs(900);
    loop {
        ensure!(Instant::now() < deadline, "the drain did not end");
        match tokio::time::timeout(Duration::from_secs(2), consumer.next()).await {
            Ok(Some(d)) => {
                d?;
                last = Instant::now();
                first.get_or_insert(last);
                count += 1;
            }
            Ok(None) => bail!("the tap consumer was cancelled"),
            Err(_) => {
                let mut depth = 0;
                for q in queues {
                    depth += depth_of(&probe, q).await?;
                }
                // Ready messages alone would miss a batch still in the path's hands.
                if depth == 0 && first.is_some() && unacknowledged(vhost, queues)? == 0 {
                    break;
                }
            }
        }
    }
    let _ = ch.close(200, "done".into()).await;
    let first = first.ok_or_else(|| anyhow!("no output arrived"))?;
    Ok((first, last, count))
}

/// What one drain achieved.
struct Drain {
    rate: f64,
    outputs: usize,
    cores: Cores,
}

impl Drain {
    fn line(&self) -> String {
        let mut cores = format!("bench process {:.2}", self.cores.bench);
        if let Some(d) = self.cores.daemon {
            cores.push_str(&format!(", daemon {d:.2}"));
        }
        if let Some(b) = self.cores.broker {
            cores.push_str(&format!(", broker {b:.2}"));
        }
        format!(
            "{:>6.0} events/s ({} outputs); cores used: {cores}",
            self.rate, self.outputs
        )
    }
}

/// The bare relay draining `events` queued in its input queues.
async fn drain_relay(
    vhost: &Vhost,
    events: &[Event],
    relay_rt: &tokio::runtime::Handle,
) -> Result<Drain> {
    let conn = connect(&vhost.url(), "bench-load").await?;
    let ch = conn.create_channel().await?;
    let inputs = relay_topology(&ch, &DRAIN_TENANTS).await?;
    let publisher = conn.create_channel().await?;
    publisher
        .confirm_select(ConfirmSelectOptions::default())
        .await?;
    publish_fast(&publisher, "relay.events", events).await?;
    filled(&ch, &inputs, events.len()).await?;
    let (stop_tx, stop_rx) = watch::channel(false);
    let (ready_tx, ready_rx) = oneshot::channel();
    let before = CpuSample::take(broker_pid(), None);
    let started = Instant::now();
    let relay = relay_rt.spawn(relay(
        vhost.url(),
        inputs.clone(),
        "relay.commands",
        ready_tx,
        stop_rx,
    ));
    ready_rx
        .await
        .map_err(|_| anyhow!("the relay stopped before it was consuming"))?;
    let (first, last, outputs) = drained(&conn, vhost, "relay.tap", &inputs).await?;
    let cores =
        CpuSample::take(broker_pid(), None).cores_since(&before, last.duration_since(started));
    let _ = stop_tx.send(true);
    relay.await.context("the relay task")??;
    conn.close(200, "done".into()).await?;
    Ok(Drain {
        rate: events.len() as f64 / last.duration_since(first).as_secs_f64(),
        outputs,
        cores,
    })
}

/// `leitstand run` draining `events` queued in its tenants' queues before it starts.
#[allow(clippy::too_many_arguments)]
async fn drain_daemon(
    vhost: &Vhost,
    events: &[Event],
    binary: &Path,
    bundles: &Path,
    log_dir: &Path,
    store_url: &str,
    broker: Option<u32>,
) -> Result<Drain> {
    let out = Command::new(binary)
        .args(["topology", "--bundles"])
        .arg(bundles)
        .env("LEITSTAND_AMQP__URL", vhost.url())
        .env("LEITSTAND_LOG__FILTER", "warn")
        .output()
        .context("leitstand topology")?;
    ensure!(
        out.status.success(),
        "leitstand topology: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let conn = connect(&vhost.url(), "bench-load").await?;
    let ch = conn.create_channel().await?;
    quorum_queue(&ch, "tap", "leitstand.commands", "#").await?;
    let publisher = conn.create_channel().await?;
    publisher
        .confirm_select(ConfirmSelectOptions::default())
        .await?;
    publish_fast(&publisher, "leitstand.events", events).await?;
    let inputs: Vec<String> = DRAIN_TENANTS
        .iter()
        .map(|t| format!("leitstand.tenant.{t}"))
        .collect();
    filled(&ch, &inputs, events.len()).await?;
    let mut daemon = Daemon::start(
        binary,
        vhost,
        bundles,
        log_dir,
        store_url,
        Duration::from_secs(60),
    )
    .await?;
    let before = CpuSample::take(broker, Some(daemon.child.id()));
    let started = Instant::now();
    let drained = drained(&conn, vhost, "tap", &inputs).await;
    let (first, last, outputs) = match drained {
        Ok(d) => d,
        Err(e) => bail!("{e:#}\n--- daemon log ---\n{}", daemon.log_text()),
    };
    let cores = CpuSample::take(broker, Some(daemon.child.id()))
        .cores_since(&before, last.duration_since(started));
    daemon.terminate(Duration::from_secs(40)).await?;
    conn.close(200, "done".into()).await?;
    Ok(Drain {
        rate: events.len() as f64 / last.duration_since(first).as_secs_f64(),
        outputs,
        cores,
    })
}

// ---------------------------------------------------------------------------------------
// Many tenants on one daemon

/// A daemon carrying `tenants` copies of a bundle.
struct Tenants {
    tenants: usize,
    /// Tenants times the plugins of each.
    plugins: usize,
    /// From the start of the process to `/readyz` answering 200.
    start: Duration,
    /// Resident memory (bytes) once ready, before any event.
    at_rest: u64,
    /// Resident memory (bytes) after one `call.offered` per tenant was decided on.
    active: u64,
    /// The most the process had resident (bytes).
    peak: u64,
}

impl Tenants {
    fn row(&self) -> String {
        format!(
            "| {} | {} | {:.1} s | {:.0} MiB | {:.0} MiB | {:.0} MiB |",
            self.tenants,
            self.plugins,
            self.start.as_secs_f64(),
            mib(self.at_rest),
            mib(self.active),
            mib(self.peak)
        )
    }
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

/// `VmRSS` and `VmHWM` of process `pid`, in bytes.
fn resident(pid: u32) -> Result<(u64, u64)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .with_context(|| format!("reading /proc/{pid}/status"))?;
    let field = |name: &str| -> Result<u64> {
        let line = status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .ok_or_else(|| anyhow!("/proc/{pid}/status has no {name}"))?;
        let kib: u64 = line
            .trim()
            .trim_end_matches("kB")
            .trim()
            .parse()
            .with_context(|| format!("{name}{line}"))?;
        Ok(kib * 1024)
    };
    Ok((field("VmRSS:")?, field("VmHWM:")?))
}

/// Starts `leitstand run` on `n` copies of the `rlp-impf` bundle (tenants `bench-0000`, …),
/// state in a fresh SQLite file, and sends each tenant one `call.offered`.
async fn many_tenants(binary: &Path, root: &Path, n: usize, log_dir: &Path) -> Result<Tenants> {
    static STARTS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let start_no = STARTS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let root = root
        .canonicalize()
        .with_context(|| format!("{}", root.display()))?;
    let bundles = tempfile::tempdir().context("a directory for the bundles")?;
    let ids: Vec<String> = (0..n).map(|i| format!("bench-{i:04}")).collect();
    let mut manifest = String::new();
    for id in &ids {
        manifest = support::rlp_impf_copy(&root, bundles.path(), id)
            .context("copying the rlp-impf bundle")?;
    }
    let per_tenant = manifest
        .lines()
        .filter(|l| l.trim() == "[[plugins]]")
        .count();
    ensure!(per_tenant > 0, "the rlp-impf bundle has no plugins");
    let vhost = Vhost::new(9_000 + start_no)?;
    let store = format!(
        "sqlite://{}",
        log_dir.join(format!("tenants-{start_no}.db")).display()
    );
    let conn = connect(&vhost.url(), "bench-load").await?;
    let started = Instant::now();
    let mut daemon = Daemon::start(
        binary,
        &vhost,
        bundles.path(),
        log_dir,
        &store,
        Duration::from_secs(900),
    )
    .await?;
    let start = started.elapsed();
    let pid = daemon.child.id();
    // Let the consumers settle before the figure is taken.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let (at_rest, _) = resident(pid)?;
    let ch = conn.create_channel().await?;
    quorum_queue(&ch, "tap", "leitstand.commands", "#").await?;
    let time = Utc::now().to_rfc3339_opts(SecondsFormat::Millis, true);
    let events: Vec<Event> = ids
        .iter()
        .map(|tenant| {
            let id = format!("{tenant}-offer");
            let body = serde_json::to_vec(&serde_json::json!({
                "specversion": "1.0",
                "id": id,
                "source": "acd/provider/kaiserslautern/switch-1",
                "type": "call.offered",
                "tenant": tenant,
                "time": time,
                "datacontenttype": "application/json",
                "data": {"call_id": format!("call-{id}"), "queue": "impf", "site": "kaiserslautern"}
            }))?;
            Ok(Event {
                id,
                routing_key: format!("{tenant}.call.offered"),
                body,
            })
        })
        .collect::<Result<_>>()?;
    let reader = Reader::open(&conn, "tap", Output::Commands, &events).await?;
    let publisher = conn.create_channel().await?;
    publisher
        .confirm_select(ConfirmSelectOptions::default())
        .await?;
    publish_fast(&publisher, "leitstand.events", &events).await?;
    if let Err(e) = reader.finish().await {
        bail!("{e:#}\n--- daemon log ---\n{}", daemon.log_text());
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let (active, peak) = resident(pid)?;
    daemon.terminate(Duration::from_secs(120)).await?;
    conn.close(200, "done".into()).await?;
    Ok(Tenants {
        tenants: n,
        plugins: n * per_tenant,
        start,
        at_rest,
        active,
        peak,
    })
}

// ---------------------------------------------------------------------------------------
// The reader of the tap

/// What arrives at the tap and how it names the event it came from.
#[derive(Clone, Copy)]
enum Output {
    /// The event itself, forwarded by the relay: its `id`.
    Relayed,
    /// A `call.route` command of the daemon: its `causationid`.
    Commands,
}

#[derive(Deserialize)]
struct Seen {
    id: String,
    #[serde(rename = "type")]
    kind: String,
    causationid: Option<String>,
}

impl Output {
    fn label(self) -> &'static str {
        match self {
            Self::Relayed => "relay",
            Self::Commands => "daemon",
        }
    }

    /// The event `body` answers, or `None` for an output that is not counted.
    fn event_of(self, body: &[u8]) -> Result<Option<String>> {
        let seen: Seen = serde_json::from_slice(body).context("an output is not JSON")?;
        Ok(match self {
            Self::Relayed => (seen.kind == "call.offered").then_some(seen.id),
            Self::Commands if seen.kind == "call.route" => Some(
                seen.causationid
                    .ok_or_else(|| anyhow!("command {} has no causationid", seen.id))?,
            ),
            // Escalations fire 90 s after an unanswered call, later than a run lasts.
            Self::Commands => None,
        })
    }
}

/// When each event's output arrived.
struct Arrivals {
    at: HashMap<String, Instant>,
    last: Instant,
}

/// A consumer of the tap counting outputs until every expected event is answered. Outputs
/// of other events (a late duplicate of an earlier phase) are counted apart and ignored.
struct Reader {
    task: tokio::task::JoinHandle<Result<Arrivals>>,
    channel: Channel,
}

impl Reader {
    async fn open(
        conn: &Connection,
        queue: &str,
        output: Output,
        events: &[Event],
    ) -> Result<Self> {
        let expect: HashSet<String> = events.iter().map(|e| e.id.clone()).collect();
        let channel = conn.create_channel().await?;
        let consumer = channel
            .basic_consume(
                queue.into(),
                "".into(),
                BasicConsumeOptions {
                    no_ack: true,
                    ..BasicConsumeOptions::default()
                },
                FieldTable::default(),
            )
            .await
            .with_context(|| format!("consuming {queue}"))?;
        let task = tokio::spawn(read(consumer, output, expect));
        Ok(Self { task, channel })
    }

    async fn finish(self) -> Result<Arrivals> {
        let arrivals = self.task.await??;
        let _ = self.channel.close(200, "done".into()).await;
        Ok(arrivals)
    }
}

async fn read(mut consumer: Consumer, output: Output, expect: HashSet<String>) -> Result<Arrivals> {
    let mut at = HashMap::with_capacity(expect.len());
    let mut duplicates = 0usize;
    let mut strays = 0usize;
    let mut last = Instant::now();
    while at.len() < expect.len() {
        let delivery = match tokio::time::timeout(PATIENCE, consumer.next()).await {
            Ok(Some(delivery)) => delivery?,
            Ok(None) => bail!("the tap consumer was cancelled"),
            Err(_) => bail!(
                "only {} of {} outputs arrived; none for {PATIENCE:?}",
                at.len(),
                expect.len()
            ),
        };
        last = Instant::now();
        match output.event_of(&delivery.data)? {
            Some(event) if expect.contains(&event) => {
                if at.insert(event, last).is_some() {
                    duplicates += 1;
                }
            }
            _ => strays += 1,
        }
    }
    if strays > 0 {
        eprintln!("  ({strays} outputs of an earlier phase arrived late and were ignored)");
    }
    ensure!(
        duplicates == 0,
        "{duplicates} events had more than one output"
    );
    Ok(Arrivals { at, last })
}

// ---------------------------------------------------------------------------------------
// The bare relay

/// Consumes each of `inputs` and forwards every message to `exchange`, acknowledging it
/// once the broker confirmed the copy. Sends on `ready` when all consumers are in place and
/// runs until `stop`.
async fn relay(
    url: String,
    inputs: Vec<String>,
    exchange: &'static str,
    ready: oneshot::Sender<()>,
    stop: watch::Receiver<bool>,
) -> Result<()> {
    let consuming = connect(&url, "relay-consume").await?;
    let publishing = connect(&url, "relay-publish").await?;
    let mut workers = Vec::new();
    for queue in &inputs {
        let input = consuming.create_channel().await?;
        input
            .basic_qos(PREFETCH, BasicQosOptions::default())
            .await?;
        let consumer = input
            .basic_consume(
                queue.as_str().into(),
                "".into(),
                BasicConsumeOptions::default(),
                FieldTable::default(),
            )
            .await
            .with_context(|| format!("consuming {queue}"))?;
        let output = publishing.create_channel().await?;
        output
            .confirm_select(ConfirmSelectOptions::default())
            .await?;
        workers.push(tokio::spawn(relay_queue(
            consumer,
            output,
            exchange,
            stop.clone(),
        )));
    }
    let _ = ready.send(());
    for worker in workers {
        worker.await??;
    }
    let _ = consuming.close(200, "done".into()).await;
    let _ = publishing.close(200, "done".into()).await;
    Ok(())
}

async fn relay_queue(
    mut consumer: Consumer,
    output: Channel,
    exchange: &'static str,
    mut stop: watch::Receiver<bool>,
) -> Result<()> {
    let (tx, mut rx) = mpsc::channel::<(Acker, PublisherConfirm)>(usize::from(PREFETCH));
    let settler = tokio::spawn(async move {
        while let Some((acker, confirm)) = rx.recv().await {
            match confirm.await? {
                Confirmation::Ack(None) => {
                    acker.ack(BasicAckOptions::default()).await?;
                }
                other => {
                    acker
                        .nack(BasicNackOptions {
                            requeue: true,
                            ..BasicNackOptions::default()
                        })
                        .await?;
                    bail!("the broker did not take a relayed message: {other:?}");
                }
            }
        }
        anyhow::Ok(())
    });
    loop {
        tokio::select! {
            biased;
            _ = stop.changed() => break,
            next = consumer.next() => {
                let Some(delivery) = next else { break };
                let Delivery { data, routing_key, properties, acker, .. } = delivery?;
                let confirm = output
                    .basic_publish(
                        exchange.into(),
                        routing_key,
                        BasicPublishOptions { mandatory: true, ..BasicPublishOptions::default() },
                        &data,
                        properties,
                    )
                    .await?;
                tx.send((acker, confirm))
                    .await
                    .map_err(|_| anyhow!("the relay's confirm task stopped"))?;
            }
        }
    }
    drop(tx);
    settler.await?
}

// ---------------------------------------------------------------------------------------
// Broker, vhost, daemon

async fn connect(url: &str, name: &str) -> Result<Connection> {
    Connection::connect(
        url,
        ConnectionProperties::default().with_connection_name(name.into()),
    )
    .await
    .with_context(|| format!("connecting to {url}"))
}

/// The relay's topology, shaped as the daemon's: `relay.events` routing into a quorum
/// queue per tenant, `relay.commands` into the tap. Returns the input queues.
async fn relay_topology(ch: &Channel, tenants: &[&str]) -> Result<Vec<String>> {
    for exchange in ["relay.events", "relay.commands"] {
        ch.exchange_declare(
            exchange.into(),
            ExchangeKind::Topic,
            ExchangeDeclareOptions {
                durable: true,
                ..ExchangeDeclareOptions::default()
            },
            FieldTable::default(),
        )
        .await
        .with_context(|| format!("declaring {exchange}"))?;
    }
    let mut inputs = Vec::new();
    for tenant in tenants {
        let queue = format!("relay.tenant.{tenant}");
        quorum_queue(ch, &queue, "relay.events", &format!("{tenant}.#")).await?;
        inputs.push(queue);
    }
    quorum_queue(ch, "relay.tap", "relay.commands", "#").await?;
    Ok(inputs)
}

/// Declares a durable quorum queue bound to `exchange` with `key`.
async fn quorum_queue(ch: &Channel, queue: &str, exchange: &str, key: &str) -> Result<()> {
    let mut args = FieldTable::default();
    args.insert(
        "x-queue-type".into(),
        AMQPValue::LongString(LongString::from("quorum")),
    );
    ch.queue_declare(
        queue.into(),
        QueueDeclareOptions {
            durable: true,
            ..QueueDeclareOptions::default()
        },
        args,
    )
    .await
    .with_context(|| format!("declaring {queue}"))?;
    ch.queue_bind(
        queue.into(),
        exchange.into(),
        key.into(),
        QueueBindOptions::default(),
        FieldTable::default(),
    )
    .await
    .with_context(|| format!("binding {queue} to {exchange}"))?;
    Ok(())
}

fn rabbitmqctl(args: &[&str]) -> Result<String> {
    let out = Command::new("rabbitmqctl")
        .args(args)
        .output()
        .with_context(|| format!("running rabbitmqctl {args:?}"))?;
    ensure!(
        out.status.success(),
        "rabbitmqctl {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// The broker's OS process, for its CPU time; `None` when it cannot be asked.
fn broker_pid() -> Option<u32> {
    let out = rabbitmqctl(&["eval", "os:getpid()."]).ok()?;
    out.trim().trim_matches('"').parse().ok()
}

/// A vhost of its own for one run; deleted on drop, also when the run fails.
struct Vhost {
    name: String,
}

impl Vhost {
    fn new(run: usize) -> Result<Self> {
        let name = format!("leitstand-bench-{}-{run}", std::process::id());
        rabbitmqctl(&["add_vhost", &name])?;
        let vhost = Self { name };
        rabbitmqctl(&[
            "set_permissions",
            "-p",
            &vhost.name,
            "guest",
            ".*",
            ".*",
            ".*",
        ])?;
        Ok(vhost)
    }

    fn url(&self) -> String {
        format!("amqp://guest:guest@127.0.0.1:5672/{}", self.name)
    }
}

impl Drop for Vhost {
    fn drop(&mut self) {
        if let Err(e) = rabbitmqctl(&["delete_vhost", &self.name]) {
            eprintln!("{e:#}");
        }
    }
}

/// `leitstand run` as a child process; killed on drop if still running.
struct Daemon {
    child: Child,
    log: PathBuf,
    /// Where it serves `/metrics`.
    http: SocketAddr,
}

impl Daemon {
    /// Starts the daemon against `vhost` and waits until `/readyz` answers 200.
    async fn start(
        binary: &Path,
        vhost: &Vhost,
        bundles: &Path,
        log_dir: &Path,
        store_url: &str,
        ready_within: Duration,
    ) -> Result<Self> {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .context("a free port")?
            .port();
        let http = SocketAddr::from(([127, 0, 0, 1], port));
        let log = log_dir.join(format!("{}-{}.log", vhost.name, store_kind(store_url)));
        let file = std::fs::File::create(&log).context("the daemon's log file")?;
        let child = Command::new(binary)
            .args(["run", "--bundles"])
            .arg(bundles)
            .env("LEITSTAND_AMQP__URL", vhost.url())
            .env("LEITSTAND_HTTP__LISTEN", http.to_string())
            .env("LEITSTAND_LOG__FILTER", "warn")
            .env("LEITSTAND_STORE__URL", store_url)
            .stdin(Stdio::null())
            .stdout(file.try_clone()?)
            .stderr(file)
            .spawn()
            .with_context(|| format!("starting {}", binary.display()))?;
        let mut daemon = Self { child, log, http };
        let deadline = Instant::now() + ready_within;
        loop {
            let status = tokio::task::spawn_blocking(move || http_status(http, "/readyz")).await?;
            if status == Some(200) {
                return Ok(daemon);
            }
            if let Some(status) = daemon.child.try_wait()? {
                bail!("the daemon exited with {status}:\n{}", daemon.log_text());
            }
            if Instant::now() > deadline {
                bail!("the daemon did not get ready:\n{}", daemon.log_text());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Sends SIGTERM and waits for a clean exit.
    async fn terminate(&mut self, within: Duration) -> Result<()> {
        let sent = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .context("running kill")?;
        ensure!(sent.success(), "kill -TERM {} failed", self.child.id());
        let deadline = Instant::now() + within;
        loop {
            if let Some(status) = self.child.try_wait()? {
                ensure!(
                    status.success(),
                    "the daemon exited with {status} after SIGTERM:\n{}",
                    self.log_text()
                );
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!("the daemon did not exit within {within:?} of SIGTERM");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// The status of a plain HTTP GET, or `None` when nothing answers.
fn http_status(addr: SocketAddr, path: &str) -> Option<u16> {
    http_get(addr, path).map(|(status, _)| status)
}

/// The status and body of a plain HTTP/1.0 GET (so that the body comes unchunked), or
/// `None` when nothing answers.
fn http_get(addr: SocketAddr, path: &str) -> Option<(u16, String)> {
    use std::io::{Read, Write};
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(1)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(s, "GET {path} HTTP/1.0\r\nHost: localhost\r\n\r\n").ok()?;
    let mut text = String::new();
    s.read_to_string(&mut text).ok()?;
    let status = text.split_whitespace().nth(1)?.parse().ok()?;
    let body = text
        .split_once("\r\n\r\n")
        .map_or("", |(_, b)| b)
        .to_owned();
    Some((status, body))
}

// ---------------------------------------------------------------------------------------
// CPU time

/// CPU seconds used so far by the broker, this process and the daemon.
struct CpuSample {
    broker: Option<(u32, f64)>,
    bench: f64,
    daemon: Option<(u32, f64)>,
}

impl CpuSample {
    fn take(broker: Option<u32>, daemon: Option<u32>) -> Self {
        let of = |pid: Option<u32>| {
            let pid = pid?;
            Some((pid, support::cpu_seconds(&pid.to_string())?))
        };
        Self {
            broker: of(broker),
            bench: support::cpu_seconds("self").unwrap_or_default(),
            daemon: of(daemon),
        }
    }

    /// Cores used on average since `before`, over `elapsed`.
    fn cores_since(&self, before: &Self, elapsed: Duration) -> Cores {
        let secs = elapsed.as_secs_f64().max(f64::EPSILON);
        let diff = |now: Option<(u32, f64)>, then: Option<(u32, f64)>| match (now, then) {
            (Some((a, now)), Some((b, then))) if a == b => Some((now - then) / secs),
            _ => None,
        };
        Cores {
            broker: diff(self.broker, before.broker),
            bench: (self.bench - before.bench) / secs,
            daemon: diff(self.daemon, before.daemon),
        }
    }
}
