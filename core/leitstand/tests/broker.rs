//! `leitstand run` against the real RabbitMQ: throughput without loss, dead letters with
//! their reasons, per-tenant order, graceful and abrupt stops, bundle reload. Each test has
//! its own vhost. The broker restart lives in `broker_restart.rs` (a binary of its own, so
//! that it never pulls the broker away from these).
#![allow(missing_docs)]

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use lapin::BasicProperties;
use lapin::types::{AMQPValue, FieldTable, LongString};

use support::PluginEntry;
use support::broker::{
    Daemon, Rig, TENANTS, Vhost, assert_drained, by_tenant, collect, depth, expect_all_commands,
    expected_ids, offered, publish, publish_all, publisher, route_id, router_bundles, skip,
    structured, tenant_queues, three_tenant_events as events,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_events_of_three_tenants_all_come_out_in_order() {
    if skip() {
        return;
    }
    let rig = Rig::new("flow", &TENANTS);
    let mut daemon = rig.daemon(&[]);
    let (conn, ch) = rig.client().await;
    let n = 10_000;
    publish_all(&ch, &events(n)).await;

    let commands = collect(
        &conn,
        "test.commands",
        |got| got.len() >= n,
        Duration::from_secs(30),
        Duration::from_secs(300),
    )
    .await;
    let ids: BTreeSet<String> = commands.iter().filter_map(|m| m.message_id()).collect();
    assert_eq!(
        commands.len(),
        n,
        "exactly one command per event:\n{}",
        daemon.report()
    );
    assert_eq!(
        ids,
        expected_ids(n),
        "every event's command, with the expected id"
    );
    for m in &commands {
        assert!(m.routing_key.ends_with(".call.route"), "{}", m.routing_key);
        assert_eq!(
            m.properties.delivery_mode(),
            &Some(2),
            "commands are persistent"
        );
    }
    // Per-tenant order: each tenant's commands follow its events.
    for (tenant, seq) in by_tenant(&commands) {
        let causes: Vec<usize> = seq
            .iter()
            .map(|(_, cause)| {
                cause
                    .rsplit('e')
                    .next()
                    .and_then(|n| n.parse().ok())
                    .expect("seq")
            })
            .collect();
        let mut sorted = causes.clone();
        sorted.sort_unstable();
        assert_eq!(causes, sorted, "commands of {tenant} out of event order");
    }

    let status = daemon.terminate(Duration::from_secs(40));
    assert!(status.success(), "exit {status}:\n{}", daemon.log_text());
    let mut queues = tenant_queues(&TENANTS);
    queues.push("leitstand.dead".into());
    assert_drained(&conn, queues).await;
}

/// A bad message of `kind`, number `i`, as (routing key, body, properties).
fn bad(kind: &str, i: usize) -> (String, Vec<u8>, BasicProperties) {
    let props = structured().with_message_id(format!("{kind}-{i}").into());
    let event = |tenant: &str, ty: &str, data: serde_json::Value| {
        serde_json::json!({
            "specversion": "1.0", "id": format!("{kind}-{i}"), "source": "acd/test",
            "type": ty, "tenant": tenant, "data": data
        })
    };
    let call = serde_json::json!({"call_id": "c", "queue": "q"});
    let (key, body) = match kind {
        "malformed-json" => (
            "alpha.call.offered".into(),
            format!("{{\"specversion\": \"1.0\", {i}").into_bytes(),
        ),
        "non-utf8" => (
            "alpha.call.offered".into(),
            vec![0xff, 0xfe, b'{', (i % 200) as u8 + 1],
        ),
        "missing-attribute" => {
            let mut e = event("alpha", "call.offered", call);
            e.as_object_mut().expect("object").remove("id");
            (
                "alpha.call.offered".into(),
                serde_json::to_vec(&e).expect("json"),
            )
        }
        "unsupported-specversion" => {
            let mut e = event("alpha", "call.offered", call);
            e["specversion"] = "0.3".into();
            (
                "alpha.call.offered".into(),
                serde_json::to_vec(&e).expect("json"),
            )
        }
        "invalid-data" => (
            "alpha.call.offered".into(),
            serde_json::to_vec(&event(
                "alpha",
                "call.offered",
                serde_json::json!({"queue": "q"}),
            ))
            .expect("json"),
        ),
        "unknown-tenant" => (
            "nobody.call.offered".into(),
            serde_json::to_vec(&event("nobody", "call.offered", call)).expect("json"),
        ),
        "tenant-mismatch" => (
            "alpha.call.offered".into(),
            serde_json::to_vec(&event("bravo", "call.offered", call)).expect("json"),
        ),
        "too-large" => (
            "alpha.call.offered".into(),
            serde_json::to_vec(&event(
                "alpha",
                "call.offered",
                serde_json::json!({
                    "call_id": "c", "queue": "q", "note": "x".repeat(70 * 1024)
                }),
            ))
            .expect("json"),
        ),
        "plugin-failed" => (
            "delta.test.boom".into(),
            serde_json::to_vec(&event("delta", "test.boom", serde_json::json!({}))).expect("json"),
        ),
        other => panic!("unknown kind {other}"),
    };
    (key, body, props)
}

/// The reason code a kind must be dead-lettered with.
fn reason(kind: &str) -> &str {
    if kind == "non-utf8" {
        "malformed-json"
    } else {
        kind
    }
}

/// A good event in binary mode (attributes as `ce-` headers).
fn binary(tenant: &str, n: usize) -> (String, Vec<u8>, BasicProperties) {
    let mut h = FieldTable::default();
    for (k, v) in [
        ("ce-specversion", "1.0".to_owned()),
        ("ce-id", format!("{tenant}-e{n}")),
        ("ce-source", "acd/test".to_owned()),
        ("ce-type", "call.offered".to_owned()),
        ("ce-tenant", tenant.to_owned()),
    ] {
        h.insert(k.into(), AMQPValue::LongString(LongString::from(v)));
    }
    let body = format!(r#"{{"call_id":"c{n}","queue":"q"}}"#).into_bytes();
    let props = BasicProperties::default()
        .with_content_type("application/json".into())
        .with_headers(h);
    (format!("{tenant}.call.offered"), body, props)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_messages_are_dead_lettered_with_their_reason_and_good_ones_processed() {
    if skip() {
        return;
    }
    let rig = Rig::new("bad", &TENANTS);
    let bundles = &rig.bundles;
    support::write_bundle(
        bundles,
        "delta",
        "",
        &[PluginEntry {
            name: "boom",
            guest: "leitstand_hostile",
            subscribe: &["test.boom"],
            grant: &[],
            limits: "",
            config: "mode = \"panic\"",
        }],
    );
    let mut daemon = rig.daemon(&[]);
    let (conn, ch) = rig.client().await;

    let kinds = [
        "malformed-json",
        "non-utf8",
        "missing-attribute",
        "unsupported-specversion",
        "invalid-data",
        "unknown-tenant",
        "tenant-mismatch",
        "too-large",
        "plugin-failed",
    ];
    let per_kind = 200;
    let mut messages = Vec::new();
    let mut sent = BTreeMap::new();
    let mut good = BTreeSet::new();
    for i in 0..per_kind {
        for kind in kinds {
            let m = bad(kind, i);
            sent.insert(format!("{kind}-{i}"), (kind, m.1.clone()));
            messages.push(m);
        }
        // Good events around them, in both modes.
        let t = TENANTS[i % 3];
        let n = 100_000 + i;
        good.insert(route_id(t, n));
        messages.push(if i % 2 == 0 {
            (format!("{t}.call.offered"), offered(t, n), structured())
        } else {
            binary(t, n)
        });
    }
    publish_all(&ch, &messages).await;

    let total_bad = per_kind * kinds.len();
    let dead = collect(
        &conn,
        "leitstand.dead",
        |got| got.len() >= total_bad,
        Duration::from_secs(30),
        Duration::from_secs(300),
    )
    .await;
    assert_eq!(
        dead.len(),
        total_bad,
        "every bad message dead-lettered once"
    );
    for m in &dead {
        let id = m.message_id().expect("the original properties are kept");
        let (kind, body) = sent
            .get(&id)
            .unwrap_or_else(|| panic!("unexpected dead letter {id}"));
        assert_eq!(
            m.header("x-leitstand-error").as_deref(),
            Some(reason(kind)),
            "{id}"
        );
        let detail = m.header("x-leitstand-detail").expect("detail header");
        assert!(
            !detail.is_empty() && !detail.contains('\n'),
            "{id}: {detail:?}"
        );
        assert_eq!(&m.body, body, "{id}: body unchanged");
    }
    let commands = collect(
        &conn,
        "test.commands",
        |got| got.len() >= good.len(),
        Duration::from_secs(30),
        Duration::from_secs(120),
    )
    .await;
    let ids: BTreeSet<String> = commands.iter().filter_map(|m| m.message_id()).collect();
    assert_eq!(ids, good, "every good event processed");

    let metrics = daemon.metrics();
    assert!(
        metrics.contains("leitstand_dead_letters_total{reason=\"too-large\",tenant=\"alpha\"} 200"),
        "{metrics}"
    );
    let status = daemon.terminate(Duration::from_secs(40));
    assert!(status.success(), "exit {status}");
    let mut queues = tenant_queues(TENANTS.iter().chain(&["delta"]));
    queues.push("leitstand.unrouted".into());
    assert_drained(&conn, queues).await;
}

/// Publishes `n` events, starts the daemon, stops it with `stop` once it has taken a tenth
/// of them, starts it again, and checks that every command arrives.
async fn stop_midway(test: &str, n: usize, stop: impl FnOnce(&mut Daemon)) {
    let rig = Rig::new(test, &TENANTS);
    let env = [("LEITSTAND_DAEMON__GRACE_SECONDS", "20")];
    // Every event waits in its queue before the daemon starts, so that the stop below
    // falls in the middle of its work however fast it is.
    rig.topology();
    let (conn, ch) = rig.client().await;
    publish_all(&ch, &events(n)).await;
    let mut daemon = rig.daemon(&env);
    // Stop once the daemon has taken a tenth of the events off the tenant queues: counted
    // at the queues, not at the commands, which its relay may confirm far behind.
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        let mut queued = 0;
        for t in TENANTS {
            queued += depth(&conn, &format!("leitstand.tenant.{t}")).await;
        }
        if (queued as usize) <= n - n / 10 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the daemon took nothing off the queues:\n{}",
            daemon.report()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    stop(&mut daemon);
    // What the stopped daemon held unacknowledged goes back to the queues once the broker
    // has seen its connection close, which may take a moment after the process is gone.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let mut remaining = 0;
        for t in TENANTS {
            remaining += depth(&conn, &format!("leitstand.tenant.{t}")).await;
        }
        if remaining > 0 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the daemon was stopped too late to prove anything"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let again = rig.daemon(&env);
    expect_all_commands(&conn, &expected_ids(n), &again).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_midway_exits_zero_within_the_grace_period_and_a_restart_loses_nothing() {
    if skip() {
        return;
    }
    stop_midway("term", 10_000, |d| {
        let status = d.terminate(Duration::from_secs(22));
        assert!(status.success(), "exit {status}:\n{}", d.log_text());
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_midway_then_restart_loses_nothing() {
    if skip() {
        return;
    }
    stop_midway("kill", 10_000, Daemon::kill9).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bundles_reload_on_sighup_and_on_change_and_a_bad_bundle_is_refused() {
    if skip() {
        return;
    }
    let rig = Rig::new("reload", &["alpha"]);
    let bundles = &rig.bundles;
    let env = [("LEITSTAND_DAEMON__RELOAD_POLL_MS", "200")];
    let mut daemon = rig.daemon(&env);
    let (conn, ch) = rig.client().await;
    // Publishes the `n`th event of `tenant` and returns the one command it causes.
    let log = daemon.log.clone();
    let send = |tenant: &'static str, n: usize| {
        let (ch, conn, log) = (&ch, &conn, &log);
        async move {
            let key = format!("{tenant}.call.offered");
            publish(ch, &key, &offered(tenant, n), structured()).await;
            let got = collect(
                conn,
                "test.commands",
                |g| !g.is_empty(),
                Duration::from_secs(30),
                Duration::from_secs(60),
            )
            .await;
            assert_eq!(
                got.len(),
                1,
                "one command for {tenant} event {n}:\n{}",
                std::fs::read_to_string(log).unwrap_or_default()
            );
            got.into_iter().next().expect("one command")
        }
    };
    let target_of = |m: &support::broker::Message| -> String {
        let v: serde_json::Value = serde_json::from_slice(&m.body).expect("json");
        v["data"]["target"].as_str().expect("target").to_owned()
    };

    assert_eq!(target_of(&send("alpha", 1).await), "kaiserslautern");

    // A valid change, announced by SIGHUP.
    let manifest = bundles.join("alpha/tenant.toml");
    let text = std::fs::read_to_string(&manifest).expect("manifest");
    std::fs::write(
        &manifest,
        text.replace("\"kaiserslautern\"", "\"pirmasens\""),
    )
    .expect("write");
    daemon.hangup();
    daemon
        .wait_for_metric(
            "leitstand_bundle_reloads_total{outcome=\"applied\",tenant=\"alpha\"}",
            Duration::from_secs(30),
        )
        .await;
    assert_eq!(target_of(&send("alpha", 2).await), "pirmasens");

    // An invalid change (wrong pin) is refused; the running bundle stays.
    let text = std::fs::read_to_string(&manifest).expect("manifest");
    let broken = text.replace("sha256 = \"", "sha256 = \"00");
    std::fs::write(&manifest, broken).expect("write");
    daemon
        .wait_for_metric(
            "leitstand_bundle_reloads_total{outcome=\"refused\",tenant=\"alpha\"}",
            Duration::from_secs(30),
        )
        .await;
    assert_eq!(target_of(&send("alpha", 3).await), "pirmasens");

    // A new tenant directory is picked up by the watch, with its own queue.
    router_bundles(bundles, &["echo"]);
    daemon
        .wait_for_metric(
            "leitstand_bundle_reloads_total{outcome=\"applied\",tenant=\"echo\"}",
            Duration::from_secs(30),
        )
        .await;
    let got = send("echo", 4).await;
    assert_eq!(got.message_id(), Some(route_id("echo", 4)));

    assert!(daemon.terminate(Duration::from_secs(40)).success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_tenant_does_not_stall_another() {
    if skip() {
        return;
    }
    let rig = Rig::new("isolation", &["alpha"]);
    let bundles = &rig.bundles;
    // Every event of `slow` burns its whole CPU budget (100 ms) and is then given up.
    support::write_bundle(
        bundles,
        "slow",
        "",
        &[PluginEntry {
            name: "spin",
            guest: "leitstand_hostile",
            subscribe: &["call.offered"],
            grant: &[],
            limits: "limits = { cpu_ms = 100, wall_ms = 1000 }\non_failure = \"ignore\"",
            config: "mode = \"loop\"",
        }],
    );
    let mut daemon = rig.daemon(&[]);
    let (conn, ch) = rig.client().await;
    // The slow tenant's backlog (at least 20 s of work) is published first.
    let mut messages: Vec<_> = (0..200)
        .map(|i| {
            (
                "slow.call.offered".to_owned(),
                offered("slow", i),
                structured(),
            )
        })
        .collect();
    messages.extend((0..2_000).map(|i| {
        (
            "alpha.call.offered".to_owned(),
            offered("alpha", i),
            structured(),
        )
    }));
    publish_all(&ch, &messages).await;
    let commands = collect(
        &conn,
        "test.commands",
        |got| got.len() >= 2_000,
        Duration::from_secs(30),
        Duration::from_secs(120),
    )
    .await;
    assert_eq!(commands.len(), 2_000, "all of alpha's commands");
    // The slow tenant's events are all delivered (the prefetch holds them), but most of
    // them still wait for their turn when alpha is done.
    let metrics = daemon.metrics();
    let prefix =
        "leitstand_plugin_calls_total{outcome=\"timeout\",plugin=\"spin\",tenant=\"slow\"}";
    let spun: u64 = metrics
        .lines()
        .find(|l| l.starts_with(prefix))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    assert!(spun > 0, "the slow tenant ran meanwhile:\n{metrics}");
    assert!(
        spun < 200,
        "alpha finished only after the slow tenant's whole backlog"
    );
    daemon.kill9();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn topology_declares_the_contract_names_and_exits() {
    if skip() {
        return;
    }
    let vhost = Vhost::new("topology");
    let tmp = tempfile::tempdir().expect("tmp");
    router_bundles(tmp.path(), &TENANTS);
    let topology = |url: &str| {
        std::process::Command::new(env!("CARGO_BIN_EXE_leitstand"))
            .args(["topology", "--bundles"])
            .arg(tmp.path())
            .env("LEITSTAND_AMQP__URL", url)
            .output()
            .expect("leitstand topology")
    };
    let out = topology(&vhost.url());
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let conn = vhost.connect().await;
    for q in [
        "leitstand.dead",
        "leitstand.unrouted",
        "leitstand.tenant.alpha",
        "leitstand.tenant.charlie",
    ] {
        assert_eq!(depth(&conn, q).await, 0, "{q} exists and is empty");
    }
    // Unroutable events reach the unrouted queue through the alternate exchange.
    let ch = publisher(&conn).await;
    publish(
        &ch,
        "nobody.call.offered",
        &offered("nobody", 1),
        structured(),
    )
    .await;
    assert_eq!(depth(&conn, "leitstand.unrouted").await, 1);
    // Declaring again is harmless.
    let again = topology(&vhost.url());
    assert!(
        again.status.success(),
        "{}",
        String::from_utf8_lossy(&again.stderr)
    );

    // A broker that cannot be reached is named in the error.
    let down = topology("amqp://guest:secret@127.0.0.1:1/%2f");
    assert!(!down.status.success());
    let err = String::from_utf8_lossy(&down.stderr);
    assert!(
        err.contains("127.0.0.1:1") && !err.contains("secret"),
        "{err}"
    );
}

/// The daemon emits a failing emergency plugin's fallback command for every emergency call
/// (and for no other), and the failures are counted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_emergency_plugin_yields_the_fallback_for_every_emergency_call() {
    if skip() {
        return;
    }
    let rig = Rig::new("fallback", &[]);
    support::broken_escalation(
        &rig.bundles,
        "on_failure = \"ignore\"\n\
         fallback = { type = \"call.route\", when = { priority = \"emergency\" }, \
         copy = [\"call_id\"], data = { target = \"partner-notruf\" } }",
    );
    let daemon = rig.daemon(&[]);
    let (conn, ch) = rig.client().await;
    let mut emergencies = BTreeSet::new();
    let mut messages = Vec::new();
    for n in 0..90 {
        let mut event: serde_json::Value =
            serde_json::from_slice(&offered("notruf", n)).expect("json");
        if n % 3 == 0 {
            event["data"]["priority"] = "emergency".into();
            emergencies.insert(format!("c{n}"));
        }
        messages.push((
            "notruf.call.offered".to_owned(),
            serde_json::to_vec(&event).expect("json"),
            structured(),
        ));
    }
    publish_all(&ch, &messages).await;
    let commands = collect(
        &conn,
        "test.commands",
        |got| got.len() >= emergencies.len(),
        Duration::from_secs(5),
        Duration::from_secs(60),
    )
    .await;
    let routed: BTreeSet<String> = commands
        .iter()
        .map(|m| {
            let c: serde_json::Value = serde_json::from_slice(&m.body).expect("json");
            assert_eq!(c["data"]["target"], "partner-notruf", "{c}");
            c["data"]["call_id"].as_str().expect("call id").to_owned()
        })
        .collect();
    assert_eq!(commands.len(), emergencies.len(), "{}", daemon.report());
    assert_eq!(routed, emergencies);
    daemon
        .wait_for_metric(
            "leitstand_fallbacks_total{plugin=\"escalation\",tenant=\"notruf\"} 30",
            Duration::from_secs(10),
        )
        .await;
    assert_eq!(depth(&conn, "leitstand.dead").await, 0);
}
