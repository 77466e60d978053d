//! CONTRACT §5's worked example (95 calls, T = 20, S = 5) replayed end to end from
//! `examples/worked-example.jsonl`.

mod support;

use serde_json::Value;

#[test]
fn the_worked_example_replays_to_the_contract_figures() {
    let dir = tempfile::tempdir().expect("tempdir");
    support::write_bundle(
        dir.path(),
        "sla-check",
        "[sla]\nthreshold_seconds = 20\nshort_abandon_seconds = 5\n",
        &[],
    );
    let events = std::fs::read_to_string(support::root().join("examples/worked-example.jsonl"))
        .expect("examples/worked-example.jsonl");
    let run = support::replay(dir.path(), &events);
    assert!(run.notices.is_empty(), "{:?}", run.notices);

    let report = serde_json::to_value(&run.report).expect("report serialises");
    let q = &report["tenants"][0]["queues"][0];
    assert_eq!(report["tenants"][0]["tenant"], "sla-check");
    assert_eq!(q["queue"], "q");
    assert_eq!(q["offered"], 95);
    assert_eq!(q["answered"], 80);
    assert_eq!(q["answered_within"], 70);
    assert_eq!(q["abandoned"], 15);
    assert_eq!(q["short_abandoned"], 5);
    assert_eq!(q["threshold_seconds"], 20);

    let exact = |v: &Value, num: f64, den: f64| {
        let got = v.as_f64().expect("a number");
        assert!((got - num / den).abs() < 1e-12, "{got} != {num}/{den}");
    };
    let levels = &q["service_levels"];
    exact(&levels["exclude-short"], 70.0, 90.0);
    exact(&levels["count"], 70.0, 95.0);
    exact(&levels["exclude"], 70.0, 80.0);
    exact(&levels["success-within"], 80.0, 95.0);
    exact(&q["service_level"], 70.0, 90.0); // the default policy
    exact(&q["abandon_rate"], 10.0, 90.0);
    // Rounded as the contract prints them.
    assert_eq!(
        format!("{:.4}", levels["exclude-short"].as_f64().unwrap_or(0.0)),
        "0.7778"
    );
    assert_eq!(
        format!("{:.4}", levels["count"].as_f64().unwrap_or(0.0)),
        "0.7368"
    );
    assert_eq!(
        format!("{:.4}", levels["exclude"].as_f64().unwrap_or(0.0)),
        "0.8750"
    );
    assert_eq!(
        format!("{:.4}", levels["success-within"].as_f64().unwrap_or(0.0)),
        "0.8421"
    );
    assert_eq!(
        format!("{:.4}", q["abandon_rate"].as_f64().unwrap_or(0.0)),
        "0.1111"
    );
}

#[test]
fn a_queue_without_calls_reports_null_not_zero() {
    let dir = tempfile::tempdir().expect("tempdir");
    support::write_bundle(
        dir.path(),
        "quiet",
        "[queues.empty]\nname = \"Nobody calls\"\n",
        &[],
    );
    let run = support::replay(dir.path(), "");
    let report = serde_json::to_value(&run.report).expect("report serialises");
    let q = &report["tenants"][0]["queues"][0];
    assert_eq!(q["offered"], 0);
    for key in [
        "service_level",
        "asa_seconds",
        "abandon_rate",
        "aht_seconds",
        "first_contact_resolution",
    ] {
        assert!(q[key].is_null(), "{key} should be null: {q}");
    }
}
