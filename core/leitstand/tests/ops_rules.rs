//! The operations kit in `ops/`, checked with the tools operators use: promtool accepts the
//! rule files and the scrape configuration and passes the rules' unit tests; every alert has
//! a firing and a quiet test case and a runbook section; the rules and the Grafana dashboard
//! query only metrics docs/METRICS.md catalogues, or recording rules; the provisioning files
//! point at the dashboard and its data source. Needs `promtool` (Debian's `prometheus`);
//! the live queries are in `dashboard.rs`.
#![allow(missing_docs)]

mod support;

use std::collections::{BTreeMap, BTreeSet};

use support::ops::{self, Catalogue};

#[test]
fn promtool_accepts_both_rule_files() {
    let out = ops::promtool(&[
        "check",
        "rules",
        "rules/leitstand-recording.yml",
        "rules/leitstand-alerts.yml",
    ]);
    assert!(out.contains("SUCCESS"), "{out}");
}

#[test]
fn promtool_accepts_the_scrape_configuration_and_its_rule_files() {
    let out = ops::promtool(&["check", "config", "prometheus.yml"]);
    assert!(out.contains("2 rule files found"), "{out}");
}

#[test]
fn the_rules_pass_their_promtool_unit_tests() {
    let files: Vec<String> = ops::rule_tests()
        .into_keys()
        .map(|f| format!("tests/{f}"))
        .collect();
    let mut args = vec!["test", "rules"];
    args.extend(files.iter().map(String::as_str));
    ops::promtool(&args);
}

/// The alert names a promtool test expects to fire and to stay quiet, over all test files.
fn alert_cases() -> (BTreeSet<String>, BTreeSet<String>) {
    let (mut firing, mut quiet) = (BTreeSet::new(), BTreeSet::new());
    for (file, doc) in ops::rule_tests() {
        for test in doc["tests"].as_sequence().into_iter().flatten() {
            for case in test["alert_rule_test"].as_sequence().into_iter().flatten() {
                let name = case["alertname"]
                    .as_str()
                    .unwrap_or_else(|| panic!("{file}: an alert_rule_test without alertname"))
                    .to_owned();
                let fires = case["exp_alerts"]
                    .as_sequence()
                    .is_some_and(|alerts| !alerts.is_empty());
                if fires { &mut firing } else { &mut quiet }.insert(name);
            }
        }
    }
    (firing, quiet)
}

#[test]
fn every_alert_is_tested_firing_and_quiet() {
    let alerts: BTreeSet<String> = ops::rules("leitstand-alerts.yml")
        .into_iter()
        .map(|r| r.alert.expect("only alerts in leitstand-alerts.yml"))
        .collect();
    assert!(alerts.len() >= 7, "{alerts:?}");
    let (firing, quiet) = alert_cases();
    let never_fired: Vec<_> = alerts.difference(&firing).collect();
    let never_quiet: Vec<_> = alerts.difference(&quiet).collect();
    assert!(
        never_fired.is_empty() && never_quiet.is_empty(),
        "alerts without a promtool case in ops/prometheus/tests/ where they fire: \
         {never_fired:?}; where they stay quiet: {never_quiet:?}"
    );
    let unknown: Vec<_> = firing
        .union(&quiet)
        .filter(|a| !alerts.contains(*a))
        .collect();
    assert!(
        unknown.is_empty(),
        "tests of alerts that do not exist: {unknown:?}"
    );
}

#[test]
fn every_recording_rule_is_tested() {
    let mut tested = BTreeSet::new();
    for (_, doc) in ops::rule_tests() {
        for test in doc["tests"].as_sequence().into_iter().flatten() {
            for case in test["promql_expr_test"].as_sequence().into_iter().flatten() {
                tested.extend(ops::metric_names(case["expr"].as_str().expect("expr")));
            }
        }
    }
    let untested: Vec<_> = ops::recorded()
        .into_iter()
        .filter(|r| !tested.contains(r))
        .collect();
    assert!(
        untested.is_empty(),
        "recording rules no promql_expr_test queries: {untested:?}"
    );
}

