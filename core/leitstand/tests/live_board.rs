//! The live board survives the daemon: calls waiting, the oldest wait, the rolling service
//! level and the counters behind them are committed with each batch, so that a daemon
//! killed with `kill -9` and started again, or a second daemon that takes the tenant over
//! in cluster mode, shows them where they were instead of an empty queue and a fresh
//! window in the middle of a surge. The reference is `leitstand replay --metrics` of the
//! same events, which counts by the same rules in one go.
#![allow(missing_docs)]

mod support;

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use lapin::Connection;
use serde_json::{Value, json};

use support::broker::{
    Daemon, Outgoing, Rig, counting_bundle, depth, publish_all, skip, structured,
};
use support::database::{POSTGRES_URL, skip_postgres, unique_tenant};

/// The queues of the surge.
const QUEUES: usize = 4;

/// A surge of `calls` calls of `tenant` over the last 40 minutes, in event-time order:
/// every call offered, a third answered, a fifth abandoned, the rest still waiting; every
/// eleventh an emergency. Each event is published on its own.
fn surge(tenant: &str, calls: usize) -> Vec<Value> {
    let base = Utc::now() - chrono::Duration::minutes(40);
    let base = DateTime::<Utc>::from_timestamp(base.timestamp(), 0).expect("a time");
    let mut events: Vec<(DateTime<Utc>, Value)> = Vec::new();
    let event = |kind: &str, n: usize, at: DateTime<Utc>, data: Value| {
        json!({"specversion": "1.0", "id": format!("{kind}-{n}"), "source": "acd/surge",
               "type": kind, "tenant": tenant, "time": at.to_rfc3339(), "data": data})
    };
    for i in 0..calls {
        let offered = base + chrono::Duration::milliseconds(500 * i as i64);
        let call = format!("c{i}");
        let queue = format!("q{}", i % QUEUES);
        let priority = if i % 11 == 0 { "emergency" } else { "normal" };
        let data = json!({"call_id": call, "queue": queue, "priority": priority});
        events.push((offered, event("call.offered", i, offered, data)));
        if i % 3 == 0 {
            let wait = 5 + (i % 50) as i64;
            let at = offered + chrono::Duration::seconds(wait);
            let data = json!({"call_id": call, "queue": queue, "wait_seconds": wait});
            events.push((at, event("call.answered", i, at, data)));
        } else if i % 5 == 1 {
            let at = offered + chrono::Duration::seconds(45);
            let data = json!({"call_id": call, "queue": queue, "wait_seconds": 45});
            events.push((at, event("call.abandoned", i, at, data)));
        }
    }
    events.sort_by_key(|(at, _)| *at);
    events.into_iter().map(|(_, e)| e).collect()
}

fn messages(tenant: &str, events: &[Value]) -> Vec<Outgoing> {
    events
        .iter()
        .map(|e| {
            let kind = e["type"].as_str().expect("a type");
            (
                format!("{tenant}.{kind}"),
                serde_json::to_vec(e).expect("json"),
                structured(),
            )
        })
        .collect()
}

/// The figures a restart must continue, by series (`name{labels}`): calls waiting, the
/// counters, the rolling service level and the oldest wait.
fn board(text: &str, tenant: &str) -> BTreeMap<String, f64> {
    let tenant_label = format!("tenant=\"{tenant}\"");
    text.lines()
        .filter(|l| {
            [
                "leitstand_calls_waiting{",
                "leitstand_oldest_wait_seconds{",
                "leitstand_service_level{",
                "leitstand_calls_offered_total{",
                "leitstand_calls_answered_total{",
                "leitstand_calls_abandoned_total{",
                "leitstand_calls_answered_within_threshold_total{",
            ]
            .iter()
            .any(|p| l.starts_with(p))
                && l.contains(&tenant_label)
        })
        .filter_map(|l| {
            let (series, value) = l.rsplit_once(' ')?;
            Some((series.to_owned(), value.parse().ok()?))
        })
        .collect()
}

/// Every figure of `got` equals `want`'s, the oldest waits within `slack` seconds of the
/// wall-clock time that passed (the daemon measures them on the wall clock).
fn assert_continues(
    got: &BTreeMap<String, f64>,
    want: &BTreeMap<String, f64>,
    slack: f64,
    what: &str,
) {
    assert_eq!(
        got.keys().collect::<Vec<_>>(),
        want.keys().collect::<Vec<_>>(),
        "{what}: the same series"
    );
    let wrong: Vec<String> = want
        .iter()
        .filter(|(series, w)| {
            let g = got[*series];
            if series.starts_with("leitstand_oldest_wait_seconds") {
                !(g >= *w - 2.0 && g <= *w + slack)
            } else {
                (g - *w).abs() > 1e-9
            }
        })
        .map(|(series, w)| format!("{series} is {}, want {w}", got[series]))
        .collect();
    assert!(
        wrong.is_empty(),
        "{what} ({slack} s passed):\n{}",
        wrong.join("\n")
    );
}

