//! The broker goes away in the middle of a run (`rabbitmqctl stop_app` / `start_app`): every
//! command still arrives (duplicates allowed, identical ids) and the daemon is up and ready
//! afterwards. A test binary of its own, so that no other broker test runs meanwhile.
#![allow(missing_docs)]

mod support;

use std::time::{Duration, Instant};

use support::broker::{
    BrokerGuard, Rig, TENANTS, depth, expect_all_commands, expected_ids, http_get, publish_all,
    skip, start_broker, stop_broker, three_tenant_events, wait_for_depth,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broker_restart_midway_loses_no_command_and_the_daemon_recovers() {
    if skip() {
        return;
    }
    let rig = Rig::new("restart", &TENANTS);
    let mut daemon = rig.daemon(&[]);
    let n = 10_000;
    let events = three_tenant_events(n);
    let expected = expected_ids(n);
    {
        let (conn, ch) = rig.client().await;
        publish_all(&ch, &events).await;
        wait_for_depth(&conn, "test.commands", (n / 10) as u32, &daemon).await;
        assert!(
            depth(&conn, "test.commands").await < n as u32,
            "the run finished before the restart could interrupt it"
        );
    }
    let guard = BrokerGuard;
    stop_broker();
    // While the broker is away the daemon says it is not ready, and stays alive.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        match http_get(daemon.http, "/readyz") {
            Some((503, body)) => {
                assert!(body.contains("broker"), "{body}");
                break;
            }
            other => assert!(
                Instant::now() < deadline,
                "/readyz during the outage: {other:?}"
            ),
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(
        http_get(daemon.http, "/healthz").map(|(s, _)| s),
        Some(200),
        "alive meanwhile"
    );
    std::thread::sleep(Duration::from_secs(2));
    start_broker();
    drop(guard);

    // The daemon reconnects by itself and finishes the run.
    daemon.wait_ready(Duration::from_secs(120));
    let conn = rig.vhost.connect().await;
    expect_all_commands(&conn, &expected, &daemon).await;
    assert!(
        daemon.child.try_wait().expect("wait").is_none(),
        "the daemon is still up"
    );
    assert_eq!(
        http_get(daemon.http, "/readyz").map(|(s, _)| s),
        Some(200),
        "and ready"
    );
    assert!(
        daemon
            .metrics()
            .contains("leitstand_broker_reconnects_total")
    );
    assert!(daemon.terminate(Duration::from_secs(40)).success());
}
