//! Hostile guests fail only their own event, with the right classification and within
//! their configured limits, while another tenant's events in the same replay all succeed.

mod support;

use leitstand::replay::Notice;
use serde_json::json;
use support::PluginEntry;

fn hostile<'a>(
    name: &'a str,
    event: &'a [&'a str],
    limits: &'a str,
    config: &'a str,
) -> PluginEntry<'a> {
    PluginEntry {
        name,
        guest: "leitstand_hostile",
        subscribe: event,
        grant: &["call.route", "test.counted"],
        limits,
        config,
    }
}

fn calm_router() -> PluginEntry<'static> {
    PluginEntry {
        name: "router",
        guest: "leitstand_template",
        subscribe: &["call.offered", "call.answered", "call.abandoned"],
        grant: &["call.route", "call.escalate"],
        limits: "",
        config: "default_target = \"kaiserslautern\"",
    }
}

/// (event type, plugin, expected failure kind, text the failure must contain)
const CASES: &[(&str, &str, &str, &str)] = &[
    ("test.loop", "loop", "timeout", "50ms of CPU time"),
    ("test.alloc", "alloc", "out-of-memory", "limit is 16777216"),
    (
        "test.panic",
        "panic",
        "guest-panic",
        "hostile guest panics on purpose",
    ),
    ("test.stack", "stack", "guest-panic", "stack overflow"),
    ("test.sleep", "sleep", "guest-panic", "may not sleep"),
    ("test.garbage", "garbage", "bad-output", "not JSON"),
    (
        "test.ungranted",
        "ungranted",
        "access-denied",
        "secret.exfiltrate",
    ),
    ("test.flood", "flood", "bad-output", "the limit is 64"),
    ("test.foreign", "foreign", "access-denied", "someone-else"),
    (
        "test.state-flood",
        "state-flood",
        "quota-exceeded",
        "at most 40 state keys",
    ),
    (
        "test.timer",
        "timer",
        "access-denied",
        "capability \"timers\"",
    ),
];

#[test]
fn hostile_guests_fail_only_their_own_event() {
    let dir = tempfile::tempdir().expect("tempdir");
    let subs: Vec<[&str; 1]> = CASES.iter().map(|c| [c.0]).collect();
    let configs: Vec<String> = CASES
        .iter()
        .map(|c| format!("mode = \"{}\"", c.1))
        .collect();
    let plugins: Vec<PluginEntry<'_>> = CASES
        .iter()
        .zip(&subs)
        .zip(&configs)
        .map(|((c, sub), config)| {
            let limits = match c.1 {
                "loop" => "limits = { cpu_ms = 50, wall_ms = 5000 }",
                "alloc" => "limits = { memory_mib = 16 }",
                // Everything but timers, which it sets.
                "timer" => "capabilities = [\"state\", \"metrics\"]",
                _ => "",
            };
            hostile(c.1, sub, limits, config)
        })
        .collect();
    support::write_bundle(
        dir.path(),
        "hostile",
        "[limits]\nstate_keys = 40\n",
        &plugins,
    );
    support::write_bundle(dir.path(), "calm", "[queues.q]\n", &[calm_router()]);

    let mut lines = Vec::new();
    for (i, case) in CASES.iter().enumerate() {
        let t = format!("2026-11-19T09:{:02}:00+01:00", i);
        lines.push(support::event(
            "calm",
            &format!("calm-{i}"),
            "call.offered",
            &t,
            json!({"call_id": format!("c{i}"), "queue": "q"}),
        ));
        let data = if case.1 == "timer" {
            json!({"name": "t", "after_ms": 1000})
        } else {
            json!({})
        };
        lines.push(support::event(
            "hostile",
            &format!("h-{i}"),
            case.0,
            &t,
            data,
        ));
        lines.push(support::event(
            "calm",
            &format!("calm-{i}-answered"),
            "call.answered",
            &t,
            json!({"call_id": format!("c{i}"), "queue": "q", "wait_seconds": 3}),
        ));
    }
    let run = support::replay(dir.path(), &lines.join("\n"));

    let failures: Vec<_> = run
        .notices
        .iter()
        .map(|n| match n {
            Notice::PluginFailed {
                tenant,
                plugin,
                event_id,
                failure,
                ..
            } => (
                tenant.clone(),
                plugin.clone(),
                event_id.clone(),
                failure.clone(),
            ),
            other => panic!("unexpected notice {other:?}"),
        })
        .collect();
    assert_eq!(failures.len(), CASES.len(), "{failures:#?}");
    for (i, ((tenant, plugin, event_id, failure), case)) in failures.iter().zip(CASES).enumerate() {
        assert_eq!(tenant, "hostile");
        assert_eq!(event_id, &format!("h-{i}"));
        assert_eq!(plugin, case.1);
        assert_eq!(failure.kind(), case.2, "{plugin}: {failure}");
        assert!(failure.to_string().contains(case.3), "{plugin}: {failure}");
    }

    // Nothing of the hostile tenant got out; every calm call was routed.
    assert!(
        run.commands.iter().all(|c| c["tenant"] == "calm"),
        "{:?}",
        run.commands
    );
    let routed: Vec<_> = run
        .commands
        .iter()
        .filter(|c| c["type"] == "call.route")
        .collect();
    assert_eq!(routed.len(), CASES.len());
    for (i, c) in routed.iter().enumerate() {
        assert_eq!(c["subject"], format!("c{i}"));
        assert_eq!(c["causationid"], format!("calm-{i}"));
        assert_eq!(c["data"]["target"], "kaiserslautern");
    }
    let calm = &run
        .report
        .tenants
        .iter()
        .find(|t| t.tenant == "calm")
        .expect("calm")
        .queues[0];
    assert_eq!(
        (calm.offered, calm.answered),
        (CASES.len() as u64, CASES.len() as u64)
    );
    assert_eq!(
        run.report.replay.plugin_failures.values().sum::<u64>(),
        CASES.len() as u64
    );
}