/// `leitstand_events_total` of `tenant` processed so far by `daemon`.
fn processed(daemon: &Daemon, tenant: &str) -> u64 {
    let series = format!("leitstand_events_total{{outcome=\"processed\",tenant=\"{tenant}\"}} ");
    daemon
        .metrics()
        .lines()
        .find_map(|l| l.strip_prefix(&series))
        .and_then(|v| v.trim().parse::<f64>().ok())
        .map_or(0, |v| v as u64)
}

/// Waits until `daemon` has processed at least `n` events of `tenant`.
async fn wait_processed(daemon: &Daemon, tenant: &str, n: u64, within: Duration) {
    let deadline = Instant::now() + within;
    while processed(daemon, tenant) < n {
        assert!(
            Instant::now() < deadline,
            "{} of {n} events processed:\n{}",
            processed(daemon, tenant),
            daemon.log_text()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The calls `events` offer, answer and abandon, by the counter that counts them.
fn totals(events: &[Value]) -> BTreeMap<&'static str, f64> {
    let mut out = BTreeMap::new();
    for e in events {
        let counter = match e["type"].as_str() {
            Some("call.offered") => "leitstand_calls_offered_total",
            Some("call.answered") => "leitstand_calls_answered_total",
            Some("call.abandoned") => "leitstand_calls_abandoned_total",
            _ => continue,
        };
        *out.entry(counter).or_insert(0.0) += 1.0;
    }
    out
}

/// The sum over queues of each counter of `board`.
fn sums(board: &BTreeMap<String, f64>) -> BTreeMap<&'static str, f64> {
    let mut out = BTreeMap::new();
    for counter in [
        "leitstand_calls_offered_total",
        "leitstand_calls_answered_total",
        "leitstand_calls_abandoned_total",
    ] {
        let sum = board
            .iter()
            .filter(|(k, _)| k.starts_with(&format!("{counter}{{")))
            .map(|(_, v)| v)
            .sum();
        out.insert(counter, sum);
    }
    out
}

/// Waits until `daemon` shows a board that has counted every call of `events` (offered,
/// answered, abandoned), and returns it with the time it was read.
async fn wait_board(
    daemon: &Daemon,
    tenant: &str,
    events: &[Value],
    within: Duration,
) -> (BTreeMap<String, f64>, Instant) {
    let want = totals(events);
    let deadline = Instant::now() + within;
    loop {
        let b = board(&daemon.metrics(), tenant);
        let got = sums(&b);
        if got == want {
            return (b, Instant::now());
        }
        assert!(
            Instant::now() < deadline,
            "the daemon shows {got:?}, not {want:?}:\n{}",
            daemon.log_text()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The board `leitstand replay --metrics` makes of `events` on `bundles`, with the oldest
/// waits measured at the wall-clock time `read` instead of at the replay's latest event.
fn replayed(
    bundles: &Path,
    tenant: &str,
    events: &[Value],
    dir: &Path,
    read: DateTime<Utc>,
) -> BTreeMap<String, f64> {
    let file = dir.join("surge.jsonl");
    let lines: Vec<String> = events.iter().map(Value::to_string).collect();
    std::fs::write(&file, lines.join("\n") + "\n").expect("events file");
    let metrics = dir.join("replay.prom");
    let out = support::leitstand_command()
        .args(["replay", "--bundles"])
        .arg(bundles)
        .arg("--metrics")
        .arg(&metrics)
        .arg(&file)
        .output()
        .expect("leitstand replay");
    assert!(
        out.status.success(),
        "replay: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut b = board(&std::fs::read_to_string(&metrics).expect("metrics"), tenant);
    // The replay's clock is its latest event; the daemon's is the wall clock.
    let latest: DateTime<Utc> = events
        .iter()
        .filter_map(|e| e["time"].as_str()?.parse().ok())
        .max()
        .expect("events");
    let behind = (read - latest).num_milliseconds() as f64 / 1000.0;
    for (series, v) in b.iter_mut() {
        if series.starts_with("leitstand_oldest_wait_seconds") && *v > 0.0 {
            *v += behind;
        }
    }
    b
}

async fn wait_drained(conn: &Connection, queue: &str, daemon: &Daemon) {
    let deadline = Instant::now() + Duration::from_secs(120);
    while depth(conn, queue).await > 0 {
        assert!(
            Instant::now() < deadline,
            "{queue} not drained:\n{}",
            daemon.log_text()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_daemon_killed_mid_surge_continues_the_board_where_it_was() {
    if skip() {
        return;
    }
    let tenant = "board-kill";
    let rig = Rig::new("live_board_kill", &[]);
    counting_bundle(&rig, tenant, 86_400);
    rig.topology();
    let (conn, ch) = rig.client().await;
    let events = surge(tenant, 3_000);
    let (first, second) = events.split_at(events.len() / 2);
    let queue = format!("leitstand.tenant.{tenant}");
    let env = [("LEITSTAND_STORE__BATCH_MAX", "8")];

    // The first half, processed in full; then kill -9 and start again: the board is where
    // it was, before any further event.
    publish_all(&ch, &messages(tenant, first)).await;
    let mut daemon = rig.daemon(&env);
    wait_drained(&conn, &queue, &daemon).await;
    let (before, read) = wait_board(&daemon, tenant, first, Duration::from_secs(60)).await;
    let waiting: f64 = before
        .iter()
        .filter(|(k, _)| k.starts_with("leitstand_calls_waiting"))
        .map(|(_, v)| v)
        .sum();
    assert!(waiting > 100.0, "a surge has calls waiting: {before:#?}");
    daemon.kill9();
    let mut daemon = rig.daemon(&env);
    let (after, again) = wait_board(&daemon, tenant, first, Duration::from_secs(30)).await;
    let passed = again.duration_since(read).as_secs_f64() + 1.0;
    assert_continues(&after, &before, passed, "after kill -9 and a restart");

    // The second half, killed while it is processed: the new daemon continues from the
    // last committed batch, and once it has drained the queue the board is the one a
    // replay of the whole surge makes.
    let done = processed(&daemon, tenant);
    publish_all(&ch, &messages(tenant, second)).await;
    wait_processed(&daemon, tenant, done + 300, Duration::from_secs(60)).await;
    daemon.kill9();
    let left = depth(&conn, &queue).await;
    assert!(
        left > 0,
        "the daemon was killed before the surge was processed"
    );
    let daemon = rig.daemon(&env);
    wait_drained(&conn, &queue, &daemon).await;
    let (end, _) = wait_board(&daemon, tenant, &events, Duration::from_secs(60)).await;
    let want = replayed(&rig.bundles, tenant, &events, rig.tmp.path(), Utc::now());
    assert_continues(&end, &want, 2.0, "killed mid-surge, then drained");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_daemon_that_takes_a_tenant_over_continues_its_board() {
    if skip() || skip_postgres() {
        return;
    }
    let tenant = unique_tenant("board");
    let tenant = tenant.as_str();
    let rig = Rig::new("live_board_takeover", &[]);
    counting_bundle(&rig, tenant, 86_400);
    rig.topology();
    let (conn, ch) = rig.client().await;
    let events = surge(tenant, 3_000);
    let queue = format!("leitstand.tenant.{tenant}");
    let env = [
        ("LEITSTAND_STORE__URL", POSTGRES_URL),
        ("LEITSTAND_STORE__BATCH_MAX", "8"),
    ];
    let mut a = rig.daemon(&env);
    let mut b = rig.daemon(&env);
    let owns = |d: &Daemon| {
        d.metrics()
            .lines()
            .any(|l| l.starts_with("leitstand_tenants_owned ") && l.ends_with(" 1"))
    };
    // Both daemons go through a few cluster rounds (every 2 s) before the tenant settles
    // with one of them; it may move once the second joins.
    tokio::time::sleep(Duration::from_secs(5)).await;
    let deadline = Instant::now() + Duration::from_secs(30);
    while owns(&a) == owns(&b) {
        assert!(Instant::now() < deadline, "the tenant never settled");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    publish_all(&ch, &messages(tenant, &events)).await;
    // Half the surge processed, by whichever daemon owned the tenant meanwhile; then its
    // owner is killed.
    let half = events.len() as u64 / 2;
    let deadline = Instant::now() + Duration::from_secs(120);
    while processed(&a, tenant) + processed(&b, tenant) < half {
        assert!(
            Instant::now() < deadline,
            "half the surge was not processed:\n{}\n{}",
            a.log_text(),
            b.log_text()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let (owner, survivor) = if owns(&a) {
        (&mut a, &mut b)
    } else {
        (&mut b, &mut a)
    };
    owner.kill9();
    assert!(
        depth(&conn, &queue).await > 0,
        "the owner was killed before the surge was processed"
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    while !owns(survivor) {
        assert!(
            Instant::now() < deadline,
            "no takeover:\n{}",
            survivor.log_text()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    wait_drained(&conn, &queue, survivor).await;
    let (end, _) = wait_board(survivor, tenant, &events, Duration::from_secs(120)).await;
    let want = replayed(&rig.bundles, tenant, &events, rig.tmp.path(), Utc::now());
    assert_continues(&end, &want, 2.0, "taken over mid-surge, then drained");
}
