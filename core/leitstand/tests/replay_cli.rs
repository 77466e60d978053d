//! The `leitstand` binary: replay's handling of bad lines, its deterministic output, and
//! `bundle check`'s refusals.

mod support;

use std::path::Path;
use std::process::Output;

use serde_json::{Value, json};
use support::PluginEntry;

use support::leitstand;

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn router(config: &'static str) -> PluginEntry<'static> {
    PluginEntry {
        name: "router",
        guest: "leitstand_template",
        subscribe: &["call.offered"],
        grant: &["call.route"],
        limits: "",
        config,
    }
}

#[test]
fn malformed_lines_are_reported_with_number_and_reason_and_good_lines_processed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let bundles = dir.path().join("bundles");
    support::write_bundle(&bundles, "calm", "", &[router("default_target = \"kl\"")]);
    let offered = |id: &str| {
        support::event(
            "calm",
            id,
            "call.offered",
            "2026-11-19T09:00:00Z",
            json!({"call_id": id, "queue": "q"}),
        )
    };
    let mut wrong_version: Value = serde_json::from_str(&offered("x")).expect("json");
    wrong_version["specversion"] = json!("0.3");
    let mut no_source: Value = serde_json::from_str(&offered("y")).expect("json");
    no_source.as_object_mut().expect("object").remove("source");
    let mut stranger: Value = serde_json::from_str(&offered("z")).expect("json");
    stranger["tenant"] = json!("nobody");
    let mismatch = json!({"routing_key": "other.call.offered", "event": serde_json::from_str::<Value>(&offered("w")).expect("json")});
    let lines = [
        offered("good-1"),
        "{\"specversion\": \"1.0\", \"id\": ".to_owned(),
        offered("good-2"),
        no_source.to_string(),
        stranger.to_string(),
        wrong_version.to_string(),
        mismatch.to_string(),
        String::new(),
        offered("good-3"),
    ];
    let events = dir.path().join("events.jsonl");
    std::fs::write(&events, lines.join("\n")).expect("write events");
    let commands = dir.path().join("commands.jsonl");

    let out = leitstand(&[
        "replay",
        "--bundles",
        bundles.to_str().expect("utf8"),
        "--commands",
        commands.to_str().expect("utf8"),
        "--report",
        "json",
        events.to_str().expect("utf8"),
    ]);
    let stderr = text(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    for expected in [
        "line 2: malformed-json: body is not valid JSON",
        "line 4: missing-attribute: attribute `source` is missing",
        "line 5: unknown-tenant: no bundle is loaded for tenant \"nobody\"",
        "line 6: unsupported-specversion: specversion is \"0.3\"",
        "line 7: tenant-mismatch: routing key names tenant \"other\"",
    ] {
        assert!(
            stderr.contains(expected),
            "missing {expected:?} in:\n{stderr}"
        );
    }
    let report: Value = serde_json::from_slice(&out.stdout).expect("JSON report");
    assert_eq!(report["replay"]["processed"], 3);
    assert_eq!(report["replay"]["rejected"], 5);
    assert_eq!(report["tenants"][0]["queues"][0]["offered"], 3);
    let written = std::fs::read_to_string(&commands).expect("commands");
    let subjects: Vec<Value> = written
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).expect("json")["subject"].clone())
        .collect();
    assert_eq!(
        subjects,
        vec![json!("good-1"), json!("good-2"), json!("good-3")]
    );
}

