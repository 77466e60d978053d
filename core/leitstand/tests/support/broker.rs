//! Helpers for tests against the real RabbitMQ: a throw-away vhost per test, the daemon as
//! a child process, publishing events and collecting what comes out.
//!
//! The broker must be reachable (127.0.0.1:5672, guest/guest, `rabbitmqctl` on the PATH).
//! When it is not, these tests fail, under CI and elsewhere; set
//! `LEITSTAND_SKIP_BROKER_TESTS=1` to skip them explicitly on a machine without one.

use std::collections::{BTreeMap, BTreeSet};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use lapin::options::{
    BasicAckOptions, BasicConsumeOptions, BasicPublishOptions, BasicQosOptions,
    ConfirmSelectOptions, QueueBindOptions, QueueDeclareOptions,
};
use lapin::types::{AMQPValue, FieldTable, LongString};
use lapin::{BasicProperties, Channel, Connection, ConnectionProperties};

use super::PluginEntry;

/// Whether broker tests are to be skipped (explicitly, never silently).
pub fn skip() -> bool {
    if std::env::var_os("LEITSTAND_SKIP_BROKER_TESTS").is_some_and(|v| v == "1") {
        eprintln!("LEITSTAND_SKIP_BROKER_TESTS=1: skipping a broker test");
        return true;
    }
    if TcpStream::connect_timeout(
        &"127.0.0.1:5672".parse().expect("addr"),
        Duration::from_secs(2),
    )
    .is_err()
    {
        panic!(
            "RabbitMQ is not reachable on 127.0.0.1:5672 (CI={}). Start it with \
             `rabbitmq-server -detached`, or set LEITSTAND_SKIP_BROKER_TESTS=1 to skip.",
            std::env::var("CI").unwrap_or_default()
        );
    }
    false
}

fn rabbitmqctl(args: &[&str]) {
    let out = Command::new("rabbitmqctl")
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("rabbitmqctl {args:?}: {e}"));
    assert!(
        out.status.success(),
        "rabbitmqctl {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Stops the broker application: connections drop, durable queues stay.
pub fn stop_broker() {
    rabbitmqctl(&["stop_app"]);
}

/// Starts the broker application again and waits until it serves.
pub fn start_broker() {
    rabbitmqctl(&["start_app"]);
    rabbitmqctl(&["await_startup"]);
}

/// Starts the broker application when a test that stopped it panics.
pub struct BrokerGuard;

impl Drop for BrokerGuard {
    fn drop(&mut self) {
        let _ = Command::new("rabbitmqctl").arg("start_app").output();
    }
}

/// A vhost of its own for one test; deleted on drop.
pub struct Vhost {
    pub name: String,
}

static NEXT: AtomicU32 = AtomicU32::new(0);

impl Vhost {
    pub fn new(test: &str) -> Self {
        let name = format!(
            "leitstand-test-{test}-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        rabbitmqctl(&["add_vhost", &name]);
        rabbitmqctl(&["set_permissions", "-p", &name, "guest", ".*", ".*", ".*"]);
        Self { name }
    }

    pub fn url(&self) -> String {
        format!("amqp://guest:guest@127.0.0.1:5672/{}", self.name)
    }

    pub async fn connect(&self) -> Connection {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            match Connection::connect(&self.url(), ConnectionProperties::default()).await {
                Ok(c) => return c,
                Err(e) if Instant::now() < deadline => {
                    eprintln!("connecting to the test vhost: {e}; retrying");
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
                Err(e) => panic!("cannot connect to {}: {e}", self.url()),
            }
        }
    }
}

impl Drop for Vhost {
    fn drop(&mut self) {
        let _ = Command::new("rabbitmqctl")
            .args(["delete_vhost", &self.name])
            .output();
    }
}

/// A free localhost port.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// A minimal HTTP GET: status and body.
pub fn http_get(addr: SocketAddr, path: &str) -> Option<(u16, String)> {
    use std::io::{Read, Write};
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(1)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut text = String::new();
    s.read_to_string(&mut text).ok()?;
    let status = text.split_whitespace().nth(1)?.parse().ok()?;
    let body = text.split_once("\r\n\r\n").map(|(_, b)| b.to_owned())?;
    Some((status, body))
}

/// A minimal HTTP POST without body, with `token` as bearer token: status and body.
pub fn http_post(addr: SocketAddr, path: &str, token: Option<&str>) -> (u16, String) {
    use std::io::{Read, Write};
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(1)).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    let auth = token.map_or_else(String::new, |t| format!("Authorization: Bearer {t}\r\n"));
    write!(
        s,
        "POST {path} HTTP/1.1\r\nHost: localhost\r\n{auth}Content-Length: 0\r\nConnection: close\r\n\r\n"
    )
    .expect("write");
    let mut text = String::new();
    s.read_to_string(&mut text).expect("read");
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("no status in {text:?}"));
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    (status, body)
}

