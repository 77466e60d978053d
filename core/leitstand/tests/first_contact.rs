//! First-contact resolution per concern and per department in `leitstand replay --report
//! json`: the soest figures of the example day equal a count this test makes itself from
//! `examples/day.jsonl`, joining each `call.ended` (resolved, transferred_to) to the
//! concern of its call's `call.offered` by `call_id` (CONTRACT §5: first-contact
//! resolution = ended with `resolved: true` / ended with `resolved` present).

mod support;

use std::collections::{BTreeMap, HashMap};

use serde_json::Value;

/// Ended calls of one concern or department, counted by hand.
#[derive(Debug, Default, Clone, Copy)]
struct Tally {
    ended: u64,
    reported: u64,
    resolved: u64,
    handed_on: u64,
}

impl Tally {
    fn ratio(&self) -> Option<f64> {
        (self.reported > 0).then(|| self.resolved as f64 / self.reported as f64)
    }
}

/// Per concern and per department (`None`: unknown concern, not handed on) of `tenant`.
type Tallies = (
    BTreeMap<Option<String>, Tally>,
    BTreeMap<Option<String>, Tally>,
);

/// Counts `tenant`'s ended calls in `events` (JSON Lines) by hand.
fn hand_count(events: &str, tenant: &str) -> Tallies {
    let mut concern_of: HashMap<String, String> = HashMap::new();
    let mut by_concern: BTreeMap<Option<String>, Tally> = BTreeMap::new();
    let mut by_department: BTreeMap<Option<String>, Tally> = BTreeMap::new();
    for line in events.lines().filter(|l| !l.trim().is_empty()) {
        let e: Value = serde_json::from_str(line).expect("the example day is JSON");
        if e["tenant"] != tenant {
            continue;
        }
        let data = &e["data"];
        let call = data["call_id"].as_str().unwrap_or_default().to_owned();
        match e["type"].as_str() {
            Some("call.offered") => {
                if let Some(c) = data["concern"].as_str() {
                    concern_of.insert(call, c.to_owned());
                }
            }
            Some("call.ended") => {
                let concern = concern_of.get(&call).cloned();
                let department = data["transferred_to"].as_str().map(str::to_owned);
                let resolved = data["resolved"].as_bool();
                for tally in [
                    by_concern.entry(concern).or_default(),
                    by_department.entry(department.clone()).or_default(),
                ] {
                    tally.ended += 1;
                    if let Some(r) = resolved {
                        tally.reported += 1;
                        tally.resolved += u64::from(r);
                    }
                    tally.handed_on += u64::from(department.is_some());
                }
            }
            _ => {}
        }
    }
    (by_concern, by_department)
}

/// Checks the report's lines (`key` names each line's concern or department) against
/// the hand count, and each line's verdict against `target`.
fn check_lines(lines: &Value, key: &str, want: &BTreeMap<Option<String>, Tally>, target: f64) {
    let lines = lines.as_array().expect("lines");
    let got: Vec<Option<String>> = lines
        .iter()
        .map(|l| l[key].as_str().map(str::to_owned))
        .collect();
    let expected: Vec<Option<String>> = want.keys().cloned().collect();
    assert_eq!(got, expected, "the {key} lines, in order");
    for line in lines {
        let name = line[key].as_str().map(str::to_owned);
        let t = want[&name];
        let n = |field: &str| line[field].as_u64().expect(field);
        assert_eq!(n("ended"), t.ended, "{key} {name:?}: ended");
        assert_eq!(
            n("resolution_reported"),
            t.reported,
            "{key} {name:?}: reported"
        );
        assert_eq!(n("resolved"), t.resolved, "{key} {name:?}: resolved");
        assert_eq!(n("handed_on"), t.handed_on, "{key} {name:?}: handed on");
        assert_eq!(
            line["first_contact_resolution"].as_f64(),
            t.ratio(),
            "{key} {name:?}: first-contact resolution"
        );
        assert_eq!(
            line["target_met"].as_bool(),
            t.ratio().map(|r| r >= target),
            "{key} {name:?}: against the target"
        );
    }
}