/// Replay holds every line to the daemon's intake limits and prefixes: an event nested
/// deeper than `intake.max_json_depth` (structured or as a recorded delivery) and one
/// deeper than the JSON parser goes are `too-deep`, never `malformed-json`; a recorded
/// binary-mode delivery with `ce_` headers only is read as the broker reads it.
#[test]
fn replay_refuses_what_the_daemon_refuses_and_reads_what_it_reads() {
    let dir = tempfile::tempdir().expect("tempdir");
    let bundles = dir.path().join("bundles");
    support::write_bundle(&bundles, "calm", "", &[router("default_target = \"kl\"")]);
    let mut deep = json!({"x": 1});
    for _ in 0..40 {
        deep = json!({ "x": deep });
    }
    let event = |id: &str, data: Value| {
        json!({"specversion": "1.0", "id": id, "source": "acd", "type": "call.offered",
               "tenant": "calm", "time": "2026-11-19T09:00:00Z", "data": data})
    };
    let mut nested = json!({"call_id": "c", "queue": "q"});
    nested["notes"] = deep;
    let recorded =
        json!({"routing_key": "calm.call.offered", "event": event("deep-2", nested.clone())});
    let far = format!("{}{}", "[".repeat(200), "]".repeat(200));
    let binary = json!({"routing_key": "calm.call.offered",
        "headers": {"ce_specversion": "1.0", "ce_id": "bin-1", "ce_source": "acd", "ce_type": "call.offered",
                    "ce_tenant": "calm", "ce_time": "2026-11-19T09:00:01Z"},
        "body": {"call_id": "b", "queue": "q"}});
    let lines = [
        event("deep-1", nested).to_string(),
        recorded.to_string(),
        far,
        binary.to_string(),
    ];
    let events = dir.path().join("events.jsonl");
    std::fs::write(&events, lines.join("\n")).expect("write events");
    let out = leitstand(&[
        "replay",
        "--bundles",
        bundles.to_str().expect("utf8"),
        "--report",
        "json",
        events.to_str().expect("utf8"),
    ]);
    let stderr = text(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    for expected in [
        "line 1: too-deep: data.notes",
        "line 2: too-deep: data.notes",
        "line 3: too-deep: body nests too deep to parse",
    ] {
        assert!(
            stderr.contains(expected),
            "missing {expected:?} in:\n{stderr}"
        );
    }
    let report: Value = serde_json::from_slice(&out.stdout).expect("JSON report");
    assert_eq!(report["replay"]["rejected_by_reason"]["too-deep"], 3);
    assert_eq!(report["replay"]["processed"], 1, "the ce_ delivery is read");
}

fn replay_example(out: &Path) -> Output {
    replay_example_on(out, &[])
}

fn replay_example_on(out: &Path, extra: &[&str]) -> Output {
    let root = support::root();
    let bundles = root.join("examples/bundles");
    let day = root.join("examples/day.jsonl");
    let mut args = vec![
        "replay",
        "--bundles",
        bundles.to_str().expect("utf8"),
        "--commands",
        out.to_str().expect("utf8"),
        "--report",
        "json",
    ];
    args.extend_from_slice(extra);
    args.push(day.to_str().expect("utf8"));
    leitstand(&args)
}

#[test]
fn a_replay_on_a_lasting_store_gives_the_same_commands_and_a_second_run_resumes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let state = format!("sqlite://{}", dir.path().join("state.db").display());
    let (fresh, kept, again) = (
        dir.path().join("fresh.jsonl"),
        dir.path().join("kept.jsonl"),
        dir.path().join("again.jsonl"),
    );
    let throw_away = replay_example(&fresh);
    assert!(throw_away.status.success(), "{}", text(&throw_away.stderr));
    let first = replay_example_on(&kept, &["--state", &state]);
    assert!(first.status.success(), "{}", text(&first.stderr));
    assert!(
        std::fs::read(&fresh).expect("fresh") == std::fs::read(&kept).expect("kept"),
        "a lasting store changes no decision"
    );
    let report: Value = serde_json::from_slice(&first.stdout).expect("JSON report");
    let processed = report["replay"]["processed"].as_u64().expect("processed");
    assert!(processed > 100, "the example day has events");

    // The same file again on the same store: every event was processed already.
    let second = replay_example_on(&again, &["--state", &state]);
    assert!(second.status.success(), "{}", text(&second.stderr));
    let report: Value = serde_json::from_slice(&second.stdout).expect("JSON report");
    assert_eq!(report["replay"]["processed"], 0);
    assert_eq!(report["replay"]["duplicates"].as_u64(), Some(processed));
    assert_eq!(report["replay"]["commands"], 0);
    assert!(std::fs::read(&again).expect("again").is_empty());
}

