//! Cluster mode: two daemons on one RabbitMQ and one PostgreSQL share the tenants; the one
//! that owns tenants is killed with `kill -9` midway, the other takes them over within
//! 10 s, and every count stays exact.
#![allow(missing_docs)]

mod support;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use leitstand_store::Store;
use support::broker::{
    Daemon, Rig, assert_exact_counts, counting_bundle, counting_run, depth, expect_all_commands,
    publish_all, skip, wait_for_depth,
};
use support::database::{POSTGRES_URL, postgres, skip_postgres, unique_tenant};

/// `leitstand_tenants_owned` of `daemon`, when it answers.
fn owned(daemon: &Daemon) -> Option<u64> {
    daemon
        .metrics()
        .lines()
        .find_map(|l| l.strip_prefix("leitstand_tenants_owned "))
        .and_then(|v| v.trim().parse().ok())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_daemons_share_tenants_and_a_killed_owner_is_taken_over_within_ten_seconds() {
    if skip() || skip_postgres() {
        return;
    }
    let tenants: Vec<_> = (0..3).map(|i| unique_tenant(&format!("cl{i}"))).collect();
    let rig = Rig::new("cluster", &[]);
    for t in &tenants {
        counting_bundle(&rig, t.as_str(), 86_400);
    }
    let env = [
        ("LEITSTAND_STORE__URL", POSTGRES_URL),
        ("LEITSTAND_STORE__BATCH_MAX", "16"),
    ];
    let mut a = rig.daemon(&env);
    let mut b = rig.daemon(&env);
    // Both daemons go through a few cluster rounds (every 2 s), then every tenant has
    // exactly one owner. How they are spread depends on the members' ids; the spreading
    // itself is a unit test of the rendezvous assignment.
    tokio::time::sleep(Duration::from_secs(5)).await;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (oa, ob) = (owned(&a).unwrap_or(0), owned(&b).unwrap_or(0));
        if oa + ob == 3 {
            eprintln!("owned: a {oa}, b {ob}");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "tenants never settled: a {oa}, b {ob}\n{}\n{}",
            a.log_text(),
            b.log_text()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    let (conn, ch) = rig.client().await;
    let n = 1_700;
    let mut expected = BTreeSet::new();
    for t in &tenants {
        let (messages, ids) = counting_run(t.as_str(), n);
        publish_all(&ch, &messages).await;
        expected.extend(ids);
    }
    wait_for_depth(&conn, "test.commands", 800, &a).await;

    // Kill the daemon that owns the most tenants.
    let (victim, survivor) = if owned(&a).unwrap_or(0) >= owned(&b).unwrap_or(0) {
        (&mut a, &mut b)
    } else {
        (&mut b, &mut a)
    };
    let victims = owned(victim).unwrap_or(0);
    assert!(victims > 0, "the victim owns tenants");
    let mut queued = 0;
    for t in &tenants {
        queued += depth(&conn, &format!("leitstand.tenant.{t}")).await;
    }
    victim.kill9();
    let killed = Instant::now();
    assert!(queued > 0, "the run ended before the kill");
    loop {
        if owned(survivor) == Some(3) {
            break;
        }
        assert!(
            killed.elapsed() < Duration::from_secs(10),
            "no takeover within 10 s:\n{}",
            survivor.log_text()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let takeover = killed.elapsed();
    eprintln!(
        "killed the owner of {victims} tenants with {queued} events queued; takeover after {takeover:?}"
    );

    expect_all_commands(&conn, &expected, survivor).await;
    let status = survivor.terminate(Duration::from_secs(40));
    assert!(status.success(), "exit {status}:\n{}", survivor.log_text());
    let store = Store::open(&postgres()).await.expect("store");
    for t in &tenants {
        assert_exact_counts(&store, t, n).await;
    }
    assert_eq!(
        depth(&conn, "leitstand.dead").await,
        0,
        "nothing dead-lettered"
    );
}
