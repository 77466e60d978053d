//! The durable store: plugins' key-value state, timers, the ids of processed events, the
//! outbox of messages not yet confirmed by the broker, and (in cluster mode) tenant
//! leases. One code path over two backends: SQLite (WAL, the embedded default, no set-up)
//! and PostgreSQL (several daemons sharing the work).
//!
//! Everything one batch of events changes is written by [`Store::commit`] in one
//! transaction; the daemon acknowledges the batch's inputs only after it. The engine's
//! pipeline reaches it as its [`Journal`]. It knows nothing of wasm or AMQP: outbox
//! messages are opaque bytes with a routing address.
//!
//! # Layout
//!
//! - this file: the store, its configuration (`[store]`), the batch commit, state reads,
//!   processed ids, the outbox, retention, and the `Journal` the pipeline uses;
//! - `leases`: cluster mode — members' heartbeats and tenant leases with their fences;
//! - `schema`: the tables both backends share, and the schema version.
#![forbid(unsafe_code)]

mod leases;
mod schema;

use std::collections::HashSet;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use sqlx::any::{AnyPoolOptions, AnyRow};
use sqlx::{Any, AnyPool, Executor, Row, Transaction};

pub use leitstand_contract::envelope::TenantId;
pub use leitstand_contract::journal::{
    BoardChange, Commit, Fence, Journal, JournalError, KeptBoard, Opening, StateUsage, StoredTimer,
    TimerChange,
};
pub use leitstand_contract::wire::OutboxEntry;

/// `[store]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StoreConfig {
    /// `sqlite://PATH` (created when missing) or `postgres://USER@HOST:PORT/DB`. Default
    /// `sqlite://leitstand-state.db` in the working directory.
    pub url: String,
    /// Connections in the pool. Default 8.
    pub max_connections: u32,
    /// How long a statement may wait for a SQLite write lock, in milliseconds. Default 5000.
    pub busy_timeout_ms: u64,
    /// Processed ids and fired timers older than this many hours are pruned. Default 168.
    pub retention_hours: u64,
    /// Seconds between two prunings. Default 300.
    pub prune_every_seconds: u64,
    /// The most deliveries committed in one transaction. Default 256.
    pub batch_max: usize,
    /// Cluster mode: how long a tenant lease lasts without renewal, in milliseconds.
    /// A dead daemon's tenants are taken over after at most this long. Default 6000.
    pub lease_ms: u64,
}

impl Default for StoreConfig {
    fn default() -> Self {
        Self {
            url: "sqlite://leitstand-state.db".into(),
            max_connections: 8,
            busy_timeout_ms: 5_000,
            retention_hours: 168,
            prune_every_seconds: 300,
            batch_max: 256,
            lease_ms: 6_000,
        }
    }
}

/// Which database serves the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// One file, one daemon.
    Sqlite,
    /// A server, one or more daemons.
    Postgres,
}

/// A failure of the store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The URL names no supported database.
    #[error("store url {0:?}: expected sqlite://PATH or postgres://…")]
    Url(String),
    /// The database failed or cannot be reached.
    #[error("store: {context}: {source}")]
    Db {
        /// What was being done.
        context: String,
        /// The driver's error.
        #[source]
        source: sqlx::Error,
    },
    /// The schema was written by a newer Leitstand.
    #[error("store: schema version {found} is newer than this build's {expected}")]
    Schema {
        /// The version in the database.
        found: i64,
        /// This build's version.
        expected: i64,
    },
    /// Cluster mode: this daemon no longer holds the tenant's lease; another may.
    #[error("store: the lease of tenant {0:?} is lost; its batch is not committed")]
    LeaseLost(String),
}

fn db(context: impl Into<String>) -> impl FnOnce(sqlx::Error) -> StoreError {
    let context = context.into();
    move |source| StoreError::Db { context, source }
}

/// The most rows one multi-row statement carries.
const ROWS_PER_STATEMENT: usize = 200;

/// The longest text of statements sent to SQLite's writer at once (SQLite refuses texts
/// over 1,000,000 bytes; a batch of ordinary size needs a few thousand).
const TEXT_BYTES: usize = 256 * 1024;

