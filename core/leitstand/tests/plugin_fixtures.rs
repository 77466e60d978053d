//! The field's plugins against their fixture suites through the harness, the harness's
//! report of a wrong expectation, and the host's fail-open fallback for a failing plugin.

mod support;

use std::process::Command;
use std::sync::Arc;

use leitstand::harness;
use leitstand::replay::Notice;
use leitstand_engine::sandbox::Sandbox;
use leitstand_metrics::CustomMetrics;
use serde_json::{Value, json};

/// Every plugin with a fixture suite: (component, suite directory under plugins/).
const SUITES: &[(&str, &str)] = &[
    ("leitstand_template", "template/fixtures"),
    ("leitstand_ministry", "ministry/fixtures"),
    ("leitstand_escalation", "escalation/fixtures"),
    ("leitstand_pool", "pool/fixtures"),
    ("leitstand_rota", "rota/fixtures"),
    ("leitstand_switchboard", "switchboard/fixtures"),
    ("leitstand_callback_py", "python/callback/fixtures"),
    // The template as the last release built it, against the plugin contract 0.1.0: the
    // host keeps serving that contract, so it keeps passing its suite unchanged.
    (
        "leitstand_template_v0_1",
        "testing/contract-0.1/template/fixtures",
    ),
];

fn sandbox() -> Arc<Sandbox> {
    Arc::new(
        Sandbox::new(support::sandbox_config(), Arc::new(CustomMetrics::new())).expect("sandbox"),
    )
}

#[test]
fn every_plugin_passes_its_fixture_suite() {
    let sandbox = sandbox();
    let mut failed = Vec::new();
    let mut cases = 0;
    for (guest, suite) in SUITES {
        let wasm = support::guest(guest);
        let dir = support::root().join("plugins").join(suite);
        for case in harness::suite(&dir).expect("suite readable") {
            cases += 1;
            let report = harness::run_case(&sandbox, &wasm, &case).expect("case runs");
            if !report.passed() {
                failed.push(format!("{guest}: {report}"));
            }
        }
    }
    assert!(cases >= SUITES.len(), "every suite has cases");
    assert!(
        failed.is_empty(),
        "{} case(s) failed:\n{}",
        failed.len(),
        failed.join("\n")
    );
}

fn leitstand(args: &[&str]) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_leitstand"))
        .args(args)
        .env("LEITSTAND_LOG__FILTER", "warn")
        .output()
        .expect("leitstand runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

/// `leitstand plugin test WASM <how> <dir>`.
fn plugin_test(wasm: &std::path::Path, how: &str, dir: &std::path::Path) -> (bool, String) {
    leitstand(&[
        "plugin",
        "test",
        wasm.to_str().expect("utf-8 path"),
        how,
        dir.to_str().expect("utf-8 path"),
    ])
}

#[test]
fn a_wrong_expectation_is_shown_line_by_line() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let case = tmp.path().join("routes-and-escalates");
    let source = support::root().join("plugins/template/fixtures/routes-and-escalates");
    std::fs::create_dir_all(&case).expect("case dir");
    for f in ["config.toml", "events.jsonl", "expect.jsonl"] {
        std::fs::copy(source.join(f), case.join(f)).expect("copy");
    }
    std::fs::copy(
        support::root().join("plugins/template/fixtures/harness.toml"),
        tmp.path().join("harness.toml"),
    )
    .expect("copy settings");
    // The fixture now expects the wrong target on line 2 and misses line 4.
    let expect = std::fs::read_to_string(case.join("expect.jsonl")).expect("read");
    let mut lines: Vec<String> = expect.lines().map(str::to_owned).collect();
    lines[1] = lines[1].replace("team-kreis", "team-stadt");
    lines.remove(3);
    std::fs::write(case.join("expect.jsonl"), lines.join("\n") + "\n").expect("write");

    let wasm = support::guest("leitstand_template");
    let (ok, said) = plugin_test(&wasm, "--case", &case);
    assert!(!ok, "a wrong expectation fails the run:\n{said}");
    let line = |prefix: &str, needle: &str| {
        said.lines()
            .any(|l| l.starts_with(prefix) && l.contains(needle))
    };
    assert!(said.contains("FAILED  routes-and-escalates"), "{said}");
    assert!(line("  -    2  ", "\"target\":\"team-stadt\""), "{said}");
    assert!(line("  +    2  ", "\"target\":\"team-kreis\""), "{said}");
    assert!(line("  +    4  ", "\"cause\":\"e4\""), "{said}");
    assert!(
        line("       1  ", "\"cause\":\"e1\""),
        "unchanged lines give context:\n{said}"
    );
    assert!(said.contains("1 case(s): 0 passed, 1 failed"), "{said}");

    // Fixed again, the same case passes.
    std::fs::copy(source.join("expect.jsonl"), case.join("expect.jsonl")).expect("restore");
    let (ok, said) = plugin_test(&wasm, "--case", &case);
    assert!(ok, "{said}");
}

