//! `leitstand bridge asterisk` against the real RabbitMQ: lines appended to a `queue_log`
//! while the bridge runs all arrive, across a `kill -9` of the bridge and rotations of
//! the log (renamed while it is down, cut by copytruncate and renamed while it runs); a
//! first start learns the calls already waiting without publishing the old lines; a
//! `call.route` becomes exactly one manager action, and a refused one is tried again and
//! then dead-lettered with its reason.
//!
//! No Asterisk package is available on the machines these tests run on, so the manager
//! interface is a stand-in in this file: a TCP server speaking AMI's documented line
//! protocol (banner, `Login`, `Redirect`, responses by `ActionID`, an event in between).

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::fs::OpenOptions;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use lapin::options::{BasicAckOptions, BasicConsumeOptions, BasicPublishOptions};
use lapin::types::FieldTable;
use lapin::{BasicProperties, Connection};
use leitstand_adapters::{Import, QueueMap};
use support::broker::{Message, Vhost, collect, publisher, skip, tap};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

fn example(name: &str) -> PathBuf {
    support::root().join("examples/acd").join(name)
}

/// The bridge as a child process, its output in a log file; killed when dropped.
struct Bridge {
    child: Child,
    log: PathBuf,
}

impl Bridge {
    fn start(vhost: &Vhost, dir: &Path, n: usize, extra: &[&str]) -> Self {
        Self::start_with(vhost, dir, n, true, extra)
    }

