//! Durable state of plugins: key-value entries per tenant and plugin, and their timers.
//!
//! Owns the [`StateStore`] interface plugins read through, an in-memory store for tests and
//! for checking bundles, and the [`TimerSchedule`] of pending timers in event time. It
//! knows nothing of wasm or of the transport; the sandbox reads through a store and hands
//! back buffered writes, which the pipeline writes into the batch's view only when the
//! plugin succeeded and commits with its batch.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

use leitstand_contract::envelope::TenantId;
pub use leitstand_contract::journal::StateUsage;

/// The largest key a plugin may use, in bytes.
pub const MAX_KEY_BYTES: usize = 512;
/// The largest value a plugin may store under one key, in bytes.
pub const MAX_VALUE_BYTES: usize = 1024 * 1024;

/// Buffered writes of one plugin for one event: `Some(value)` sets, `None` deletes.
pub type StateWrites = BTreeMap<String, Option<Vec<u8>>>;

/// A failure of the state backend itself (not of a plugin).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("state store: {0}")]
pub struct StateError(pub String);

/// Where plugins' key-value state lives. One tenant's plugin sees only its own keys.
pub trait StateStore: Send + Sync + 'static {
    /// The value of `key` for `plugin` of `tenant`.
    fn get(
        &self,
        tenant: &TenantId,
        plugin: &str,
        key: &str,
    ) -> Result<Option<Vec<u8>>, StateError>;

    /// Applies all `writes` of one plugin for one event at once (durable only when the
    /// batch commits).
    fn write(
        &self,
        tenant: &TenantId,
        plugin: &str,
        writes: &StateWrites,
    ) -> Result<(), StateError>;

    /// How many keys and bytes (keys and values) `tenant`'s plugins hold together, as
    /// committed: the base of the tenant's state quota.
    fn usage(&self, tenant: &TenantId) -> Result<StateUsage, StateError>;
}

/// Entries by (tenant, plugin), then by key.
type Entries = HashMap<(TenantId, String), BTreeMap<String, Vec<u8>>>;

/// State kept in memory: the throw-away store of a replay.
#[derive(Debug, Default)]
pub struct MemoryStore {
    entries: Mutex<Entries>,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> Result<std::sync::MutexGuard<'_, Entries>, StateError> {
        self.entries
            .lock()
            .map_err(|_| StateError("memory store poisoned by an earlier panic".into()))
    }
}

impl StateStore for MemoryStore {
    fn get(
        &self,
        tenant: &TenantId,
        plugin: &str,
        key: &str,
    ) -> Result<Option<Vec<u8>>, StateError> {
        let map = self.lock()?;
        Ok(map
            .get(&(tenant.clone(), plugin.to_owned()))
            .and_then(|m| m.get(key).cloned()))
    }

    fn write(
        &self,
        tenant: &TenantId,
        plugin: &str,
        writes: &StateWrites,
    ) -> Result<(), StateError> {
        if writes.is_empty() {
            return Ok(());
        }
        let mut map = self.lock()?;
        let entries = map.entry((tenant.clone(), plugin.to_owned())).or_default();
        for (key, value) in writes {
            match value {
                Some(v) => {
                    entries.insert(key.clone(), v.clone());
                }
                None => {
                    entries.remove(key);
                }
            }
        }
        Ok(())
    }

    fn usage(&self, tenant: &TenantId) -> Result<StateUsage, StateError> {
        let map = self.lock()?;
        let mut usage = StateUsage::default();
        for ((t, _), entries) in map.iter() {
            if t == tenant {
                for (k, v) in entries {
                    usage.keys += 1;
                    usage.bytes += (k.len() + v.len()) as u64;
                }
            }
        }
        Ok(usage)
    }
}

/// A store that holds nothing and refuses every access: for runtimes whose plugins are
/// always given their state per call (the daemon's batches), so that a path that forgot
/// to is an error, not a silently empty state.
#[derive(Debug, Default, Clone, Copy)]
pub struct Detached;

impl StateStore for Detached {
    fn get(
        &self,
        tenant: &TenantId,
        plugin: &str,
        _key: &str,
    ) -> Result<Option<Vec<u8>>, StateError> {
        Err(StateError(format!(
            "no state is attached to {tenant}/{plugin} outside a batch"
        )))
    }

    fn write(
        &self,
        tenant: &TenantId,
        plugin: &str,
        _writes: &StateWrites,
    ) -> Result<(), StateError> {
        Err(StateError(format!(
            "no state is attached to {tenant}/{plugin} outside a batch"
        )))
    }

    fn usage(&self, tenant: &TenantId) -> Result<StateUsage, StateError> {
        Err(StateError(format!(
            "no state is attached to {tenant} outside a batch"
        )))
    }
}