/// A value bound to a statement of a batch's commit.
enum Arg<'a> {
    Text(&'a str),
    Int(i64),
    Bytes(&'a [u8]),
}

/// The statements of one commit, in order, each with its `$1, $2, …` arguments.
#[derive(Default)]
struct Statements<'a> {
    list: Vec<(String, Vec<Arg<'a>>)>,
}

impl<'a> Statements<'a> {
    /// Adds `sql`, whose parameters must be `$1, $2, …` in the order they appear: on
    /// SQLite they become anonymous parameters bound in that order.
    fn push(&mut self, sql: String, args: Vec<Arg<'a>>) {
        debug_assert!(
            numbered_in_order(&sql, args.len()),
            "parameters out of order: {sql}"
        );
        self.list.push((sql, args));
    }
}

/// Whether the `$N` parameters of `sql` are `$1` to `$count`, each once, in that order.
fn numbered_in_order(sql: &str, count: usize) -> bool {
    let mut next = 1;
    let mut rest = sql;
    while let Some(at) = rest.find('$') {
        rest = &rest[at + 1..];
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if rest[..digits].parse::<usize>().ok() != Some(next) {
            return false;
        }
        next += 1;
        rest = &rest[digits..];
    }
    next == count + 1
}

/// `query` with `args` bound in order.
fn bound<'q>(
    mut query: sqlx::query::Query<'q, Any, sqlx::any::AnyArguments<'q>>,
    args: &[Arg<'q>],
) -> sqlx::query::Query<'q, Any, sqlx::any::AnyArguments<'q>> {
    for arg in args {
        query = match *arg {
            Arg::Text(v) => query.bind(v),
            Arg::Int(v) => query.bind(v),
            Arg::Bytes(v) => query.bind(v),
        };
    }
    query
}

/// The durable store.
#[derive(Clone)]
pub struct Store {
    pool: AnyPool,
    /// Where writes go. On a SQLite file, one connection of its own: writers (the tenants'
    /// commits, their relays' clearing of the outbox, pruning) queue for it in order
    /// instead of meeting SQLite's write lock, whose busy handler sleeps up to 100 ms at a
    /// time. Elsewhere the pool itself.
    writes: AnyPool,
    backend: Backend,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("backend", &self.backend)
            .finish_non_exhaustive()
    }
}

/// `$start, $start+1, …` for `rows` rows of `cols` columns: `($1, $2), ($3, $4)`.
fn values(rows: usize, cols: usize) -> String {
    let mut s = String::new();
    for r in 0..rows {
        if r > 0 {
            s.push_str(", ");
        }
        s.push('(');
        for c in 0..cols {
            if c > 0 {
                s.push_str(", ");
            }
            s.push_str(&format!("${}", r * cols + c + 1));
        }
        s.push(')');
    }
    s
}

impl Store {
    /// Connects, creating the SQLite file when missing, and brings the schema up to date.
    pub async fn open(config: &StoreConfig) -> Result<Self, StoreError> {
        sqlx::any::install_default_drivers();
        let (backend, url) = if let Some(rest) = config.url.strip_prefix("sqlite:") {
            let url = if rest.contains("mode=") || rest.contains(":memory:") {
                config.url.clone()
            } else if rest.contains('?') {
                format!("{}&mode=rwc", config.url)
            } else {
                format!("{}?mode=rwc", config.url)
            };
            (Backend::Sqlite, url)
        } else if config.url.starts_with("postgres://") || config.url.starts_with("postgresql://") {
            (Backend::Postgres, config.url.clone())
        } else {
            return Err(StoreError::Url(config.url.clone()));
        };
        let busy = config.busy_timeout_ms;
        let memory = url.contains(":memory:");
        let options = |connections: u32, wait: Duration| {
            AnyPoolOptions::new()
                .max_connections(connections)
                .acquire_timeout(wait)
                // A SQLite connection lives in this process and cannot be lost under way:
                // pinging it before every use would cost each statement a second round trip
                // to its thread. A PostgreSQL connection may have been cut by the server.
                .test_before_acquire(backend == Backend::Postgres)
                // An in-memory database must never lose its connection to idleness or age.
                .idle_timeout((!memory).then(|| Duration::from_secs(600)))
                .max_lifetime((!memory).then(|| Duration::from_secs(1800)))
                .after_connect(move |conn, _| {
                    Box::pin(async move {
                        if backend == Backend::Sqlite {
                            conn.execute(format!("PRAGMA busy_timeout = {busy}").as_str())
                                .await?;
                            // WAL lets readers go on while a batch commits; FULL makes a
                            // committed batch survive a power cut, not only a crash.
                            conn.execute("PRAGMA journal_mode = WAL").await?;
                            conn.execute("PRAGMA synchronous = FULL").await?;
                        }
                        Ok(())
                    })
                })
        };
        let connecting = || format!("connecting to {}", redact(&config.url));
        // An in-memory SQLite database lives in its one connection.
        let pool = options(
            if memory {
                1
            } else {
                config.max_connections.max(1)
            },
            Duration::from_secs(5),
        )
        .connect(&url)
        .await
        .map_err(db(connecting()))?;
        let writes = if backend == Backend::Sqlite && !memory {
            // A writer waits for the connection as long as it would for the write lock.
            options(1, Duration::from_millis(busy).max(Duration::from_secs(5)))
                .connect(&url)
                .await
                .map_err(db(connecting()))?
        } else {
            pool.clone()
        };
        let store = Self {
            pool,
            writes,
            backend,
        };
        store.migrate().await?;
        Ok(store)
    }