#[test]
fn plugin_new_starts_a_plugin_with_a_passing_fixture() {
    let tmp = tempfile::tempdir().expect("tempdir");
    std::fs::write(tmp.path().join("Cargo.toml"), "[workspace]\n").expect("workspace");
    let dir = tmp.path().to_str().expect("utf-8 path");
    let (ok, said) = leitstand(&["plugin", "new", "rueckruf", "--dir", dir]);
    assert!(ok, "{said}");
    let manifest = std::fs::read_to_string(tmp.path().join("rueckruf/Cargo.toml")).expect("crate");
    assert!(
        manifest.contains("name = \"leitstand-rueckruf\""),
        "{manifest}"
    );
    // The copied fixture passes against the template's component, which the new crate's
    // source is until the integrator changes it.
    let wasm = support::guest("leitstand_template");
    let suite = tmp.path().join("rueckruf/fixtures");
    let (ok, said) = plugin_test(&wasm, "--suite", &suite);
    assert!(ok, "{said}");
    let (ok, said) = leitstand(&["plugin", "new", "Bad_Name", "--dir", dir]);
    assert!(
        !ok && said.contains("\"Bad_Name\" is not a plugin name"),
        "{said}"
    );
}

/// A temporary directory with [`support::broken_escalation`]'s bundle.
fn broken_escalation(extra: &str) -> tempfile::TempDir {
    let tmp = tempfile::tempdir().expect("tempdir");
    support::broken_escalation(tmp.path(), extra);
    tmp
}

/// A tenant whose emergency plugin fails on every event: the bundle's fallback routes
/// every emergency call, and only emergency calls, to the partner.
#[test]
fn a_failing_emergency_plugin_still_yields_the_fallback_for_every_emergency_call() {
    let tmp = broken_escalation(
        "on_failure = \"ignore\"\n\
         fallback = { type = \"call.route\", when = { priority = \"emergency\" }, \
         copy = [\"call_id\", \"queue\"], \
         data = { target = \"partner-notruf\", reason = \"fallback\" } }",
    );
    let mut events = Vec::new();
    let mut emergencies = Vec::new();
    for i in 0..60 {
        let call = format!("c{i:03}");
        let mut data = json!({"call_id": call, "queue": "notruf"});
        if i % 3 == 0 {
            data["priority"] = json!("emergency");
            emergencies.push(call.clone());
        } else if i % 3 == 1 {
            data["priority"] = json!("normal");
        }
        let time = format!("2026-11-19T03:{:02}:{:02}+01:00", i / 60, i % 60);
        events.push(support::event(
            "notruf",
            &format!("e{i}"),
            "call.offered",
            &time,
            data,
        ));
    }
    let run = support::replay(tmp.path(), &(events.join("\n") + "\n"));

    let kinds: Vec<&str> = run
        .notices
        .iter()
        .filter_map(|n| match n {
            Notice::PluginFailed { failure, .. } => Some(failure.kind()),
            _ => None,
        })
        .collect();
    // It fails five calls, then is switched off (the default quarantine) and the host
    // answers for it without calling it; the fallback applies either way.
    assert_eq!(kinds.len(), 60, "no call went unanswered");
    assert!(kinds[..5].iter().all(|k| *k == "guest-panic"), "{kinds:?}");
    assert!(kinds[5..].iter().all(|k| *k == "quarantined"), "{kinds:?}");
    assert_eq!(run.report.replay.fallbacks, emergencies.len() as u64);
    let routed: Vec<&Value> = run.commands.iter().collect();
    assert_eq!(routed.len(), emergencies.len(), "{routed:?}");
    for (command, call) in routed.iter().zip(&emergencies) {
        assert_eq!(command["type"], "call.route");
        assert_eq!(command["source"], "leitstand/notruf/escalation");
        assert_eq!(
            command["data"],
            json!({"call_id": call, "queue": "notruf", "target": "partner-notruf", "reason": "fallback"})
        );
    }
}

/// A fallback must be a type the plugin is granted; the refusal names the key.
#[test]
fn a_fallback_of_an_ungranted_type_is_refused() {
    let tmp = broken_escalation("fallback = { type = \"call.escalate\" }");
    let (ok, said) = leitstand(&["bundle", "check", tmp.path().to_str().expect("utf-8 path")]);
    assert!(!ok, "{said}");
    assert!(
        said.contains("key `plugins.escalation.fallback.type`")
            && said.contains("\"call.escalate\" is not granted"),
        "{said}"
    );
}

