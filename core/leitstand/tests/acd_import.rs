//! `leitstand import` on the example day of examples/acd, end to end through the binary:
//! the `queue_log` imports and, replayed through soest's bundle, gives the SLA figures a
//! hand count of the raw lines gives (and `leitstand report` takes it); importing twice changes nothing; the contact trace
//! records of the same day give the same figures; Asterisk's own SL and SL2 are printed
//! beside Leitstand's four policies; damaged lines are named by number and the exit code
//! says so.
//!
//! Needs the guest plugins (`make guests`): replay runs soest's switchboard.

mod support;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Output;

use serde_json::Value;

/// soest's threshold and short-abandon limit (examples/bundles/soest/tenant.toml).
const T: u64 = 30;
const S: u64 = 5;

fn example(name: &str) -> PathBuf {
    support::root().join("examples/acd").join(name)
}

fn soest_bundle() -> PathBuf {
    support::root().join("examples/bundles/soest")
}

fn text(out: &[u8]) -> String {
    String::from_utf8_lossy(out).into_owned()
}

/// `leitstand import KIND FILE` with the example's map and site, events into `out`.
fn import(kind: &str, file: &Path, out: &Path, extra: &[&str]) -> Output {
    let map = example("queue-map.toml");
    let mut args = vec![
        "import",
        kind,
        file.to_str().expect("path"),
        "--queue-map",
        map.to_str().expect("path"),
        "--site",
        "soest",
        "--out",
        out.to_str().expect("path"),
    ];
    args.extend_from_slice(extra);
    support::leitstand(&args)
}

/// `leitstand replay --report json` of `events` through soest's bundle: the JSON report
/// and the replay's summary line.
fn replay(events: &Path) -> (Value, String) {
    let bundle = soest_bundle();
    let out = support::leitstand(&[
        "replay",
        "--bundles",
        bundle.to_str().expect("path"),
        "--report",
        "json",
        events.to_str().expect("path"),
    ]);
    assert!(out.status.success(), "replay: {}", text(&out.stderr));
    let report = serde_json::from_slice(&out.stdout).expect("the report is JSON");
    (report, text(&out.stderr))
}

/// soest's queues in a replay report, by queue.
fn queues(report: &Value) -> BTreeMap<String, Value> {
    let tenant = report["tenants"]
        .as_array()
        .expect("tenants")
        .iter()
        .find(|t| t["tenant"] == "soest")
        .expect("soest in the report");
    tenant["queues"]
        .as_array()
        .expect("queues")
        .iter()
        .map(|q| (q["queue"].as_str().expect("queue").to_owned(), q.clone()))
        .collect()
}

/// One queue's counts straight from the raw `queue_log`, without the importer, by the
/// fields `app_queue` writes (`time|callid|queue|agent|EVENT|data…`).
#[derive(Debug, Default, Clone, Copy, PartialEq)]
struct HandCount {
    offered: u64,
    answered: u64,
    answered_within: u64,
    waited: u64,
    abandoned: u64,
    short_abandoned: u64,
    abandoned_within: u64,
    /// Asterisk's own counters: completed (an answered call whose conversation ended)
    /// within T by its hold time, abandoned (not key exits) within T by its wait.
    completed: u64,
    completed_within: u64,
    asterisk_abandoned: u64,
    asterisk_abandoned_within: u64,
}

impl HandCount {
    fn ratio(n: u64, d: u64) -> Option<f64> {
        (d > 0).then(|| n as f64 / d as f64)
    }

    /// CONTRACT §5, every policy.
    fn service_levels(&self) -> [Option<f64>; 4] {
        let (aw, a, ab, sh) = (
            self.answered_within,
            self.answered,
            self.abandoned,
            self.short_abandoned,
        );
        [
            Self::ratio(aw, a + ab - sh),
            Self::ratio(aw, a + ab),
            Self::ratio(aw, a),
            Self::ratio(aw + self.abandoned_within, a + ab),
        ]
    }
}

