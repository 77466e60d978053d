//! The example day of examples/acd: its `queue_log` imports without a refusal to the counts a
//! hand count straight from the raw lines gives, its contact trace records import to the same
//! counts, a second import writes the same bytes, and damaged lines are reported by number.

use std::collections::{BTreeMap, HashSet};
use std::path::PathBuf;

use leitstand_adapters::{Import, ImportReport, PseudonymKey, QueueMap, RefusalKind};
use serde_json::Value;

/// soest's threshold and short-abandon limit (examples/bundles/soest/tenant.toml).
const THRESHOLD: u64 = 30;
const SHORT: u64 = 5;

fn example(name: &str) -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../examples/acd")
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn import() -> Import {
    Import::new("soest")
        .expect("valid tenant")
        .with_site("soest")
        .expect("valid site")
        .with_queue_map(QueueMap::from_toml(&example("queue-map.toml")).expect("valid map"))
        .with_pseudonym_key(PseudonymKey::new(b"example key, never a real one!!!").expect("long"))
}

/// CONTRACT §5 counts of one queue.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct Counts {
    offered: u64,
    answered: u64,
    answered_within: u64,
    abandoned: u64,
    short_abandoned: u64,
}

/// The counts of imported events, read back from the JSON Lines as `leitstand replay`
/// would read them.
fn counts_of_events(jsonl: &[u8]) -> BTreeMap<String, Counts> {
    let mut counts: BTreeMap<String, Counts> = BTreeMap::new();
    for line in std::str::from_utf8(jsonl).expect("utf-8").lines() {
        let event: Value = serde_json::from_str(line).expect("one JSON object per line");
        for attribute in ["specversion", "id", "source", "type", "tenant", "time"] {
            assert!(event[attribute].is_string(), "{attribute} in {line}");
        }
        assert_eq!(event["specversion"], "1.0");
        assert_eq!(event["tenant"], "soest");
        let data = &event["data"];
        let queue = data["queue"].as_str().expect("queue").to_owned();
        let c = counts.entry(queue).or_default();
        let wait = data["wait_seconds"].as_u64();
        match event["type"].as_str().expect("type") {
            "call.offered" => c.offered += 1,
            "call.answered" => {
                c.answered += 1;
                c.answered_within += u64::from(wait.expect("wait") <= THRESHOLD);
            }
            "call.abandoned" => {
                c.abandoned += 1;
                c.short_abandoned += u64::from(wait.expect("wait") <= SHORT);
            }
            "call.ended" => {}
            other => panic!("unexpected type {other}"),
        }
    }
    counts
}

/// The same counts straight from the raw `queue_log` lines, without the importer: which
/// event a line carries and which of its fields holds the wait, per app_queue.c.
fn hand_count(queue_log: &str) -> BTreeMap<String, Counts> {
    let leitstand = |asterisk: &str| match asterisk {
        "stadt-115" => "stadt",
        "kreis-115" => "kreis",
        other => panic!("queue {other} in the example"),
    };
    let mut counts: BTreeMap<String, Counts> = BTreeMap::new();
    for line in queue_log.lines() {
        let f: Vec<&str> = line.split('|').collect();
        let seconds = |i: usize| f[i].parse::<u64>().expect("seconds");
        let (queue, event) = (f[2], f[4]);
        if queue == "NONE" {
            continue;
        }
        let c = counts.entry(leitstand(queue).to_owned()).or_default();
        match event {
            "ENTERQUEUE" => c.offered += 1,
            // CONNECT|holdtime|bridged channel|ringtime
            "CONNECT" => {
                c.answered += 1;
                c.answered_within += u64::from(seconds(5) <= THRESHOLD);
            }
            // …|position|origposition|waittime
            "ABANDON" | "EXITWITHTIMEOUT" | "EXITEMPTY" => {
                c.abandoned += 1;
                c.short_abandoned += u64::from(seconds(7) <= SHORT);
            }
            // EXITWITHKEY|key|position|origposition|waittime
            "EXITWITHKEY" => {
                c.abandoned += 1;
                c.short_abandoned += u64::from(seconds(8) <= SHORT);
            }
            _ => {}
        }
    }
    counts
}

fn assert_accounted(report: &ImportReport) {
    assert_eq!(
        report.lines_read,
        report.lines_mapped + report.lines_understood + report.lines_refused(),
        "{report}"
    );
}

#[test]
fn the_queue_log_imports_to_the_hand_count() {
    let log = example("queue_log");
    let mut out = Vec::new();
    let report = import()
        .asterisk_queue_log(log.as_bytes(), &mut out)
        .expect("imported");
    assert!(report.refusals.is_empty(), "{report}");
    assert!(report.unfinished.is_empty(), "{report}");
    assert_accounted(&report);
    assert_eq!(report.lines_read, log.lines().count() as u64);

    let expected = hand_count(&log);
    assert_eq!(counts_of_events(&out), expected);
    // The day is the one the generator describes: about 1,500 calls in two queues.
    let offered: u64 = expected.values().map(|c| c.offered).sum();
    assert!((1_300..1_700).contains(&offered), "{offered}");
    assert_eq!(report.events.offered, offered);

    // No raw caller number or member interface reaches the events.
    let text = String::from_utf8(out).expect("utf-8");
    let written: HashSet<&str> = text
        .split(|c: char| !c.is_ascii_digit())
        .filter(|run| run.len() >= 7)
        .collect();
    let mut numbers = 0;
    for line in log.lines().filter(|l| l.contains("|ENTERQUEUE|")) {
        let number = line.rsplit('|').nth(1).expect("callerid");
        if !number.is_empty() {
            numbers += 1;
            assert!(!written.contains(number), "caller number {number} written");
        }
    }
    assert!(numbers > 1_000);
    assert!(!text.contains("PJSIP"));
}

