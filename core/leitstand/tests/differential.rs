//! One engine, whatever drives it: the same events through `leitstand replay` and through
//! the daemon on RabbitMQ — every event queued before the daemon starts, so it works off a
//! backlog — give the same commands (id, type, subject, data), the same dead letters
//! (input and reason) and the same SLA counters. The days: the example day, and a surge day
//! the example generator makes with another seed (escalating concerns, overflow sites).

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::{DateTime, Utc};
use lapin::BasicProperties;
use serde_json::Value;

use support::broker::{self, Daemon, Message, Vhost};

/// A command as both sides must agree on it.
type Decision = (String, String, Option<String>, String);

fn decision(v: &Value) -> Decision {
    (
        v["id"].as_str().expect("id").to_owned(),
        v["type"].as_str().expect("type").to_owned(),
        v["subject"].as_str().map(str::to_owned),
        v["data"].to_string(),
    )
}

/// What one side decided.
#[derive(Debug, Default)]
struct Decided {
    commands: BTreeSet<Decision>,
    /// (input, reason) of every dead letter, with how often.
    dead: BTreeMap<(String, String), usize>,
    /// The SLA and pipeline counters, by sample (name and labels).
    counters: BTreeMap<String, f64>,
}

/// The counters both sides count by one rule: the SLA families, events by outcome, dead
/// letters by reason, timers fired and plugin calls by outcome.
fn counters(text: &str) -> BTreeMap<String, f64> {
    let compared = |name: &str| {
        (name.starts_with("leitstand_calls_") && name.ends_with("_total"))
            || name.starts_with("leitstand_call_wait_seconds")
            || name.starts_with("leitstand_call_talk_seconds")
            || [
                "leitstand_events_total",
                "leitstand_dead_letters_total",
                "leitstand_timers_fired_total",
                "leitstand_plugin_calls_total",
                "leitstand_fallbacks_total",
            ]
            .contains(&name)
    };
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .filter_map(|l| {
            let (sample, value) = l.rsplit_once(' ')?;
            let name = sample.split('{').next()?;
            compared(name)
                .then(|| (sample.to_owned(), value.parse::<f64>().ok()))?
                .1
                .map(|v| (sample.to_owned(), v))
        })
        .filter(|(_, v)| *v != 0.0)
        .collect()
}

/// Replays `events` through `bundles`, with timers due up to now firing at the end (as
/// the daemon's watermark fires them once it is caught up).
fn replay(bundles: &Path, events: &Path, dir: &Path) -> Decided {
    let last = std::fs::read_to_string(events)
        .expect("events")
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter_map(|v| v["time"].as_str().map(str::to_owned))
        .filter_map(|t| DateTime::parse_from_rfc3339(&t).ok())
        .map(|t| t.with_timezone(&Utc))
        .max()
        .expect("events have times");
    let horizon = ((Utc::now() - last).num_hours() - 1).max(1).to_string();
    let commands = dir.join("replay-commands.jsonl");
    let dead = dir.join("replay-dead.jsonl");
    let metrics = dir.join("replay-metrics.prom");
    let out = support::leitstand(&[
        "replay",
        "--bundles",
        bundles.to_str().expect("utf8"),
        "--commands",
        commands.to_str().expect("utf8"),
        "--dead-letters",
        dead.to_str().expect("utf8"),
        "--metrics",
        metrics.to_str().expect("utf8"),
        "--timer-horizon-hours",
        &horizon,
        "--report",
        "json",
        events.to_str().expect("utf8"),
    ]);
    assert!(
        out.status.success(),
        "replay: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut decided = Decided {
        counters: counters(&std::fs::read_to_string(&metrics).expect("metrics")),
        ..Decided::default()
    };
    for line in std::fs::read_to_string(&commands)
        .expect("commands")
        .lines()
    {
        decided
            .commands
            .insert(decision(&serde_json::from_str(line).expect("command")));
    }
    for line in std::fs::read_to_string(&dead)
        .expect("dead letters")
        .lines()
    {
        let v: Value = serde_json::from_str(line).expect("dead letter");
        let key = (
            v["input"].as_str().expect("input").to_owned(),
            v["reason"].as_str().expect("reason").to_owned(),
        );
        *decided.dead.entry(key).or_default() += 1;
    }
    decided
}

/// The tenant of an event line and its routing key.
fn routing_key(line: &str) -> String {
    let v: Value = serde_json::from_str(line).unwrap_or_default();
    format!(
        "{}.{}",
        v["tenant"].as_str().unwrap_or("nobody"),
        v["type"].as_str().unwrap_or("unknown")
    )
}