/// Fired timers and processed ids are kept by the wall-clock time of the commit, as on the
/// daemon, so that retention (`store.retention_hours`) counts from when they were
/// processed, not from a replayed day's event time long ago.
#[test]
fn a_replay_records_fired_timers_at_the_time_of_its_commit() {
    let dir = tempfile::tempdir().expect("tempdir");
    let state = format!("sqlite://{}", dir.path().join("state.db").display());
    let started = chrono::Utc::now().timestamp_millis();
    let out = replay_example_on(&dir.path().join("c.jsonl"), &["--state", &state]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let report: Value = serde_json::from_slice(&out.stdout).expect("JSON report");
    assert!(report["replay"]["timers_fired"].as_u64() > Some(0));
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime.block_on(async {
        let store = leitstand_store::Store::open(&leitstand_store::StoreConfig {
            url: state,
            ..leitstand_store::StoreConfig::default()
        })
        .await
        .expect("store");
        let kept = store.retained().await.expect("retained");
        assert!(kept > 0, "processed ids and fired timers are kept");
        // Nothing was committed before the replay started: pruning up to then keeps all.
        assert_eq!(store.prune(started - 1_000).await.expect("prune"), 0);
        assert_eq!(store.retained().await.expect("retained"), kept);
    });
}

#[test]
fn a_replay_names_a_store_it_cannot_open() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = replay_example_on(&dir.path().join("out.jsonl"), &["--state", "mysql://x/y"]);
    assert!(!out.status.success());
    let said = text(&out.stderr);
    assert!(
        said.contains("store") && said.contains("mysql://x/y"),
        "{said}"
    );
}

#[test]
fn replaying_the_example_day_twice_gives_byte_identical_commands() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (a, b) = (dir.path().join("a.jsonl"), dir.path().join("b.jsonl"));
    let first = replay_example(&a);
    assert!(first.status.success(), "{}", text(&first.stderr));
    let second = replay_example(&b);
    assert!(second.status.success(), "{}", text(&second.stderr));
    let (a, b) = (std::fs::read(&a).expect("a"), std::fs::read(&b).expect("b"));
    assert!(a.len() > 1000, "the example day should produce commands");
    assert!(a == b, "command output differs between two replays");
    assert_eq!(first.stdout, second.stdout, "reports differ");
    let report: Value = serde_json::from_slice(&first.stdout).expect("JSON report");
    assert_eq!(report["replay"]["rejected"], 0, "the example day is clean");
    let text = String::from_utf8(a).expect("utf8");
    assert!(text.contains("\"type\":\"call.route\""));
}