#[test]
fn the_contact_trace_records_import_to_the_same_counts() {
    let mut out = Vec::new();
    let report = import()
        .connect_ctr(example("connect-ctr.jsonl").as_bytes(), &mut out)
        .expect("imported");
    assert!(report.refusals.is_empty(), "{report}");
    assert_accounted(&report);
    // Contacts that hung up in the IVR and copies delivered twice are understood, not mapped.
    assert!(report.lines_understood > 0, "{report}");
    assert_eq!(counts_of_events(&out), hand_count(&example("queue_log")));
    assert!(
        !String::from_utf8(out)
            .expect("utf-8")
            .contains("+4930231250")
    );
}

#[test]
fn importing_twice_writes_the_same_bytes() {
    let log = example("queue_log");
    let ctr = example("connect-ctr.jsonl");
    let run = || {
        let (mut a, mut c) = (Vec::new(), Vec::new());
        import()
            .asterisk_queue_log(log.as_bytes(), &mut a)
            .expect("imported");
        import()
            .connect_ctr(ctr.as_bytes(), &mut c)
            .expect("imported");
        (a, c)
    };
    let first = run();
    assert!(!first.0.is_empty() && !first.1.is_empty());
    assert_eq!(first, run());
}

#[test]
fn asterisks_own_figures_match_a_hand_count_of_completions_and_abandons() {
    let log = example("queue_log");
    let figures = import()
        .read_queue_log(log.as_bytes())
        .expect("read")
        .asterisk_service_level(THRESHOLD);
    // By hand: callscompleted rises at the end of a conversation, within T by its hold time;
    // callsabandoned for ABANDON, EXITWITHTIMEOUT and EXITEMPTY, not for EXITWITHKEY.
    let mut hand: BTreeMap<&str, [u64; 4]> = BTreeMap::new();
    for line in log.lines() {
        let f: Vec<&str> = line.split('|').collect();
        let hold = match f[4] {
            "COMPLETECALLER" | "COMPLETEAGENT" => Some(f[5]),
            "BLINDTRANSFER" => Some(f[7]),
            "ATTENDEDTRANSFER" => Some(f[f.len() - 3]),
            _ => None,
        };
        let entry = hand.entry(f[2]).or_default();
        if let Some(hold) = hold {
            entry[0] += 1;
            entry[1] += u64::from(hold.parse::<u64>().expect("hold") <= THRESHOLD);
        }
        if matches!(f[4], "ABANDON" | "EXITWITHTIMEOUT" | "EXITEMPTY") {
            entry[2] += 1;
            entry[3] += u64::from(f[7].parse::<u64>().expect("wait") <= THRESHOLD);
        }
    }
    assert_eq!(figures.len(), 2);
    for q in &figures {
        let [completed, within, abandoned, abandoned_within] = hand[q.asterisk_queue.as_str()];
        assert_eq!(
            (
                q.completed,
                q.completed_within,
                q.abandoned,
                q.abandoned_within
            ),
            (completed, within, abandoned, abandoned_within),
            "{}",
            q.asterisk_queue
        );
        assert!(q.exited_with_key > 0, "the example has key exits");
        let sl2 = q.service_level_2.expect("calls");
        let expected = (within + abandoned_within) as f64 / (completed + abandoned) as f64;
        assert!((sl2 - expected).abs() < 1e-12);
    }
}

#[test]
fn damaged_lines_are_reported_by_number_and_the_rest_still_imports() {
    let original = example("queue_log");
    let mut lines: Vec<String> = original.lines().map(str::to_owned).collect();
    let after = |from: usize, event: &str| {
        (from..lines.len())
            .find(|&i| lines[i].split('|').nth(4) == Some(event))
            .expect("such a line")
    };
    // Garbage at line 100; the waittime cut off the first ABANDON from line 200 on; an
    // event Asterisk never writes in place of the first CONNECT from line 300 on.
    let (garbage, cut, unknown) = (99, after(199, "ABANDON"), after(299, "CONNECT"));
    lines[garbage] = "garbage".to_owned();
    lines[cut] = lines[cut].rsplit_once('|').expect("fields").0.to_owned();
    let mut fields: Vec<&str> = lines[unknown].split('|').collect();
    fields[4] = "HOLDMUSIC";
    lines[unknown] = fields.join("|");
    let damaged = lines.join("\n") + "\n";

    let log = import().read_queue_log(damaged.as_bytes()).expect("read");
    let report = log.report();
    assert_accounted(report);
    assert_eq!(report.lines_read, lines.len() as u64);
    let damage = [
        (garbage as u64 + 1, RefusalKind::Malformed),
        (cut as u64 + 1, RefusalKind::Malformed),
        (unknown as u64 + 1, RefusalKind::UnknownEvent),
    ];
    for (line, kind) in damage {
        assert!(
            report
                .refusals
                .iter()
                .any(|r| r.line == line && r.kind == kind),
            "line {line}: {report}"
        );
    }
    // A damaged call line can leave later lines of its call without a state to fit: those
    // are refused too, each by its number, and they belong to the damaged calls only.
    let original_lines: Vec<&str> = original.lines().collect();
    let callid = |line: u64| original_lines[line as usize - 1].split('|').nth(1);
    let damaged_calls: Vec<_> = damage.iter().map(|(line, _)| callid(*line)).collect();
    for r in &report.refusals {
        if damage.iter().any(|(line, _)| *line == r.line) {
            continue;
        }
        assert!(
            matches!(r.kind, RefusalKind::UnknownCall | RefusalKind::Inconsistent),
            "{r}"
        );
        assert!(damaged_calls.contains(&callid(r.line)), "{r}");
    }
}
