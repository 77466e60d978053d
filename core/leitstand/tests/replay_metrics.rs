//! A replay's metrics (`leitstand replay --metrics`) and its JSON report agree exactly:
//! the SLA counters, the wait and talk sums behind ASA and AHT, the bucket at each
//! queue's threshold, the staffing of the last interval, first-contact resolution per
//! concern and per department beside its target, and the run's own numbers.

mod support;

use std::collections::BTreeMap;

use serde_json::Value;

/// One sample: labels (sorted) and value.
type Samples = BTreeMap<String, Vec<(BTreeMap<String, String>, f64)>>;

/// Reads the Prometheus text format (what `Metrics::render` writes): `name{k="v",…} value`.
fn parse(text: &str) -> Samples {
    let mut out: Samples = BTreeMap::new();
    for line in text.lines() {
        if line.starts_with('#') || line.trim().is_empty() {
            continue;
        }
        let (head, value) = line.rsplit_once(' ').expect("a sample line has a value");
        let value: f64 = value.parse().expect("a numeric value");
        let (name, labels) = match head.split_once('{') {
            Some((name, rest)) => {
                let body = rest.strip_suffix('}').expect("labels end with }");
                let mut labels = BTreeMap::new();
                // Label values here never hold `",`.
                for pair in body.split("\",").filter(|p| !p.is_empty()) {
                    let (k, v) = pair.split_once("=\"").expect("k=\"v\"");
                    labels.insert(k.to_owned(), v.trim_end_matches('"').to_owned());
                }
                (name, labels)
            }
            None => (head, BTreeMap::new()),
        };
        out.entry(name.to_owned())
            .or_default()
            .push((labels, value));
    }
    out
}

/// The value of `name` with exactly these labels among others it may have.
fn get(samples: &Samples, name: &str, want: &[(&str, &str)]) -> Option<f64> {
    let found: Vec<f64> = samples
        .get(name)?
        .iter()
        .filter(|(labels, _)| {
            want.iter()
                .all(|(k, v)| labels.get(*k).map(String::as_str) == Some(*v))
        })
        .map(|(_, v)| *v)
        .collect();
    match found.as_slice() {
        [] => None,
        [v] => Some(*v),
        many => panic!("{name} {want:?} matches {} series", many.len()),
    }
}

/// The sum of `name` over all series with these labels.
fn sum(samples: &Samples, name: &str, want: &[(&str, &str)]) -> f64 {
    samples.get(name).map_or(0.0, |series| {
        series
            .iter()
            .filter(|(labels, _)| {
                want.iter()
                    .all(|(k, v)| labels.get(*k).map(String::as_str) == Some(*v))
            })
            .map(|(_, v)| *v)
            .sum()
    })
}

fn ratio(num: f64, den: f64) -> Option<f64> {
    (den > 0.0).then(|| num / den)
}

fn opt(v: &Value) -> Option<f64> {
    v.as_f64()
}

/// The label values `name` has for `label` among `tenant`'s series.
fn label_values(samples: &Samples, name: &str, tenant: &str, label: &str) -> Vec<String> {
    let mut values: Vec<String> = samples
        .get(name)
        .map(|series| {
            series
                .iter()
                .filter(|(l, _)| l.get("tenant").map(String::as_str) == Some(tenant))
                .filter_map(|(l, _)| l.get(label).cloned())
                .collect()
        })
        .unwrap_or_default();
    values.sort();
    values.dedup();
    values
}

/// Checks the report's first-contact lines of one kind (`key`: `concern` or
/// `department`) against `family`, whose label `key` names a null line `absent`.
fn check_first_contact(
    m: &Samples,
    tenant: &str,
    lines: &Value,
    key: &str,
    family: &str,
    absent: &str,
) {
    let lines = lines.as_array().expect("first-contact lines");
    let mut labels: Vec<String> = Vec::new();
    for line in lines {
        let label = line[key].as_str().unwrap_or(absent);
        labels.push(label.to_owned());
        let count = |resolution: &str| {
            get(
                m,
                family,
                &[("tenant", tenant), (key, label), ("resolution", resolution)],
            )
            .unwrap_or_else(|| panic!("{family} {tenant}/{label}/{resolution} missing"))
        };
        let (resolved, unresolved, unreported) =
            (count("resolved"), count("unresolved"), count("unreported"));
        let n = |field: &str| line[field].as_u64().expect(field) as f64;
        assert_eq!(resolved, n("resolved"), "{key} {tenant}/{label}: resolved");
        assert_eq!(
            resolved + unresolved,
            n("resolution_reported"),
            "{key} {tenant}/{label}: reported"
        );
        assert_eq!(
            resolved + unresolved + unreported,
            n("ended"),
            "{key} {tenant}/{label}: ended"
        );
        assert_eq!(
            ratio(resolved, resolved + unresolved),
            opt(&line["first_contact_resolution"]),
            "{key} {tenant}/{label}: first-contact resolution"
        );
        let handed_on = if key == "concern" {
            get(
                m,
                "leitstand_calls_handed_on_by_concern_total",
                &[("tenant", tenant), ("concern", label)],
            )
            .unwrap_or_else(|| panic!("handed on {tenant}/{label} missing"))
        } else if line[key].is_null() {
            0.0
        } else {
            resolved + unresolved + unreported
        };
        assert_eq!(
            handed_on,
            n("handed_on"),
            "{key} {tenant}/{label}: handed on"
        );
    }
    labels.sort();
    assert_eq!(
        label_values(m, family, tenant, key),
        labels,
        "{family} of {tenant} has exactly the report's lines"
    );
}

