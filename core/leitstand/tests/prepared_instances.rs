//! Plugins of the contract 0.3.0 are prepared once and then handed event after event
//! (`sandbox.warm_instances`): each event sees what a fresh instance would see — its own
//! event clock, no state while preparing, an instance that failed never used again, a trap
//! in a used instance retried in a fresh one — and the example day decides byte for byte
//! the same with warm instances as with a fresh instance for every event.

mod support;

use std::sync::Arc;

use leitstand_contract::envelope::{IntakeLimits, parse_structured};
use leitstand_engine::sandbox::{
    EventView, PluginFailure, PreparedPlugin, Sandbox, SandboxConfig, TenantQuota, TenantScope,
};
use leitstand_engine::state::MemoryStore;
use leitstand_engine::tenants::Bundle;
use leitstand_metrics::CustomMetrics;
use serde_json::{Value, json};
use support::PluginEntry;

/// A sandbox keeping `warm` prepared instances, the probe prepared in it, and its tenant.
struct Lab {
    sandbox: Sandbox,
    plugin: PreparedPlugin,
    scope: TenantScope,
    _dir: tempfile::TempDir,
}

impl Lab {
    fn new(warm: usize) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let bdir = support::write_bundle(
            dir.path(),
            "lab",
            "",
            &[PluginEntry {
                name: "probe",
                guest: "leitstand_probe_v0_3",
                subscribe: &["call.offered"],
                grant: &["call.route"],
                limits: "",
                config: "",
            }],
        );
        let bundle = Bundle::load(&bdir).expect("the bundle loads");
        let sandbox = Sandbox::new(
            SandboxConfig {
                warm_instances: warm,
                ..support::sandbox_config()
            },
            Arc::new(CustomMetrics::new()),
        )
        .expect("sandbox");
        let plugin = sandbox
            .prepare(
                &bundle.plugins[0],
                &bundle.tenant,
                bundle.timezone.name(),
                None,
            )
            .expect("the probe prepares");
        let scope = TenantScope {
            tenant: bundle.tenant.clone(),
            timezone: Arc::from(bundle.timezone.name()),
            state: Arc::new(MemoryStore::new()),
            quota: Arc::new(TenantQuota::new(bundle.limits)),
            calendars: None,
        };
        Self {
            sandbox,
            plugin,
            scope,
            _dir: dir,
        }
    }

    /// The probe's verdict on one `call.offered` at `time` with `data`.
    fn offer(&self, id: &str, time: &str, mut data: Value) -> Result<Value, PluginFailure> {
        data["queue"] = json!("q");
        let line = support::event("lab", id, "call.offered", time, data);
        let env = parse_structured(line.as_bytes(), IntakeLimits::default(), chrono::Utc::now())
            .expect("the event parses");
        let out = self
            .sandbox
            .invoke(&self.plugin, &self.scope, &EventView::of(&env))?;
        assert_eq!(out.commands.len(), 1, "the probe routes every offer");
        Ok(Value::Object(out.commands[0].data.clone()))
    }
}

fn ms(time: &str) -> i64 {
    chrono::DateTime::parse_from_rfc3339(time)
        .expect("a time")
        .timestamp_millis()
}

const TIMES: [&str; 3] = [
    "2026-11-19T09:00:00+01:00",
    "2026-11-19T09:00:07+01:00",
    "2026-11-20T17:30:00+01:00",
];