/// The daemon as a child process.
pub struct Daemon {
    pub child: Child,
    pub http: SocketAddr,
    pub log: PathBuf,
    vhost: String,
}

impl Daemon {
    /// Starts `leitstand run` on `bundles` against `vhost` and waits until `/readyz` says
    /// ready.
    pub fn start(
        vhost: &Vhost,
        bundles: &Path,
        log_dir: &Path,
        extra_env: &[(&str, &str)],
    ) -> Self {
        let http: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().expect("addr");
        let log = log_dir.join(format!(
            "daemon-{}.log",
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        let file = std::fs::File::create(&log).expect("log file");
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_leitstand"));
        cmd.args(["run", "--bundles"])
            .arg(bundles)
            .env("LEITSTAND_AMQP__URL", vhost.url())
            .env("LEITSTAND_AMQP__CONNECTION_NAME", &vhost.name)
            .env("LEITSTAND_AMQP__RECONNECT_MIN_MS", "100")
            .env("LEITSTAND_AMQP__RECONNECT_MAX_MS", "1000")
            .env("LEITSTAND_HTTP__LISTEN", http.to_string())
            .env(
                "LEITSTAND_SANDBOX__COMPILE_CACHE",
                super::root().join("target/leitstand-test-compile-cache"),
            )
            .env("LEITSTAND_LOG__FILTER", "info")
            // Each test's daemons keep their state in the test's directory; a restart in
            // the same directory finds it again.
            .env(
                "LEITSTAND_STORE__URL",
                format!("sqlite://{}", log_dir.join("state.db").display()),
            )
            .stdin(Stdio::null())
            .stdout(file.try_clone().expect("log file"))
            .stderr(file);
        for (k, v) in extra_env {
            cmd.env(k, v);
        }
        let child = cmd.spawn().expect("start leitstand run");
        let mut d = Self {
            child,
            http,
            log,
            vhost: vhost.name.clone(),
        };
        d.wait_ready(Duration::from_secs(60));
        d
    }

    /// Waits until `/readyz` answers 200.
    pub fn wait_ready(&mut self, within: Duration) {
        let deadline = Instant::now() + within;
        loop {
            if let Some((200, _)) = http_get(self.http, "/readyz") {
                return;
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("the daemon exited with {status}:\n{}", self.log_text());
            }
            assert!(
                Instant::now() < deadline,
                "the daemon did not get ready:\n{}",
                self.log_text()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// What the broker holds in the daemon's vhost (queues with ready and unacknowledged
    /// messages, channels), then the daemon's log: for a failure that lost something.
    pub fn report(&self) -> String {
        let run = |args: &[&str]| {
            Command::new("rabbitmqctl")
                .args(args)
                .output()
                .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
                .unwrap_or_else(|e| format!("rabbitmqctl: {e}"))
        };
        let queues = run(&[
            "list_queues",
            "-q",
            "-p",
            &self.vhost,
            "name",
            "messages_ready",
            "messages_unacknowledged",
            "consumers",
        ]);
        let channels = run(&[
            "list_channels",
            "-q",
            "name",
            "messages_unacknowledged",
            "messages_unconfirmed",
            "consumer_count",
        ]);
        format!(
            "queues of {}:\n{queues}\nchannels:\n{channels}\nlog:\n{}",
            self.vhost,
            self.log_text()
        )
    }

    fn signal(&self, sig: &str) {
        let ok = Command::new("kill")
            .args([sig, &self.child.id().to_string()])
            .status()
            .expect("kill")
            .success();
        assert!(ok, "kill {sig} failed");
    }

    /// Sends SIGTERM and waits up to `within` for the exit.
    pub fn terminate(&mut self, within: Duration) -> ExitStatus {
        self.signal("-TERM");
        let deadline = Instant::now() + within;
        loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "the daemon did not exit within {within:?} of SIGTERM:\n{}",
                self.log_text()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Sends SIGHUP (bundle reload).
    pub fn hangup(&self) {
        self.signal("-HUP");
    }

    /// Kills the daemon outright (SIGKILL).
    pub fn kill9(&mut self) {
        self.child.kill().expect("kill -9");
        let _ = self.child.wait();
    }

    /// The `/metrics` text.
    pub fn metrics(&self) -> String {
        http_get(self.http, "/metrics")
            .map(|(_, b)| b)
            .unwrap_or_default()
    }

    /// Waits until `/metrics` contains `needle`.
    pub async fn wait_for_metric(&self, needle: &str, within: Duration) {
        let deadline = Instant::now() + within;
        while !self.metrics().contains(needle) {
            assert!(
                Instant::now() < deadline,
                "no {needle} in /metrics:\n{}",
                self.log_text()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Three tenants with the example router (escalation far in the future, so each
/// `call.offered` yields exactly one `call.route`).
/// One broker test's surroundings: its own vhost and a scratch directory holding router
/// bundles (and the daemon's logs).
pub struct Rig {
    pub vhost: Vhost,
    pub tmp: tempfile::TempDir,
    pub bundles: PathBuf,
}

impl Rig {
    /// A vhost named after `name` and router bundles for `tenants`.
    pub fn new(name: &str, tenants: &[&str]) -> Self {
        let vhost = Vhost::new(name);
        let tmp = tempfile::tempdir().expect("tmp");
        let bundles = tmp.path().join("bundles");
        router_bundles(&bundles, tenants);
        Self {
            vhost,
            tmp,
            bundles,
        }
    }

    /// Starts `leitstand run` on the rig's bundles, ready when this returns.
    pub fn daemon(&self, env: &[(&str, &str)]) -> Daemon {
        Daemon::start(&self.vhost, &self.bundles, self.tmp.path(), env)
    }

    /// Declares the contract's topology for the rig's bundles with `leitstand topology`,
    /// so that events can wait in the tenant queues before a daemon starts.
    pub fn topology(&self) {
        topology(&self.vhost, &self.bundles);
    }

    /// A connection with the queue `test.commands` tapping `leitstand.commands`, and a
    /// confirm-mode channel to publish on. Call it once the topology is declared.
    pub async fn client(&self) -> (Connection, Channel) {
        tapped(&self.vhost).await
    }
}

/// Declares the contract's topology in `vhost` for `bundles` with `leitstand topology`,
/// so that events can wait in the tenant queues before a daemon starts.
pub fn topology(vhost: &Vhost, bundles: &Path) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_leitstand"))
        .args(["topology", "--bundles"])
        .arg(bundles)
        .env("LEITSTAND_AMQP__URL", vhost.url())
        .output()
        .expect("leitstand topology");
    assert!(
        out.status.success(),
        "leitstand topology: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A connection to `vhost` with the queue `test.commands` tapping `leitstand.commands`,
/// and a confirm-mode channel to publish on.
pub async fn tapped(vhost: &Vhost) -> (Connection, Channel) {
    let conn = vhost.connect().await;
    tap(&conn, "test.commands", "leitstand.commands").await;
    let ch = publisher(&conn).await;
    (conn, ch)
}

/// Waits (up to two minutes) until `queue` holds at least `at_least` messages.
pub async fn wait_for_depth(conn: &Connection, queue: &str, at_least: u32, daemon: &Daemon) {
    let deadline = Instant::now() + Duration::from_secs(120);
    while depth(conn, queue).await < at_least {
        assert!(
            Instant::now() < deadline,
            "{queue} did not reach {at_least} messages:\n{}",
            daemon.log_text()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Asserts that each of `queues` exists and is empty.
pub async fn assert_drained(conn: &Connection, queues: impl IntoIterator<Item = String>) {
    for q in queues {
        assert_eq!(depth(conn, &q).await, 0, "{q} is drained");
    }
}

/// The input queues of `tenants`.
pub fn tenant_queues<'a>(tenants: impl IntoIterator<Item = &'a &'a str>) -> Vec<String> {
    tenants
        .into_iter()
        .map(|t| format!("leitstand.tenant.{t}"))
        .collect()
}

pub const TARGETS: usize = 10;

/// The template plugin as a counter: it routes queue `qK` to target `tK` and counts the
/// calls it routed per target in its state (`routed/tK`).
pub fn counting_bundle(rig: &Rig, tenant: &str, escalate_after_seconds: u32) {
    let targets = (0..TARGETS)
        .map(|k| format!("q{k} = \"t{k}\""))
        .collect::<Vec<_>>()
        .join(", ");
    let config = format!(
        "default_target = \"nowhere\"\nescalate_after_seconds = {escalate_after_seconds}\n\
         targets = {{ {targets} }}\n"
    );
    super::write_bundle(&rig.bundles, tenant, "", &[router(&config)]);
}

pub fn counting_event(
    tenant: &str,
    n: usize,
    event_type: &str,
    data: serde_json::Value,
) -> Vec<u8> {
    serde_json::to_vec(&serde_json::json!({
        "specversion": "1.0",
        "id": format!("{tenant}-{event_type}-{n}"),
        "source": "acd/count",
        "type": event_type,
        "tenant": tenant,
        "time": chrono::Utc::now().to_rfc3339(),
        "data": data,
    }))
    .expect("json")
}

/// A message to publish: routing key, body, properties.
pub type Outgoing = (String, Vec<u8>, BasicProperties);

/// `n` `call.offered` events of `tenant` over the queues `q0`…`q9`, and the ids of the
/// commands the counting router makes of them.
pub fn counting_run(tenant: &str, n: usize) -> (Vec<Outgoing>, BTreeSet<String>) {
    let messages = (0..n)
        .map(|i| {
            let data = serde_json::json!({"call_id": format!("c{i}"), "queue": format!("q{}", i % TARGETS)});
            (
                format!("{tenant}.call.offered"),
                counting_event(tenant, i, "call.offered", data),
                structured(),
            )
        })
        .collect();
    let expected = (0..n)
        .map(|i| {
            leitstand_engine::dispatch::command_id(
                "acd/count",
                &format!("{tenant}-call.offered-{i}"),
                "router",
                0,
            )
        })
        .collect();
    (messages, expected)
}

/// Asserts that the counting router of `tenant` counted each of its targets exactly
/// `n / TARGETS` times.
pub async fn assert_exact_counts(
    store: &leitstand_store::Store,
    tenant: &leitstand_contract::envelope::TenantId,
    n: usize,
) {
    for k in 0..TARGETS {
        let v = store
            .get(tenant, "router", &format!("routed/t{k}"))
            .await
            .expect("get")
            .map(|v| String::from_utf8(v).expect("utf-8"));
        assert_eq!(
            v.as_deref(),
            Some((n / TARGETS).to_string().as_str()),
            "the count of t{k} is exact"
        );
    }
}

/// The tenants of the multi-tenant runs.
pub const TENANTS: [&str; 3] = ["alpha", "bravo", "charlie"];

/// Properties of a structured-mode CloudEvent.
pub fn structured() -> BasicProperties {
    BasicProperties::default().with_content_type("application/cloudevents+json".into())
}

/// `n` `call.offered` events spread over [`TENANTS`], in publishing order.
pub fn three_tenant_events(n: usize) -> Vec<(String, Vec<u8>, BasicProperties)> {
    (0..n)
        .map(|i| {
            let t = TENANTS[i % TENANTS.len()];
            (format!("{t}.call.offered"), offered(t, i), structured())
        })
        .collect()
}

/// The ids of the commands [`three_tenant_events`]`(n)` cause.
pub fn expected_ids(n: usize) -> BTreeSet<String> {
    (0..n)
        .map(|i| route_id(TENANTS[i % TENANTS.len()], i))
        .collect()
}

/// The template plugin as `router`, configured with `config`.
pub fn router(config: &str) -> PluginEntry<'_> {
    PluginEntry {
        name: "router",
        guest: "leitstand_template",
        subscribe: &["call.offered", "call.answered", "call.abandoned"],
        grant: &["call.route", "call.escalate"],
        limits: "",
        config,
    }
}

pub fn router_bundles(dir: &Path, tenants: &[&str]) {
    for t in tenants {
        super::write_bundle(
            dir,
            t,
            "[sla]\nthreshold_seconds = 20\n",
            &[router(
                "default_target = \"kaiserslautern\"\nescalate_after_seconds = 86400\n",
            )],
        );
    }
}

/// A structured `call.offered` event of `tenant` with sequence number `n`.
pub fn offered(tenant: &str, n: usize) -> Vec<u8> {
    serde_json::to_vec(&serde_json::json!({
        "specversion": "1.0",
        "id": format!("{tenant}-e{n}"),
        "source": "acd/test",
        "type": "call.offered",
        "tenant": tenant,
        "time": chrono::Utc::now().to_rfc3339(),
        "data": {"call_id": format!("c{n}"), "queue": "q", "site": "kaiserslautern"}
    }))
    .expect("json")
}

/// The id of the `call.route` command the router emits for [`offered`]`(tenant, n)`.
pub fn route_id(tenant: &str, n: usize) -> String {
    leitstand_engine::dispatch::command_id("acd/test", &format!("{tenant}-e{n}"), "router", 0)
}

/// A confirm-mode publishing channel.
pub async fn publisher(conn: &Connection) -> Channel {
    let ch = conn.create_channel().await.expect("channel");
    ch.confirm_select(ConfirmSelectOptions::default())
        .await
        .expect("confirms");
    ch
}

/// Publishes to `leitstand.events` and waits for the confirm.
pub async fn publish(ch: &Channel, routing_key: &str, body: &[u8], props: BasicProperties) {
    ch.basic_publish(
        "leitstand.events".into(),
        routing_key.into(),
        BasicPublishOptions::default(),
        body,
        props.with_delivery_mode(2),
    )
    .await
    .expect("publish")
    .await
    .expect("confirm");
}

/// Publishes many messages with confirms in flight together.
pub async fn publish_all(ch: &Channel, messages: &[(String, Vec<u8>, BasicProperties)]) {
    for chunk in messages.chunks(500) {
        let mut confirms = Vec::with_capacity(chunk.len());
        for (key, body, props) in chunk {
            confirms.push(
                ch.basic_publish(
                    "leitstand.events".into(),
                    key.as_str().into(),
                    BasicPublishOptions::default(),
                    body,
                    props.clone().with_delivery_mode(2),
                )
                .await
                .expect("publish"),
            );
        }
        for c in confirms {
            assert!(
                c.await.expect("confirm").is_ack(),
                "the broker refused an event"
            );
        }
    }
}

/// Declares a durable quorum queue bound to `exchange` with `#`, for collecting output.
pub async fn tap(conn: &Connection, queue: &str, exchange: &str) {
    let ch = conn.create_channel().await.expect("channel");
    let mut args = FieldTable::default();
    args.insert(
        "x-queue-type".into(),
        AMQPValue::LongString(LongString::from("quorum")),
    );
    ch.queue_declare(
        queue.into(),
        QueueDeclareOptions {
            durable: true,
            ..QueueDeclareOptions::default()
        },
        args,
    )
    .await
    .expect("declare tap");
    ch.queue_bind(
        queue.into(),
        exchange.into(),
        "#".into(),
        QueueBindOptions::default(),
        FieldTable::default(),
    )
    .await
    .expect("bind tap");
}

/// The number of ready messages in `queue`.
pub async fn depth(conn: &Connection, queue: &str) -> u32 {
    let ch = conn.create_channel().await.expect("channel");
    let q = ch
        .queue_declare(
            queue.into(),
            QueueDeclareOptions {
                passive: true,
                ..QueueDeclareOptions::default()
            },
            FieldTable::default(),
        )
        .await
        .unwrap_or_else(|e| panic!("queue {queue}: {e}"));
    let _ = ch.close(200, "".into()).await;
    q.message_count()
}

/// One collected message.
#[derive(Debug, Clone)]
pub struct Message {
    pub routing_key: String,
    pub body: Vec<u8>,
    pub properties: BasicProperties,
}

impl Message {
    pub fn header(&self, name: &str) -> Option<String> {
        match self.properties.headers().as_ref()?.inner().get(name)? {
            AMQPValue::LongString(s) => Some(String::from_utf8_lossy(s.as_bytes()).into_owned()),
            AMQPValue::ShortString(s) => Some(s.as_str().to_owned()),
            _ => None,
        }
    }

    pub fn message_id(&self) -> Option<String> {
        self.properties
            .message_id()
            .as_ref()
            .map(|m| m.as_str().to_owned())
    }
}

/// Reads messages from `queue` (acknowledging them) until `enough` says so or nothing
/// arrives for `idle`. Panics if `overall` passes first.
pub async fn collect(
    conn: &Connection,
    queue: &str,
    mut enough: impl FnMut(&[Message]) -> bool,
    idle: Duration,
    overall: Duration,
) -> Vec<Message> {
    let ch = conn.create_channel().await.expect("channel");
    ch.basic_qos(1000, BasicQosOptions::default())
        .await
        .expect("qos");
    let mut consumer = ch
        .basic_consume(
            queue.into(),
            "".into(),
            BasicConsumeOptions::default(),
            FieldTable::default(),
        )
        .await
        .expect("consume");
    let deadline = Instant::now() + overall;
    let mut out = Vec::new();
    while !enough(&out) {
        assert!(
            Instant::now() < deadline,
            "collecting from {queue}: only {} messages after {overall:?}",
            out.len()
        );
        match tokio::time::timeout(idle, consumer.next()).await {
            Ok(Some(Ok(d))) => {
                d.acker.ack(BasicAckOptions::default()).await.expect("ack");
                out.push(Message {
                    routing_key: d.routing_key.as_str().to_owned(),
                    body: d.data,
                    properties: d.properties,
                });
            }
            Ok(Some(Err(e))) => panic!("consuming {queue}: {e}"),
            Ok(None) | Err(_) => break,
        }
    }
    let _ = ch.close(200, "".into()).await;
    out
}

/// Commands by tenant, in arrival order, as (command id, causation id).
pub fn by_tenant(commands: &[Message]) -> BTreeMap<String, Vec<(String, String)>> {
    let mut map: BTreeMap<String, Vec<(String, String)>> = BTreeMap::new();
    for c in commands {
        let v: serde_json::Value = serde_json::from_slice(&c.body).expect("command JSON");
        let tenant = v["tenant"].as_str().expect("tenant").to_owned();
        map.entry(tenant).or_default().push((
            v["id"].as_str().expect("id").to_owned(),
            v["causationid"].as_str().expect("causationid").to_owned(),
        ));
    }
    map
}

/// Reads the commands tap until every id in `expected` has arrived (duplicates are allowed
/// and keep their id); asserts that nothing is lost and no other id appears.
pub async fn expect_all_commands(conn: &Connection, expected: &BTreeSet<String>, daemon: &Daemon) {
    let mut seen = BTreeSet::new();
    let commands = collect(
        conn,
        "test.commands",
        |got| {
            if let Some(id) = got.last().and_then(Message::message_id) {
                seen.insert(id);
            }
            seen.len() >= expected.len()
        },
        Duration::from_secs(60),
        Duration::from_secs(400),
    )
    .await;
    let ids: BTreeSet<String> = commands.iter().filter_map(Message::message_id).collect();
    assert!(
        ids.is_superset(expected),
        "{} of {} commands lost:\n{}",
        expected.difference(&ids).count(),
        expected.len(),
        daemon.report()
    );
    assert!(
        ids.is_subset(expected),
        "only expected ids (duplicates keep their id)"
    );
}