    /// A statement whose `$1, $2, …` appear in ascending order, for this backend: on
    /// SQLite they become anonymous `?`, which bind in order, because SQLite finds a
    /// numbered parameter by a linear scan, so that binding a multi-row statement would
    /// cost the square of its parameters.
    fn sql(&self, text: String) -> String {
        if self.backend == Backend::Postgres {
            return text;
        }
        let mut out = String::with_capacity(text.len());
        let mut chars = text.chars().peekable();
        while let Some(c) = chars.next() {
            if c == '$' && chars.peek().is_some_and(char::is_ascii_digit) {
                while chars.peek().is_some_and(char::is_ascii_digit) {
                    chars.next();
                }
                out.push('?');
            } else {
                out.push(c);
            }
        }
        out
    }

    /// Whether the store holds any plugin state of `tenant`.
    pub async fn has_state(&self, tenant: &TenantId) -> Result<bool, StoreError> {
        sqlx::query("SELECT 1 AS one FROM leitstand_kv WHERE tenant = $1 LIMIT 1")
            .bind(tenant.as_str())
            .fetch_optional(&self.pool)
            .await
            .map(|row| row.is_some())
            .map_err(db(format!("reading state of {tenant}")))
    }

    /// Which backend serves this store.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    async fn migrate(&self) -> Result<(), StoreError> {
        let mut tx = self.begin("creating the schema").await?;
        if self.backend == Backend::Postgres {
            // Two daemons starting at once must not race on CREATE TABLE.
            sqlx::query("SELECT pg_advisory_xact_lock(7310431)")
                .fetch_optional(&mut *tx)
                .await
                .map_err(db("locking the schema"))?;
        }
        for statement in schema::statements(self.backend) {
            sqlx::query(&statement)
                .execute(&mut *tx)
                .await
                .map_err(db("creating the schema"))?;
        }
        let found: Option<i64> = sqlx::query("SELECT MAX(version) AS v FROM leitstand_schema")
            .fetch_one(&mut *tx)
            .await
            .and_then(|r| r.try_get("v"))
            .map_err(db("reading the schema version"))?;
        match found {
            Some(v) if v > schema::VERSION => {
                return Err(StoreError::Schema {
                    found: v,
                    expected: schema::VERSION,
                });
            }
            Some(_) => {}
            None => {
                sqlx::query("INSERT INTO leitstand_schema (version) VALUES ($1)")
                    .bind(schema::VERSION)
                    .execute(&mut *tx)
                    .await
                    .map_err(db("writing the schema version"))?;
            }
        }
        tx.commit().await.map_err(db("creating the schema"))
    }

    async fn begin(&self, context: &str) -> Result<Transaction<'static, Any>, StoreError> {
        self.writes.begin().await.map_err(db(context))
    }

    /// Whether the database answers.
    pub async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1")
            .fetch_one(&self.pool)
            .await
            .map(|_| ())
            .map_err(db("checking the connection"))
    }

    /// How many state keys and bytes (keys and values) `tenant`'s plugins hold.
    pub async fn usage(&self, tenant: &TenantId) -> Result<StateUsage, StoreError> {
        let row = sqlx::query(
            "SELECT COUNT(*) AS n, COALESCE(SUM(LENGTH(key) + LENGTH(value)), 0) AS b \
             FROM leitstand_kv WHERE tenant = $1",
        )
        .bind(tenant.as_str())
        .fetch_one(&self.pool)
        .await
        .map_err(db(format!("measuring the state of {tenant}")))?;
        let keys: i64 = row
            .try_get("n")
            .map_err(db(format!("measuring the state of {tenant}")))?;
        let bytes: i64 = row
            .try_get("b")
            .map_err(db(format!("measuring the state of {tenant}")))?;
        Ok(StateUsage {
            keys: u64::try_from(keys).unwrap_or(0),
            bytes: u64::try_from(bytes).unwrap_or(0),
        })
    }

    /// The value of `key` of `plugin` of `tenant`.
    pub async fn get(
        &self,
        tenant: &TenantId,
        plugin: &str,
        key: &str,
    ) -> Result<Option<Vec<u8>>, StoreError> {
        sqlx::query("SELECT value FROM leitstand_kv WHERE tenant = $1 AND plugin = $2 AND key = $3")
            .bind(tenant.as_str())
            .bind(plugin)
            .bind(key)
            .fetch_optional(&self.pool)
            .await
            .and_then(|row| row.map(|r| r.try_get::<Vec<u8>, _>("value")).transpose())
            .map_err(db(format!("reading state of {tenant}/{plugin}")))
    }

    /// Which of `keys` (see [`leitstand_contract::envelope::event_key`]) `tenant` has processed.
    pub async fn processed_among(
        &self,
        tenant: &TenantId,
        keys: &[String],
    ) -> Result<HashSet<String>, StoreError> {
        let mut found = HashSet::new();
        for chunk in keys.chunks(ROWS_PER_STATEMENT) {
            let list = (0..chunk.len())
                .map(|i| format!("${}", i + 2))
                .collect::<Vec<_>>()
                .join(", ");
            let sql = format!(
                "SELECT event_key FROM leitstand_processed WHERE tenant = $1 AND event_key IN ({list})"
            );
            let sql = self.sql(sql);
            let mut q = sqlx::query(&sql).bind(tenant.as_str());
            for k in chunk {
                q = q.bind(k.as_str());
            }
            let rows = q
                .fetch_all(&self.pool)
                .await
                .map_err(db(format!("reading processed ids of {tenant}")))?;
            for row in rows {
                found.insert(
                    row.try_get::<String, _>("event_key")
                        .map_err(db("reading processed ids"))?,
                );
            }
        }
        Ok(found)
    }

    /// The pending timers of `tenant`, earliest first.
    pub async fn pending_timers(&self, tenant: &TenantId) -> Result<Vec<StoredTimer>, StoreError> {
        let rows = sqlx::query(
            "SELECT plugin, name, due_ms, payload, seq FROM leitstand_timers \
             WHERE tenant = $1 AND fired_ms IS NULL ORDER BY due_ms, seq",
        )
        .bind(tenant.as_str())
        .fetch_all(&self.pool)
        .await
        .map_err(db(format!("reading timers of {tenant}")))?;
        rows.iter()
            .map(|r| {
                Ok(StoredTimer {
                    plugin: r.try_get("plugin")?,
                    name: r.try_get("name")?,
                    due_ms: r.try_get("due_ms")?,
                    payload: r.try_get("payload")?,
                    seq: r.try_get("seq")?,
                })
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(db(format!("reading timers of {tenant}")))
    }

    /// The largest timer sequence `tenant` has used (0 when none).
    pub async fn last_timer_seq(&self, tenant: &TenantId) -> Result<i64, StoreError> {
        self.max_of("leitstand_timers", tenant).await
    }

    /// The largest outbox sequence `tenant` has in its outbox (0 when empty).
    pub async fn last_outbox_seq(&self, tenant: &TenantId) -> Result<i64, StoreError> {
        self.max_of("leitstand_outbox", tenant).await
    }

    async fn max_of(&self, table: &str, tenant: &TenantId) -> Result<i64, StoreError> {
        let sql = format!("SELECT MAX(seq) AS m FROM {table} WHERE tenant = $1");
        sqlx::query(&sql)
            .bind(tenant.as_str())
            .fetch_one(&self.pool)
            .await
            .and_then(|r| r.try_get::<Option<i64>, _>("m"))
            .map(|m| m.unwrap_or(0))
            .map_err(db(format!("reading {table} of {tenant}")))
    }

    /// What `tenant` has in its outbox, in order.
    pub async fn outbox(&self, tenant: &TenantId) -> Result<Vec<OutboxEntry>, StoreError> {
        let rows = sqlx::query(
            "SELECT seq, exchange, routing_key, properties, body FROM leitstand_outbox \
             WHERE tenant = $1 ORDER BY seq",
        )
        .bind(tenant.as_str())
        .fetch_all(&self.pool)
        .await
        .map_err(db(format!("reading the outbox of {tenant}")))?;
        rows.iter()
            .map(outbox_entry)
            .collect::<Result<_, _>>()
            .map_err(db(format!("reading the outbox of {tenant}")))
    }

    /// Forgets the outbox messages of `tenant` the broker has confirmed.
    pub async fn outbox_done(&self, tenant: &TenantId, seqs: &[i64]) -> Result<(), StoreError> {
        for chunk in seqs.chunks(ROWS_PER_STATEMENT) {
            let list = (0..chunk.len())
                .map(|i| format!("${}", i + 2))
                .collect::<Vec<_>>()
                .join(", ");
            let sql = format!("DELETE FROM leitstand_outbox WHERE tenant = $1 AND seq IN ({list})");
            let sql = self.sql(sql);
            let mut q = sqlx::query(&sql).bind(tenant.as_str());
            for s in chunk {
                q = q.bind(*s);
            }
            q.execute(&self.writes)
                .await
                .map_err(db(format!("clearing the outbox of {tenant}")))?;
        }
        Ok(())
    }

    /// Runs `statements` in `tx`. On SQLite they go to the writer as few texts as
    /// [`TEXT_BYTES`] allows — one for any batch of ordinary size — each in one round trip
    /// to the connection's thread, its arguments bound across its statements in order;
    /// PostgreSQL takes them one by one.
    async fn execute(
        &self,
        tx: &mut Transaction<'static, Any>,
        statements: Statements<'_>,
    ) -> Result<(), sqlx::Error> {
        if self.backend == Backend::Postgres {
            for (sql, args) in &statements.list {
                bound(sqlx::query(sql), args).execute(&mut **tx).await?;
            }
            return Ok(());
        }
        let mut rest = statements.list.as_slice();
        while !rest.is_empty() {
            let mut text = String::new();
            let mut taken = 0;
            for (sql, _) in rest {
                if taken > 0 && text.len() + sql.len() > TEXT_BYTES {
                    break;
                }
                text.push_str(&self.sql(sql.clone()));
                text.push_str(";\n");
                taken += 1;
            }
            let (group, later) = rest.split_at(taken);
            let mut query = sqlx::query(&text);
            for (_, args) in group {
                query = bound(query, args);
            }
            query.execute(&mut **tx).await?;
            rest = later;
        }
        Ok(())
    }

    /// Writes everything `batch` changes for `tenant` in one transaction. With a `fence`
    /// (cluster mode) the transaction first checks that the lease is still this daemon's
    /// and refuses with [`StoreError::LeaseLost`] when it is not.
    pub async fn commit(
        &self,
        tenant: &TenantId,
        batch: &Commit,
        fence: Option<&Fence>,
    ) -> Result<(), StoreError> {
        if batch.is_empty() && fence.is_none() {
            return Ok(());
        }
        let t = tenant.as_str();
        let ctx = || format!("committing a batch of {tenant}");
        let mut tx = self.begin(&ctx()).await?;
        if let Some(fence) = fence {
            let held = sqlx::query(
                "UPDATE leitstand_leases SET tenant = tenant \
                 WHERE tenant = $1 AND owner = $2 AND token = $3 AND expires_ms > $4",
            )
            .bind(t)
            .bind(fence.owner.as_str())
            .bind(fence.token)
            .bind(batch.at_ms)
            .execute(&mut *tx)
            .await
            .map_err(db(ctx()))?;
            if held.rows_affected() != 1 {
                return Err(StoreError::LeaseLost(t.to_owned()));
            }
        }
        let mut s = Statements::default();
        // Key-value: upserts in multi-row statements, deletes one by one (they are rare).
        let sets: Vec<_> = batch
            .writes
            .iter()
            .filter_map(|((p, k), v)| v.as_ref().map(|v| (p, k, v)))
            .collect();
        for chunk in sets.chunks(ROWS_PER_STATEMENT) {
            let mut args = Vec::with_capacity(chunk.len() * 4);
            for (p, k, v) in chunk {
                args.extend([Arg::Text(t), Arg::Text(p), Arg::Text(k), Arg::Bytes(v)]);
            }
            s.push(
                format!(
                    "INSERT INTO leitstand_kv (tenant, plugin, key, value) VALUES {} \
                     ON CONFLICT (tenant, plugin, key) DO UPDATE SET value = excluded.value",
                    values(chunk.len(), 4)
                ),
                args,
            );
        }
        for ((p, k), v) in &batch.writes {
            if v.is_none() {
                s.push(
                    "DELETE FROM leitstand_kv WHERE tenant = $1 AND plugin = $2 AND key = $3"
                        .into(),
                    vec![Arg::Text(t), Arg::Text(p), Arg::Text(k)],
                );
            }
        }
        // Timers: settings in multi-row upserts (every offered call may set one), cancels
        // and firings one by one.
        let sets: Vec<_> = batch
            .timers
            .iter()
            .filter_map(|((plugin, name), change)| match change {
                TimerChange::Set {
                    due_ms,
                    payload,
                    seq,
                } => Some((plugin, name, *due_ms, payload, *seq)),
                _ => None,
            })
            .collect();
        for chunk in sets.chunks(ROWS_PER_STATEMENT) {
            let mut args = Vec::with_capacity(chunk.len() * 6);
            for (plugin, name, due_ms, payload, seq) in chunk {
                args.extend([
                    Arg::Text(t),
                    Arg::Text(plugin),
                    Arg::Text(name),
                    Arg::Int(*due_ms),
                    Arg::Text(payload),
                    Arg::Int(*seq),
                ]);
            }
            s.push(
                format!(
                    "INSERT INTO leitstand_timers (tenant, plugin, name, due_ms, payload, seq) VALUES {} \
                     ON CONFLICT (tenant, plugin, name) DO UPDATE SET due_ms = excluded.due_ms, \
                     payload = excluded.payload, seq = excluded.seq, fired_ms = NULL",
                    values(chunk.len(), 6)
                ),
                args,
            );
        }
        // Cancels (every answered call may cancel one) in multi-row deletes.
        let cancels: Vec<_> = batch
            .timers
            .iter()
            .filter(|(_, change)| matches!(change, TimerChange::Cancel))
            .map(|(key, _)| key)
            .collect();
        for chunk in cancels.chunks(ROWS_PER_STATEMENT) {
            let pairs = (0..chunk.len())
                .map(|i| format!("(${}, ${})", 2 * i + 2, 2 * i + 3))
                .collect::<Vec<_>>()
                .join(", ");
            let mut args = Vec::with_capacity(1 + chunk.len() * 2);
            args.push(Arg::Text(t));
            for (plugin, name) in chunk {
                args.extend([Arg::Text(plugin), Arg::Text(name)]);
            }
            s.push(
                format!(
                    "DELETE FROM leitstand_timers WHERE tenant = $1 AND fired_ms IS NULL \
                     AND (plugin, name) IN (VALUES {pairs})"
                ),
                args,
            );
        }
        for ((plugin, name), change) in &batch.timers {
            if let TimerChange::Fired { seq, at_ms } = change {
                s.push(
                    "UPDATE leitstand_timers SET fired_ms = $1 \
                     WHERE tenant = $2 AND plugin = $3 AND name = $4 AND seq = $5"
                        .into(),
                    vec![
                        Arg::Int(*at_ms),
                        Arg::Text(t),
                        Arg::Text(plugin),
                        Arg::Text(name),
                        Arg::Int(*seq),
                    ],
                );
            }
        }
        for chunk in batch.processed.chunks(ROWS_PER_STATEMENT) {
            let mut args = Vec::with_capacity(chunk.len() * 3);
            for k in chunk {
                args.extend([Arg::Text(t), Arg::Text(k), Arg::Int(batch.at_ms)]);
            }
            s.push(
                format!(
                    "INSERT INTO leitstand_processed (tenant, event_key, at_ms) VALUES {}",
                    values(chunk.len(), 3)
                ),
                args,
            );
        }
        for chunk in batch.outbox.chunks(ROWS_PER_STATEMENT) {
            let mut args = Vec::with_capacity(chunk.len() * 6);
            for e in chunk {
                args.extend([
                    Arg::Text(t),
                    Arg::Int(e.seq),
                    Arg::Text(&e.exchange),
                    Arg::Text(&e.routing_key),
                    Arg::Text(&e.properties),
                    Arg::Bytes(&e.body),
                ]);
            }
            s.push(
                format!(
                    "INSERT INTO leitstand_outbox (tenant, seq, exchange, routing_key, properties, body) \
                     VALUES {}",
                    values(chunk.len(), 6)
                ),
                args,
            );
        }
        if let Some(board) = &batch.board {
            s.push(
                "INSERT INTO leitstand_boards (tenant, value, at_ms) VALUES ($1, $2, $3) \
                 ON CONFLICT (tenant) DO UPDATE SET value = excluded.value, at_ms = excluded.at_ms"
                    .into(),
                vec![
                    Arg::Text(t),
                    Arg::Bytes(&board.summary),
                    Arg::Int(batch.at_ms),
                ],
            );
            let started: Vec<_> = board
                .calls
                .iter()
                .filter_map(|(call, v)| v.as_ref().map(|v| (call, v)))
                .collect();
            for chunk in started.chunks(ROWS_PER_STATEMENT) {
                let mut args = Vec::with_capacity(chunk.len() * 3);
                for (call, v) in chunk {
                    args.extend([Arg::Text(t), Arg::Text(call), Arg::Bytes(v)]);
                }
                s.push(
                    format!(
                        "INSERT INTO leitstand_board_calls (tenant, call, value) VALUES {} \
                         ON CONFLICT (tenant, call) DO UPDATE SET value = excluded.value",
                        values(chunk.len(), 3)
                    ),
                    args,
                );
            }
            let ended: Vec<&String> = board
                .calls
                .iter()
                .filter(|(_, v)| v.is_none())
                .map(|(call, _)| call)
                .collect();
            for chunk in ended.chunks(ROWS_PER_STATEMENT) {
                let list = (0..chunk.len())
                    .map(|i| format!("${}", i + 2))
                    .collect::<Vec<_>>()
                    .join(", ");
                let mut args = Vec::with_capacity(1 + chunk.len());
                args.push(Arg::Text(t));
                args.extend(chunk.iter().map(|call| Arg::Text(call)));
                s.push(
                    format!(
                        "DELETE FROM leitstand_board_calls WHERE tenant = $1 AND call IN ({list})"
                    ),
                    args,
                );
            }
        }
        self.execute(&mut tx, s).await.map_err(db(ctx()))?;
        tx.commit().await.map_err(db(ctx()))
    }

    /// The live board of `tenant` the last commit kept, if any.
    pub async fn board(&self, tenant: &TenantId) -> Result<Option<KeptBoard>, StoreError> {
        let ctx = || format!("reading the live board of {tenant}");
        let summary = sqlx::query("SELECT value FROM leitstand_boards WHERE tenant = $1")
            .bind(tenant.as_str())
            .fetch_optional(&self.pool)
            .await
            .and_then(|row| row.map(|r| r.try_get::<Vec<u8>, _>("value")).transpose())
            .map_err(db(ctx()))?;
        let Some(summary) = summary else {
            return Ok(None);
        };
        let rows = sqlx::query("SELECT call, value FROM leitstand_board_calls WHERE tenant = $1")
            .bind(tenant.as_str())
            .fetch_all(&self.pool)
            .await
            .map_err(db(ctx()))?;
        let mut calls = Vec::with_capacity(rows.len());
        for r in rows {
            let call: String = r.try_get("call").map_err(db(ctx()))?;
            let value: Vec<u8> = r.try_get("value").map_err(db(ctx()))?;
            calls.push((call, value));
        }
        Ok(Some(KeptBoard { summary, calls }))
    }

    /// Deletes processed ids and fired timers older than `before_ms`; returns how many.
    pub async fn prune(&self, before_ms: i64) -> Result<u64, StoreError> {
        let mut n = 0;
        for sql in [
            "DELETE FROM leitstand_processed WHERE at_ms < $1",
            "DELETE FROM leitstand_timers WHERE fired_ms IS NOT NULL AND fired_ms < $1",
        ] {
            n += sqlx::query(sql)
                .bind(before_ms)
                .execute(&self.writes)
                .await
                .map_err(db("pruning old processed ids and fired timers"))?
                .rows_affected();
        }
        Ok(n)
    }

    /// Rows in the retained tables: processed ids and fired timers, for the retention
    /// metric and tests.
    pub async fn retained(&self) -> Result<i64, StoreError> {
        sqlx::query(
            "SELECT (SELECT COUNT(*) FROM leitstand_processed) + \
             (SELECT COUNT(*) FROM leitstand_timers WHERE fired_ms IS NOT NULL) AS n",
        )
        .fetch_one(&self.pool)
        .await
        .and_then(|r| r.try_get::<i64, _>("n"))
        .map_err(db("counting retained rows"))
    }
}

impl From<StoreError> for JournalError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::LeaseLost(tenant) => Self::LeaseLost(tenant),
            other => Self::Unavailable(other.to_string()),
        }
    }
}