#[test]
fn a_prepared_instance_takes_event_after_event_as_a_fresh_one_would() {
    let warm = Lab::new(16);
    let cold = Lab::new(0);
    let run = |lab: &Lab| -> Vec<Value> {
        TIMES
            .iter()
            .enumerate()
            .map(|(i, t)| {
                lab.offer(&format!("e{i}"), t, json!({"call_id": format!("c{i}")}))
                    .expect("the probe decides")
            })
            .collect()
    };
    let (warm_out, cold_out) = (run(&warm), run(&cold));

    // Warm: one instance, prepared once, took all three; cold: one instance each.
    let handled = |out: &[Value]| -> Vec<u64> {
        out.iter()
            .map(|d| d["handled"].as_u64().expect("handled"))
            .collect()
    };
    assert_eq!(handled(&warm_out), [1, 2, 3]);
    assert_eq!(warm.sandbox.prepares(), 1);
    assert_eq!(handled(&cold_out), [1, 1, 1]);
    assert_eq!(cold.sandbox.prepares(), 3);

    // Every event saw its own time on both clocks, and `prepare` saw no state and the
    // clock at 0 — in both, so that besides the probe's own counter they decided alike.
    let prepared = json!({
        "now": 0,
        "state": "access-denied: state is not available while the configuration is checked or prepared",
    });
    for (out, time) in warm_out.iter().zip(TIMES) {
        assert_eq!(out["now"], json!(ms(time)), "{out}");
        assert_eq!(out["wasi_now_ms"], json!(ms(time)), "{out}");
        assert_eq!(out["prepared"], prepared, "{out}");
    }
    let without_counter = |out: &[Value]| -> Vec<Value> {
        out.iter()
            .map(|d| {
                let mut d = d.clone();
                d.as_object_mut().map(|o| o.remove("handled"));
                d
            })
            .collect()
    };
    assert_eq!(without_counter(&warm_out), without_counter(&cold_out));
}

#[test]
fn an_instance_that_failed_is_not_used_again() {
    let lab = Lab::new(16);
    let offer = |id: &str, data: Value| lab.offer(id, TIMES[0], data);
    let handled = |v: Value| v["handled"].as_u64().expect("handled");

    assert_eq!(
        handled(offer("e1", json!({"call_id": "c1"})).expect("ok")),
        1
    );
    assert_eq!(
        handled(offer("e2", json!({"call_id": "c2"})).expect("ok")),
        2
    );

    // The plugin refuses: the event fails in the instance it ran in; the next event gets
    // a fresh one.
    let refused =
        offer("e3", json!({"call_id": "c3", "refuse": true})).expect_err("the probe refuses");
    assert!(matches!(refused, PluginFailure::Refused(_)), "{refused:?}");
    assert_eq!(
        handled(offer("e4", json!({"call_id": "c4"})).expect("ok")),
        1
    );
    assert_eq!(lab.sandbox.prepares(), 2);

    // A panic in a fresh instance is the event's failure, and the next event gets a
    // fresh instance again.
    let fresh = Lab::new(16);
    let panicked = fresh
        .offer("p1", TIMES[0], json!({"call_id": "p1", "panic": true}))
        .expect_err("the probe panics");
    assert!(
        matches!(panicked, PluginFailure::GuestPanic(_)),
        "{panicked:?}"
    );
    let next = fresh
        .offer("p2", TIMES[0], json!({"call_id": "p2"}))
        .expect("ok");
    assert_eq!(handled(next), 1);

    // A trap in an instance that handled events before is retried in a fresh one, which
    // decides as it would have without the earlier events.
    assert_eq!(
        handled(offer("e5", json!({"call_id": "c5"})).expect("ok")),
        2
    );
    let retried = offer("e6", json!({"call_id": "c6", "panic_if_reused": true}))
        .expect("the fresh instance decides");
    assert_eq!(handled(retried), 1);
    assert_eq!(lab.sandbox.prepares(), 3);
}

#[test]
fn the_example_day_decides_the_same_with_warm_instances_as_with_fresh_ones() {
    let root = support::root();
    let tmp = tempfile::tempdir().expect("tempdir");
    let run = |warm: &str| -> (Vec<u8>, Vec<u8>) {
        let commands = tmp.path().join(format!("commands-{warm}.jsonl"));
        let out = support::leitstand_command()
            .env("LEITSTAND_SANDBOX__WARM_INSTANCES", warm)
            .args(["replay", "--bundles"])
            .arg(root.join("examples/bundles"))
            .arg("--commands")
            .arg(&commands)
            .args(["--report", "json"])
            .arg(root.join("examples/day.jsonl"))
            .output()
            .expect("leitstand runs");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        (std::fs::read(&commands).expect("commands"), out.stdout)
    };
    let (fresh_commands, fresh_report) = run("0");
    let (warm_commands, warm_report) = run("16");
    assert!(fresh_commands.len() > 100_000, "the day decides commands");
    assert!(
        fresh_commands == warm_commands,
        "the commands differ between fresh and warm instances"
    );
    assert_eq!(
        String::from_utf8_lossy(&fresh_report),
        String::from_utf8_lossy(&warm_report)
    );
}
