//! What plugins read and write during a batch: the batch's own writes first, then values
//! already committed (kept in memory), then the journal. Reads go to the journal only on a
//! miss; writes are buffered until the batch commits in one transaction.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use foldhash::HashMap;
use leitstand_contract::envelope::TenantId;
use leitstand_contract::journal::Journal;

use crate::state::{StateError, StateStore, StateUsage, StateWrites};

/// Committed values kept in memory before the cache starts over.
const CACHE_LIMIT: usize = 100_000;

type Key = (String, String);

/// Committed state values of one tenant that were read or written; the journal holds the
/// truth, and only the one pipeline that processes the tenant writes it.
pub struct Cache<J> {
    tenant: TenantId,
    journal: J,
    values: Mutex<HashMap<Key, Option<Vec<u8>>>>,
    /// The cache holds every value the journal has for the tenant: a miss is an unset
    /// key, with no need to ask.
    complete: AtomicBool,
}

impl<J: Journal> Cache<J> {
    /// An empty cache of `tenant`'s values in `journal`; `complete` when the journal
    /// holds no state of the tenant yet, so that no read needs to ask it.
    pub fn new(tenant: TenantId, journal: J, complete: bool) -> Arc<Self> {
        Arc::new(Self {
            tenant,
            journal,
            values: Mutex::new(HashMap::default()),
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
            // Everything applied is committed: the journal answers what memory forgets.
            self.complete.store(false, Ordering::Relaxed);
            values.clear();
        }
        for (k, v) in writes {
            values.insert(k.clone(), v.clone());
        }
    }
}

/// The state one batch of one tenant's plugins sees.
pub struct BatchView<J> {
    cache: Arc<Cache<J>>,
    writes: Mutex<BTreeMap<Key, Option<Vec<u8>>>>,
    handle: tokio::runtime::Handle,
}

impl<J: Journal> BatchView<J> {
    /// A view over `cache`. Reads that miss it block on `handle` while the journal
    /// answers: the plugins run where blocking is allowed (`block_in_place`).
    pub fn new(cache: Arc<Cache<J>>, handle: tokio::runtime::Handle) -> Arc<Self> {
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

    fn own(&self, tenant: &TenantId, what: &str) -> Result<(), StateError> {
        if *tenant == self.cache.tenant {
            return Ok(());
        }
        Err(StateError(format!(
            "tenant {tenant} {what} through the state of {}",
            self.cache.tenant
        )))
    }
}

impl<J: Journal> StateStore for BatchView<J> {
    fn get(
        &self,
        tenant: &TenantId,
        plugin: &str,
        key: &str,
    ) -> Result<Option<Vec<u8>>, StateError> {
        self.own(tenant, "read")?;
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
            .block_on(self.cache.journal.get(tenant, plugin, key))
            .map_err(|e| StateError(e.to_string()))?;
        self.cache.lock().insert(k, v.clone());
        Ok(v)
    }

    fn usage(&self, tenant: &TenantId) -> Result<StateUsage, StateError> {
        self.own(tenant, "measured")?;
        self.handle
            .block_on(self.cache.journal.usage(tenant))
            .map_err(|e| StateError(e.to_string()))
    }

    fn write(
        &self,
        tenant: &TenantId,
        plugin: &str,
        writes: &StateWrites,
    ) -> Result<(), StateError> {
        self.own(tenant, "wrote")?;
        let mut mine = self.writes();
        for (k, v) in writes {
            mine.insert((plugin.to_owned(), k.clone()), v.clone());
        }
        Ok(())
    }
}