/// Endpoints are checked at load: a URL that is not http(s), and a plugin granted
/// `http.post` without an endpoint to post to, are refused with the key named.
#[test]
fn unusable_endpoints_are_refused_with_their_key() {
    let cases = [
        (
            "grant = [\"http.post\"]\nendpoints = { ministry = { url = \"ftp://portal.example/x\" } }",
            "key `plugins.ministry.endpoints.ministry.url`: \"ftp://portal.example/x\" is not an http:// or https:// URL",
        ),
        (
            "grant = [\"http.post\"]",
            "key `plugins.ministry.endpoints`: the plugin is granted \"http.post\" but declares no endpoint",
        ),
        (
            "endpoints = { ministry = { url = \"https://portal.example/x\" } }",
            "key `plugins.ministry.grant`: the plugin declares endpoints but is not granted \"http.post\"",
        ),
        (
            "grant = [\"http.post\"]\nendpoints = { ministry = { url = \"https://portal.example/x\", max_backoff_ms = 10 } }",
            "key `plugins.ministry.endpoints.ministry.max_backoff_ms`: 10 is less than first_backoff_ms (1000)",
        ),
    ];
    for (keys, expected) in cases {
        let tmp = tempfile::tempdir().expect("tempdir");
        let wasm = support::guest("leitstand_ministry");
        std::fs::create_dir_all(tmp.path().join("rlp-impf")).expect("dir");
        let digest =
            leitstand_engine::tenants::WasmDigest::of(&std::fs::read(&wasm).expect("read"));
        std::fs::write(
            tmp.path().join("rlp-impf/tenant.toml"),
            format!(
                "id = \"rlp-impf\"\ntimezone = \"Europe/Berlin\"\n\n[[plugins]]\nname = \"ministry\"\n\
                 wasm = \"{}\"\nsha256 = \"{digest}\"\nsubscribe = [\"booking.requested\"]\n{keys}\n\
                 [plugins.config.centers.kl]\ncapacity_per_slot = 1\n",
                wasm.display()
            ),
        )
        .expect("manifest");
        let (ok, said) = leitstand(&["bundle", "check", tmp.path().to_str().expect("utf-8 path")]);
        assert!(!ok, "{keys}: {said}");
        assert!(said.contains(expected), "{keys}:\n{said}");
    }
}

/// The harness is one more driver of the pipeline: every fixture case of every suite
/// (those without simulated endpoints, which a replay does not have) replayed through a
/// bundle holding the same plugin with the same configuration — and the case's
/// `calendar.toml` as the bundle's calendars — gives the same commands, in the same order,
/// as the harness's run of the case.
#[test]
fn every_fixture_decides_the_same_through_the_harness_and_through_replay() {
    let sandbox = sandbox();
    let mut compared = 0;
    for (guest, suite) in SUITES {
        let wasm = support::guest(guest);
        let dir = support::root().join("plugins").join(suite);
        for case in harness::suite(&dir).expect("suite readable") {
            if case.endpoints.is_some() {
                continue;
            }
            let lines = harness::execute_case(&sandbox, &wasm, &case).expect("case runs");
            let by_harness: Vec<Value> = lines
                .iter()
                .filter(|l| l.contains_key("type"))
                .map(|l| json!([l["cause"], l["type"], l.get("subject"), l["data"]]))
                .collect();
            let by_replay = replay_case(&wasm, &case, &by_harness);
            match lines.iter().find_map(|l| l.get("refused")) {
                // A configuration the harness refuses, replay's bundle check refuses too.
                Some(refused) => {
                    let said = by_replay.expect_err("replay refuses the configuration");
                    let refused = refused.as_str().expect("text");
                    assert!(said.contains(refused), "{}: {said}", case.name);
                }
                None => assert_eq!(
                    by_replay.expect("replay runs"),
                    by_harness,
                    "{guest} {}: replay and harness decide alike",
                    case.name
                ),
            }
            compared += 1;
        }
    }
    assert!(compared >= 20, "{compared} cases compared");
}