    /// Starts the bridge, publishing the log's existing lines with `from_beginning`.
    fn start_with(
        vhost: &Vhost,
        dir: &Path,
        n: usize,
        from_beginning: bool,
        extra: &[&str],
    ) -> Self {
        let log = dir.join(format!("bridge-{n}.log"));
        let file = std::fs::File::create(&log).expect("log file");
        let map = example("queue-map.toml");
        let child = Command::new(env!("CARGO_BIN_EXE_leitstand"))
            .args(["bridge", "asterisk", "--queue-log"])
            .arg(dir.join("acd/queue_log"))
            .arg("--state")
            .arg(dir.join("bridge.state"))
            .arg("--queue-map")
            .arg(map)
            .args(["--site", "soest", "--poll-ms", "20"])
            .args(from_beginning.then_some("--from-beginning"))
            .args(extra)
            .env("LEITSTAND_AMQP__URL", vhost.url())
            .env("LEITSTAND_AMQP__RECONNECT_MIN_MS", "100")
            .env("LEITSTAND_AMQP__RECONNECT_MAX_MS", "1000")
            .env("LEITSTAND_LOG__FILTER", "info")
            .stdin(Stdio::null())
            .stdout(file.try_clone().expect("log file"))
            .stderr(file)
            .spawn()
            .expect("start leitstand bridge asterisk");
        Self { child, log }
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// SIGTERM, and the exit status.
    fn stop(mut self) -> std::process::ExitStatus {
        let ok = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("kill")
            .success();
        assert!(ok, "kill -TERM failed");
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "the bridge did not stop:\n{}",
                self.log_text()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Bridge {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn append(path: &Path, lines: &[&str]) {
    let mut f = OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .expect("open the log");
    for line in lines {
        writeln!(f, "{line}").expect("append");
    }
}

/// Appends `lines` a few at a time, as Asterisk writes them while calls come and go.
async fn trickle(path: &Path, lines: &[&str]) {
    for chunk in lines.chunks(25) {
        append(path, chunk);
        tokio::time::sleep(Duration::from_millis(4)).await;
    }
}

/// The CONTRACT §4 topology in `vhost`, as the daemon declares it.
async fn topology(vhost: &Vhost) {
    let config = leitstand_amqp::AmqpConfig {
        url: vhost.url(),
        ..leitstand_amqp::AmqpConfig::default()
    };
    leitstand_amqp::declare_topology(&config, std::iter::empty())
        .await
        .expect("topology");
}

/// The events a one-shot import of `lines` writes, by id, as the bridge must publish them.
fn imported(lines: &[&str]) -> BTreeMap<String, Vec<u8>> {
    let map = std::fs::read_to_string(example("queue-map.toml")).expect("map");
    let import = Import::new("soest")
        .and_then(|i| i.with_site("soest"))
        .expect("valid")
        .with_queue_map(QueueMap::from_toml(&map).expect("map"));
    let text = lines.join("\n") + "\n";
    let log = import.read_queue_log(text.as_bytes()).expect("read");
    assert!(log.report().refusals.is_empty(), "{}", log.report());
    log.events()
        .iter()
        .map(|e| (e.id.clone(), e.to_json().into_bytes()))
        .collect()
}

/// Everything the tap queue receives, collected in the background.
fn collector(conn: Connection, queue: &'static str) -> Arc<Mutex<Vec<Message>>> {
    let got: Arc<Mutex<Vec<Message>>> = Arc::default();
    let into = got.clone();
    tokio::spawn(async move {
        let ch = conn.create_channel().await.expect("channel");
        let mut consumer = ch
            .basic_consume(
                queue.into(),
                "".into(),
                BasicConsumeOptions::default(),
                FieldTable::default(),
            )
            .await
            .expect("consume");
        while let Some(Ok(d)) = consumer.next().await {
            d.acker.ack(BasicAckOptions::default()).await.expect("ack");
            into.lock().expect("collected").push(Message {
                routing_key: d.routing_key.as_str().to_owned(),
                body: d.data,
                properties: d.properties,
            });
        }
    });
    got
}

/// Waits until every id of `ids` was collected.
async fn caught_up(got: &Mutex<Vec<Message>>, ids: &BTreeSet<String>, bridge: &Bridge) {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let have: BTreeSet<String> = got
            .lock()
            .expect("collected")
            .iter()
            .filter_map(Message::message_id)
            .collect();
        let missing = ids.difference(&have).count();
        if missing == 0 {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{missing} of {} events did not arrive:\n{}",
            ids.len(),
            bridge.log_text()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lines_appended_while_it_runs_all_arrive_across_kill_and_rotation() {
    if skip() {
        return;
    }
    let vhost = Vhost::new("bridge-follow");
    let tmp = tempfile::tempdir().expect("tmp");
    std::fs::create_dir(tmp.path().join("acd")).expect("dir");
    let log = tmp.path().join("acd/queue_log");
    let rotated = |n: u32| tmp.path().join(format!("acd/queue_log.{n}"));
    topology(&vhost).await;
    let conn = vhost.connect().await;
    tap(&conn, "test.events", "leitstand.events").await;
    let got = collector(vhost.connect().await, "test.events");

    let day = std::fs::read_to_string(example("queue_log")).expect("the example day");
    let lines: Vec<&str> = day.lines().collect();
    let expected = imported(&lines);
    let ids = |to: usize| -> BTreeSet<String> { imported(&lines[..to]).into_keys().collect() };
    // Events of the lines written before the kill: the only ones that may come twice
    // (the batch in flight when it fell, confirmed but not yet recorded).
    let before_kill = ids(1600);

    append(&log, &lines[..600]);
    let mut first = Bridge::start(&vhost, tmp.path(), 1, &[]);
    trickle(&log, &lines[600..1600]).await;
    // kill -9 while it works through what was just written.
    first.child.kill().expect("kill -9");
    first.child.wait().expect("wait");
    let first_log = first.log_text();
    drop(first);

    // Written while it is down, then rotated by renaming and a new log begun.
    append(&log, &lines[1600..1900]);
    std::fs::rename(&log, rotated(1)).expect("rename");
    append(&log, &lines[1900..2100]);
    let bridge = Bridge::start(&vhost, tmp.path(), 2, &[]);
    trickle(&log, &lines[2100..2800]).await;
    caught_up(&got, &ids(2800), &bridge).await;

    // copytruncate while it runs, then renamed while it may still read the copy.
    append(&log, &lines[2800..2900]);
    std::fs::copy(&log, rotated(2)).expect("copy");
    OpenOptions::new()
        .write(true)
        .truncate(true)
        .open(&log)
        .expect("truncate");
    trickle(&log, &lines[2900..3500]).await;

    // Renamed while it runs; Asterisk writes to the old file until it reopens the log.
    std::fs::rename(&log, rotated(3)).expect("rename");
    std::fs::File::create(&log).expect("new log");
    append(&rotated(3), &lines[3500..3520]);
    tokio::time::sleep(Duration::from_millis(100)).await;
    trickle(&log, &lines[3520..]).await;

    caught_up(&got, &expected.keys().cloned().collect(), &bridge).await;
    let status = bridge.stop();
    let second_log = std::fs::read_to_string(tmp.path().join("bridge-2.log")).unwrap_or_default();
    assert!(status.success(), "the bridge stops cleanly:\n{second_log}");
    // Anything still on its way would have come by now.
    tokio::time::sleep(Duration::from_millis(500)).await;

    let messages = got.lock().expect("collected").clone();
    let mut copies: BTreeMap<String, usize> = BTreeMap::new();
    for m in &messages {
        let id = m.message_id().expect("a message id");
        let body = expected
            .get(&id)
            .unwrap_or_else(|| panic!("an event the log does not give: {id}"));
        assert_eq!(
            &m.body, body,
            "{id} is the event the import of the log gives"
        );
        let event_type = serde_json::from_slice::<serde_json::Value>(body).expect("json")["type"]
            .as_str()
            .expect("type")
            .to_owned();
        assert_eq!(m.routing_key, format!("soest.{event_type}"));
        *copies.entry(id).or_default() += 1;
    }
    assert_eq!(copies.len(), expected.len(), "every event arrived");
    let repeated: Vec<&String> = copies
        .iter()
        .filter(|(_, n)| **n > 1)
        .map(|(id, _)| id)
        .collect();
    eprintln!(
        "{} events, {} messages; {} published again after the kill -9",
        expected.len(),
        messages.len(),
        repeated.len()
    );
    for id in &repeated {
        assert!(
            before_kill.contains(*id),
            "{id} came twice, but only what was in flight at the kill may:\nfirst run:\n{first_log}\nsecond run:\n{second_log}"
        );
    }
    assert!(
        second_log.contains("was rotated") && second_log.contains("copytruncate"),
        "the bridge says what it did:\n{second_log}"
    );
    assert!(
        !second_log.contains("refused"),
        "no line refused:\n{second_log}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_first_start_learns_the_waiting_calls_and_publishes_from_the_next_line() {
    if skip() {
        return;
    }
    let vhost = Vhost::new("bridge-learn");
    let tmp = tempfile::tempdir().expect("tmp");
    std::fs::create_dir(tmp.path().join("acd")).expect("dir");
    let log = tmp.path().join("acd/queue_log");
    topology(&vhost).await;
    let conn = vhost.connect().await;
    tap(&conn, "test.events", "leitstand.events").await;
    let got = collector(vhost.connect().await, "test.events");
    let t0 = 1_795_503_600;
    let waiting = format!(
        "{}|1795503626.13|stadt-115|NONE|ENTERQUEUE||03023125516|1",
        t0 + 26
    );
    append(
        &log,
        &[&format!("{t0}|NONE|NONE|NONE|QUEUESTART|"), &waiting],
    );

    // No --from-beginning: the existing lines are read, not published.
    let bridge = Bridge::start_with(&vhost, tmp.path(), 1, false, &[]);
    let state = tmp.path().join("bridge.state");
    let deadline = Instant::now() + Duration::from_secs(30);
    while !state.exists() {
        assert!(
            Instant::now() < deadline,
            "no state written:\n{}",
            bridge.log_text()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let answered = format!(
        "{}|1795503626.13|stadt-115|PJSIP/2101|CONNECT|9|1795503635.14|3",
        t0 + 35
    );
    let next = format!(
        "{}|1795503640.15|kreis-115|NONE|ENTERQUEUE||03023125517|1",
        t0 + 40
    );
    append(&log, &[&answered, &next]);
    let expected: BTreeSet<String> = [
        format!("1795503626.13/stadt-115/{}/answered", t0 + 26),
        format!("1795503640.15/kreis-115/{}/offered", t0 + 40),
    ]
    .into();
    caught_up(&got, &expected, &bridge).await;
    assert!(bridge.stop().success());
    tokio::time::sleep(Duration::from_millis(300)).await;
    let ids: BTreeSet<String> = got
        .lock()
        .expect("collected")
        .iter()
        .filter_map(Message::message_id)
        .collect();
    assert_eq!(
        ids, expected,
        "the call already waiting answered under its id, nothing older"
    );
}

/// A manager's `Redirect` as the stand-in saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Redirect {
    action_id: String,
    channel: String,
    context: String,
    exten: String,
    priority: String,
}

/// The stand-in for Asterisk's manager interface: accepts `leitstand`/`geheim`, answers
/// each `Redirect` with `Success`, or with `Error` for a channel in `refuse`, after an
/// event the client must skip. Returns its address and what it was asked.
async fn manager(refuse: &'static str) -> (String, Arc<Mutex<Vec<Redirect>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr").to_string();
    let asked: Arc<Mutex<Vec<Redirect>>> = Arc::default();
    let record = asked.clone();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let record = record.clone();
            tokio::spawn(async move {
                let (read, mut write) = stream.into_split();
                let mut read = BufReader::new(read);
                if write
                    .write_all(b"Asterisk Call Manager/7.0.3\r\n")
                    .await
                    .is_err()
                {
                    return;
                }
                loop {
                    let mut fields = BTreeMap::new();
                    loop {
                        let mut line = String::new();
                        match read.read_line(&mut line).await {
                            Ok(0) | Err(_) => return,
                            Ok(_) => {}
                        }
                        let line = line.trim_end();
                        if line.is_empty() {
                            break;
                        }
                        let (k, v) = line.split_once(':').expect("Key: Value");
                        fields.insert(k.trim().to_owned(), v.trim().to_owned());
                    }
                    let get = |k: &str| fields.get(k).cloned().unwrap_or_default();
                    let id = get("ActionID");
                    let (ok, message) = match get("Action").as_str() {
                        "Login" => {
                            let ok = get("Username") == "leitstand" && get("Secret") == "geheim";
                            (
                                ok,
                                if ok {
                                    "Authentication accepted"
                                } else {
                                    "Authentication failed"
                                },
                            )
                        }
                        "Redirect" => {
                            let channel = get("Channel");
                            record.lock().expect("record").push(Redirect {
                                action_id: id.clone(),
                                channel: channel.clone(),
                                context: get("Context"),
                                exten: get("Exten"),
                                priority: get("Priority"),
                            });
                            if channel == refuse {
                                (false, "No such channel")
                            } else {
                                (true, "Redirect successful")
                            }
                        }
                        "Logoff" => return,
                        _ => (false, "Invalid/unknown command"),
                    };
                    let reply = format!(
                        "Event: Newexten\r\nPrivilege: dialplan,all\r\nChannel: PJSIP/x\r\n\r\nResponse: {}\r\nActionID: {id}\r\nMessage: {message}\r\n\r\n",
                        if ok { "Success" } else { "Error" }
                    );
                    if write.write_all(reply.as_bytes()).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    (addr, asked)
}

/// Waits until the bridge takes commands: its queue declared and bound.
async fn taking_commands(bridge: &Bridge) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !bridge.log_text().contains("taking commands") {
        assert!(
            Instant::now() < deadline,
            "the bridge does not take commands:\n{}",
            bridge.log_text()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn route(id: &str, call_id: &str, target: &str) -> Vec<u8> {
    serde_json::to_vec(&serde_json::json!({
        "specversion": "1.0", "id": id, "source": "leitstand/soest/switchboard",
        "type": "call.route", "tenant": "soest", "causationid": format!("{call_id}/offered"),
        "subject": call_id,
        "data": {"call_id": call_id, "target": target, "reason": "department", "announcement": false}
    }))
    .expect("json")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_route_becomes_one_redirect_and_a_refused_one_is_retried_then_dead_lettered() {
    if skip() {
        return;
    }
    let vhost = Vhost::new("bridge-ami");
    let tmp = tempfile::tempdir().expect("tmp");
    std::fs::create_dir(tmp.path().join("acd")).expect("dir");
    topology(&vhost).await;
    let conn = vhost.connect().await;
    tap(&conn, "test.events", "leitstand.events").await;
    let (ami, asked) = manager("1795503700.20").await;
    let secret = tmp.path().join("ami.secret");
    std::fs::write(&secret, "geheim\n").expect("secret");

    // Two callers waiting in the city's queue, one talking to an agent in the district's.
    let t0 = 1_795_503_600;
    append(
        &tmp.path().join("acd/queue_log"),
        &[
            &format!(
                "{}|1795503626.13|stadt-115|NONE|ENTERQUEUE||03023125516|1",
                t0 + 26
            ),
            &format!(
                "{}|1795503700.20|stadt-115|NONE|ENTERQUEUE||03023125517|2",
                t0 + 100
            ),
            &format!(
                "{}|1795503800.30|kreis-115|NONE|ENTERQUEUE||03023125518|1",
                t0 + 200
            ),
            &format!(
                "{}|1795503800.30|kreis-115|PJSIP/2101|CONNECT|4|1795503804.31|4",
                t0 + 204
            ),
        ],
    );
    let bridge = Bridge::start(
        &vhost,
        tmp.path(),
        1,
        &[
            "--ami",
            &ami,
            "--ami-secret-file",
            secret.to_str().expect("path"),
            "--attempts",
            "3",
            "--retry-ms",
            "50",
        ],
    );
    let events = collect(
        &conn,
        "test.events",
        |got| got.len() >= 4,
        Duration::from_secs(30),
        Duration::from_secs(60),
    )
    .await;
    assert_eq!(events.len(), 4, "{}", bridge.log_text());
    let queue = "leitstand.bridge.soest.soest";
    taking_commands(&bridge).await;

    let (a, b, c) = (
        format!("1795503626.13/stadt-115/{}", t0 + 26),
        format!("1795503700.20/stadt-115/{}", t0 + 100),
        format!("1795503800.30/kreis-115/{}", t0 + 200),
    );
    let refused_body = route("cmd-b", &b, "pirmasens");
    let commands = [
        ("cmd-a", route("cmd-a", &a, "kaiserslautern")),
        ("cmd-b", refused_body.clone()),
        // Talking to an agent: never moved.
        ("cmd-c", route("cmd-c", &c, "stadt-buergerbuero")),
        // Not a call of this bridge's log (another site's ACD).
        (
            "cmd-d",
            route("cmd-d", "4711.1/stadt-115/1795503000", "kaiserslautern"),
        ),
        // Not a command at all.
        ("cmd-e", b"{\"type\": \"call.route\"".to_vec()),
    ];
    let ch = publisher(&conn).await;
    for (id, body) in &commands {
        let confirm = ch
            .basic_publish(
                "leitstand.commands".into(),
                "soest.call.route".into(),
                BasicPublishOptions {
                    mandatory: true,
                    ..BasicPublishOptions::default()
                },
                body,
                BasicProperties::default()
                    .with_message_id((*id).into())
                    .with_content_type("application/cloudevents+json".into())
                    .with_delivery_mode(2),
            )
            .await
            .expect("publish")
            .await
            .expect("confirm");
        assert!(
            confirm.is_ack() && confirm.take_message().is_none(),
            "{id} reached the bridge's queue"
        );
    }

    // Commands are carried out in order: once the last one is dead-lettered, all are settled.
    let dead = collect(
        &conn,
        "leitstand.dead",
        |got| got.len() >= 2,
        Duration::from_secs(30),
        Duration::from_secs(60),
    )
    .await;
    let log = bridge.log_text();
    assert_eq!(dead.len(), 2, "{log}");
    let by_id: BTreeMap<String, &Message> = dead
        .iter()
        .map(|m| (m.message_id().expect("id"), m))
        .collect();
    let refused = by_id
        .get("cmd-b")
        .unwrap_or_else(|| panic!("cmd-b dead-lettered:\n{log}"));
    assert_eq!(
        refused.header("x-leitstand-error").as_deref(),
        Some("ami-refused")
    );
    let detail = refused.header("x-leitstand-detail").expect("detail");
    assert!(
        detail.contains("No such channel")
            && detail.contains("refused 3 times")
            && detail.contains(&b),
        "{detail}"
    );
    assert_eq!(refused.body, refused_body, "the body unchanged");
    assert_eq!(refused.routing_key, "soest.call.route");
    let bad = by_id.get("cmd-e").expect("cmd-e dead-lettered");
    assert_eq!(
        bad.header("x-leitstand-error").as_deref(),
        Some("bad-command")
    );

    let asked = asked.lock().expect("asked").clone();
    let redirect = |channel: &str| {
        asked
            .iter()
            .filter(|r| r.channel == channel)
            .cloned()
            .collect::<Vec<_>>()
    };
    assert_eq!(
        redirect("1795503626.13"),
        [Redirect {
            action_id: "cmd-a".into(),
            channel: "1795503626.13".into(),
            context: "leitstand-route".into(),
            exten: "kaiserslautern".into(),
            priority: "1".into(),
        }],
        "exactly one action for the routed call"
    );
    let retried = redirect("1795503700.20");
    assert_eq!(retried.len(), 3, "tried three times: {retried:?}");
    assert!(
        retried
            .iter()
            .all(|r| r.action_id == "cmd-b" && r.exten == "pirmasens")
    );
    assert_eq!(
        asked.len(),
        4,
        "no action for the call in talk nor the unknown one: {asked:?}"
    );
    assert!(log.contains("no longer waits in its queue"), "{log}");
    assert!(
        log.contains("did not enter a queue of this bridge's log"),
        "{log}"
    );
    assert_eq!(
        support::broker::depth(&conn, queue).await,
        0,
        "every command settled"
    );

    let status = bridge.stop();
    assert!(
        status.success(),
        "{}",
        std::fs::read_to_string(tmp.path().join("bridge-1.log")).unwrap_or_default()
    );
}
