//! What the pipeline keeps durably, and the interface of the store that keeps it.
//!
//! A batch of one tenant changes plugin state, timers, the ids of processed events and the
//! outbox of messages not yet confirmed by the broker, all written at once
//! ([`Commit`]). The [`Journal`] is whatever keeps them: the durable store over SQLite or
//! PostgreSQL implements it, the engine's pipeline uses it. The engine knows nothing of
//! SQL; the store knows nothing of plugins.

use std::collections::{BTreeMap, HashSet};
use std::future::Future;

use crate::envelope::TenantId;
use crate::wire::OutboxEntry;

/// A pending timer as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredTimer {
    /// The plugin that set it.
    pub plugin: String,
    /// Its name.
    pub name: String,
    /// When it is due, milliseconds since the epoch.
    pub due_ms: i64,
    /// JSON text handed back when it fires.
    pub payload: String,
    /// Which setting of the name this is; a timer set again gets a new one.
    pub seq: i64,
}

/// What a batch does to one timer; the last change of a name in a batch wins.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TimerChange {
    /// Set (or reset) the timer.
    Set {
        /// Due time, milliseconds since the epoch (event time).
        due_ms: i64,
        /// JSON payload.
        payload: String,
        /// The new setting's sequence.
        seq: i64,
    },
    /// Cancel it.
    Cancel,
    /// It fired: setting `seq`, recorded at `at_ms`, the wall-clock time of the commit (the
    /// retention of fired timers runs on the wall clock).
    Fired {
        /// The setting that fired.
        seq: i64,
        /// When the batch that fired it committed.
        at_ms: i64,
    },
}

/// Everything one batch of one tenant changes, written at once.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Commit {
    /// Key-value writes by (plugin, key): `Some` sets, `None` deletes.
    pub writes: BTreeMap<(String, String), Option<Vec<u8>>>,
    /// Timer changes by (plugin, name).
    pub timers: BTreeMap<(String, String), TimerChange>,
    /// Keys ([`crate::envelope::event_key`]) of the events processed.
    pub processed: Vec<String>,
    /// Messages to publish.
    pub outbox: Vec<OutboxEntry>,
    /// Wall-clock time of the commit, milliseconds since the epoch.
    pub at_ms: i64,
    /// What the batch changes of the tenant's live board, when it counts events.
    pub board: Option<BoardChange>,
}

/// What one batch changes of a tenant's live board (what the operators' wallboard shows),
/// in its durable form: the summary — counts, the rolling window, the interval, the sites —
/// replaced whole (it is small), and the calls waiting changed one by one (there may be
/// thousands): written in proportion to the batch, not to the queue.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct BoardChange {
    /// The summary as it is after the batch; replaces the one kept.
    pub summary: Vec<u8>,
    /// Calls waiting by call id: `Some` starts or replaces one, `None` ends it.
    pub calls: BTreeMap<String, Option<Vec<u8>>>,
}

/// A tenant's live board as the journal keeps it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct KeptBoard {
    /// The summary of the last batch that counted events.
    pub summary: Vec<u8>,
    /// The calls waiting, by call id.
    pub calls: Vec<(String, Vec<u8>)>,
}

impl Commit {
    /// Whether the batch changes nothing.
    pub fn is_empty(&self) -> bool {
        self.writes.is_empty()
            && self.timers.is_empty()
            && self.processed.is_empty()
            && self.outbox.is_empty()
            && self.board.is_none()
    }
}

/// What a tenant's plugins hold in state together.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StateUsage {
    /// Keys.
    pub keys: u64,
    /// Bytes of keys and values.
    pub bytes: u64,
}

/// Cluster mode: a tenant lease this daemon holds, checked by every commit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fence {
    /// This daemon's member id.
    pub owner: String,
    /// The lease's token; a new holder gets a larger one.
    pub token: i64,
}

/// What a tenant's journal holds when its processing starts.
#[derive(Debug, Clone, Default)]
pub struct Opening {
    /// Timers set and neither fired nor cancelled, earliest first.
    pub pending: Vec<StoredTimer>,
    /// The largest timer sequence used so far (0 when none).
    pub last_timer_seq: i64,
    /// Messages committed but not yet confirmed, in order: published first.
    pub outbox: Vec<OutboxEntry>,
    /// The largest outbox sequence in the outbox (0 when empty).
    pub last_outbox_seq: i64,
    /// Whether any plugin state of the tenant is kept: without, reads need not ask.
    pub has_state: bool,
    /// The tenant's live board as the last commit left it, when one was kept.
    pub board: Option<KeptBoard>,
}

/// Why the journal could not do what was asked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JournalError {
    /// The store failed or cannot be reached; the batch is tried again later.
    #[error("{0}")]
    Unavailable(String),
    /// Cluster mode: the tenant's lease is no longer this daemon's; its batch is not
    /// committed.
    #[error("the lease of tenant {0:?} is lost; its batch is not committed")]
    LeaseLost(String),
}

/// The durable side of the pipeline: what a batch reads (processed ids, state) and what
/// it writes (one [`Commit`] per tenant and batch).
pub trait Journal: Clone + Send + Sync + 'static {
    /// What the journal holds for `tenant` when its processing starts.
    fn open(&self, tenant: &TenantId)
    -> impl Future<Output = Result<Opening, JournalError>> + Send;

    /// Which of `keys` (event keys) `tenant` has processed.
    fn processed_among(
        &self,
        tenant: &TenantId,
        keys: &[String],
    ) -> impl Future<Output = Result<HashSet<String>, JournalError>> + Send;

    /// The committed value of `key` of `plugin` of `tenant`.
    fn get(
        &self,
        tenant: &TenantId,
        plugin: &str,
        key: &str,
    ) -> impl Future<Output = Result<Option<Vec<u8>>, JournalError>> + Send;

    /// How many keys and bytes `tenant`'s plugins hold together, as committed.
    fn usage(
        &self,
        tenant: &TenantId,
    ) -> impl Future<Output = Result<StateUsage, JournalError>> + Send;

    /// Writes everything `commit` changes for `tenant` in one transaction; with a `fence`
    /// only while the lease is still held.
    fn commit(
        &self,
        tenant: &TenantId,
        commit: &Commit,
        fence: Option<&Fence>,
    ) -> impl Future<Output = Result<(), JournalError>> + Send;

    /// The largest outbox sequence of `tenant` (0 when the outbox is empty), to tell
    /// whether a commit whose answer was lost did land.
    fn last_outbox_seq(
        &self,
        tenant: &TenantId,
    ) -> impl Future<Output = Result<i64, JournalError>> + Send;
}
