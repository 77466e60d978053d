//! Interoperability with the official CloudEvents SDK for Python (`cloudevents` on PyPI,
//! pinned in `tests/interop/requirements.txt`; `make interop-tools` installs it into
//! `target/python-venv`). Events the SDK makes in all four of its modes — the RabbitMQ and
//! the AMQP binding, binary and structured, with an integer and a boolean extension
//! attribute — are processed by `leitstand run`; the commands of tenants in each command
//! mode are read back by the SDK's structured and binary readers with their attributes
//! intact; the README's example publishes an event that is processed. And a binary `time`
//! of a type or range RFC 3339 cannot hold is dead-lettered naming `time` and the type.
//!
//! These tests fail, never skip, when the broker or the SDK is missing (the broker tests'
//! explicit `LEITSTAND_SKIP_BROKER_TESTS=1` aside).
#![allow(missing_docs)]

mod support;

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

use chrono::DateTime;
use lapin::BasicProperties;
use lapin::types::{AMQPValue, FieldTable, LongString};
use serde_json::{Value, json};

use support::PluginEntry;
use support::broker::{Rig, Vhost, collect, depth, publish, skip};

/// The SDK's four ways of putting an event on RabbitMQ.
const SDK_MODES: [&str; 4] = [
    "rabbitmq-binary",
    "rabbitmq-structured",
    "amqp-binary",
    "amqp-structured",
];

/// The test's tenants, each with the command mode its bundle asks for.
const TENANTS: [(&str, &str); 3] = [
    ("soest", "structured"),
    ("soest-amqp", "amqp-binary"),
    ("soest-ce", "rabbitmq-binary"),
];

/// The interpreter of `target/python-venv`, once it has the SDK and pika.
fn python_with_sdk() -> PathBuf {
    let python = support::root().join("target/python-venv/bin/python");
    let ready = Command::new(&python)
        .args(["-c", "import cloudevents.core.bindings.amqp, pika"])
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        ready,
        "{} cannot import the CloudEvents SDK and pika (CI={}): run `make interop-tools` \
         (`make test` does) to install them from tests/interop/requirements.txt",
        python.display(),
        std::env::var("CI").unwrap_or_default()
    );
    python
}

