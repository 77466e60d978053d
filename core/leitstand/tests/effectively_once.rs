//! Effectively-once processing against the real broker, with state on SQLite: a counting
//! plugin's counts stay exact across `kill -9`, and a timer fires exactly once across a
//! restart while a cancelled one never fires.
#![allow(missing_docs)]

mod support;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use leitstand_contract::envelope::TenantId;
use leitstand_store::{Store, StoreConfig};
use support::broker::{
    Rig, assert_exact_counts, collect, counting_bundle, counting_event as event, counting_run,
    depth, expect_all_commands, publish, publish_all, skip, structured, wait_for_depth,
};

fn store_config(rig: &Rig) -> StoreConfig {
    StoreConfig {
        url: format!("sqlite://{}", rig.tmp.path().join("state.db").display()),
        ..StoreConfig::default()
    }
}

/// A small deterministic generator, seeded from the clock and printed, so that a failing
/// run can be repeated with `LEITSTAND_TEST_SEED`.
fn seed() -> u64 {
    let seed = std::env::var("LEITSTAND_TEST_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos() as u64)
                .unwrap_or(7)
        });
    eprintln!("LEITSTAND_TEST_SEED={seed}");
    seed
}

fn next(state: &mut u64) -> u64 {
    *state = state
        .wrapping_mul(6_364_136_223_846_793_005)
        .wrapping_add(1_442_695_040_888_963_407);
    *state >> 33
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn counts_stay_exact_when_the_daemon_is_killed_five_times() {
    if skip() {
        return;
    }
    let tenant = "alpha";
    let rig = Rig::new("count", &[]);
    counting_bundle(&rig, tenant, 86_400);
    let n = 5_000;
    let (messages, expected) = counting_run(tenant, n);
    // Small batches, so that a kill lands between many commits.
    let env = [("LEITSTAND_STORE__BATCH_MAX", "16")];
    let mut daemon = rig.daemon(&env);
    let (conn, ch) = rig.client().await;
    publish_all(&ch, &messages).await;

    let mut rng = seed();
    let mut threshold = 0u32;
    for kill in 1..=5 {
        // Somewhere in the next stretch of the run.
        threshold += 300 + (next(&mut rng) % 500) as u32;
        wait_for_depth(&conn, "test.commands", threshold, &daemon).await;
        let left = depth(&conn, &format!("leitstand.tenant.{tenant}")).await;
        daemon.kill9();
        eprintln!("kill {kill} at {threshold} commands, {left} events still queued");
        assert!(
            left > 0,
            "kill {kill} came after the last event; the test proves nothing"
        );
        daemon = rig.daemon(&env);
    }
    expect_all_commands(&conn, &expected, &daemon).await;
    let status = daemon.terminate(Duration::from_secs(40));
    assert!(status.success(), "exit {status}:\n{}", daemon.log_text());

    let store = Store::open(&store_config(&rig)).await.expect("store");
    let t = TenantId::parse(tenant).expect("tenant");
    assert_exact_counts(&store, &t, n).await;
    assert_eq!(
        depth(&conn, "leitstand.dead").await,
        0,
        "nothing dead-lettered"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_timer_fires_exactly_once_across_a_restart_and_a_cancelled_one_never() {
    if skip() {
        return;
    }
    let tenant = "alpha";
    let rig = Rig::new("timer", &[]);
    counting_bundle(&rig, tenant, 2);
    let mut daemon = rig.daemon(&[]);
    let (conn, ch) = rig.client().await;
    let key = format!("{tenant}.call.offered");
    let offered = |call: &str, n| {
        event(
            tenant,
            n,
            "call.offered",
            serde_json::json!({"call_id": call, "queue": "q1"}),
        )
    };
    let set_at = Instant::now();
    publish(&ch, &key, &offered("kept", 1), structured()).await;
    publish(&ch, &key, &offered("cancelled", 2), structured()).await;
    let answered = event(
        tenant,
        3,
        "call.answered",
        serde_json::json!({"call_id": "cancelled", "queue": "q1", "wait_seconds": 1}),
    );
    publish(
        &ch,
        &format!("{tenant}.call.answered"),
        &answered,
        structured(),
    )
    .await;
    // Both calls routed: the timers are committed.
    let routed = collect(
        &conn,
        "test.commands",
        |got| got.len() >= 2,
        Duration::from_secs(30),
        Duration::from_secs(60),
    )
    .await;
    assert_eq!(routed.len(), 2, "{}", daemon.log_text());
    daemon.kill9();
    assert!(
        set_at.elapsed() < Duration::from_secs(2),
        "the restart must come before the timer is due"
    );
    let daemon = rig.daemon(&[]);

    // Wait well past the due time, then look at everything that came out.
    tokio::time::sleep(Duration::from_secs(5)).await;
    let after = collect(
        &conn,
        "test.commands",
        |_| false,
        Duration::from_secs(2),
        Duration::from_secs(10),
    )
    .await;
    let escalations: Vec<_> = after
        .iter()
        .filter(|m| m.routing_key.ends_with(".call.escalate"))
        .collect();
    let mut by_call: BTreeMap<String, usize> = BTreeMap::new();
    for m in &escalations {
        let v: serde_json::Value = serde_json::from_slice(&m.body).expect("json");
        *by_call
            .entry(v["data"]["call_id"].as_str().unwrap_or_default().to_owned())
            .or_default() += 1;
    }
    assert_eq!(
        by_call,
        BTreeMap::from([("kept".to_owned(), 1)]),
        "one escalation for the kept call, none for the cancelled one:\n{}",
        daemon.log_text()
    );
}
