//! What the host does with any timer a plugin sets (docs/adr/0014): a due time RFC 3339
//! cannot write (either end of the `s64` range) fails the plugin's event `bad-output`
//! naming `set-timers`; a timer in the past fires before the tenant's next event; one years
//! ahead waits (pending after a replay's horizon, unfired on a daemon); a timer re-armed
//! from its own firing for the same instant fails `bad-output` instead of firing without
//! end. The same rules in replay and on the daemon, and the neighbour tenant's events are
//! all processed.

mod support;

use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use lapin::BasicProperties;
use serde_json::{Value, json};

use support::PluginEntry;
use support::broker::{self, Daemon, Vhost};

const YEAR_MS: i64 = 365 * 24 * 3_600_000;

fn bundles(dir: &std::path::Path) -> std::path::PathBuf {
    let bundles = dir.join("bundles");
    for (tenant, mode) in [("timers", "timer"), ("rearm", "rearm")] {
        support::write_bundle(
            &bundles,
            tenant,
            "",
            &[PluginEntry {
                name: "hostile",
                guest: "leitstand_hostile",
                subscribe: &["test.set"],
                grant: &["test.fired"],
                limits: "",
                config: &format!("mode = \"{mode}\""),
            }],
        );
    }
    support::write_bundle(
        &bundles,
        "calm",
        "",
        &[broker::router("default_target = \"kl\"")],
    );
    bundles
}

/// The events of the run, with the base time `at` (the tenants' clocks start there).
fn events(at: DateTime<Utc>) -> Vec<Value> {
    let time = |offset_ms: i64| {
        (at + chrono::Duration::milliseconds(offset_ms))
            .to_rfc3339_opts(SecondsFormat::Millis, true)
    };
    let set = |id: &str, tenant: &str, name: &str, after_ms: i64, offset: i64| {
        json!({"specversion": "1.0", "id": id, "source": "test", "type": "test.set",
               "tenant": tenant, "time": time(offset), "data": {"name": name, "after_ms": after_ms}})
    };
    let mut out = vec![
        set("max", "timers", "max", i64::MAX, 0),
        set("min", "timers", "min", i64::MIN, 1_000),
        set("past", "timers", "past", -3_600_000, 2_000),
        set("ahead", "timers", "ahead", 5 * YEAR_MS, 3_000),
        // The next event of the tenant: the timer in the past fires before it.
        set("later", "timers", "later", 1, 4_000),
        set("loop", "rearm", "loop", 1_000, 0),
        // A later event of the tenant: the timer fires before it, and its re-arm is refused.
        json!({"specversion": "1.0", "id": "after-loop", "source": "test", "type": "test.set",
               "tenant": "rearm", "time": time(60_000), "data": {"cancel": "nothing"}}),
    ];
    for n in 0..20 {
        out.push(
            json!({"specversion": "1.0", "id": format!("calm-{n}"), "source": "test",
            "type": "call.offered", "tenant": "calm", "time": time(n * 500),
            "data": {"call_id": format!("c{n}"), "queue": "q"}}),
        );
    }
    out
}

/// What both drivers must show: bad-output for the unwritable times and the re-arm, the
/// past timer fired (with its own due time), the years-ahead timer not fired, every calm
/// call routed.
fn check(commands: &[Value], failures: impl Fn(&str) -> f64, at: DateTime<Utc>, driver: &str) {
    let fired: Vec<&str> = commands
        .iter()
        .filter(|c| c["type"] == "test.fired")
        .filter_map(|c| c["data"]["name"].as_str())
        .collect();
    assert!(
        fired.contains(&"past"),
        "{driver}: the past timer fired: {fired:?}"
    );
    assert!(
        !fired.contains(&"ahead"),
        "{driver}: the years-ahead timer waits"
    );
    assert!(
        !fired.contains(&"max") && !fired.contains(&"min"),
        "{driver}: no unwritable timer fired: {fired:?}"
    );
    let past = commands
        .iter()
        .find(|c| c["type"] == "test.fired" && c["data"]["name"] == "past")
        .expect("the past timer's command");
    let due = at + chrono::Duration::milliseconds(2_000 - 3_600_000);
    assert_eq!(
        DateTime::parse_from_rfc3339(past["time"].as_str().expect("time"))
            .expect("rfc 3339")
            .with_timezone(&Utc),
        due,
        "{driver}: the past timer fires at its own due time"
    );
    let routed = commands
        .iter()
        .filter(|c| c["type"] == "call.route")
        .count();
    assert_eq!(routed, 20, "{driver}: every calm call is routed");
    assert_eq!(
        failures("timers"),
        2.0,
        "{driver}: both ends of the s64 range fail bad-output"
    );
    assert_eq!(failures("rearm"), 1.0, "{driver}: the re-arm fails once");
}

