//! The durable store against both backends: a SQLite file and the PostgreSQL server on
//! 127.0.0.1:5432 (database `test`). Each test uses tenant ids of its own.
#![allow(missing_docs)]

mod support;

use leitstand_contract::envelope::{TenantId, event_key};
use leitstand_store::{
    BoardChange, Commit, OutboxEntry, Store, StoreConfig, StoreError, TimerChange,
};

use support::database::{backends, unique_tenant};

fn entry(seq: i64) -> OutboxEntry {
    OutboxEntry {
        seq,
        exchange: "leitstand.commands".into(),
        routing_key: format!("t.call.route.{seq}"),
        properties: "{}".into(),
        body: vec![0, 159, 146, 150, seq as u8],
    }
}

async fn exercise(store: &Store, tenant: &TenantId) {
    // Nothing yet.
    assert_eq!(store.get(tenant, "p", "k").await.expect("get"), None);
    assert_eq!(store.last_outbox_seq(tenant).await.expect("seq"), 0);

    // One batch: writes (including bytes that are not UTF-8), a timer, processed ids,
    // outbox messages, all at once.
    let mut c = Commit {
        at_ms: 1_000,
        ..Commit::default()
    };
    c.writes
        .insert(("p".into(), "k".into()), Some(vec![0xff, 0, 1]));
    c.writes
        .insert(("p".into(), "gone".into()), Some(b"x".to_vec()));
    c.timers.insert(
        ("p".into(), "escalate".into()),
        TimerChange::Set {
            due_ms: 5_000,
            payload: "{\"call\":\"c17\"}".into(),
            seq: 1,
        },
    );
    c.timers.insert(
        ("p".into(), "other".into()),
        TimerChange::Set {
            due_ms: 4_000,
            payload: "{}".into(),
            seq: 2,
        },
    );
    c.processed = vec![event_key("acd", "e1"), event_key("acd", "e2")];
    c.outbox = (1..=3).map(entry).collect();
    store.commit(tenant, &c, None).await.expect("commit");

    assert_eq!(
        store.get(tenant, "p", "k").await.expect("get"),
        Some(vec![0xff, 0, 1])
    );
    // Another plugin and another tenant see nothing of it.
    assert_eq!(store.get(tenant, "q", "k").await.expect("get"), None);
    let stranger = unique_tenant("stranger");
    assert_eq!(store.get(&stranger, "p", "k").await.expect("get"), None);

    let keys = vec![
        event_key("acd", "e1"),
        event_key("acd", "e3"),
        event_key("acd", "e2"),
    ];
    let done = store
        .processed_among(tenant, &keys)
        .await
        .expect("processed");
    assert_eq!(done.len(), 2);
    assert!(done.contains(&event_key("acd", "e1")) && !done.contains(&event_key("acd", "e3")));
    assert!(
        store
            .processed_among(&stranger, &keys)
            .await
            .expect("processed")
            .is_empty()
    );

    let timers = store.pending_timers(tenant).await.expect("timers");
    assert_eq!(
        timers.iter().map(|t| t.name.as_str()).collect::<Vec<_>>(),
        ["other", "escalate"],
        "earliest first"
    );
    assert_eq!(store.last_timer_seq(tenant).await.expect("seq"), 2);
    let outbox = store.outbox(tenant).await.expect("outbox");
    assert_eq!(outbox, (1..=3).map(entry).collect::<Vec<_>>());
    assert_eq!(store.last_outbox_seq(tenant).await.expect("seq"), 3);

    // A second batch: an overwrite, a delete, one timer fires, the other is cancelled.
    let mut c = Commit {
        at_ms: 2_000,
        ..Commit::default()
    };
    c.writes
        .insert(("p".into(), "k".into()), Some(b"2".to_vec()));
    c.writes.insert(("p".into(), "gone".into()), None);
    c.timers.insert(
        ("p".into(), "escalate".into()),
        TimerChange::Fired {
            seq: 1,
            at_ms: 2_000,
        },
    );
    c.timers
        .insert(("p".into(), "other".into()), TimerChange::Cancel);
    store.commit(tenant, &c, None).await.expect("commit");
    assert_eq!(
        store.get(tenant, "p", "k").await.expect("get"),
        Some(b"2".to_vec())
    );
    assert_eq!(store.get(tenant, "p", "gone").await.expect("get"), None);
    assert!(
        store
            .pending_timers(tenant)
            .await
            .expect("timers")
            .is_empty()
    );

    // A processed id cannot be recorded twice: the batch fails as a whole.
    let mut dup = Commit {
        at_ms: 3_000,
        ..Commit::default()
    };
    dup.writes
        .insert(("p".into(), "k".into()), Some(b"3".to_vec()));
    dup.processed = vec![event_key("acd", "e1")];
    assert!(store.commit(tenant, &dup, None).await.is_err());
    assert_eq!(
        store.get(tenant, "p", "k").await.expect("get"),
        Some(b"2".to_vec()),
        "nothing of a failed batch is written"
    );

    // Confirmed outbox messages are forgotten; the rest stay in order.
    store.outbox_done(tenant, &[1, 3]).await.expect("done");
    assert_eq!(store.outbox(tenant).await.expect("outbox"), vec![entry(2)]);
}

