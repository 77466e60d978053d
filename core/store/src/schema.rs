//! The tables of the durable store, in the one SQL dialect SQLite and PostgreSQL share;
//! only the byte type differs.

use super::Backend;

/// The schema version this build writes. A store with a newer version is refused.
pub const VERSION: i64 = 1;

/// The statements that create the schema; each is idempotent.
pub fn statements(backend: Backend) -> Vec<String> {
    let bytes = match backend {
        Backend::Sqlite => "BLOB",
        Backend::Postgres => "BYTEA",
    };
    vec![
        "CREATE TABLE IF NOT EXISTS leitstand_schema (version BIGINT NOT NULL)".to_owned(),
        // Plugins' key-value state (the WIT `state` capability), per tenant and plugin.
        format!(
            "CREATE TABLE IF NOT EXISTS leitstand_kv (\
               tenant TEXT NOT NULL, plugin TEXT NOT NULL, key TEXT NOT NULL, \
               value {bytes} NOT NULL, PRIMARY KEY (tenant, plugin, key))"
        ),
        // Timers: pending while `fired_ms` is null; fired ones stay until retention.
        "CREATE TABLE IF NOT EXISTS leitstand_timers (\
           tenant TEXT NOT NULL, plugin TEXT NOT NULL, name TEXT NOT NULL, \
           due_ms BIGINT NOT NULL, payload TEXT NOT NULL, seq BIGINT NOT NULL, \
           fired_ms BIGINT, PRIMARY KEY (tenant, plugin, name))"
            .to_owned(),
        "CREATE INDEX IF NOT EXISTS leitstand_timers_fired ON leitstand_timers (fired_ms)"
            .to_owned(),
        // Ids of processed events (`source` + `id`), so a redelivery changes nothing.
        "CREATE TABLE IF NOT EXISTS leitstand_processed (\
           tenant TEXT NOT NULL, event_key TEXT NOT NULL, at_ms BIGINT NOT NULL, \
           PRIMARY KEY (tenant, event_key))"
            .to_owned(),
        "CREATE INDEX IF NOT EXISTS leitstand_processed_at ON leitstand_processed (at_ms)"
            .to_owned(),
        // Messages committed with their event and not yet confirmed by the broker.
        format!(
            "CREATE TABLE IF NOT EXISTS leitstand_outbox (\
               tenant TEXT NOT NULL, seq BIGINT NOT NULL, exchange TEXT NOT NULL, \
               routing_key TEXT NOT NULL, properties TEXT NOT NULL, body {bytes} NOT NULL, \
               PRIMARY KEY (tenant, seq))"
        ),
        // The tenant's live board (calls waiting, the rolling window, the interval counts),
        // replaced by every batch that counts events; read by the daemon that opens the
        // tenant next. Added to schema 1 as a table of its own: a build without it ignores it.
        format!(
            "CREATE TABLE IF NOT EXISTS leitstand_boards (\
               tenant TEXT NOT NULL PRIMARY KEY, value {bytes} NOT NULL, at_ms BIGINT NOT NULL)"
        ),
        // The calls waiting on a tenant's board, one row each: a batch writes the calls it
        // offers and deletes those it answers or abandons.
        format!(
            "CREATE TABLE IF NOT EXISTS leitstand_board_calls (\
               tenant TEXT NOT NULL, call TEXT NOT NULL, value {bytes} NOT NULL, \
               PRIMARY KEY (tenant, call))"
        ),
        // Cluster mode: which daemon processes which tenant, until when.
        "CREATE TABLE IF NOT EXISTS leitstand_leases (\
           tenant TEXT NOT NULL PRIMARY KEY, owner TEXT NOT NULL, token BIGINT NOT NULL, \
           expires_ms BIGINT NOT NULL)"
            .to_owned(),
        // Cluster mode: the daemons alive, by their last heartbeat.
        "CREATE TABLE IF NOT EXISTS leitstand_members (\
           member TEXT NOT NULL PRIMARY KEY, seen_ms BIGINT NOT NULL)"
            .to_owned(),
    ]
}