#[test]
fn replay_holds_every_timer_to_the_rules_and_the_neighbour_goes_on() {
    let dir = tempfile::tempdir().expect("tmp");
    let bundles = bundles(dir.path());
    let at: DateTime<Utc> = "2026-11-19T09:00:00Z".parse().expect("time");
    let events = dir.path().join("events.jsonl");
    let lines: Vec<String> = events_of(at);
    std::fs::write(&events, lines.join("\n")).expect("events");
    let commands = dir.path().join("commands.jsonl");
    let metrics = dir.path().join("metrics.prom");
    let out = support::leitstand(&[
        "replay",
        "--bundles",
        bundles.to_str().expect("utf8"),
        "--commands",
        commands.to_str().expect("utf8"),
        "--metrics",
        metrics.to_str().expect("utf8"),
        "--report",
        "json",
        events.to_str().expect("utf8"),
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains("set-timers: timer \"max\"")
            && stderr.contains("outside the years 0000 to 9999"),
        "the refusal names the field: {stderr}"
    );
    assert!(stderr.contains("re-armed"), "{stderr}");
    let report: Value = serde_json::from_slice(&out.stdout).expect("report");
    assert_eq!(
        report["replay"]["timers_pending"], 1,
        "the years-ahead timer is pending after the horizon"
    );
    let commands: Vec<Value> = std::fs::read_to_string(&commands)
        .expect("commands")
        .lines()
        .map(|l| serde_json::from_str(l).expect("command"))
        .collect();
    let metrics = std::fs::read_to_string(&metrics).expect("metrics");
    check(&commands, |t| bad_output(&metrics, t), at, "replay");
}

fn events_of(at: DateTime<Utc>) -> Vec<String> {
    events(at).iter().map(Value::to_string).collect()
}

/// `leitstand_plugin_calls_total{outcome="bad-output"}` of `tenant`'s plugin.
fn bad_output(metrics: &str, tenant: &str) -> f64 {
    let needle = format!(
        r#"leitstand_plugin_calls_total{{outcome="bad-output",plugin="hostile",tenant="{tenant}"}} "#
    );
    metrics
        .lines()
        .find_map(|l| l.strip_prefix(&needle))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0.0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_daemon_holds_every_timer_to_the_rules_and_the_neighbour_goes_on() {
    if broker::skip() {
        return;
    }
    let dir = tempfile::tempdir().expect("tmp");
    let bundles = bundles(dir.path());
    let vhost = Vhost::new("timer-rules");
    broker::topology(&vhost, &bundles);
    let (conn, ch) = broker::tapped(&vhost).await;
    // Event time an hour ago: the timer in the past and the re-arm are due by then.
    let at = DateTime::from_timestamp(Utc::now().timestamp() - 3_600, 0).expect("an hour ago");
    let messages: Vec<(String, Vec<u8>, BasicProperties)> = events(at)
        .iter()
        .map(|e| {
            (
                format!(
                    "{}.{}",
                    e["tenant"].as_str().expect("tenant"),
                    e["type"].as_str().expect("type")
                ),
                e.to_string().into_bytes(),
                broker::structured(),
            )
        })
        .collect();
    broker::publish_all(&ch, &messages).await;
    let daemon = Daemon::start(&vhost, &bundles, dir.path(), &[]);
    let got = broker::collect(
        &conn,
        "test.commands",
        |got| got.len() >= 21,
        Duration::from_secs(20),
        Duration::from_secs(120),
    )
    .await;
    // Anything more (an unwritable timer fired after all) shows within a few seconds.
    let more = broker::collect(
        &conn,
        "test.commands",
        |_| false,
        Duration::from_secs(3),
        Duration::from_secs(30),
    )
    .await;
    let commands: Vec<Value> = got
        .iter()
        .chain(&more)
        .map(|m| serde_json::from_slice(&m.body).expect("command"))
        .collect();
    let metrics = daemon.metrics();
    check(&commands, |t| bad_output(&metrics, t), at, "daemon");
}