/// `--jobs` spreads the tenants over threads and puts their output back into the order of
/// the lines: on a day of six tenants with bad lines, unknown tenants, duplicates, an event
/// id two tenants share, events without a time, a plugin that fails and timers firing
/// after the last line, two and three jobs (and two on a lasting store) write the same
/// commands, dead letters, report and notices as one, byte for byte.
#[test]
fn a_replay_on_several_jobs_writes_what_one_job_writes_byte_for_byte() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = support::root();
    let bundles = dir.path().join("bundles");
    for tenant in ["rlp-impf", "soest", "notruf-pfalz"] {
        let manifest = std::fs::read_to_string(
            root.join("examples/bundles")
                .join(tenant)
                .join("tenant.toml"),
        )
        .expect("example bundle");
        let manifest = manifest.replace(
            "\"../../../target/",
            &format!("\"{}/target/", root.display()),
        );
        std::fs::create_dir_all(bundles.join(tenant)).expect("bundle dir");
        std::fs::write(bundles.join(tenant).join("tenant.toml"), manifest).expect("manifest");
    }
    support::write_bundle(&bundles, "calm", "", &[router("default_target = \"kl\"")]);
    support::broken_escalation(&bundles, "");

    let day = std::fs::read_to_string(root.join("examples/day.jsonl")).expect("day");
    let mut lines: Vec<String> = Vec::new();
    for (i, line) in day.lines().take(3_000).enumerate() {
        lines.push(line.to_owned());
        if i % 97 != 0 {
            continue;
        }
        let time = serde_json::from_str::<Value>(line).expect("json")["time"].clone();
        let time = time.as_str().expect("time");
        let offered = |tenant: &str, id: &str| {
            support::event(
                tenant,
                id,
                "call.offered",
                time,
                json!({"call_id": id, "queue": "q"}),
            )
        };
        lines.push(offered("calm", &format!("c-{i}")));
        // The same source and id under another tenant is that tenant's own event.
        lines.push(offered("notruf", &format!("c-{i}")));
        lines.push(offered("nobody", &format!("n-{i}")));
        lines.push("{\"specversion\": \"1.0\", \"id\": ".to_owned());
        lines.push(line.to_owned());
        // An event without a time happens at the replay's clock when its batch starts (in
        // the first batch, at its first event's time); kept out of the first batch here.
        if lines.len() > 1_100 {
            let mut timeless: Value =
                serde_json::from_str(&offered("calm", &format!("t-{i}"))).expect("json");
            timeless.as_object_mut().expect("object").remove("time");
            lines.push(timeless.to_string());
        }
    }
    let events = dir.path().join("events.jsonl");
    std::fs::write(&events, lines.join("\n")).expect("write events");

    let run = |name: &str, extra: &[&str]| {
        let (commands, dead) = (
            dir.path().join(format!("{name}.commands.jsonl")),
            dir.path().join(format!("{name}.dead.jsonl")),
        );
        let mut args = vec![
            "replay",
            "--bundles",
            bundles.to_str().expect("utf8"),
            "--commands",
            commands.to_str().expect("utf8"),
            "--dead-letters",
            dead.to_str().expect("utf8"),
            "--report",
            "json",
        ];
        args.extend_from_slice(extra);
        args.push(events.to_str().expect("utf8"));
        let out = leitstand(&args);
        assert!(out.status.success(), "{name}: {}", text(&out.stderr));
        (
            std::fs::read(&commands).expect("commands"),
            std::fs::read(&dead).expect("dead letters"),
            out.stdout,
            out.stderr,
        )
    };
    let one = run("one", &["--jobs", "1"]);
    let report: Value = serde_json::from_slice(&one.2).expect("JSON report");
    let stats = &report["replay"];
    assert!(stats["processed"].as_u64() > Some(3_000), "{stats}");
    assert!(stats["rejected"].as_u64() > Some(50), "{stats}");
    assert!(stats["duplicates"].as_u64() > Some(25), "{stats}");
    // The failing plugin panics, then is quarantined (for a minute, longer than the run).
    assert!(stats["failed"].as_u64() > Some(25), "{stats}");
    assert!(
        stats["plugin_failures"]["guest-panic"].as_u64() > Some(0),
        "{stats}"
    );
    assert!(stats["timers_fired"].as_u64() > Some(0), "{stats}");
    assert_eq!(
        report["tenants"].as_array().map(Vec::len),
        Some(5),
        "{report}"
    );
    // The notices, without the log lines (they carry the wall clock's time).
    let notices = |stderr: &[u8]| -> Vec<String> {
        text(stderr)
            .lines()
            .filter(|l| l.starts_with("line ") || l.starts_with("replay: "))
            .map(str::to_owned)
            .collect()
    };
    assert!(notices(&one.3).len() > 100, "{}", text(&one.3));
    let said = text(&one.3);
    assert!(said.contains("duplicate of an earlier event"), "{said}");
    assert!(said.contains("unknown-tenant"), "{said}");
    let state = format!("sqlite://{}", dir.path().join("state.db").display());
    for (name, extra) in [
        ("two", vec!["--jobs", "2"]),
        ("three", vec!["--jobs", "3"]),
        (
            "two on a store",
            vec!["--jobs", "2", "--state", state.as_str()],
        ),
    ] {
        let other = run(name, &extra);
        assert!(
            other.0 == one.0,
            "{name}: the commands differ from one job's"
        );
        assert!(
            other.1 == one.1,
            "{name}: the dead letters differ from one job's"
        );
        assert_eq!(text(&other.2), text(&one.2), "{name}: the report differs");
        assert!(
            notices(&other.3) == notices(&one.3),
            "{name}: the notices differ"
        );
    }
}

fn check(dir: &Path) -> (bool, String) {
    let out = leitstand(&["bundle", "check", dir.to_str().expect("utf8")]);
    (out.status.success(), text(&out.stderr) + &text(&out.stdout))
}

#[test]
fn bundle_check_accepts_the_examples() {
    let (ok, said) = check(&support::root().join("examples/bundles"));
    assert!(ok, "{said}");
    assert!(said.contains("ok: tenant rlp-impf"), "{said}");
    assert!(said.contains("ok: tenant soest"), "{said}");
}

