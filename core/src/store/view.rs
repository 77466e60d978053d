//! What plugins read and write during a batch: the batch's own writes first, then values
//! already committed (kept in memory), then the store. Shared by the daemon's tenant
//! workers and by replay, so both run plugins on the same path: reads through the store,
//! writes buffered until the batch commits in one transaction.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use super::Store;
use crate::envelope::TenantId;
use crate::state::{StateError, StateStore, StateWrites};

/// Committed values kept in memory before the cache starts over.
const CACHE_LIMIT: usize = 100_000;

type Key = (String, String);

/// Committed state values of one tenant that were read or written; the store holds the
/// truth, and only the one worker that processes the tenant writes it.
pub struct Cache {
    tenant: TenantId,
    store: Store,
    values: Mutex<HashMap<Key, Option<Vec<u8>>>>,
    /// The cache holds every value the store has for the tenant: a miss is an unset key,
    /// with no need to ask the store.
    complete: AtomicBool,
}

impl Cache {
    /// An empty cache of `tenant`'s values in `store`.
    pub fn new(tenant: TenantId, store: Store) -> Arc<Self> {
        Self::with(tenant, store, false)
    }

    /// An empty cache of a tenant the store holds no state of yet: until the cache
    /// starts over, reads never need the store.
    pub fn of_new_tenant(tenant: TenantId, store: Store) -> Arc<Self> {
        Self::with(tenant, store, true)
    }

    fn with(tenant: TenantId, store: Store, complete: bool) -> Arc<Self> {
        Arc::new(Self {
            tenant,
            store,
            values: Mutex::new(HashMap::new()),
            complete: AtomicBool::new(complete),
        })
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<Key, Option<Vec<u8>>>> {
        self.values.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Takes a committed batch's writes.
    pub fn apply(&self, writes: &BTreeMap<Key, Option<Vec<u8>>>) {
        let mut values = self.lock();
        if values.len() + writes.len() > CACHE_LIMIT {
            // Everything applied is committed: the store answers what memory forgets.
            self.complete.store(false, Ordering::Relaxed);
            values.clear();
        }
        for (k, v) in writes {
            values.insert(k.clone(), v.clone());
        }
    }
}

/// The state one batch of one tenant's plugins sees.
pub struct BatchView {
    cache: Arc<Cache>,
    writes: Mutex<BTreeMap<Key, Option<Vec<u8>>>>,
    handle: tokio::runtime::Handle,
}

impl BatchView {
    /// A view over `cache`. Reads that miss it block on `handle` while the store answers:
    /// call the plugins where blocking is allowed (`block_in_place`, or outside the
    /// runtime).
    pub fn new(cache: Arc<Cache>, handle: tokio::runtime::Handle) -> Arc<Self> {
        Arc::new(Self {
            cache,
            writes: Mutex::new(BTreeMap::new()),
            handle,
        })
    }

    fn writes(&self) -> MutexGuard<'_, BTreeMap<Key, Option<Vec<u8>>>> {
        self.writes.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The batch's writes so far, leaving none.
    pub fn take(&self) -> BTreeMap<Key, Option<Vec<u8>>> {
        std::mem::take(&mut *self.writes())
    }
}

impl StateStore for BatchView {
    fn get(
        &self,
        tenant: &TenantId,
        plugin: &str,
        key: &str,
    ) -> Result<Option<Vec<u8>>, StateError> {
        if *tenant != self.cache.tenant {
            return Err(StateError(format!(
                "tenant {tenant} read through the state of {}",
                self.cache.tenant
            )));
        }
        let k = (plugin.to_owned(), key.to_owned());
        if let Some(v) = self.writes().get(&k) {
            return Ok(v.clone());
        }
        if let Some(v) = self.cache.lock().get(&k) {
            return Ok(v.clone());
        }
        if self.cache.complete.load(Ordering::Relaxed) {
            return Ok(None);
        }
        let v = self
            .handle
            .block_on(self.cache.store.get(tenant, plugin, key))
            .map_err(|e| StateError(e.to_string()))?;
        self.cache.lock().insert(k, v.clone());
        Ok(v)
    }

    fn usage(&self, tenant: &TenantId) -> Result<crate::state::StateUsage, StateError> {
        if *tenant != self.cache.tenant {
            return Err(StateError(format!(
                "tenant {tenant} measured through the state of {}",
                self.cache.tenant
            )));
        }
        self.handle
            .block_on(self.cache.store.usage(tenant))
            .map_err(|e| StateError(e.to_string()))
    }

    fn commit(
        &self,
        tenant: &TenantId,
        plugin: &str,
        writes: &StateWrites,
    ) -> Result<(), StateError> {
        if *tenant != self.cache.tenant {
            return Err(StateError(format!(
                "tenant {tenant} wrote through the state of {}",
                self.cache.tenant
            )));
        }
        let mut mine = self.writes();
        for (k, v) in writes {
            mine.insert((plugin.to_owned(), k.clone()), v.clone());
        }
        Ok(())
    }
}