#[test]
fn recording_rules_follow_the_naming_scheme() {
    for rule in ops::rules("leitstand-recording.yml") {
        let name = rule
            .record
            .expect("only recording rules in leitstand-recording.yml");
        let parts: Vec<&str> = name.split(':').collect();
        assert!(
            parts.len() == 3 && parts[0] == "leitstand" && !parts[1].is_empty(),
            "{name} is not leitstand:<figure>:<operation><window>"
        );
        let window = if parts[2].ends_with("30m") {
            "30m"
        } else {
            "5m"
        };
        assert!(
            parts[2].ends_with(window) && rule.group.ends_with(window),
            "{name} is recorded in group {}",
            rule.group
        );
    }
}

#[test]
fn every_alert_says_how_bad_what_and_where_to_read_on() {
    let runbook = std::fs::read_to_string(ops::ops().join("RUNBOOK.md")).expect("RUNBOOK.md");
    let sections: BTreeSet<String> = runbook
        .lines()
        .filter_map(|l| l.strip_prefix("## "))
        .map(|s| s.trim().to_lowercase())
        .collect();
    for rule in ops::rules("leitstand-alerts.yml") {
        let name = rule.alert.expect("alert");
        let severity = rule.yaml["labels"]["severity"].as_str();
        assert!(
            matches!(severity, Some("critical" | "warning")),
            "{name}: severity {severity:?}"
        );
        let annotations = &rule.yaml["annotations"];
        for key in ["summary", "description", "runbook_url"] {
            assert!(
                annotations[key]
                    .as_str()
                    .is_some_and(|s| !s.trim().is_empty()),
                "{name}: no {key}"
            );
        }
        let url = annotations["runbook_url"].as_str().expect("runbook_url");
        let anchor = url
            .strip_prefix("ops/RUNBOOK.md#")
            .unwrap_or_else(|| panic!("{name}: runbook_url {url} is not ops/RUNBOOK.md#…"));
        assert_eq!(anchor, name.to_lowercase(), "{name}: runbook anchor");
        assert!(
            sections.contains(anchor),
            "{name}: ops/RUNBOOK.md has no section `## {name}`"
        );
    }
}

/// The names `expr` uses that neither docs/METRICS.md nor the recording rules define.
fn unknown_names(expr: &str, catalogue: &Catalogue, recorded: &BTreeSet<String>) -> Vec<String> {
    ops::metric_names(expr)
        .into_iter()
        .filter(|n| !ops::known(n, catalogue, recorded))
        .collect()
}

#[test]
fn rules_use_only_catalogued_metrics() {
    let catalogue = ops::catalogue();
    let recorded = ops::recorded();
    let mut unknown = BTreeMap::new();
    for file in ["leitstand-recording.yml", "leitstand-alerts.yml"] {
        for rule in ops::rules(file) {
            let name = rule.record.or(rule.alert).expect("record or alert");
            let missing = unknown_names(&rule.expr, &catalogue, &recorded);
            if !missing.is_empty() {
                unknown.insert(name, missing);
            }
        }
    }
    assert!(
        unknown.is_empty(),
        "rules using names docs/METRICS.md does not list: {unknown:#?}"
    );
}