#[tokio::test]
async fn both_backends_keep_state_timers_processed_ids_and_the_outbox() {
    for (name, config) in backends("store") {
        let store = Store::open(&config)
            .await
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        store.ping().await.expect("ping");
        exercise(&store, &unique_tenant("t")).await;
        // Opening again (a restart) keeps everything and the schema as it is.
        let again = Store::open(&config).await.expect("reopen");
        again.ping().await.expect("ping");
    }
}

/// A batch of the size a backlog brings: every kind of row, several multi-row statements of
/// each (`ROWS_PER_STATEMENT` is 200), in one transaction. On SQLite its statements reach the
/// writer as one text whose arguments bind across them in order, so a value bound to the
/// wrong statement would show here as a wrong value, a missing row or a refused commit.
#[tokio::test]
async fn a_large_batch_of_every_kind_of_row_commits_each_value_where_it_belongs() {
    for (name, config) in backends("large") {
        let store = Store::open(&config)
            .await
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        let tenant = unique_tenant("l");
        let n = 450;
        let mut first = Commit {
            at_ms: 1_000,
            ..Commit::default()
        };
        for i in 0..n {
            first.writes.insert(
                ("p".into(), format!("k{i}")),
                Some(format!("v{i}").into_bytes()),
            );
            first.timers.insert(
                ("p".into(), format!("t{i}")),
                TimerChange::Set {
                    due_ms: 10_000 + i,
                    payload: format!("{{\"i\":{i}}}"),
                    seq: i + 1,
                },
            );
        }
        first.processed = (0..n).map(|i| event_key("s", &format!("e{i}"))).collect();
        first.outbox = (1..=n).map(entry).collect();
        first.board = Some(BoardChange {
            summary: b"s1".to_vec(),
            calls: (0..n)
                .map(|i| (format!("c{i}"), Some(format!("w{i}").into_bytes())))
                .collect(),
        });
        store.commit(&tenant, &first, None).await.expect("commit");

        // The next batch deletes, cancels, fires and overwrites among them.
        let mut second = Commit {
            at_ms: 2_000,
            ..Commit::default()
        };
        for i in 0..n {
            let change = match i % 3 {
                0 => Some(format!("w{i}").into_bytes()),
                1 => None,
                _ => continue,
            };
            second.writes.insert(("p".into(), format!("k{i}")), change);
            let timer = if i % 3 == 0 {
                TimerChange::Cancel
            } else {
                TimerChange::Fired {
                    seq: i + 1,
                    at_ms: 2_000,
                }
            };
            second.timers.insert(("p".into(), format!("t{i}")), timer);
        }
        second.processed = (n..2 * n)
            .map(|i| event_key("s", &format!("e{i}")))
            .collect();
        second.board = Some(BoardChange {
            summary: b"s2".to_vec(),
            calls: (0..n)
                .filter(|i| i % 2 == 0)
                .map(|i| (format!("c{i}"), None))
                .collect(),
        });
        store.commit(&tenant, &second, None).await.expect("commit");

        for i in 0..n {
            let want = match i % 3 {
                0 => Some(format!("w{i}").into_bytes()),
                1 => None,
                _ => Some(format!("v{i}").into_bytes()),
            };
            let got = store
                .get(&tenant, "p", &format!("k{i}"))
                .await
                .expect("get");
            assert_eq!(got, want, "{name}: k{i}");
        }
        let pending = store.pending_timers(&tenant).await.expect("timers");
        let want: Vec<(String, i64, String, i64)> = (0..n)
            .filter(|i| i % 3 == 2)
            .map(|i| (format!("t{i}"), 10_000 + i, format!("{{\"i\":{i}}}"), i + 1))
            .collect();
        let got: Vec<(String, i64, String, i64)> = pending
            .into_iter()
            .map(|t| (t.name, t.due_ms, t.payload, t.seq))
            .collect();
        assert_eq!(got, want, "{name}: the timers left pending, earliest first");
        let keys: Vec<String> = (0..2 * n + 10)
            .map(|i| event_key("s", &format!("e{i}")))
            .collect();
        let seen = store.processed_among(&tenant, &keys).await.expect("ids");
        assert_eq!(
            seen.len(),
            2 * n as usize,
            "{name}: every processed id, no other"
        );
        assert_eq!(
            store.outbox(&tenant).await.expect("outbox"),
            (1..=n).map(entry).collect::<Vec<_>>(),
            "{name}: the outbox in order"
        );
        let board = store.board(&tenant).await.expect("board").expect("kept");
        assert_eq!(board.summary, b"s2", "{name}: the last summary");
        let mut calls = board.calls;
        calls.sort();
        let mut want: Vec<(String, Vec<u8>)> = (0..n)
            .filter(|i| i % 2 == 1)
            .map(|i| (format!("c{i}"), format!("w{i}").into_bytes()))
            .collect();
        want.sort();
        assert_eq!(calls, want, "{name}: the calls still waiting");
    }
}