/// A timer as a plugin set it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Timer {
    /// The tenant.
    pub tenant: TenantId,
    /// The plugin that set it and will receive it.
    pub plugin: String,
    /// Its name, unique per tenant and plugin.
    pub name: String,
    /// When it is due, in milliseconds since the epoch (event time).
    pub at_ms: i64,
    /// JSON text handed back when it fires.
    pub payload: String,
    /// Which setting of the name this is, where a durable store tells settings apart;
    /// 0 otherwise.
    pub seq: i64,
}

/// Pending timers ordered by due time, then by their setting's sequence (the order they
/// were set in), so that a schedule rebuilt from the store fires in the same order.
#[derive(Debug, Default)]
pub struct TimerSchedule {
    by_due: BTreeMap<DueKey, Timer>,
    by_name: HashMap<(TenantId, String, String), DueKey>,
    next_tie: u64,
}

/// Due time, setting sequence, and a tie-breaker for settings without a sequence.
type DueKey = (i64, i64, u64);

impl TimerSchedule {
    /// An empty schedule.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets a timer, replacing one of the same tenant, plugin and name; returns the one
    /// it replaced.
    pub fn set(&mut self, timer: Timer) -> Option<Timer> {
        let name_key = (
            timer.tenant.clone(),
            timer.plugin.clone(),
            timer.name.clone(),
        );
        let replaced = self
            .by_name
            .remove(&name_key)
            .and_then(|old| self.by_due.remove(&old));
        let key = (timer.at_ms, timer.seq, self.next_tie);
        self.next_tie += 1;
        self.by_name.insert(name_key, key);
        self.by_due.insert(key, timer);
        replaced
    }

    /// Cancels a timer by name and returns it; an unknown name is ignored.
    pub fn cancel(&mut self, tenant: &TenantId, plugin: &str, name: &str) -> Option<Timer> {
        let key = self
            .by_name
            .remove(&(tenant.clone(), plugin.to_owned(), name.to_owned()))?;
        self.by_due.remove(&key)
    }

    /// Removes and returns the earliest timer due at or before `now_ms`.
    pub fn pop_due(&mut self, now_ms: i64) -> Option<Timer> {
        let (&key, _) = self.by_due.first_key_value()?;
        if key.0 > now_ms {
            return None;
        }
        let timer = self.by_due.remove(&key)?;
        self.by_name.remove(&(
            timer.tenant.clone(),
            timer.plugin.clone(),
            timer.name.clone(),
        ));
        Some(timer)
    }

    /// When the earliest pending timer is due.
    pub fn next_due(&self) -> Option<i64> {
        self.by_due.keys().next().map(|k| k.0)
    }

    /// How many timers are pending.
    pub fn len(&self) -> usize {
        self.by_due.len()
    }

    /// Whether no timer is pending.
    pub fn is_empty(&self) -> bool {
        self.by_due.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t() -> TenantId {
        TenantId::parse("t").expect("valid")
    }

    fn timer(name: &str, at_ms: i64) -> Timer {
        Timer {
            tenant: t(),
            plugin: "p".into(),
            name: name.into(),
            at_ms,
            payload: "{}".into(),
            seq: 0,
        }
    }

    #[test]
    fn memory_store_scopes_keys_by_tenant_and_plugin() {
        let store = MemoryStore::new();
        let other = TenantId::parse("u").expect("valid");
        let writes = StateWrites::from([("k".to_owned(), Some(b"1".to_vec()))]);
        store.write(&t(), "p", &writes).expect("write");
        assert_eq!(store.get(&t(), "p", "k").expect("get"), Some(b"1".to_vec()));
        assert_eq!(store.get(&t(), "q", "k").expect("get"), None);
        assert_eq!(store.get(&other, "p", "k").expect("get"), None);
        let delete = StateWrites::from([("k".to_owned(), None)]);
        store.write(&t(), "p", &delete).expect("write");
        assert_eq!(store.get(&t(), "p", "k").expect("get"), None);
    }

    #[test]
    fn timers_fire_in_due_order_and_by_name() {
        let mut s = TimerSchedule::new();
        s.set(timer("b", 200));
        s.set(timer("a", 100));
        s.set(timer("c", 100));
        s.set(timer("b", 50)); // replaces b@200
        s.cancel(&t(), "p", "c");
        s.cancel(&t(), "p", "unknown");
        assert_eq!(s.len(), 2);
        assert_eq!(s.pop_due(40), None);
        assert_eq!(s.pop_due(1_000).map(|t| t.name), Some("b".into()));
        assert_eq!(s.next_due(), Some(100));
        assert_eq!(s.pop_due(1_000).map(|t| t.name), Some("a".into()));
        assert!(s.is_empty());
    }
}