/// The pipeline's journal is the store.
impl Journal for Store {
    async fn open(&self, tenant: &TenantId) -> Result<Opening, JournalError> {
        Ok(Opening {
            pending: self.pending_timers(tenant).await?,
            last_timer_seq: self.last_timer_seq(tenant).await?,
            outbox: self.outbox(tenant).await?,
            last_outbox_seq: self.last_outbox_seq(tenant).await?,
            has_state: self.has_state(tenant).await?,
            board: self.board(tenant).await?,
        })
    }

    async fn processed_among(
        &self,
        tenant: &TenantId,
        keys: &[String],
    ) -> Result<HashSet<String>, JournalError> {
        Ok(Store::processed_among(self, tenant, keys).await?)
    }

    async fn get(
        &self,
        tenant: &TenantId,
        plugin: &str,
        key: &str,
    ) -> Result<Option<Vec<u8>>, JournalError> {
        Ok(Store::get(self, tenant, plugin, key).await?)
    }

    async fn usage(&self, tenant: &TenantId) -> Result<StateUsage, JournalError> {
        Ok(Store::usage(self, tenant).await?)
    }

    async fn commit(
        &self,
        tenant: &TenantId,
        commit: &Commit,
        fence: Option<&Fence>,
    ) -> Result<(), JournalError> {
        Ok(Store::commit(self, tenant, commit, fence).await?)
    }