/// Queues every event of `events` on RabbitMQ, then starts the daemon on `bundles` and
/// collects what it decides.
async fn daemon(name: &str, bundles: &Path, events: &Path, dir: &Path, expected: usize) -> Decided {
    let vhost = Vhost::new(name);
    broker::topology(&vhost, bundles);
    let (conn, ch) = broker::tapped(&vhost).await;
    let lines = std::fs::read_to_string(events).expect("events");
    let messages: Vec<(String, Vec<u8>, BasicProperties)> = lines
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| (routing_key(l), l.as_bytes().to_vec(), broker::structured()))
        .collect();
    broker::publish_all(&ch, &messages).await;
    let daemon = Daemon::start(&vhost, bundles, dir, &[]);
    let commands = broker::collect(
        &conn,
        "test.commands",
        |got| got.len() >= expected,
        Duration::from_secs(30),
        Duration::from_secs(600),
    )
    .await;
    // Anything the daemon decides beyond the replay shows within a few more seconds.
    let more = broker::collect(
        &conn,
        "test.commands",
        |_| false,
        Duration::from_secs(4),
        Duration::from_secs(60),
    )
    .await;
    let tenants: Vec<String> = messages
        .iter()
        .map(|(k, _, _)| k.split('.').next().unwrap_or_default().to_owned())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .map(|t| format!("leitstand.tenant.{t}"))
        .collect();
    for q in tenants {
        let left = broker::depth(&conn, &q).await;
        assert_eq!(left, 0, "{q} is drained:\n{}", daemon.report());
    }
    let dead: Vec<Message> = broker::collect(
        &conn,
        "leitstand.dead",
        |_| false,
        Duration::from_secs(2),
        Duration::from_secs(60),
    )
    .await;
    let mut decided = Decided {
        counters: counters(&daemon.metrics()),
        ..Decided::default()
    };
    for m in commands.iter().chain(&more) {
        let v: Value = serde_json::from_slice(&m.body).expect("command JSON");
        // A settled `http.post` delivery is the daemon's alone: a replay delivers nothing.
        if v["causationid"]
            .as_str()
            .is_some_and(|c| c.starts_with("http/"))
        {
            continue;
        }
        decided.commands.insert(decision(&v));
    }
    for m in &dead {
        let key = (
            String::from_utf8_lossy(&m.body).into_owned(),
            m.header("x-leitstand-error").unwrap_or_default(),
        );
        *decided.dead.entry(key).or_default() += 1;
    }
    decided
}

fn compare(day: &str, replayed: &Decided, live: &Decided) {
    let only_daemon: Vec<_> = live.commands.difference(&replayed.commands).collect();
    let only_replay: Vec<_> = replayed.commands.difference(&live.commands).collect();
    let show = |v: &[&Decision]| {
        v.iter()
            .take(10)
            .map(|d| format!("  {} {} {:?} {}", d.0, d.1, d.2, d.3))
            .collect::<Vec<_>>()
            .join("\n")
    };
    assert!(
        only_daemon.is_empty() && only_replay.is_empty(),
        "{day}: {} commands only on the daemon, {} only in the replay\ndaemon only:\n{}\nreplay only:\n{}",
        only_daemon.len(),
        only_replay.len(),
        show(&only_daemon),
        show(&only_replay)
    );
    assert_eq!(live.dead, replayed.dead, "{day}: the same dead letters");
    let mut differing = Vec::new();
    for key in replayed.counters.keys().chain(live.counters.keys()) {
        let (a, b) = (replayed.counters.get(key), live.counters.get(key));
        if a != b && !differing.iter().any(|(k, _, _)| k == key) {
            differing.push((key.clone(), a.copied(), b.copied()));
        }
    }
    assert!(
        differing.is_empty(),
        "{day}: counters differ (replay, daemon):\n{}",
        differing
            .iter()
            .map(|(k, a, b)| format!("  {k}: {a:?} vs {b:?}"))
            .collect::<Vec<_>>()
            .join("\n")
    );
    assert!(
        !replayed.counters.is_empty(),
        "{day}: counters were compared"
    );
}