#[tokio::test]
async fn retention_prunes_old_processed_ids_and_fired_timers_only() {
    for (name, config) in backends("retention") {
        let store = Store::open(&config)
            .await
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        let tenant = unique_tenant("r");
        let mut old = Commit {
            at_ms: 1_000,
            ..Commit::default()
        };
        old.processed = vec![event_key("s", "old")];
        old.timers.insert(
            ("p".into(), "fired".into()),
            TimerChange::Set {
                due_ms: 1_000,
                payload: "{}".into(),
                seq: 1,
            },
        );
        old.timers.insert(
            ("p".into(), "pending".into()),
            TimerChange::Set {
                due_ms: 1_000,
                payload: "{}".into(),
                seq: 2,
            },
        );
        store.commit(&tenant, &old, None).await.expect("commit");
        let mut fire = Commit {
            at_ms: 1_500,
            ..Commit::default()
        };
        fire.timers.insert(
            ("p".into(), "fired".into()),
            TimerChange::Fired {
                seq: 1,
                at_ms: 1_500,
            },
        );
        store.commit(&tenant, &fire, None).await.expect("commit");
        let mut new = Commit {
            at_ms: 10_000,
            ..Commit::default()
        };
        new.processed = vec![event_key("s", "new")];
        store.commit(&tenant, &new, None).await.expect("commit");

        // Other tests share the PostgreSQL tables; only this horizon's rows are old.
        store.prune(2_000).await.expect("prune");
        let keys = [event_key("s", "old"), event_key("s", "new")];
        let left = store.processed_among(&tenant, &keys).await.expect("ids");
        assert_eq!(left.len(), 1, "{name}: the old id is pruned");
        assert!(left.contains(&event_key("s", "new")));
        let pending = store.pending_timers(&tenant).await.expect("timers");
        assert_eq!(pending.len(), 1, "{name}: a pending timer is never pruned");
        assert_eq!(pending[0].name, "pending");
    }
}

#[tokio::test]
async fn a_bad_url_and_an_unreachable_server_are_named() {
    let bad = StoreConfig {
        url: "mysql://x".into(),
        ..StoreConfig::default()
    };
    let e = Store::open(&bad).await.expect_err("bad url");
    assert!(matches!(e, StoreError::Url(_)), "{e}");
    let down = StoreConfig {
        url: "postgres://leitstand:secret@127.0.0.1:1/test".into(),
        ..StoreConfig::default()
    };
    let e = Store::open(&down)
        .await
        .expect_err("unreachable")
        .to_string();
    assert!(e.contains("127.0.0.1:1") && !e.contains("secret"), "{e}");
}