/// Runs the SDK script with `args`, `stdin` as its input; its standard output, or why it
/// failed.
fn sdk(python: &PathBuf, args: &[&str], stdin: &str) -> Result<String, String> {
    let script = support::root().join("core/leitstand/tests/interop/cloudevents_sdk.py");
    let mut child = Command::new(python)
        .arg(&script)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the SDK script starts");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(stdin.as_bytes())
        .expect("write the events");
    let out = child.wait_with_output().expect("the SDK script ends");
    if !out.status.success() {
        return Err(format!(
            "cloudevents_sdk.py {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(String::from_utf8(out.stdout).expect("utf-8"))
}

/// Reads `count` commands from `test.commands` with the SDK's readers; when they do not
/// come, fails with what was dead-lettered instead.
async fn read_commands(
    python: &PathBuf,
    rig: &Rig,
    conn: &lapin::Connection,
    count: usize,
) -> String {
    let args = [
        "read",
        &rig.vhost.url(),
        "test.commands",
        &count.to_string(),
    ];
    match sdk(python, &args, "") {
        Ok(out) => out,
        Err(e) => {
            let dead = collect(
                conn,
                "leitstand.dead",
                |_| false,
                Duration::from_secs(1),
                Duration::from_secs(30),
            )
            .await;
            let reasons: Vec<_> = dead
                .iter()
                .map(|m| {
                    format!(
                        "{}: {}",
                        m.header("x-leitstand-error").unwrap_or_default(),
                        m.header("x-leitstand-detail").unwrap_or_default()
                    )
                })
                .collect();
            panic!("{e}\ndead-lettered instead: {reasons:#?}");
        }
    }
}

/// A vhost and bundles of [`TENANTS`]: the template router, routing every call to
/// `kaiserslautern`, with the tenant's `[commands] mode`.
fn rig(name: &str) -> Rig {
    let vhost = Vhost::new(name);
    let tmp = tempfile::tempdir().expect("tmp");
    let bundles = tmp.path().join("bundles");
    for (tenant, mode) in TENANTS {
        support::write_bundle(
            &bundles,
            tenant,
            &format!("[commands]\nmode = \"{mode}\"\n"),
            &[PluginEntry {
                name: "router",
                guest: "leitstand_template",
                subscribe: &["call.offered"],
                grant: &["call.route"],
                limits: "",
                config: "default_target = \"kaiserslautern\"\n",
            }],
        );
    }
    Rig {
        vhost,
        tmp,
        bundles,
    }
}

/// One event of `tenant` in the SDK's `mode`, number `n`: what the SDK script reads.
fn sdk_event(tenant: &str, mode: &str, n: i64) -> Value {
    let time = DateTime::parse_from_rfc3339("2026-12-10T09:15:30.123+01:00").expect("time")
        + chrono::Duration::seconds(n);
    json!({
        "mode": mode,
        "routing_key": format!("{tenant}.call.offered"),
        "attributes": {
            "specversion": "1.0",
            "id": format!("{tenant}-{mode}"),
            "source": "acd/sdk",
            "type": "call.offered",
            "tenant": tenant,
            "time": time.to_rfc3339(),
            "subject": format!("call-{tenant}-{mode}"),
            "datacontenttype": "application/json",
            // Extension attributes of the CloudEvents types Integer and Boolean.
            "attempt": 2,
            "callback": true,
        },
        "data": {"call_id": format!("call-{tenant}-{mode}"), "queue": "stadt", "caller_ref": "p-4711"},
    })
}

/// The command mode of `tenant`.
fn mode_of(tenant: &str) -> &'static str {
    TENANTS
        .iter()
        .find(|(t, _)| *t == tenant)
        .map(|(_, m)| *m)
        .expect("a test tenant")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_of_the_python_sdk_in_all_four_modes_are_processed_and_its_readers_read_the_commands()
 {
    if skip() {
        return;
    }
    let python = python_with_sdk();
    let rig = rig("sdk");
    let mut daemon = rig.daemon(&[]);
    let (conn, _ch) = rig.client().await;

    let mut events = BTreeMap::new();
    let mut lines = String::new();
    for (tenant, _) in TENANTS {
        for (n, mode) in (0..).zip(SDK_MODES) {
            let e = sdk_event(tenant, mode, n);
            lines.push_str(&format!("{e}\n"));
            events.insert(e["attributes"]["id"].as_str().expect("id").to_owned(), e);
        }
    }
    let published =
        sdk(&python, &["publish", &rig.vhost.url()], &lines).unwrap_or_else(|e| panic!("{e}"));
    // The AMQP binding's binary mode sent typed headers: `time` and the Integer extension
    // as integers, the Boolean extension as a boolean (the RabbitMQ binding, text).
    let mut typed = 0;
    for line in published.lines() {
        let sent: Value = serde_json::from_str(line).expect("a JSON line");
        let headers = &sent["headers"];
        match sent["mode"].as_str() {
            Some("amqp-binary") => {
                typed += 1;
                assert_eq!(headers["cloudEvents_time"], "int", "{sent}");
                assert_eq!(headers["cloudEvents_attempt"], "int", "{sent}");
                assert_eq!(headers["cloudEvents_callback"], "bool", "{sent}");
                assert_eq!(headers["cloudEvents_id"], "str", "{sent}");
            }
            Some("rabbitmq-binary") => {
                assert_eq!(headers["ce-attempt"], "str", "{sent}");
                assert_eq!(headers["ce-callback"], "str", "{sent}");
            }
            _ => assert_eq!(headers, &json!({}), "structured: no headers: {sent}"),
        }
    }
    assert_eq!(typed, TENANTS.len(), "{published}");
    let read = read_commands(&python, &rig, &conn, events.len()).await;

    let mut seen = BTreeMap::new();
    for line in read.lines() {
        let got: Value = serde_json::from_str(line).expect("a JSON line");
        let attrs = &got["attributes"];
        let tenant = attrs["tenant"].as_str().expect("tenant");
        let cause = attrs["causationid"].as_str().expect("causationid");
        let event = events
            .get(cause)
            .unwrap_or_else(|| panic!("no event {cause}: {got}"));
        let sent = &event["attributes"];
        let call = &event["data"]["call_id"];
        let time = DateTime::parse_from_rfc3339(sent["time"].as_str().expect("time"))
            .expect("time")
            .timestamp_millis();
        let expected = json!({
            "specversion": "1.0",
            "id": leitstand_engine::dispatch::command_id("acd/sdk", cause, "router", 0),
            "source": format!("leitstand/{tenant}/router"),
            "type": "call.route",
            "tenant": tenant,
            "time": time,
            "causationid": cause,
            "subject": call,
            "datacontenttype": "application/json",
        });
        assert_eq!(got["mode"], mode_of(tenant), "{got}");
        assert_eq!(attrs, &expected, "the attributes of {cause}'s command");
        for (name, ty) in got["types"].as_object().expect("types") {
            let want = if name == "time" { "datetime" } else { "str" };
            assert_eq!(ty, want, "{cause}: the SDK reads `{name}` as {ty}");
        }
        assert_eq!(
            got["data"],
            json!({"call_id": call, "target": "kaiserslautern", "queue": "stadt", "reason": "default"}),
            "the data of {cause}'s command"
        );
        assert_eq!(
            got["routing_key"],
            format!("{tenant}.call.route"),
            "{cause}"
        );
        let readers = got["readers"].as_array().expect("readers").len();
        assert!(readers >= 2, "{got}");
        seen.insert(cause.to_owned(), got["mode"].clone());
    }
    assert_eq!(
        seen.len(),
        events.len(),
        "every event's command, read by the SDK: {seen:?}\n{}",
        daemon.report()
    );
    assert_eq!(
        depth(&conn, "leitstand.dead").await,
        0,
        "nothing dead-lettered"
    );
    for (tenant, _) in TENANTS {
        assert_eq!(
            depth(&conn, &format!("leitstand.tenant.{tenant}")).await,
            0,
            "every event of {tenant} taken"
        );
    }

    // The README's example, as printed there, against this test's vhost.
    let readme = std::fs::read_to_string(support::root().join("README.md")).expect("README");
    let example = readme
        .split("```python\n")
        .nth(1)
        .and_then(|rest| rest.split("```").next())
        .expect("a Python example in the README");
    let example = example.replace("amqp://guest:guest@127.0.0.1:5672/%2f", &rig.vhost.url());
    assert!(
        example.contains(&rig.vhost.url()),
        "the example names the broker"
    );
    let out = Command::new(&python)
        .args(["-c", &example])
        .output()
        .expect("python runs");
    assert!(
        out.status.success(),
        "the README's example fails: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let read = read_commands(&python, &rig, &conn, 1).await;
    let got: Value = serde_json::from_str(read.trim()).expect("a JSON line");
    assert_eq!(got["attributes"]["tenant"], "soest", "{got}");
    assert_eq!(got["attributes"]["type"], "call.route", "{got}");
    assert_eq!(
        depth(&conn, "leitstand.dead").await,
        0,
        "nothing dead-lettered"
    );

    let status = daemon.terminate(Duration::from_secs(40));
    assert!(status.success(), "exit {status}:\n{}", daemon.log_text());
}

/// A binary `call.offered` of `soest` whose `cloudEvents_time` is `time`.
fn with_time(id: &str, time: AMQPValue) -> BasicProperties {
    let mut h = FieldTable::default();
    for (k, v) in [
        ("cloudEvents_specversion", "1.0"),
        ("cloudEvents_id", id),
        ("cloudEvents_source", "acd/test"),
        ("cloudEvents_type", "call.offered"),
        ("cloudEvents_tenant", "soest"),
    ] {
        h.insert(k.into(), AMQPValue::LongString(LongString::from(v)));
    }
    h.insert("cloudEvents_time".into(), time);
    BasicProperties::default()
        .with_content_type("application/json".into())
        .with_message_id(id.into())
        .with_headers(h)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_binary_time_rfc_3339_cannot_hold_is_dead_lettered_naming_time_and_its_type() {
    if skip() {
        return;
    }
    let rig = rig("sdk-time");
    let mut daemon = rig.daemon(&[]);
    let (conn, ch) = rig.client().await;
    let mut table = FieldTable::default();
    table.insert("seconds".into(), AMQPValue::LongLongInt(1_765_358_130));
    let body = br#"{"call_id":"c1","queue":"stadt"}"#;
    let cases = [
        // 10000-01-01T00:00:00Z: one second past what RFC 3339's four-digit years hold.
        (
            "far-future",
            AMQPValue::Timestamp(253_402_300_800),
            "attribute `time` is a timestamp",
        ),
        (
            "largest",
            AMQPValue::Timestamp(u64::MAX),
            "attribute `time` is a timestamp",
        ),
        (
            "table",
            AMQPValue::FieldTable(table),
            "attribute `time` is a table",
        ),
    ];
    for (id, time, _) in &cases {
        publish(&ch, "soest.call.offered", body, with_time(id, time.clone())).await;
    }
    // A good one behind them: the bad ones did not stop the tenant.
    publish(
        &ch,
        "soest.call.offered",
        body,
        with_time("good", AMQPValue::Timestamp(1_765_358_130)),
    )
    .await;

    let dead = collect(
        &conn,
        "leitstand.dead",
        |got| got.len() >= cases.len(),
        Duration::from_secs(30),
        Duration::from_secs(120),
    )
    .await;
    assert_eq!(dead.len(), cases.len(), "{}", daemon.report());
    for (id, _, named) in &cases {
        let m = dead
            .iter()
            .find(|m| m.message_id().as_deref() == Some(*id))
            .unwrap_or_else(|| panic!("{id} not dead-lettered: {dead:?}"));
        assert_eq!(
            m.header("x-leitstand-error").as_deref(),
            Some("invalid-attribute"),
            "{id}"
        );
        let detail = m.header("x-leitstand-detail").unwrap_or_default();
        assert!(detail.starts_with(named), "{id}: {detail}");
        assert_eq!(m.body, body, "{id}: the body unchanged");
    }
    let far = dead
        .iter()
        .find(|m| m.message_id().as_deref() == Some("far-future"))
        .and_then(|m| m.header("x-leitstand-detail"))
        .unwrap_or_default();
    assert!(far.contains("outside RFC 3339"), "{far}");
    let table = dead
        .iter()
        .find(|m| m.message_id().as_deref() == Some("table"))
        .and_then(|m| m.header("x-leitstand-detail"))
        .unwrap_or_default();
    assert!(table.contains("a Timestamp must be"), "{table}");

    let commands = collect(
        &conn,
        "test.commands",
        |got| !got.is_empty(),
        Duration::from_secs(30),
        Duration::from_secs(120),
    )
    .await;
    assert_eq!(commands.len(), 1, "the good event's command");
    let status = daemon.terminate(Duration::from_secs(40));
    assert!(status.success(), "exit {status}:\n{}", daemon.log_text());
}
