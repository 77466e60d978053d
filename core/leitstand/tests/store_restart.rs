//! PostgreSQL goes away in the middle of a run (`pg_ctlcluster … stop` / `start`): the
//! daemon pauses (no acks, `/readyz` says `store`), resumes when the database is back, and
//! nothing is lost or counted twice. The lease is shorter than the outage, so the daemon
//! also loses its tenant's lease and takes it again, without its messages piling up
//! deliveries towards the poison limit. A test binary of its own, so that no other database
//! test runs meanwhile.
#![allow(missing_docs)]

mod support;

use std::process::Command;
use std::time::{Duration, Instant};

use leitstand_store::Store;
use support::broker::{
    Rig, assert_exact_counts, counting_bundle, counting_run, depth, expect_all_commands, http_get,
    publish_all, skip, wait_for_depth,
};
use support::database::{POSTGRES_URL, postgres, skip_postgres, unique_tenant};

fn pg_ctl(action: &str) {
    let versions = std::fs::read_dir("/etc/postgresql").expect("/etc/postgresql");
    let version = versions
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .max()
        .expect("a PostgreSQL cluster");
    let out = Command::new("pg_ctlcluster")
        .args(["--skip-systemctl-redirect", &version, "main", action])
        .output()
        .expect("pg_ctlcluster");
    assert!(
        out.status.success(),
        "pg_ctlcluster {action}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Starts PostgreSQL again even when the test fails halfway.
struct Restart;

impl Drop for Restart {
    fn drop(&mut self) {
        if std::net::TcpStream::connect("127.0.0.1:5432").is_err() {
            pg_ctl("start");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_restarted_midway_loses_nothing_and_processing_resumes() {
    if skip() || skip_postgres() {
        return;
    }
    let tenant_id = unique_tenant("pg");
    let tenant = tenant_id.as_str();
    let rig = Rig::new("pgrestart", &[]);
    counting_bundle(&rig, tenant, 86_400);
    let n = 5_000;
    let (messages, expected) = counting_run(tenant, n);
    let env = [
        ("LEITSTAND_STORE__URL", POSTGRES_URL),
        ("LEITSTAND_STORE__BATCH_MAX", "16"),
        ("LEITSTAND_AMQP__RECONNECT_MAX_MS", "500"),
        // Shorter than the outage: the lease is lost and taken again, every time.
        ("LEITSTAND_STORE__LEASE_MS", "2000"),
        // A lost lease returns the batch once; workers restarting with the dead lease
        // would return it again and again and push it past this limit.
        ("LEITSTAND_AMQP__DELIVERY_LIMIT", "3"),
    ];
    let daemon = rig.daemon(&env);
    let (conn, ch) = rig.client().await;
    publish_all(&ch, &messages).await;
    wait_for_depth(&conn, "test.commands", 500, &daemon).await;

    let _restart = Restart;
    pg_ctl("stop");
    let stopped = Instant::now();
    // Not ready while the store is away, and the queue keeps what is not committed.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some((503, body)) = http_get(daemon.http, "/readyz")
            && body.contains("\"store\"")
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "/readyz never reported the store"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let queued = depth(&conn, &format!("leitstand.tenant.{tenant}")).await;
    assert!(queued > 0, "the run ended before the outage");
    tokio::time::sleep(Duration::from_secs(2)).await;
    pg_ctl("start");
    eprintln!(
        "PostgreSQL was away for {:?} with {queued} events queued",
        stopped.elapsed()
    );

    expect_all_commands(&conn, &expected, &daemon).await;
    let deadline = Instant::now() + Duration::from_secs(30);
    while !matches!(http_get(daemon.http, "/readyz"), Some((200, _))) {
        assert!(Instant::now() < deadline, "not ready after the outage");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let log = daemon.log_text();
    assert!(
        log.lines()
            .any(|l| l.contains("took the tenant's lease") && !l.contains("token=1")),
        "the lease was lost during the outage and taken again:\n{log}"
    );
    let mut daemon = daemon;
    let status = daemon.terminate(Duration::from_secs(40));
    assert!(status.success(), "exit {status}:\n{}", daemon.log_text());

    let store = Store::open(&postgres()).await.expect("store");
    assert_exact_counts(&store, &tenant_id, n).await;
    assert_eq!(
        depth(&conn, "leitstand.dead").await,
        0,
        "nothing dead-lettered"
    );
}