async fn same_decisions(name: &str, bundles: PathBuf, events: PathBuf) -> Decided {
    let dir = tempfile::tempdir().expect("tmp");
    let replayed = replay(&bundles, &events, dir.path());
    assert!(!replayed.commands.is_empty(), "{name}: the replay decided");
    let escalations = replayed
        .commands
        .iter()
        .filter(|d| d.1 == "call.escalate")
        .count();
    let live = daemon(name, &bundles, &events, dir.path(), replayed.commands.len()).await;
    compare(name, &replayed, &live);
    eprintln!(
        "{name}: {} commands ({escalations} escalations), {} dead letters, {} counters agree",
        replayed.commands.len(),
        replayed.dead.values().sum::<usize>(),
        replayed.counters.len()
    );
    replayed
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_example_day_decides_the_same_in_replay_and_on_a_backlogged_daemon() {
    if broker::skip() {
        return;
    }
    let root = support::root();
    let day = same_decisions(
        "example-day",
        root.join("examples/bundles"),
        root.join("examples/day.jsonl"),
    )
    .await;
    assert!(escalations(&day) > 0, "the example day escalates calls");
}

fn escalations(d: &Decided) -> usize {
    d.commands.iter().filter(|c| c.1 == "call.escalate").count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_generated_surge_day_decides_the_same_in_replay_and_on_a_backlogged_daemon() {
    if broker::skip() {
        return;
    }
    let root = support::root();
    let dir = tempfile::tempdir().expect("tmp");
    let events = dir.path().join("surge.jsonl");
    let out = std::process::Command::new("python3")
        .arg(root.join("examples/generate.py"))
        .args(["--seed", "4711", "--out"])
        .arg(&events)
        .output()
        .expect("python3 runs the example generator");
    assert!(out.status.success(), "{out:?}");
    // A few lines the daemon and the replay must refuse alike.
    let mut text = std::fs::read_to_string(&events).expect("surge day");
    for bad in [
        r#"{"specversion":"1.0","id":"bad-1","source":"acd/kl","type":"call.offered","tenant":"rlp-impf","time":"2026-11-19T11:30:00+01:00"}"#,
        r#"{"specversion":"1.0","id":"bad-2","source":"acd/kl","type":"call.offered","tenant":"rlp-impf","time":"not a time","data":{"call_id":"x","queue":"impf"}}"#,
    ] {
        text.push_str(bad);
        text.push('\n');
    }
    std::fs::write(&events, text).expect("write surge day");
    let day = same_decisions("surge-day", root.join("examples/bundles"), events).await;
    assert!(escalations(&day) > 0, "the surge day escalates calls");
    assert_eq!(day.dead.len(), 2, "the two bad lines are dead-lettered");
}

/// A plugin that fails on every event, beside one that routes: the routes are published,
/// each event is dead-lettered `plugin-failed` and counted `failed`, the failures counted
/// by kind (five panics, then the quarantine) — alike in replay and on the daemon.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_plugin_is_counted_and_dead_lettered_alike_in_replay_and_on_the_daemon() {
    if broker::skip() {
        return;
    }
    let dir = tempfile::tempdir().expect("tmp");
    let bundles = dir.path().join("bundles");
    support::write_bundle(
        &bundles,
        "failing",
        "",
        &[
            support::broker::router("default_target = \"kl\""),
            support::PluginEntry {
                name: "broken",
                guest: "leitstand_hostile",
                subscribe: &["call.offered"],
                grant: &["call.route"],
                limits: "",
                config: "mode = \"panic\"",
            },
        ],
    );
    let events = dir.path().join("events.jsonl");
    let lines: Vec<String> = (0..20)
        .map(|n| {
            support::event(
                "failing",
                &format!("e{n}"),
                "call.offered",
                &format!("2026-11-19T09:00:{n:02}Z"),
                serde_json::json!({"call_id": format!("c{n}"), "queue": "q"}),
            )
        })
        .collect();
    std::fs::write(&events, lines.join("\n")).expect("events");
    let replayed = same_decisions("failing", bundles, events).await;
    assert_eq!(replayed.commands.len(), 20, "every call is routed");
    assert_eq!(replayed.dead.len(), 20, "every event is dead-lettered");
    assert!(
        replayed
            .dead
            .keys()
            .all(|(_, reason)| reason == "plugin-failed")
    );
    let count = |sample: &str| replayed.counters.get(sample).copied().unwrap_or_default();
    assert_eq!(
        count(r#"leitstand_events_total{outcome="failed",tenant="failing"}"#),
        20.0
    );
    assert_eq!(
        count(
            r#"leitstand_plugin_calls_total{outcome="guest-panic",plugin="broken",tenant="failing"}"#
        ),
        5.0
    );
}
