//! A tenant's quotas across all its plugins: state keys and bytes, and log bytes per
//! minute. One [`TenantQuota`] belongs to a tenant's runtime; every call of the tenant's
//! plugins draws on it, so that one tenant cannot fill the store or the log for the others.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::state::{StateError, StateStore, StateUsage};
use crate::tenants::TenantLimits;
use leitstand_contract::envelope::TenantId;

/// How long a measured state usage is trusted before it is measured again. Between two
/// measurements the usage follows the writes of successful calls; a batch that is built
/// twice (its commit failed) counts its writes twice until the next measurement, which
/// errs on the side of the quota.
const RESYNC: Duration = Duration::from_secs(300);

/// Keys and bytes a call adds (or, negative, frees).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct StateDelta {
    pub(crate) keys: i64,
    pub(crate) bytes: i64,
}

impl StateDelta {
    pub(crate) fn add(self, other: Self) -> Self {
        Self {
            keys: self.keys + other.keys,
            bytes: self.bytes + other.bytes,
        }
    }
}

/// Which state quota a write would break.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum StateQuotaHit {
    Keys(u64),
    Bytes(u64),
}

impl StateQuotaHit {
    /// The reason label of the refusal.
    pub(crate) fn reason(self) -> &'static str {
        match self {
            Self::Keys(_) => "state-keys",
            Self::Bytes(_) => "state-bytes",
        }
    }

    pub(crate) fn message(self, tenant: &TenantId) -> String {
        match self {
            Self::Keys(n) => format!("tenant {tenant} may hold at most {n} state keys"),
            Self::Bytes(n) => format!("tenant {tenant} may hold at most {n} bytes of state"),
        }
    }
}

struct Measured {
    usage: StateUsage,
    at: Instant,
}

struct LogBucket {
    /// Bytes still allowed in the current minute.
    left: u64,
    /// When the current minute started.
    since: Instant,
    /// Whether a drop was already told in the current minute.
    told: bool,
}

/// The quotas of one tenant, shared by all its plugins' calls.
pub struct TenantQuota {
    limits: TenantLimits,
    state: Mutex<Option<Measured>>,
    log: Mutex<LogBucket>,
}

impl std::fmt::Debug for TenantQuota {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TenantQuota")
            .field("limits", &self.limits)
            .finish_non_exhaustive()
    }
}

impl TenantQuota {
    /// Fresh quotas: state usage is measured on the first write.
    pub fn new(limits: TenantLimits) -> Self {
        Self {
            limits,
            state: Mutex::new(None),
            log: Mutex::new(LogBucket {
                left: limits.log_bytes_per_minute,
                since: Instant::now(),
                told: false,
            }),
        }
    }

    /// The limits.
    pub fn limits(&self) -> &TenantLimits {
        &self.limits
    }

    /// The tenant's committed usage, measured through `store` when not known or stale.
    fn usage(&self, tenant: &TenantId, store: &dyn StateStore) -> Result<StateUsage, StateError> {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(m) = state.as_ref()
            && m.at.elapsed() < RESYNC
        {
            return Ok(m.usage);
        }
        let usage = store.usage(tenant)?;
        *state = Some(Measured {
            usage,
            at: Instant::now(),
        });
        Ok(usage)
    }

    /// Whether a call that has changed state by `pending` may go on to change it by
    /// `more`. Writes that free space are always allowed.
    pub(crate) fn check_state(
        &self,
        tenant: &TenantId,
        store: &dyn StateStore,
        pending: StateDelta,
        more: StateDelta,
    ) -> Result<Result<(), StateQuotaHit>, StateError> {
        if more.keys <= 0 && more.bytes <= 0 {
            return Ok(Ok(()));
        }
        let usage = self.usage(tenant, store)?;
        let after = pending.add(more);
        let keys = usage.keys as i64 + after.keys;
        let bytes = usage.bytes as i64 + after.bytes;
        if more.keys > 0 && keys > self.limits.state_keys as i64 {
            return Ok(Err(StateQuotaHit::Keys(self.limits.state_keys)));
        }
        if more.bytes > 0 && bytes > self.limits.state_bytes as i64 {
            return Ok(Err(StateQuotaHit::Bytes(self.limits.state_bytes)));
        }
        Ok(Ok(()))
    }

    /// Takes a successful call's writes into the usage.
    pub(crate) fn committed(&self, delta: StateDelta) {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(m) = state.as_mut() {
            m.usage.keys = (m.usage.keys as i64 + delta.keys).max(0) as u64;
            m.usage.bytes = (m.usage.bytes as i64 + delta.bytes).max(0) as u64;
        }
    }

    /// Whether dropped log messages should be told now: once per minute of the allowance,
    /// so that a plugin over its limit does not flood the host's own log with warnings.
    pub(crate) fn tell_drop(&self) -> bool {
        let mut log = self.log.lock().unwrap_or_else(|p| p.into_inner());
        !std::mem::replace(&mut log.told, true)
    }

    /// Whether `bytes` more of log messages fit into this minute's allowance; takes them
    /// when they do.
    pub(crate) fn take_log(&self, bytes: usize) -> bool {
        let mut log = self.log.lock().unwrap_or_else(|p| p.into_inner());
        if log.since.elapsed() >= Duration::from_secs(60) {
            log.left = self.limits.log_bytes_per_minute;
            log.since = Instant::now();
            log.told = false;
        }
        let bytes = bytes as u64;
        if bytes > log.left {
            return false;
        }
        log.left -= bytes;
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::MemoryStore;

    fn tenant() -> TenantId {
        TenantId::parse("t").expect("valid")
    }

    #[test]
    fn state_quota_counts_pending_and_committed_writes() {
        let q = TenantQuota::new(TenantLimits {
            state_keys: 3,
            state_bytes: 100,
            ..TenantLimits::default()
        });
        let store = MemoryStore::new();
        let one = StateDelta { keys: 1, bytes: 10 };
        assert_eq!(
            q.check_state(&tenant(), &store, StateDelta::default(), one)
                .expect("store"),
            Ok(())
        );
        let two = one.add(one);
        assert_eq!(
            q.check_state(&tenant(), &store, two, one).expect("store"),
            Ok(())
        );
        q.committed(two.add(one));
        assert_eq!(
            q.check_state(&tenant(), &store, StateDelta::default(), one)
                .expect("store"),
            Err(StateQuotaHit::Keys(3))
        );
        // Freeing is always allowed; a rewrite that grows a value is held to the bytes.
        let free = StateDelta {
            keys: -1,
            bytes: -10,
        };
        assert_eq!(
            q.check_state(&tenant(), &store, StateDelta::default(), free)
                .expect("store"),
            Ok(())
        );
        let grow = StateDelta { keys: 0, bytes: 71 };
        assert_eq!(
            q.check_state(&tenant(), &store, StateDelta::default(), grow)
                .expect("store"),
            Err(StateQuotaHit::Bytes(100))
        );
    }

    #[test]
    fn the_log_allowance_is_per_minute() {
        let q = TenantQuota::new(TenantLimits {
            log_bytes_per_minute: 10,
            ..TenantLimits::default()
        });
        assert!(q.take_log(6));
        assert!(!q.take_log(6));
        assert!(q.take_log(4));
        assert!(!q.take_log(1));
        assert!(q.tell_drop(), "the first drop of a minute is told");
        assert!(!q.tell_drop(), "later ones that minute are not");
    }
}