#[test]
fn bundle_check_names_an_unknown_key() {
    let dir = tempfile::tempdir().expect("tempdir");
    let b = support::write_bundle(dir.path(), "t", "colour = \"blue\"", &[]);
    let (ok, said) = check(&b);
    assert!(!ok);
    assert!(
        said.contains("tenant.toml") && said.contains("colour"),
        "{said}"
    );
}

#[test]
fn bundle_check_names_a_wrong_digest_pin() {
    let dir = tempfile::tempdir().expect("tempdir");
    let b = support::write_bundle(dir.path(), "t", "", &[router("default_target = \"kl\"")]);
    let manifest = b.join("tenant.toml");
    let toml = std::fs::read_to_string(&manifest).expect("read");
    let pinned = toml
        .lines()
        .find_map(|l| l.strip_prefix("sha256 = \""))
        .and_then(|l| l.strip_suffix('"'))
        .expect("a pin")
        .to_owned();
    std::fs::write(&manifest, toml.replace(&pinned, &"ab".repeat(32))).expect("write");
    let (ok, said) = check(&b);
    assert!(!ok);
    assert!(
        said.contains("plugins.router.sha256") && said.contains("digest mismatch"),
        "{said}"
    );
    assert!(
        said.contains(&pinned),
        "the error shows the file's real digest: {said}"
    );
}

#[test]
fn bundle_check_names_a_missing_wasm_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let b = support::write_bundle(dir.path(), "t", "", &[router("default_target = \"kl\"")]);
    std::fs::remove_file(b.join("leitstand_template.wasm")).expect("remove");
    let (ok, said) = check(&b);
    assert!(!ok);
    assert!(
        said.contains("plugins.router.wasm") && said.contains("leitstand_template.wasm"),
        "{said}"
    );
}

#[test]
fn bundle_check_names_a_plugin_whose_config_check_fails() {
    let dir = tempfile::tempdir().expect("tempdir");
    let b = support::write_bundle(dir.path(), "t", "", &[router("default_target = \"\"")]);
    let (ok, said) = check(&b);
    assert!(!ok);
    assert!(said.contains("plugins.router.config"), "{said}");
    assert!(
        said.contains("invalid-config") && said.contains("default_target"),
        "{said}"
    );
}

#[test]
fn unusable_arguments_exit_non_zero() {
    let out = leitstand(&[
        "replay",
        "--bundles",
        "/nonexistent",
        "/nonexistent/events.jsonl",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("/nonexistent/events.jsonl"));
}

#[test]
fn an_event_without_a_time_ahead_of_all_others_takes_the_first_time_and_every_run_agrees() {
    let dir = tempfile::tempdir().expect("tempdir");
    support::write_bundle(dir.path(), "calm", "", &[router("default_target = \"kl\"")]);
    let offered = |id: &str, time: &str| {
        support::event(
            "calm",
            id,
            "call.offered",
            time,
            json!({"call_id": id, "queue": "q"}),
        )
    };
    let mut timeless: Value =
        serde_json::from_str(&offered("t-1", "2026-11-19T00:00:00Z")).expect("json");
    timeless.as_object_mut().expect("object").remove("time");
    // The first event with a time is a recorded delivery, after a line that is no event.
    let first: Value =
        serde_json::from_str(&offered("good-1", "2026-11-19T09:00:00+01:00")).expect("json");
    let lines = [
        timeless.to_string(),
        "{\"specversion\": \"1.0\", \"id\": ".to_owned(),
        json!({"routing_key": "calm.call.offered", "event": first}).to_string(),
        offered("good-2", "2026-11-19T09:05:00+01:00"),
    ]
    .join("\n");
    let run = support::replay(dir.path(), &lines);
    let time_of = |cause: &str| -> String {
        run.commands
            .iter()
            .find(|c| c["causationid"] == json!(cause))
            .and_then(|c| c["time"].as_str())
            .unwrap_or_else(|| panic!("no command for {cause}: {:?}", run.commands))
            .to_owned()
    };
    assert_eq!(time_of("t-1"), time_of("good-1"));
    assert_eq!(time_of("t-1"), "2026-11-19T08:00:00.000Z");
    // Byte for byte the same in a second run, whenever it runs.
    assert_eq!(
        support::replay(dir.path(), &lines).command_bytes,
        run.command_bytes
    );
}