#[test]
fn a_replays_metrics_and_its_json_report_agree_exactly() {
    let root = support::root();
    let dir = tempfile::tempdir().expect("tempdir");
    let metrics_file = dir.path().join("replay.prom");
    let out = support::leitstand_command()
        .current_dir(&root)
        .args([
            "replay",
            "--bundles",
            "examples/bundles",
            "--report",
            "json",
        ])
        .arg("--metrics")
        .arg(&metrics_file)
        .arg("examples/day.jsonl")
        .output()
        .expect("leitstand runs");
    assert!(
        out.status.success(),
        "replay failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: Value = serde_json::from_slice(&out.stdout).expect("a JSON report");
    let text = std::fs::read_to_string(&metrics_file).expect("the metrics file");
    let m = parse(&text);

    let tenants = report["tenants"].as_array().expect("tenants");
    assert_eq!(tenants.len(), 3, "the example day has three tenants");
    let mut queues_checked = 0;
    let mut first_contact_checked = false;
    for t in tenants {
        let tenant = t["tenant"].as_str().expect("tenant id");
        for q in t["queues"].as_array().expect("queues") {
            let queue = q["queue"].as_str().expect("queue id");
            let l = [("tenant", tenant), ("queue", queue)];
            let counter = |name: &str| {
                get(&m, name, &l).unwrap_or_else(|| panic!("{name} of {tenant}/{queue} missing"))
            };
            let n = |field: &str| q[field].as_u64().expect(field) as f64;
            // The counters are the report's counts.
            for (metric, field) in [
                ("leitstand_calls_offered_total", "offered"),
                ("leitstand_calls_answered_total", "answered"),
                (
                    "leitstand_calls_answered_within_threshold_total",
                    "answered_within",
                ),
                ("leitstand_calls_abandoned_total", "abandoned"),
                ("leitstand_calls_short_abandoned_total", "short_abandoned"),
                ("leitstand_calls_ended_total", "ended"),
            ] {
                assert_eq!(counter(metric), n(field), "{metric} of {tenant}/{queue}");
            }
            let answered = counter("leitstand_calls_answered_total");
            let within = counter("leitstand_calls_answered_within_threshold_total");
            let abandoned = counter("leitstand_calls_abandoned_total");
            let short = counter("leitstand_calls_short_abandoned_total");
            let abandoned_within = counter("leitstand_calls_abandoned_within_threshold_total");
            // Service levels under every policy, from the counters by CONTRACT §5.
            let levels = &q["service_levels"];
            assert_eq!(
                ratio(within, answered + abandoned - short),
                opt(&levels["exclude-short"]),
                "exclude-short of {tenant}/{queue}"
            );
            assert_eq!(
                ratio(within, answered + abandoned),
                opt(&levels["count"]),
                "count of {tenant}/{queue}"
            );
            assert_eq!(
                ratio(within, answered),
                opt(&levels["exclude"]),
                "exclude of {tenant}/{queue}"
            );
            assert_eq!(
                ratio(within + abandoned_within, answered + abandoned),
                opt(&levels["success-within"]),
                "success-within of {tenant}/{queue}"
            );
            assert_eq!(
                ratio(abandoned - short, answered + abandoned - short),
                opt(&q["abandon_rate"]),
                "abandon rate of {tenant}/{queue}"
            );
            // ASA from the answered-wait histogram, AHT from the talk histogram.
            let wa = [
                ("tenant", tenant),
                ("queue", queue),
                ("outcome", "answered"),
            ];
            let wait_sum = get(&m, "leitstand_call_wait_seconds_sum", &wa).expect("wait sum");
            let wait_count = get(&m, "leitstand_call_wait_seconds_count", &wa).expect("wait count");
            assert_eq!(wait_count, answered);
            assert_eq!(ratio(wait_sum, wait_count), opt(&q["asa_seconds"]), "ASA");
            let talk_sum = counter("leitstand_call_talk_seconds_sum");
            let talk_count = counter("leitstand_call_talk_seconds_count");
            assert_eq!(talk_count, n("ended"));
            assert_eq!(ratio(talk_sum, talk_count), opt(&q["aht_seconds"]), "AHT");
            assert_eq!(
                ratio(
                    counter("leitstand_calls_resolved_total"),
                    counter("leitstand_calls_resolution_reported_total")
                ),
                opt(&q["first_contact_resolution"]),
                "first-contact resolution of {tenant}/{queue}"
            );
            // A bucket exactly at the threshold and at the short-abandon limit.
            let t_le = q["threshold_seconds"].as_u64().expect("T").to_string();
            let s_le = q["short_abandon_seconds"].as_u64().expect("S").to_string();
            assert_eq!(
                get(
                    &m,
                    "leitstand_call_wait_seconds_bucket",
                    &[
                        ("tenant", tenant),
                        ("queue", queue),
                        ("outcome", "answered"),
                        ("le", &t_le)
                    ]
                ),
                Some(within),
                "the answered bucket at T = {t_le} s of {tenant}/{queue}"
            );
            assert_eq!(
                get(
                    &m,
                    "leitstand_call_wait_seconds_bucket",
                    &[
                        ("tenant", tenant),
                        ("queue", queue),
                        ("outcome", "abandoned"),
                        ("le", &s_le)
                    ]
                ),
                Some(short),
                "the abandoned bucket at S = {s_le} s of {tenant}/{queue}"
            );
            assert_eq!(
                counter("leitstand_service_level_target"),
                q["target"].as_f64().expect("target")
            );
            assert_eq!(
                counter("leitstand_service_level_threshold_seconds"),
                n("threshold_seconds")
            );
            // Staffing: the gauge holds the last interval's recommendation.
            let last = q["intervals"]
                .as_array()
                .and_then(|i| i.last())
                .expect("intervals");
            assert_eq!(
                get(&m, "leitstand_staffing_agents_required", &l),
                last["agents_required"].as_u64().map(|v| v as f64),
                "agents required in the last interval of {tenant}/{queue}"
            );
            assert_eq!(
                get(&m, "leitstand_staffing_agents_scheduled", &l),
                last["agents_scheduled"].as_u64().map(|v| v as f64),
                "agents scheduled in the last interval of {tenant}/{queue}"
            );
            queues_checked += 1;
        }
        // First-contact resolution per concern and per department, beside the target.
        let fc = &t["first_contact"];
        check_first_contact(
            &m,
            tenant,
            &fc["by_concern"],
            "concern",
            "leitstand_calls_ended_by_concern_total",
            "_unknown",
        );
        check_first_contact(
            &m,
            tenant,
            &fc["by_department"],
            "department",
            "leitstand_calls_ended_by_department_total",
            "_service_center",
        );
        assert_eq!(
            get(&m, "leitstand_first_contact_target", &[("tenant", tenant)]),
            opt(&fc["target"]),
            "first-contact target of {tenant}"
        );
        for q in t["queues"].as_array().expect("queues") {
            let queue = q["queue"].as_str().expect("queue id");
            assert_eq!(
                get(
                    &m,
                    "leitstand_queue_first_contact_target",
                    &[("tenant", tenant), ("queue", queue)]
                ),
                opt(&q["first_contact_target"]),
                "first-contact target of {tenant}/{queue}"
            );
        }
        if tenant == "soest" {
            first_contact_checked = true;
            assert!(
                fc["by_concern"].as_array().is_some_and(|c| c.len() >= 5)
                    && fc["by_department"].as_array().is_some_and(|d| d.len() >= 3),
                "soest's concerns and departments: {fc}"
            );
        }
        // The tenant's calls all counted: nothing under another queue label.
        let offered_all = sum(&m, "leitstand_calls_offered_total", &[("tenant", tenant)]);
        let offered_report: u64 = t["queues"]
            .as_array()
            .expect("queues")
            .iter()
            .map(|q| q["offered"].as_u64().expect("offered"))
            .sum();
        assert_eq!(offered_all, offered_report as f64, "offered of {tenant}");
    }
    assert!(queues_checked >= 4, "{queues_checked} queues checked");
    assert!(
        first_contact_checked,
        "soest's first-contact figures checked"
    );

    // The run's own numbers.
    let r = &report["replay"];
    let num = |k: &str| r[k].as_u64().expect(k) as f64;
    assert_eq!(
        sum(&m, "leitstand_events_total", &[("outcome", "processed")]),
        num("processed")
    );
    assert_eq!(
        sum(&m, "leitstand_events_total", &[("outcome", "duplicate")]),
        num("duplicates")
    );
    assert_eq!(
        sum(
            &m,
            "leitstand_events_total",
            &[("outcome", "dead_lettered")]
        ),
        num("rejected")
    );
    for (reason, n) in r["rejected_by_reason"].as_object().expect("by reason") {
        assert_eq!(
            sum(&m, "leitstand_dead_letters_total", &[("reason", reason)]),
            n.as_u64().expect("count") as f64,
            "dead letters {reason}"
        );
    }
    assert_eq!(
        sum(&m, "leitstand_commands_published_total", &[]),
        num("commands")
    );
    assert_eq!(
        sum(&m, "leitstand_timers_fired_total", &[]),
        num("timers_fired")
    );
    assert_eq!(sum(&m, "leitstand_fallbacks_total", &[]), num("fallbacks"));
    assert_eq!(
        sum(&m, "leitstand_plugin_calls_total", &[]),
        num("plugin_calls")
    );
    for (kind, n) in r["plugin_failures"].as_object().expect("failures") {
        assert_eq!(
            sum(&m, "leitstand_plugin_calls_total", &[("outcome", kind)]),
            n.as_u64().expect("count") as f64,
            "plugin failures {kind}"
        );
    }
    assert!(num("processed") > 10_000.0, "the example day was replayed");
}