#[test]
fn a_chatty_guest_is_cut_short_but_not_failed() {
    let dir = tempfile::tempdir().expect("tempdir");
    support::write_bundle(
        dir.path(),
        "noisy",
        "",
        &[hostile("chatty", &["test.chatty"], "", "mode = \"chatty\"")],
    );
    let line = support::event(
        "noisy",
        "n1",
        "test.chatty",
        "2026-11-19T09:00:00Z",
        json!({}),
    );
    let run = support::replay(dir.path(), &line);
    assert!(run.notices.is_empty(), "{:?}", run.notices);
    assert_eq!(run.commands.len(), 1);
    assert_eq!(run.commands[0]["data"], json!({"ok": true}));
}

#[test]
fn state_and_failures_are_kept_per_plugin_and_a_failed_event_changes_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    // `counter` counts its events in state; `boom` shares its events and panics on every
    // second one, which must not disturb the count.
    support::write_bundle(
        dir.path(),
        "count",
        "",
        &[
            hostile("counter", &["test.tick"], "", "mode = \"counter\""),
            hostile(
                "other-counter",
                &["test.tick", "test.other"],
                "",
                "mode = \"counter\"",
            ),
            hostile("boom", &["test.other"], "", "mode = \"panic\""),
        ],
    );
    let mut lines = Vec::new();
    for i in 0..5 {
        let t = format!("2026-11-19T09:00:0{i}Z");
        lines.push(support::event(
            "count",
            &format!("t{i}"),
            "test.tick",
            &t,
            json!({}),
        ));
        lines.push(support::event(
            "count",
            &format!("o{i}"),
            "test.other",
            &t,
            json!({}),
        ));
    }
    let run = support::replay(dir.path(), &lines.join("\n"));
    let counts = |source: &str| -> Vec<u64> {
        run.commands
            .iter()
            .filter(|c| c["source"] == source)
            .map(|c| c["data"]["count"].as_u64().expect("count"))
            .collect()
    };
    assert_eq!(counts("leitstand/count/counter"), vec![1, 2, 3, 4, 5]);
    assert_eq!(
        counts("leitstand/count/other-counter"),
        (1..=10).collect::<Vec<_>>()
    );
    assert_eq!(
        run.report.replay.plugin_failures.get("guest-panic"),
        Some(&5)
    );
}
