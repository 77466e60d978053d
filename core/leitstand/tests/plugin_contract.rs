//! What a plugin sees and can do through the contract: the event clock and timezone,
//! deterministic randomness, and timers that fire in event time interleaved with the file.

mod support;

use serde_json::{Value, json};
use support::PluginEntry;

fn one_plugin(
    dir: &std::path::Path,
    mode: &str,
    subscribe: &'static [&'static str],
    grant: &'static [&'static str],
) {
    let config = format!("mode = \"{mode}\"");
    support::write_bundle(
        dir,
        "lab",
        "",
        &[PluginEntry {
            name: "probe",
            guest: "leitstand_hostile",
            subscribe,
            grant,
            limits: "",
            config: &config,
        }],
    );
}

#[test]
fn a_plugin_sees_event_time_the_tenant_timezone_and_seeded_randomness() {
    let dir = tempfile::tempdir().expect("tempdir");
    one_plugin(dir.path(), "echo", &["test.echo"], &["test.echo"]);
    let lines = [
        support::event(
            "lab",
            "e1",
            "test.echo",
            "2026-11-19T09:00:00+01:00",
            json!({}),
        ),
        support::event(
            "lab",
            "e2",
            "test.echo",
            "2026-11-19T09:00:01+01:00",
            json!({}),
        ),
    ]
    .join("\n");
    let first = support::replay(dir.path(), &lines);
    let second = support::replay(dir.path(), &lines);
    assert!(first.notices.is_empty(), "{:?}", first.notices);
    let d0 = &first.commands[0]["data"];
    let expected_ms = 1_795_075_200_000i64; // 2026-11-19T08:00:00Z
    assert_eq!(d0["time"], json!(expected_ms));
    assert_eq!(d0["now"], json!(expected_ms));
    assert_eq!(d0["timezone"], "Europe/Berlin");
    assert_eq!(d0["id"], "e1");
    assert_eq!(
        first.command_bytes, second.command_bytes,
        "randomness is seeded per event"
    );
    assert_ne!(
        d0["random"], first.commands[1]["data"]["random"],
        "and differs between events"
    );
}

#[test]
fn timers_fire_in_event_time_and_cancelled_ones_never() {
    let dir = tempfile::tempdir().expect("tempdir");
    one_plugin(dir.path(), "timer", &["test.timer"], &["test.fired"]);
    let ev =
        |id: &str, time: &str, data: Value| support::event("lab", id, "test.timer", time, data);
    let lines = [
        ev(
            "a",
            "2026-11-19T09:00:00Z",
            json!({"name": "t1", "after_ms": 60_000}),
        ),
        ev(
            "b",
            "2026-11-19T09:00:30Z",
            json!({"name": "t2", "after_ms": 10_000}),
        ),
        ev(
            "c",
            "2026-11-19T09:02:00Z",
            json!({"name": "t3", "after_ms": 1_000}),
        ),
        ev("d", "2026-11-19T09:02:00.500Z", json!({"cancel": "t3"})),
        ev(
            "e",
            "2026-11-19T09:03:00Z",
            json!({"name": "t4", "after_ms": 10_800_000}),
        ),
    ]
    .join("\n");
    let run = support::replay(dir.path(), &lines);
    assert!(run.notices.is_empty(), "{:?}", run.notices);
    let fired: Vec<(String, String)> = run
        .commands
        .iter()
        .map(|c| {
            (
                c["data"]["name"].as_str().expect("name").to_owned(),
                c["time"].as_str().expect("time").to_owned(),
            )
        })
        .collect();
    assert_eq!(
        fired,
        vec![
            ("t2".to_owned(), "2026-11-19T09:00:40.000Z".to_owned()),
            ("t1".to_owned(), "2026-11-19T09:01:00.000Z".to_owned()),
            ("t4".to_owned(), "2026-11-19T12:03:00.000Z".to_owned()),
        ]
    );
    assert_eq!(run.report.replay.timers_fired, 3);
    assert_eq!(run.report.replay.timers_pending, 0);
    // A fired timer's command is caused by the timer event, from the plugin that set it.
    assert_eq!(run.commands[0]["causationid"], "timer/t2/1795078840000");
    assert_eq!(run.commands[0]["source"], "leitstand/lab/probe");
}