#[test]
fn dashboard_panels_query_only_catalogued_metrics() {
    let dashboard = ops::dashboard();
    assert_eq!(dashboard["uid"], "leitstand");
    let schema = dashboard["schemaVersion"].as_u64().expect("schemaVersion");
    assert!((36..=41).contains(&schema), "schemaVersion {schema}");

    // Every panel queries Prometheus through the data source variable.
    for panel in ops::panels(&dashboard) {
        let title = panel["title"].as_str().unwrap_or("(untitled)");
        assert_eq!(
            panel["datasource"]["uid"], "${DS_PROMETHEUS}",
            "panel {title}: data source"
        );
        let targets = panel["targets"].as_array().map_or(0, Vec::len);
        assert!(targets > 0, "panel {title} has no query");
    }

    let catalogue = ops::catalogue();
    let recorded = ops::recorded();
    let mut problems = Vec::new();
    for q in ops::panel_queries(&dashboard) {
        let names = ops::metric_names(&q.expr);
        if q.expr.trim().is_empty() || (names.is_empty() && !q.expr.contains("up{")) {
            problems.push(format!(
                "{} ({}): no Leitstand metric in {:?}",
                q.panel, q.ref_id, q.expr
            ));
        }
        let missing = unknown_names(&q.expr, &catalogue, &recorded);
        if !missing.is_empty() {
            problems.push(format!("{} ({}): unknown {missing:?}", q.panel, q.ref_id));
        }
    }
    let variables = ops::variable_queries(&dashboard);
    let names: BTreeSet<&str> = variables.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        BTreeSet::from(["queue", "tenant"]),
        "template variables"
    );
    for (name, query) in &variables {
        let missing = unknown_names(query, &catalogue, &recorded);
        if !missing.is_empty() {
            problems.push(format!("variable {name}: unknown {missing:?}"));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));

    // The panels the operators' brief names are there.
    let queried: BTreeSet<String> = ops::panel_queries(&dashboard)
        .iter()
        .flat_map(|q| ops::metric_names(&q.expr))
        .collect();
    for needed in [
        "leitstand:service_level:ratio_rate30m",
        "leitstand_service_level_target",
        "leitstand:asa_seconds:mean5m",
        "leitstand:abandon_rate:ratio_rate5m",
        "leitstand_calls_waiting",
        "leitstand_oldest_wait_seconds",
        "leitstand_staffing_agents_required",
        "leitstand_site_agents_staffed",
        "leitstand_plugin_calls_total",
        "leitstand_plugin_quarantined",
        "leitstand_plugin_call_seconds_bucket",
        "leitstand_events_received_total",
        "leitstand_dead_letters_total",
        "leitstand_event_lag_seconds_bucket",
        "leitstand_event_seconds_bucket",
        "leitstand_broker_connected",
        "leitstand_store_connected",
        "leitstand_redeliveries_total",
        "leitstand_publish_confirm_seconds_bucket",
    ] {
        assert!(queried.contains(needed), "no panel queries {needed}");
    }
}

#[test]
fn grafana_provisioning_points_at_the_dashboard_and_a_prometheus() {
    let dir = ops::ops().join("grafana/provisioning");
    let datasources = ops::yaml(&dir.join("datasources/leitstand.yml"));
    let prometheus: Vec<_> = datasources["datasources"]
        .as_sequence()
        .expect("datasources")
        .iter()
        .filter(|d| d["type"].as_str() == Some("prometheus"))
        .collect();
    assert_eq!(prometheus.len(), 1, "one Prometheus data source");
    assert!(prometheus[0]["uid"].as_str().is_some(), "with a fixed uid");

    let providers = ops::yaml(&dir.join("dashboards/leitstand.yml"));
    let provider = &providers["providers"][0];
    assert_eq!(provider["type"].as_str(), Some("file"));
    assert!(
        provider["options"]["path"].as_str().is_some(),
        "a dashboards directory"
    );
}

#[test]
fn the_systemd_unit_verifies_and_stays_hardened() {
    let unit = std::fs::read_to_string(ops::ops().join("systemd/leitstand.service"))
        .expect("ops/systemd/leitstand.service");
    // wasmtime writes plugin code and then maps it executable.
    assert!(
        !unit
            .lines()
            .any(|l| l.trim_start().starts_with("MemoryDenyWriteExecute")),
        "MemoryDenyWriteExecute breaks every plugin"
    );
    // `verify` checks that ExecStart's binary exists: point it at the one cargo built.
    let tmp = tempfile::tempdir().expect("tmp");
    let path = tmp.path().join("leitstand.service");
    std::fs::write(
        &path,
        unit.replace("/usr/local/bin/leitstand", env!("CARGO_BIN_EXE_leitstand")),
    )
    .expect("write the unit");
    let analyze = ops::tool_of("systemd-analyze", "systemd");
    let verify = std::process::Command::new(&analyze)
        .arg("verify")
        .arg(&path)
        .output()
        .expect("systemd-analyze verify");
    // Unknown keys and values are warnings on stderr with exit code 0.
    let said = String::from_utf8_lossy(&verify.stderr);
    assert!(
        verify.status.success() && said.trim().is_empty(),
        "systemd-analyze verify: {}\n{said}",
        verify.status
    );
    // Exposure 0 (locked down) … 10 (unprotected); the unit scores 1.5 with systemd 252.
    let security = std::process::Command::new(&analyze)
        .args(["security", "--offline=yes", "--threshold=20"])
        .arg(&path)
        .output()
        .expect("systemd-analyze security");
    assert!(
        security.status.success(),
        "the unit's exposure rose above 2.0:\n{}",
        String::from_utf8_lossy(&security.stdout)
    );
}