fn hand_count(queue_log: &str) -> BTreeMap<String, HandCount> {
    let leitstand = |asterisk: &str| match asterisk {
        "stadt-115" => "stadt",
        "kreis-115" => "kreis",
        other => panic!("queue {other} in the example"),
    };
    let mut counts: BTreeMap<String, HandCount> = BTreeMap::new();
    for line in queue_log.lines() {
        let f: Vec<&str> = line.split('|').collect();
        let seconds = |i: usize| f[i].parse::<u64>().expect("seconds");
        if f[2] == "NONE" {
            continue;
        }
        let c = counts.entry(leitstand(f[2]).to_owned()).or_default();
        // The wait of an exit: waittime, the last of position|origposition|waittime
        // (EXITWITHKEY has the key before them).
        let mut abandon = |wait: u64, asterisk_counts_it: bool| {
            c.abandoned += 1;
            c.short_abandoned += u64::from(wait <= S);
            c.abandoned_within += u64::from(wait <= T);
            if asterisk_counts_it {
                c.asterisk_abandoned += 1;
                c.asterisk_abandoned_within += u64::from(wait <= T);
            }
        };
        match f[4] {
            "ENTERQUEUE" => c.offered += 1,
            // CONNECT|holdtime|bridged channel|ringtime
            "CONNECT" => {
                c.answered += 1;
                c.answered_within += u64::from(seconds(5) <= T);
                c.waited += seconds(5);
            }
            "ABANDON" | "EXITWITHTIMEOUT" | "EXITEMPTY" => abandon(seconds(7), true),
            "EXITWITHKEY" => abandon(seconds(8), false),
            // COMPLETE*|holdtime|calltime|origposition, BLINDTRANSFER|exten|context|holdtime|…,
            // ATTENDEDTRANSFER|…|holdtime|calltime|origposition
            "COMPLETECALLER" | "COMPLETEAGENT" | "BLINDTRANSFER" | "ATTENDEDTRANSFER" => {
                let hold = match f[4] {
                    "BLINDTRANSFER" => seconds(7),
                    "ATTENDEDTRANSFER" => seconds(f.len() - 3),
                    _ => seconds(5),
                };
                c.completed += 1;
                c.completed_within += u64::from(hold <= T);
            }
            _ => {}
        }
    }
    counts
}

fn close(a: Option<f64>, b: Option<f64>) -> bool {
    match (a, b) {
        (Some(a), Some(b)) => (a - b).abs() < 1e-9,
        (None, None) => true,
        _ => false,
    }
}

/// Asserts that a replay report's queues show exactly the hand count's figures.
fn assert_report_is_the_hand_count(report: &Value, hand: &BTreeMap<String, HandCount>) {
    let queues = queues(report);
    for (name, c) in hand {
        let q = &queues[name];
        let got = |k: &str| q[k].as_u64().unwrap_or_else(|| panic!("{name}.{k}"));
        assert_eq!(
            [
                got("offered"),
                got("answered"),
                got("answered_within"),
                got("abandoned"),
                got("short_abandoned"),
            ],
            [
                c.offered,
                c.answered,
                c.answered_within,
                c.abandoned,
                c.short_abandoned
            ],
            "{name}: offered, answered, answered within, abandoned, short abandoned"
        );
        assert_eq!(got("threshold_seconds"), T);
        let levels = &q["service_levels"];
        for (policy, expected) in ["exclude-short", "count", "exclude", "success-within"]
            .iter()
            .zip(c.service_levels())
        {
            assert!(
                close(levels[policy].as_f64(), expected),
                "{name} {policy}: {} != {expected:?}",
                levels[policy]
            );
        }
        assert!(close(
            q["service_level"].as_f64(),
            c.service_levels()[0] // soest's policy is exclude-short
        ));
        assert!(close(
            q["asa_seconds"].as_f64(),
            HandCount::ratio(c.waited, c.answered)
        ));
    }
    assert_eq!(
        queues.keys().collect::<Vec<_>>(),
        hand.keys().collect::<Vec<_>>(),
        "no other queue"
    );
}

