//! Capabilities and quarantine: a component importing what its bundle does not grant is
//! refused at load, with the import named, while a neighbour tenant loads and runs; a
//! plugin that fails again and again is switched off with backoff, the metric says so, and
//! its tenant's other plugins keep working.

mod support;

use std::sync::Arc;

use leitstand::dispatch::Dispatcher;
use leitstand::envelope::{IntakeLimits, parse_structured};
use leitstand::metrics::{CustomMetrics, Metrics};
use leitstand::sandbox::Sandbox;
use leitstand::state::MemoryStore;
use serde_json::json;
use support::PluginEntry;

fn calm_router() -> PluginEntry<'static> {
    PluginEntry {
        name: "router",
        guest: "leitstand_template",
        subscribe: &["call.offered"],
        grant: &["call.route", "call.escalate"],
        limits: "",
        config: "default_target = \"kaiserslautern\"",
    }
}

fn offered(tenant: &str, i: usize) -> String {
    support::event(
        tenant,
        &format!("{tenant}-{i}"),
        "call.offered",
        &format!("2026-11-19T09:{:02}:00+01:00", i % 60),
        json!({"call_id": format!("c{i}"), "queue": "q"}),
    )
}

#[test]
fn a_forbidden_import_is_refused_at_load_and_the_neighbour_runs() {
    let dir = tempfile::tempdir().expect("tempdir");
    // The hostile guest imports `leitstand:plugin/state`; its bundle grants only metrics.
    support::write_bundle(
        dir.path(),
        "hostile",
        "",
        &[PluginEntry {
            name: "counter",
            guest: "leitstand_hostile",
            subscribe: &["call.offered"],
            grant: &["test.counted"],
            limits: "capabilities = [\"metrics\"]",
            config: "mode = \"counter\"",
        }],
    );
    support::write_bundle(dir.path(), "calm", "[queues.q]\n", &[calm_router()]);

    let out = support::leitstand(&[
        "bundle",
        "check",
        dir.path().join("hostile").to_str().expect("utf-8"),
    ]);
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{said}");
    assert!(
        said.contains("key `plugins.counter.capabilities`")
            && said.contains("imports leitstand:plugin/state@0.1.0")
            && said.contains("does not grant the capability \"state\""),
        "{said}"
    );

    // Loaded together, the hostile bundle is refused by name and only it.
    let sandbox = Arc::new(
        Sandbox::new(support::sandbox_config(), Arc::new(CustomMetrics::new())).expect("sandbox"),
    );
    let store: Arc<dyn leitstand::state::StateStore> = Arc::new(MemoryStore::new());
    let errors = Dispatcher::load(dir.path(), sandbox.clone(), store.clone())
        .err()
        .expect("the hostile bundle is refused");
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(
        errors[0].file.ends_with("hostile/tenant.toml"),
        "{errors:?}"
    );

    // The neighbour's bundle loads on its own and routes every call.
    let calm = Dispatcher::load(&dir.path().join("calm"), sandbox, store).expect("calm loads");
    for i in 0..20 {
        let env = parse_structured(
            offered("calm", i).as_bytes(),
            IntakeLimits::default(),
            chrono::Utc::now(),
        )
        .expect("event");
        let outcome = calm.dispatch(&env, Some("calm")).expect("dispatched");
        assert!(outcome.failures.is_empty(), "{:?}", outcome.failures);
        assert_eq!(outcome.commands.len(), 1);
        assert_eq!(outcome.commands[0].command_type, "call.route");
    }
}

