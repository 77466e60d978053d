//! Plugins of the contract 0.3.0 are prepared once and then handed event after event
//! (`sandbox.warm_instances`): each event sees what a fresh instance would see — its own
//! event clock, no state while preparing, an instance that failed never used again, a trap
//! in a used instance retried in a fresh one — and the example day decides byte for byte
//! the same with warm instances as with a fresh instance for every event. What the sandbox
//! did is counted for the operator (`leitstand_sandbox_instances_total` and its kin).

mod support;

use std::sync::Arc;

use leitstand_contract::envelope::{IntakeLimits, parse_structured};
use leitstand_engine::sandbox::{
    EventView, PluginFailure, PreparedPlugin, Sandbox, SandboxConfig, TenantQuota, TenantScope,
};
use leitstand_engine::state::MemoryStore;
use leitstand_engine::tenants::Bundle;
use leitstand_metrics::{CustomMetrics, Metrics};
use serde_json::{Value, json};
use support::PluginEntry;

/// A sandbox keeping `warm` prepared instances, the probe prepared in it, and its tenant.
struct Lab {
    sandbox: Sandbox,
    custom: Arc<CustomMetrics>,
    plugin: PreparedPlugin,
    bundle: Bundle,
    scope: TenantScope,
    _dir: tempfile::TempDir,
}

impl Lab {
    fn new(warm: usize) -> Self {
        Self::of(
            PluginEntry {
                name: "probe",
                guest: "leitstand_probe_v0_3",
                subscribe: &["call.offered"],
                grant: &["call.route"],
                limits: "",
                config: "",
            },
            warm,
        )
    }

    /// A sandbox keeping `warm` prepared instances, and `plugin` prepared in it.
    fn of(plugin: PluginEntry, warm: usize) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let bdir = support::write_bundle(dir.path(), "lab", "", &[plugin]);
        let bundle = Bundle::load(&bdir).expect("the bundle loads");
        let custom = Arc::new(CustomMetrics::new());
        let sandbox = Sandbox::new(
            SandboxConfig {
                warm_instances: warm,
                ..support::sandbox_config()
            },
            custom.clone(),
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
            custom,
            plugin,
            bundle,
            scope,
            _dir: dir,
        }
    }

    /// The probe prepared once more: a plugin of its own to the sandbox, as after a reload.
    fn again(&self) -> PreparedPlugin {
        self.sandbox
            .prepare(
                &self.bundle.plugins[0],
                &self.bundle.tenant,
                self.bundle.timezone.name(),
                None,
            )
            .expect("the probe prepares")
    }

    /// The probe's verdict on one `call.offered` at `time` with `data`.
    fn offer(&self, id: &str, time: &str, data: Value) -> Result<Value, PluginFailure> {
        self.offer_to(&self.plugin, id, time, data)
    }

    /// `plugin`'s verdict on one `call.offered` at `time` with `data`.
    fn offer_to(
        &self,
        plugin: &PreparedPlugin,
        id: &str,
        time: &str,
        mut data: Value,
    ) -> Result<Value, PluginFailure> {
        data["queue"] = json!("q");
        let line = support::event("lab", id, "call.offered", time, data);
        let env = parse_structured(line.as_bytes(), IntakeLimits::default(), chrono::Utc::now())
            .expect("the event parses");
        let out = self
            .sandbox
            .invoke(plugin, &self.scope, &EventView::of(&env))?;
        assert_eq!(out.commands.len(), 1, "the probe routes every offer");
        Ok(Value::Object(out.commands[0].data.clone()))
    }

    /// The sandbox's families as an operator scrapes them: `[warm, prepared, fresh]`
    /// events, instances kept, instances evicted.
    fn scraped(&self) -> ([f64; 3], f64, f64) {
        let text = Metrics::new(self.custom.clone()).expect("metrics").render();
        let value = |series: &str| -> f64 {
            text.lines()
                .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
                .unwrap_or_else(|| panic!("{series} is exported:\n{text}"))
                .parse()
                .expect("a number")
        };
        let events = ["warm", "prepared", "fresh"].map(|o| {
            value(&format!(
                "leitstand_sandbox_instances_total{{outcome=\"{o}\"}}"
            ))
        });
        (
            events,
            value("leitstand_sandbox_warm_instances"),
            value("leitstand_sandbox_warm_evicted_total"),
        )
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
    // As the operator sees it: two events in the kept instance, one prepared; none kept
    // with `warm_instances = 0`.
    assert_eq!(warm.scraped(), ([2.0, 1.0, 0.0], 1.0, 0.0));
    assert_eq!(cold.scraped(), ([0.0, 3.0, 0.0], 0.0, 0.0));

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
    // e2, e3, e5 and e6's first attempt ran warm; e1, e4 and e6's retry were prepared.
    assert_eq!(lab.scraped(), ([4.0, 3.0, 0.0], 1.0, 0.0));
}

#[test]
fn kept_instances_make_room_go_with_their_plugin_and_are_counted() {
    // Room for one: two plugins taking turns evict each other's instance every time.
    let lab = Lab::new(1);
    let other = lab.again();
    let handled = |v: Value| v["handled"].as_u64().expect("handled");
    for i in 0..4 {
        let plugin = if i % 2 == 0 { &lab.plugin } else { &other };
        let out = lab
            .offer_to(plugin, &format!("e{i}"), TIMES[0], json!({"call_id": "c"}))
            .expect("the probe decides");
        assert_eq!(handled(out), 1, "event {i} found its instance evicted");
    }
    assert_eq!(lab.scraped(), ([0.0, 4.0, 0.0], 1.0, 3.0));

    // Room for two: both stay warm.
    let lab = Lab::new(2);
    let other = lab.again();
    for i in 0..4 {
        let plugin = if i % 2 == 0 { &lab.plugin } else { &other };
        let out = lab
            .offer_to(plugin, &format!("e{i}"), TIMES[0], json!({"call_id": "c"}))
            .expect("the probe decides");
        assert_eq!(handled(out), 1 + i / 2);
    }
    assert_eq!(lab.scraped(), ([2.0, 2.0, 0.0], 2.0, 0.0));

    // A plugin gone (its bundle reloaded) takes its kept instance with it.
    drop(other);
    assert_eq!(lab.scraped(), ([2.0, 2.0, 0.0], 1.0, 0.0));
    let out = lab
        .offer("e4", TIMES[0], json!({"call_id": "c"}))
        .expect("the probe decides");
    assert_eq!(
        handled(out),
        3,
        "the remaining plugin's instance stayed warm"
    );
}

#[test]
fn a_plugin_of_an_earlier_contract_gets_a_fresh_instance_for_every_event() {
    let lab = Lab::of(
        PluginEntry {
            name: "legacy",
            guest: "leitstand_template_v0_1",
            subscribe: &["call.offered"],
            grant: &["call.route", "call.escalate"],
            limits: "",
            config: "default_target = \"team\"\nescalate_after_seconds = 60",
        },
        16,
    );
    for (i, time) in TIMES.iter().enumerate() {
        let out = lab
            .offer(&format!("e{i}"), time, json!({"call_id": format!("c{i}")}))
            .expect("the template decides");
        assert_eq!(out["target"], json!("team"), "{out}");
    }
    assert_eq!(lab.sandbox.prepares(), 0);
    assert_eq!(lab.scraped(), ([0.0, 0.0, 3.0], 0.0, 0.0));
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