#[test]
fn the_example_queue_log_imports_and_replays_to_a_hand_count_of_its_lines() {
    let tmp = tempfile::tempdir().expect("tmp");
    let events = tmp.path().join("asterisk.jsonl");
    let out = import("asterisk-queue-log", &example("queue_log"), &events, &[]);
    let stderr = text(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains("4563 lines read: 4022 mapped, 541 understood without an event, 0 refused"),
        "{stderr}"
    );

    let (report, summary) = replay(&events);
    assert!(
        summary.contains("4022 lines, 4022 processed, 0 failed, 0 rejected, 0 duplicates"),
        "{summary}"
    );
    let log = std::fs::read_to_string(example("queue_log")).expect("the example");
    let hand = hand_count(&log);
    // The day the generator describes: transfers, timeouts, abandons, repeated callers.
    assert_eq!(hand["stadt"].offered + hand["kreis"].offered, 1442);
    assert_report_is_the_hand_count(&report, &hand);

    // The client's report takes the same file.
    let page = tmp.path().join("soest.html");
    let bundle = soest_bundle();
    let out = support::leitstand(&[
        "report",
        "--bundles",
        bundle.to_str().expect("path"),
        "--tenant",
        "soest",
        "--out",
        page.to_str().expect("path"),
        events.to_str().expect("path"),
    ]);
    assert!(out.status.success(), "report: {}", text(&out.stderr));
    let html = std::fs::read_to_string(&page).expect("the page");
    assert!(
        html.contains("2026-11-24") && html.contains("Stadt Soest"),
        "the day's page"
    );
}

#[test]
fn importing_the_same_log_twice_changes_nothing() {
    let tmp = tempfile::tempdir().expect("tmp");
    let (first, second) = (tmp.path().join("1.jsonl"), tmp.path().join("2.jsonl"));
    for out in [&first, &second] {
        let o = import("asterisk-queue-log", &example("queue_log"), out, &[]);
        assert!(o.status.success(), "{}", text(&o.stderr));
    }
    let once = std::fs::read(&first).expect("first");
    assert_eq!(once, std::fs::read(&second).expect("second"), "same bytes");

    // Both imports replayed together: every event of the second is a duplicate of the
    // first (same source and id), and the figures are those of one import.
    let both = tmp.path().join("both.jsonl");
    std::fs::write(&both, [once.clone(), once].concat()).expect("write");
    let (twice, summary) = replay(&both);
    assert!(
        summary.contains("8044 lines, 4022 processed, 0 failed, 0 rejected, 4022 duplicates"),
        "{summary}"
    );
    let (single, _) = replay(&first);
    assert_eq!(queues(&twice), queues(&single));
}