#[test]
fn a_plugin_failing_n_times_in_a_row_is_quarantined_and_its_neighbours_keep_working() {
    let dir = tempfile::tempdir().expect("tempdir");
    support::write_bundle(
        dir.path(),
        "notruf",
        "[queues.q]\n",
        &[
            PluginEntry {
                name: "escalation",
                guest: "leitstand_hostile",
                subscribe: &["call.offered"],
                grant: &["call.route"],
                limits: "quarantine = { after_failures = 3, backoff_seconds = 1, max_backoff_seconds = 60 }",
                config: "mode = \"panic\"",
            },
            calm_router(),
        ],
    );
    let custom = Arc::new(CustomMetrics::new());
    let sandbox =
        Arc::new(Sandbox::new(support::sandbox_config(), custom.clone()).expect("sandbox"));
    let store: Arc<dyn leitstand::state::StateStore> = Arc::new(MemoryStore::new());
    let dispatcher = Dispatcher::load(dir.path(), sandbox, store).expect("loads");
    let rt = dispatcher
        .runtimes()
        .values()
        .next()
        .expect("one tenant")
        .clone();
    let metrics = Metrics::new(custom).expect("metrics");
    let export = |m: &Metrics| {
        for q in rt.quarantine() {
            m.plugin_quarantined
                .with_label_values(&["notruf", &q.plugin])
                .set(i64::from(q.quarantined));
        }
        m.render()
    };

    let mut kinds = Vec::new();
    let run = |i: usize, kinds: &mut Vec<String>| {
        let env = parse_structured(
            offered("notruf", i).as_bytes(),
            IntakeLimits::default(),
            chrono::Utc::now(),
        )
        .expect("event");
        let outcome = dispatcher.dispatch(&env, None).expect("dispatched");
        // The router routes every call, whatever its neighbour does.
        assert_eq!(outcome.commands.len(), 1, "event {i}: {outcome:?}");
        assert!(outcome.effects.contains_key("router"));
        assert_eq!(outcome.failures.len(), 1);
        kinds.push(outcome.failures[0].failure.kind().to_owned());
    };
    for i in 0..6 {
        run(i, &mut kinds);
    }
    assert_eq!(
        kinds,
        [
            "guest-panic",
            "guest-panic",
            "guest-panic",
            "quarantined",
            "quarantined",
            "quarantined"
        ]
    );
    let text = export(&metrics);
    assert!(
        text.contains("leitstand_plugin_quarantined{plugin=\"escalation\",tenant=\"notruf\"} 1"),
        "{text}"
    );
    assert!(
        text.contains("leitstand_plugin_quarantined{plugin=\"router\",tenant=\"notruf\"} 0"),
        "{text}"
    );

    // After its backoff it is called again; failing again, it is switched off again at
    // once, for twice as long.
    std::thread::sleep(std::time::Duration::from_millis(1100));
    kinds.clear();
    run(6, &mut kinds);
    run(7, &mut kinds);
    assert_eq!(kinds, ["guest-panic", "quarantined"]);
    let state = rt.quarantine();
    assert!(state[0].quarantined && state[0].consecutive_failures == 4);

    // A new bundle (a reload prepares a new runtime) switches it on.
    let fresh = Dispatcher::load(
        dir.path(),
        Arc::new(
            Sandbox::new(support::sandbox_config(), Arc::new(CustomMetrics::new()))
                .expect("sandbox"),
        ),
        Arc::new(MemoryStore::new()),
    )
    .expect("loads");
    let fresh_rt = fresh.runtimes().values().next().expect("tenant");
    assert!(fresh_rt.quarantine().iter().all(|q| !q.quarantined));
}

#[test]
fn a_retrying_plugin_is_called_again_then_its_event_fails() {
    let dir = tempfile::tempdir().expect("tempdir");
    support::broken_escalation(dir.path(), "on_failure = \"retry\"\nretries = 2");
    let sandbox = Arc::new(
        Sandbox::new(support::sandbox_config(), Arc::new(CustomMetrics::new())).expect("sandbox"),
    );
    let dispatcher =
        Dispatcher::load(dir.path(), sandbox, Arc::new(MemoryStore::new())).expect("loads");
    let env = parse_structured(
        offered("notruf", 0).as_bytes(),
        IntakeLimits::default(),
        chrono::Utc::now(),
    )
    .expect("event");
    let outcome = dispatcher.dispatch(&env, None).expect("dispatched");
    assert_eq!((outcome.invoked, outcome.retries), (3, 2));
    assert_eq!(outcome.failures.len(), 1);
    assert_eq!(outcome.failures[0].failure.kind(), "guest-panic");
    let rt = dispatcher.runtimes().values().next().expect("tenant");
    assert_eq!(
        rt.failure_policy("escalation"),
        leitstand::tenants::FailurePolicy::Retry
    );

    // `retries` without `retry` is refused by name.
    let bad = tempfile::tempdir().expect("tempdir");
    support::broken_escalation(bad.path(), "retries = 2");
    let out = support::leitstand(&["bundle", "check", bad.path().to_str().expect("utf-8")]);
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        said.contains("key `plugins.escalation.retries`: only used with on_failure = \"retry\""),
        "{said}"
    );
}
