//! Capabilities and quarantine: a component importing what its bundle does not grant is
//! refused at load, with the import named, while a neighbour tenant loads and runs; a
//! plugin that fails again and again is switched off with backoff, the metric says so, and
//! its tenant's other plugins keep working; an operator can lift the quarantine at once.

mod support;

use std::sync::Arc;

use leitstand_contract::envelope::{IntakeLimits, parse_structured};
use leitstand_engine::dispatch::Dispatcher;
use leitstand_engine::sandbox::Sandbox;
use leitstand_engine::state::MemoryStore;
use leitstand_metrics::{CustomMetrics, Metrics};
use serde_json::json;
use std::time::Duration;

use support::PluginEntry;
use support::broker::{Outgoing, Rig, http_post, publish_all, structured};

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

/// Tenant `notruf` in `dir`: an escalation plugin that panics on every call, under
/// `limits` (its quarantine policy), beside the calm router.
fn failing_escalation(dir: &std::path::Path, limits: &str) {
    support::write_bundle(
        dir,
        "notruf",
        "[queues.q]\n",
        &[
            PluginEntry {
                name: "escalation",
                guest: "leitstand_hostile",
                subscribe: &["call.offered"],
                grant: &["call.route"],
                limits,
                config: "mode = \"panic\"",
            },
            calm_router(),
        ],
    );
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
    let store: Arc<dyn leitstand_engine::state::StateStore> = Arc::new(MemoryStore::new());
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
    failing_escalation(
        dir.path(),
        "quarantine = { after_failures = 3, backoff_seconds = 1, max_backoff_seconds = 60 }",
    );
    let custom = Arc::new(CustomMetrics::new());
    let sandbox =
        Arc::new(Sandbox::new(support::sandbox_config(), custom.clone()).expect("sandbox"));
    let store: Arc<dyn leitstand_engine::state::StateStore> = Arc::new(MemoryStore::new());
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

    // An operator lifts it at once: it is called again (and fails, counted from 1).
    assert_eq!(rt.release("nowhere"), None);
    assert_eq!(rt.release("escalation"), Some(true));
    assert!(rt.quarantine().iter().all(|q| !q.quarantined));
    kinds.clear();
    run(8, &mut kinds);
    assert_eq!(kinds, ["guest-panic"]);
    assert_eq!(rt.quarantine()[0].consecutive_failures, 1);
    assert_eq!(rt.release("escalation"), Some(false));
    assert_eq!(rt.quarantine()[0].consecutive_failures, 0);
}

/// The admin token of the daemon in [`an_operator_lifts_a_quarantine_on_the_running_daemon`].
const ADMIN_TOKEN: &str = "quarantine-test-admin-token-0123";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_lifts_a_quarantine_on_the_running_daemon() {
    if support::broker::skip() {
        return;
    }
    let rig = Rig::new("lift", &[]);
    // Without an operator it would stay off for an hour.
    failing_escalation(
        &rig.bundles,
        "quarantine = { after_failures = 2, backoff_seconds = 3600, max_backoff_seconds = 3600 }",
    );
    let mut daemon = rig.daemon(&[
        (
            "LEITSTAND_HTTP__ADMIN_TOKEN_ENV",
            "LEITSTAND_TEST_ADMIN_TOKEN",
        ),
        ("LEITSTAND_TEST_ADMIN_TOKEN", ADMIN_TOKEN),
    ]);
    let (_conn, ch) = rig.client().await;
    let publish = |from: usize, n: usize| {
        let messages: Vec<Outgoing> = (from..from + n)
            .map(|i| {
                (
                    "notruf.call.offered".to_owned(),
                    offered("notruf", i).into_bytes(),
                    structured(),
                )
            })
            .collect();
        let ch = ch.clone();
        async move { publish_all(&ch, &messages).await }
    };
    let gauge = |v: u8| {
        format!(r#"leitstand_plugin_quarantined{{plugin="escalation",tenant="notruf"}} {v}"#)
    };
    let panics = |n: u8| {
        format!(
            r#"leitstand_plugin_calls_total{{outcome="guest-panic",plugin="escalation",tenant="notruf"}} {n}"#
        )
    };
    let within = Duration::from_secs(30);
    publish(0, 2).await;
    daemon.wait_for_metric(&gauge(1), within).await;

    let path = "/admin/plugins/notruf/escalation/enable";
    // Behind the token, like every admin endpoint.
    assert_eq!(http_post(daemon.http, path, None).0, 401);
    assert_eq!(http_post(daemon.http, path, Some("wrong-token")).0, 401);
    // What is not there is named.
    for (tenant, plugin, status, says) in [
        (
            "notruf",
            "nowhere",
            404,
            "tenant \"notruf\" has no plugin \"nowhere\"",
        ),
        (
            "elsewhere",
            "escalation",
            404,
            "tenant \"elsewhere\" has no bundle",
        ),
        (
            "Not%20a%20Tenant",
            "escalation",
            400,
            "tenant \"Not a Tenant\": ",
        ),
    ] {
        let request = format!("/admin/plugins/{tenant}/{plugin}/enable");
        let (got, body) = http_post(daemon.http, &request, Some(ADMIN_TOKEN));
        assert_eq!(got, status, "{request}: {body}");
        assert!(body.starts_with(says), "{request}: {body}");
    }
    // Still off: the refused requests changed nothing.
    assert!(daemon.metrics().contains(&gauge(1)));

    let (status, body) = http_post(daemon.http, path, Some(ADMIN_TOKEN));
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("back in service"), "{body}");
    assert!(daemon.metrics().contains(&gauge(0)), "{}", daemon.metrics());
    // The next event calls it again (it fails again: a third panic, not `quarantined`).
    publish(2, 1).await;
    daemon.wait_for_metric(&panics(3), within).await;
    assert!(daemon.metrics().contains(&gauge(0)));
    let (status, body) = http_post(daemon.http, path, Some(ADMIN_TOKEN));
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("was not quarantined"), "{body}");
    assert!(
        daemon
            .log_text()
            .contains("its quarantine was lifted by an operator"),
        "{}",
        daemon.log_text()
    );
    let status = daemon.terminate(Duration::from_secs(30));
    assert!(status.success(), "exit {status}");
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
        leitstand_engine::tenants::FailurePolicy::Retry
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
