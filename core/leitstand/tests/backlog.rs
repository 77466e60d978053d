//! Timers in event time on the daemon (CONTRACT §7): a backlog of emergency calls, all
//! answered within the escalation's first step and all queued before the daemon starts,
//! escalates nothing — the answers cancel the timers before the wall clock could fire them —
//! while an unanswered call after them, with no later event, escalates on time by the
//! watermark.

mod support;

use std::time::{Duration, Instant};

use chrono::{SecondsFormat, Utc};
use lapin::BasicProperties;
use serde_json::{Value, json};

use support::PluginEntry;
use support::broker::{self, Daemon, Vhost};

const TENANT: &str = "notruf";
const FIRST_STEP_SECONDS: i64 = 30;
const WATERMARK_MS: u64 = 1_000;

fn event(
    id: &str,
    kind: &str,
    at: chrono::DateTime<Utc>,
    data: Value,
) -> (String, Vec<u8>, BasicProperties) {
    let body = json!({
        "specversion": "1.0", "id": id, "source": "acd/lu", "type": kind, "tenant": TENANT,
        "time": at.to_rfc3339_opts(SecondsFormat::Millis, true), "subject": data["call_id"],
        "data": data,
    });
    (
        format!("{TENANT}.{kind}"),
        serde_json::to_vec(&body).expect("json"),
        broker::structured(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backlog_of_answered_emergencies_escalates_nothing_and_a_quiet_line_escalates_on_time() {
    if broker::skip() {
        return;
    }
    let vhost = Vhost::new("backlog");
    let tmp = tempfile::tempdir().expect("tmp");
    let bundles = tmp.path().join("bundles");
    let config = format!(
        "initial_target = \"notruf-ludwigshafen\"\nsteps = [\n  {{ after_seconds = {FIRST_STEP_SECONDS}, target = \"tier2\" }},\n  {{ after_seconds = 60, notify = \"schichtleitung\" }},\n]\n"
    );
    support::write_bundle(
        &bundles,
        TENANT,
        "[queues.notruf]\nname = \"Notruf\"\n",
        &[PluginEntry {
            name: "escalation",
            guest: "leitstand_escalation",
            subscribe: &[
                "call.offered",
                "call.answered",
                "call.abandoned",
                "call.ended",
            ],
            grant: &["call.route", "call.escalate", "notify"],
            limits: "",
            config: &config,
        }],
    );
    broker::topology(&vhost, &bundles);
    let (conn, ch) = broker::tapped(&vhost).await;

    // Two hours of emergency calls, one a minute, each answered after 20 s: every answer
    // lies before its first step, but long before the daemon starts.
    let start = Utc::now() - chrono::Duration::hours(2);
    let mut messages = Vec::new();
    for n in 0..120 {
        let at = start + chrono::Duration::minutes(n);
        let call = format!("c{n}");
        messages.push(event(
            &format!("o{n}"),
            "call.offered",
            at,
            json!({"call_id": call, "queue": "notruf", "priority": "emergency"}),
        ));
        messages.push(event(
            &format!("a{n}"),
            "call.answered",
            at + chrono::Duration::seconds(20),
            json!({"call_id": call, "queue": "notruf", "wait_seconds": 20}),
        ));
    }
    // The last call: offered a moment from now and never answered.
    let quiet = Utc::now() + chrono::Duration::seconds(5);
    messages.push(event(
        "o-last",
        "call.offered",
        quiet,
        json!({"call_id": "last", "queue": "notruf", "priority": "emergency"}),
    ));
    broker::publish_all(&ch, &messages).await;
    let daemon = Daemon::start(
        &vhost,
        &bundles,
        tmp.path(),
        &[("LEITSTAND_DAEMON__WATERMARK_MS", &WATERMARK_MS.to_string())],
    );

    // Every call is routed at once; then the last one's first step comes due.
    let due = quiet + chrono::Duration::seconds(FIRST_STEP_SECONDS);
    let mut escalated_at = None;
    let commands = broker::collect(
        &conn,
        "test.commands",
        |got| {
            let escalations = got
                .iter()
                .filter_map(|m| serde_json::from_slice::<Value>(&m.body).ok())
                .filter(|v| v["type"] == "call.escalate")
                .count();
            if escalations > 0 && escalated_at.is_none() {
                escalated_at = Some((Utc::now(), Instant::now()));
            }
            escalations > 0
        },
        Duration::from_secs(60),
        Duration::from_secs(120),
    )
    .await;
    let parsed: Vec<Value> = commands
        .iter()
        .map(|m| serde_json::from_slice(&m.body).expect("command"))
        .collect();
    let routes = parsed.iter().filter(|v| v["type"] == "call.route").count();
    assert_eq!(routes, 121, "every call is routed:\n{}", daemon.log_text());
    let escalations: Vec<&Value> = parsed
        .iter()
        .filter(|v| v["type"] == "call.escalate")
        .collect();
    assert_eq!(
        escalations.len(),
        1,
        "only the unanswered call escalates: {escalations:?}\n{}",
        daemon.log_text()
    );
    assert_eq!(escalations[0]["data"]["call_id"], "last");
    // On time: not before its due time, and within the watermark and a little slack.
    let (wall, _) = escalated_at.expect("escalated");
    assert!(
        wall >= due,
        "escalated at {wall}, before its step was due at {due}"
    );
    let late = (wall - due).num_milliseconds();
    assert!(
        late < WATERMARK_MS as i64 + 3_000,
        "escalated {late} ms after it was due (watermark {WATERMARK_MS} ms)"
    );
    // The command carries the timer's event time, as a replay would write it.
    let time = escalations[0]["time"].as_str().expect("time");
    assert_eq!(
        chrono::DateTime::parse_from_rfc3339(time)
            .expect("rfc 3339")
            .with_timezone(&Utc)
            .timestamp_millis(),
        due.timestamp_millis()
    );
    // Nothing else comes: no late escalation of an answered call.
    let more = broker::collect(
        &conn,
        "test.commands",
        |_| false,
        Duration::from_secs(3),
        Duration::from_secs(30),
    )
    .await;
    let stray: Vec<Value> = more
        .iter()
        .map(|m| serde_json::from_slice::<Value>(&m.body).expect("command"))
        .filter(|v| v["type"] == "call.escalate" && v["data"]["call_id"] != "last")
        .collect();
    assert!(stray.is_empty(), "answered calls escalated: {stray:?}");
}