/// Replays `case`'s events through a bundle of its own with `wasm` configured as the case
/// configures it, granted the command types the harness saw it emit.
fn replay_case(
    wasm: &std::path::Path,
    case: &harness::Case,
    harness_said: &[Value],
) -> Result<Vec<Value>, String> {
    let tmp = tempfile::tempdir().expect("tempdir");
    let events = std::fs::read_to_string(&case.events).expect("events");
    // The harness's rule: the first event's tenant, `fixture` without one.
    let first: Value = events
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .find(|v| v["tenant"].is_string())
        .unwrap_or_default();
    let tenant = first["tenant"].as_str().unwrap_or("fixture");
    let mut types: Vec<String> = events
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter_map(|v| v["type"].as_str().map(str::to_owned))
        .collect();
    // The harness's rule: every type the events use (but the host's own), `call.offered`
    // when none.
    types.retain(|t| t != "timer.fired" && t != "http.response");
    if types.is_empty() {
        types.push("call.offered".to_owned());
    }
    types.sort();
    types.dedup();
    let mut grant: Vec<String> = match &case.settings.grant {
        Some(granted) => granted.clone(),
        None => harness_said
            .iter()
            .filter_map(|c| c[1].as_str().map(str::to_owned))
            .chain(["call.route".to_owned()])
            .collect(),
    };
    grant.sort();
    grant.dedup();
    let config: toml::Table = if case.config.is_file() {
        toml::from_str(&std::fs::read_to_string(&case.config).expect("config")).expect("toml")
    } else {
        toml::Table::new()
    };
    let limits = &case.settings.limits;
    let mut plugin = toml::Table::new();
    plugin.insert("name".into(), "plugin".into());
    plugin.insert("wasm".into(), wasm.display().to_string().into());
    plugin.insert(
        "sha256".into(),
        leitstand_engine::tenants::WasmDigest::of(&std::fs::read(wasm).expect("wasm"))
            .to_string()
            .into(),
    );
    plugin.insert("subscribe".into(), types.into());
    plugin.insert("grant".into(), grant.clone().into());
    let capabilities = case
        .settings
        .capabilities
        .clone()
        .unwrap_or_else(|| vec!["state".into(), "timers".into(), "metrics".into()]);
    plugin.insert("capabilities".into(), capabilities.into());
    let mut table = toml::Table::new();
    for (key, value) in [
        ("cpu_ms", limits.cpu_ms),
        ("wall_ms", limits.wall_ms),
        ("memory_mib", limits.memory_mib),
    ] {
        if let Some(v) = value {
            table.insert(key.into(), toml::Value::Integer(v as i64));
        }
    }
    if !table.is_empty() {
        plugin.insert("limits".into(), table.into());
    }
    // The harness says nothing of failures' dead letters; failures alone are its lines.
    let mut on_failure = toml::Table::new();
    on_failure.insert("on_failure".into(), "ignore".into());
    plugin.extend(on_failure);
    if grant.iter().any(|g| g == "http.post") {
        // The endpoint the configuration names; a replay writes the posts, delivers none.
        let name = config
            .get("endpoint")
            .and_then(toml::Value::as_str)
            .unwrap_or("endpoint")
            .to_owned();
        let mut endpoint = toml::Table::new();
        endpoint.insert("url".into(), "https://endpoint.invalid/".into());
        let mut endpoints = toml::Table::new();
        endpoints.insert(name, endpoint.into());
        plugin.insert("endpoints".into(), endpoints.into());
    }
    plugin.insert("config".into(), config.into());
    let mut manifest = toml::Table::new();
    manifest.insert("id".into(), tenant.into());
    manifest.insert(
        "timezone".into(),
        case.settings
            .timezone
            .clone()
            .unwrap_or_else(|| "Europe/Berlin".into())
            .into(),
    );
    manifest.insert(
        "plugins".into(),
        toml::Value::Array(vec![toml::Value::Table(plugin)]),
    );
    // The case's calendar.toml holds the very tables a bundle's tenant.toml does.
    if let Some(path) = &case.calendar {
        let calendars: toml::Table =
            toml::from_str(&std::fs::read_to_string(path).expect("calendar")).expect("toml");
        manifest.extend(calendars);
    }
    let bundle = tmp.path().join("bundles").join(tenant);
    std::fs::create_dir_all(&bundle).expect("bundle dir");
    std::fs::write(
        bundle.join("tenant.toml"),
        toml::to_string(&manifest).expect("manifest"),
    )
    .expect("write manifest");
    let commands = tmp.path().join("commands.jsonl");
    let out = support::leitstand(&[
        "replay",
        "--bundles",
        tmp.path().join("bundles").to_str().expect("utf8"),
        "--commands",
        commands.to_str().expect("utf8"),
        case.events.to_str().expect("utf8"),
    ]);
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr).into_owned());
    }
    Ok(std::fs::read_to_string(&commands)
        .expect("commands")
        .lines()
        .map(|l| {
            let c: Value = serde_json::from_str(l).expect("command");
            json!([c["causationid"], c["type"], c.get("subject"), c["data"]])
        })
        .collect())
}
