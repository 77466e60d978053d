//! `leitstand run` delivers a plugin's `http.post` to the endpoint its bundle declares: the
//! ministry connector reports a booking while the ministry's system is first unreachable,
//! then answers 503, then takes it — delivered once, under one idempotency key, and the
//! answer reaches the plugin as an `http.response`.
#![allow(missing_docs)]

mod support;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::http::{HeaderMap, StatusCode};
use serde_json::{Value, json};
use support::PluginEntry;
use support::broker::{Rig, collect, free_port, publish, skip, structured};

/// What the ministry's system saw: (Idempotency-Key, body, status it answered).
type Seen = Arc<Mutex<Vec<(String, Value, u16)>>>;

/// A ministry endpoint whose first request is answered 503, every later one 201.
async fn serve_ministry(port: u16, seen: Seen) {
    let app = axum::Router::new().route(
        "/bookings",
        axum::routing::post(move |headers: HeaderMap, body: axum::body::Bytes| {
            let seen = seen.clone();
            async move {
                let key = headers
                    .get("idempotency-key")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_default()
                    .to_owned();
                let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
                let mut seen = seen.lock().expect("lock");
                let status = if seen.is_empty() { 503 } else { 201 };
                seen.push((key, body, status));
                let answer = json!({"receipt": format!("RLP-{}", seen.len())}).to_string();
                (StatusCode::from_u16(status).expect("status"), answer)
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .expect("bind the ministry endpoint");
    axum::serve(listener, app).await.expect("serve");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_booking_report_reaches_a_ministry_that_was_down_once_under_one_key() {
    if skip() {
        return;
    }
    let rig = Rig::new("http", &[]);
    let port = free_port();
    let endpoint = format!(
        "endpoints = {{ ministry = {{ url = \"http://127.0.0.1:{port}/bookings\", \
         first_backoff_ms = 300, max_backoff_ms = 1000, timeout_ms = 2000 }} }}"
    );
    support::write_bundle(
        &rig.bundles,
        "rlp-impf",
        "",
        &[PluginEntry {
            name: "ministry",
            guest: "leitstand_ministry",
            subscribe: &["booking.requested", "booking.cancelled"],
            grant: &[
                "booking.confirm",
                "booking.reject",
                "booking.reported",
                "http.post",
                "notify",
            ],
            limits: &endpoint,
            config: "endpoint = \"ministry\"\n\
                     [plugins.config.centers.impfzentrum-kl]\ncapacity_per_slot = 4",
        }],
    );
    let daemon = rig.daemon(&[]);
    let (conn, ch) = rig.client().await;
    let event = json!({
        "specversion": "1.0", "id": "e1", "source": "booking/impfzentrum-kl",
        "type": "booking.requested", "tenant": "rlp-impf", "time": "2026-11-19T11:00:00+01:00",
        "subject": "b1",
        "data": {"booking_id": "b1", "center": "impfzentrum-kl",
                 "slot": "2026-11-20T09:00:00+01:00", "citizen_ref": "p-0a1b2c", "channel": "phone"},
    });
    publish(
        &ch,
        "rlp-impf.booking.requested",
        event.to_string().as_bytes(),
        structured(),
    )
    .await;

    // The ministry's system is unreachable for two seconds, then comes up.
    let seen: Seen = Arc::default();
    tokio::time::sleep(Duration::from_secs(2)).await;
    tokio::spawn(serve_ministry(port, seen.clone()));

    let commands = collect(
        &conn,
        "test.commands",
        |got| {
            got.iter()
                .any(|m| m.routing_key == "rlp-impf.booking.reported")
        },
        Duration::from_secs(30),
        Duration::from_secs(60),
    )
    .await;
    // Anything announced twice would arrive within a few more backoffs.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let late = collect(
        &conn,
        "test.commands",
        |_| false,
        Duration::from_secs(1),
        Duration::from_secs(10),
    )
    .await;
    let all: Vec<Value> = commands
        .iter()
        .chain(&late)
        .map(|m| serde_json::from_slice(&m.body).expect("command is JSON"))
        .collect();
    let of_type = |t: &str| all.iter().filter(|c| c["type"] == t).collect::<Vec<_>>();
    let report = || format!("{all:#?}\n{}", daemon.report());

    assert_eq!(of_type("booking.confirm").len(), 1, "{}", report());
    let posts = of_type("http.post");
    assert_eq!(posts.len(), 1, "{}", report());
    let key = posts[0]["id"].as_str().expect("command id").to_owned();
    let reported = of_type("booking.reported");
    assert_eq!(
        reported.len(),
        1,
        "the answer reaches the plugin once:\n{}",
        report()
    );
    assert_eq!(reported[0]["causationid"], format!("http/{key}"));
    assert_eq!(reported[0]["data"]["status"], 201);
    assert_eq!(reported[0]["data"]["receipt"], json!({"receipt": "RLP-2"}));
    let attempts = reported[0]["data"]["attempts"].as_u64().expect("attempts");

    let seen = seen.lock().expect("lock").clone();
    assert_eq!(seen.len(), 2, "one 503, then one 201: {seen:?}");
    assert!(
        seen.iter().all(|(k, _, _)| *k == key),
        "one idempotency key: {seen:?}"
    );
    assert_eq!(
        seen.iter().filter(|(_, _, s)| *s == 201).count(),
        1,
        "delivered once"
    );
    assert_eq!(seen[1].1["booking_id"], "b1");
    assert_eq!(seen[1].1["action"], "confirm");
    assert!(
        attempts >= 3,
        "at least one unreachable attempt, the 503 and the 201: {attempts}"
    );

    let metrics = daemon.metrics();
    for needle in [
        "leitstand_http_attempts_total{outcome=\"unreachable\",plugin=\"ministry\",tenant=\"rlp-impf\"}",
        "leitstand_http_attempts_total{outcome=\"retry\",plugin=\"ministry\",tenant=\"rlp-impf\"} 1",
        "leitstand_http_attempts_total{outcome=\"delivered\",plugin=\"ministry\",tenant=\"rlp-impf\"} 1",
        "leitstand_http_deliveries_total{outcome=\"delivered\",plugin=\"ministry\",tenant=\"rlp-impf\"} 1",
    ] {
        assert!(metrics.contains(needle), "{needle} in\n{metrics}");
    }
}