#[test]
fn contact_trace_records_of_the_same_day_give_the_same_figures() {
    let tmp = tempfile::tempdir().expect("tmp");
    let (asterisk, connect) = (tmp.path().join("a.jsonl"), tmp.path().join("c.jsonl"));
    let out = import("asterisk-queue-log", &example("queue_log"), &asterisk, &[]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let out = import("connect-ctr", &example("connect-ctr.jsonl"), &connect, &[]);
    let stderr = text(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    // IVR-only contacts and superseded copies are understood, nothing refused.
    assert!(
        stderr.contains("1497 lines read: 1442 mapped, 55 understood without an event, 0 refused"),
        "{stderr}"
    );

    let (from_connect, _) = replay(&connect);
    let log = std::fs::read_to_string(example("queue_log")).expect("the example");
    assert_report_is_the_hand_count(&from_connect, &hand_count(&log));
    let (from_asterisk, _) = replay(&asterisk);
    let sla = |q: &Value| {
        [
            "offered",
            "answered",
            "answered_within",
            "abandoned",
            "short_abandoned",
            "service_level",
            "service_levels",
            "asa_seconds",
            "abandon_rate",
            "ended",
            "aht_seconds",
        ]
        .map(|k| q[k].clone())
    };
    let (a, c) = (queues(&from_asterisk), queues(&from_connect));
    for name in ["stadt", "kreis"] {
        assert_eq!(sla(&a[name]), sla(&c[name]), "{name}");
    }
}

#[test]
fn asterisks_own_service_level_is_printed_beside_leitstands_policies() {
    let tmp = tempfile::tempdir().expect("tmp");
    let events = tmp.path().join("a.jsonl");
    let bundle = soest_bundle();
    let out = import(
        "asterisk-queue-log",
        &example("queue_log"),
        &events,
        &[
            "--sla-as-asterisk",
            "--bundles",
            bundle.to_str().expect("path"),
        ],
    );
    let stderr = text(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let log = std::fs::read_to_string(example("queue_log")).expect("the example");
    let percent = |r: Option<f64>| format!("{:.1} %", r.expect("calls") * 100.0);
    for (name, c) in hand_count(&log) {
        let row = stderr
            .lines()
            .find(|l| l.split_whitespace().next() == Some(name.as_str()))
            .unwrap_or_else(|| panic!("no row for {name} in\n{stderr}"));
        let sl = HandCount::ratio(c.completed_within, c.completed);
        let sl2 = HandCount::ratio(
            c.completed_within + c.asterisk_abandoned_within,
            c.completed + c.asterisk_abandoned,
        );
        let mut expected = vec![percent(sl), percent(sl2)];
        expected.extend(c.service_levels().map(percent));
        let cells: Vec<String> = row
            .split(" %")
            .filter_map(|cell| cell.split_whitespace().last())
            .map(|n| format!("{n} %"))
            .collect();
        assert_eq!(cells, expected, "{name}: {row}");
        assert!(
            stderr.contains(&format!(
                "{name}: Asterisk counts {} completed calls ({} within T;",
                c.completed, c.completed_within
            )),
            "{stderr}"
        );
    }
}

#[test]
fn unmappable_lines_are_named_by_number_and_the_exit_code_says_so() {
    let tmp = tempfile::tempdir().expect("tmp");
    let original = std::fs::read_to_string(example("queue_log")).expect("the example");
    let mut lines: Vec<String> = original.lines().map(str::to_owned).collect();
    // A line of garbage, an event Asterisk never writes, an ABANDON missing its waittime.
    lines[9] = "garbage".to_owned();
    let unknown = (20..lines.len())
        .find(|&i| lines[i].contains("|PAUSE|"))
        .expect("a pause");
    lines[unknown] = lines[unknown].replace("|PAUSE|", "|HOLDMUSIC|");
    let cut = (200..lines.len())
        .find(|&i| lines[i].contains("|ABANDON|"))
        .expect("an abandon");
    lines[cut] = lines[cut].rsplit_once('|').expect("fields").0.to_owned();
    let damaged = tmp.path().join("queue_log");
    std::fs::write(&damaged, lines.join("\n") + "\n").expect("write");

    let events = tmp.path().join("a.jsonl");
    let out = import("asterisk-queue-log", &damaged, &events, &[]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    for (line, kind) in [
        (10, "malformed"),
        (unknown + 1, "unknown-event"),
        (cut + 1, "malformed"),
    ] {
        assert!(
            stderr.contains(&format!("  line {line}: {kind}: ")),
            "line {line} ({kind}) in\n{stderr}"
        );
    }
    let refused = stderr
        .lines()
        .find_map(|l| l.strip_suffix(" refused"))
        .and_then(|l| l.rsplit(", ").next())
        .and_then(|n| n.parse::<u64>().ok())
        .unwrap_or_else(|| panic!("no count of refused lines in\n{stderr}"));
    // The cut ABANDON leaves its call waiting, so nothing later refuses; the count is
    // exactly the damaged lines, each listed.
    assert_eq!(refused, 3, "{stderr}");
    assert_eq!(stderr.matches("\n  line ").count(), 3, "{stderr}");
    // Everything else was still written.
    let written = std::fs::read_to_string(&events).expect("events");
    assert!(written.lines().count() > 4000);

    // Contact trace records alike: a line that is not JSON, named by its number.
    let records = std::fs::read_to_string(example("connect-ctr.jsonl")).expect("example");
    let mut records: Vec<&str> = records.lines().collect();
    records[4] = "{\"ContactId\": ";
    let damaged = tmp.path().join("ctr.jsonl");
    std::fs::write(&damaged, records.join("\n") + "\n").expect("write");
    let out = import("connect-ctr", &damaged, &events, &[]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("  line 5: malformed: "), "{stderr}");
    assert!(stderr.contains(", 1 refused"), "{stderr}");

    // Unusable options are exit code 2, with what is wrong.
    let out = support::leitstand(&[
        "import",
        "connect-ctr",
        damaged.to_str().expect("path"),
        "--tenant",
        "Soest",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("\"Soest\" is not a valid tenant id"));
}