    async fn last_outbox_seq(&self, tenant: &TenantId) -> Result<i64, JournalError> {
        Ok(Store::last_outbox_seq(self, tenant).await?)
    }
}

fn outbox_entry(r: &AnyRow) -> Result<OutboxEntry, sqlx::Error> {
    Ok(OutboxEntry {
        seq: r.try_get("seq")?,
        exchange: r.try_get("exchange")?,
        routing_key: r.try_get("routing_key")?,
        properties: r.try_get("properties")?,
        body: r.try_get("body")?,
    })
}

/// `url` without its password.
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let userinfo = &url[scheme + 3..at];
            let user = userinfo.split(':').next().unwrap_or_default();
            format!("{}{user}:…{}", &url[..scheme + 3], &url[at..])
        }
        _ => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameters_must_be_numbered_in_the_order_they_appear() {
        assert!(numbered_in_order("UPDATE t SET a = $1 WHERE b = $2", 2));
        assert!(numbered_in_order(&format!("VALUES {}", values(2, 3)), 6));
        assert!(numbered_in_order("SELECT 1", 0));
        assert!(!numbered_in_order("UPDATE t SET a = $2 WHERE b = $1", 2));
        assert!(!numbered_in_order("WHERE a = $1 AND b = $3", 2));
        assert!(!numbered_in_order("WHERE a = $1 AND b = $2", 3));
        assert!(!numbered_in_order("WHERE a = $1 AND b = $", 2));
    }
}