#[test]
fn soest_first_contact_resolution_per_concern_and_department_matches_a_hand_count() {
    let root = support::root();
    let out = support::leitstand_command()
        .current_dir(&root)
        .args([
            "replay",
            "--bundles",
            "examples/bundles",
            "--report",
            "json",
            "examples/day.jsonl",
        ])
        .output()
        .expect("leitstand runs");
    assert!(
        out.status.success(),
        "replay failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: Value = serde_json::from_slice(&out.stdout).expect("a JSON report");
    // Every line counted once: the hand count reads every line as it is.
    assert_eq!(report["replay"]["rejected"], 0, "the example day is clean");
    assert_eq!(
        report["replay"]["duplicates"], 0,
        "the example day is clean"
    );

    let events = std::fs::read_to_string(root.join("examples/day.jsonl")).expect("day");
    let (by_concern, by_department) = hand_count(&events, "soest");
    let soest = report["tenants"]
        .as_array()
        .expect("tenants")
        .iter()
        .find(|t| t["tenant"] == "soest")
        .expect("soest in the report");
    let fc = &soest["first_contact"];
    // The 115 promise: 65 % settled at first contact.
    assert_eq!(fc["target"], 0.65);
    let target = 0.65;

    assert!(by_concern.len() >= 5, "the day has soest's concerns");
    assert!(
        by_concern.keys().all(Option::is_some),
        "every soest call's offer names a concern"
    );
    check_lines(&fc["by_concern"], "concern", &by_concern, target);
    assert!(
        by_department.contains_key(&None) && by_department.len() >= 3,
        "calls kept by the service center and calls handed on to departments"
    );
    check_lines(&fc["by_department"], "department", &by_department, target);
    // Some lines meet the target and some do not: both verdicts are exercised.
    let verdicts: Vec<bool> = fc["by_department"]
        .as_array()
        .expect("lines")
        .iter()
        .filter_map(|l| l["target_met"].as_bool())
        .collect();
    assert!(
        verdicts.contains(&true) && verdicts.contains(&false),
        "{verdicts:?}"
    );

    // The tenant's total is all its ended calls, as its queues count them.
    let mut total = Tally::default();
    for t in by_concern.values() {
        total.ended += t.ended;
        total.reported += t.reported;
        total.resolved += t.resolved;
        total.handed_on += t.handed_on;
    }
    assert_eq!(fc["ended"].as_u64(), Some(total.ended));
    assert_eq!(fc["resolved"].as_u64(), Some(total.resolved));
    assert_eq!(fc["handed_on"].as_u64(), Some(total.handed_on));
    assert_eq!(fc["first_contact_resolution"].as_f64(), total.ratio());
    let queues_ended: u64 = soest["queues"]
        .as_array()
        .expect("queues")
        .iter()
        .map(|q| q["ended"].as_u64().expect("ended"))
        .sum();
    assert_eq!(queues_ended, total.ended);
    assert_eq!(fc["offers_forgotten"], 0);
    // Each queue carries the target beside its own figure.
    for q in soest["queues"].as_array().expect("queues") {
        assert_eq!(q["first_contact_target"], 0.65, "{}", q["queue"]);
    }
    // A tenant without a target says so with null, and gives no verdicts.
    let mut untargeted = 0;
    for t in report["tenants"].as_array().expect("tenants") {
        let fc = &t["first_contact"];
        if fc["target"].is_null() {
            untargeted += 1;
            assert!(fc["target_met"].is_null(), "{}", t["tenant"]);
            for line in fc["by_concern"].as_array().expect("lines") {
                assert!(line["target_met"].is_null(), "{}", t["tenant"]);
            }
        }
    }
    assert!(
        untargeted > 0,
        "the example day has a tenant without a target"
    );
}
