//! Which tenants this daemon processes.
//!
//! On SQLite the daemon is alone and processes every tenant. On PostgreSQL several daemons
//! share the work: each heartbeats into `leitstand_members`, assigns every tenant to the
//! live member with the highest rendezvous hash of (tenant, member), and holds a lease in
//! `leitstand_leases` for each tenant it processes. Every batch commit checks the lease
//! (its fence: owner and token), so a daemon that lost a lease can never commit for that
//! tenant again. A dead daemon stops heartbeating; after `store.lease_ms` its leases
//! expire and the next owner takes them on its next round. See ADR 0007.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sha2::{Digest, Sha256};
use tokio::sync::{Notify, watch};

use super::Shared;
use leitstand_contract::envelope::TenantId;
use leitstand_engine::registry::Registry;
use leitstand_store::{Backend, Fence};

/// The tenants this daemon may process now, and with which fence.
pub struct Ownership {
    /// This daemon's member id (cluster mode), unique per process.
    pub member: String,
    cluster: bool,
    held: Mutex<BTreeMap<TenantId, Fence>>,
    releasing: Mutex<BTreeMap<TenantId, Fence>>,
    /// Signalled whenever the set of held tenants changes.
    pub changed: Notify,
}

impl Ownership {
    /// Cluster mode on PostgreSQL, alone on SQLite.
    pub fn new(backend: Backend) -> Self {
        let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
            .map(|h| h.trim().to_owned())
            .unwrap_or_else(|_| "host".into());
        let nonce: u32 = rand::random();
        Self {
            member: format!("{host}-{}-{nonce:08x}", std::process::id()),
            cluster: backend == Backend::Postgres,
            held: Mutex::new(BTreeMap::new()),
            releasing: Mutex::new(BTreeMap::new()),
            changed: Notify::new(),
        }
    }

    /// Whether this daemon processes `tenant` now: `Some(fence)` (no fence when alone).
    pub fn fence_for(&self, tenant: &TenantId) -> Option<Option<Fence>> {
        if !self.cluster {
            return Some(None);
        }
        lock(&self.held).get(tenant).cloned().map(Some)
    }

    /// How many tenants this daemon holds (cluster mode).
    pub fn held_count(&self) -> usize {
        lock(&self.held).len()
    }

    /// Gives up every lease still held (after the workers have drained on shutdown).
    pub async fn release_all(&self, shared: &Shared) {
        let held: Vec<(TenantId, Fence)> =
            std::mem::take(&mut *lock(&self.held)).into_iter().collect();
        for (tenant, fence) in held {
            if let Err(e) = shared.store.release(&tenant, &fence).await {
                tracing::warn!(tenant = %tenant, error = %e, "releasing a lease failed; it expires instead");
            }
        }
    }

    /// A commit of `tenant` was refused with `fence`: the lease is gone, so no worker may
    /// start with it again; the next round takes a new lease if this daemon should still
    /// own the tenant.
    pub fn lost(&self, tenant: &str, fence: &Fence) {
        let Ok(tenant) = TenantId::parse(tenant) else {
            return;
        };
        let mut held = lock(&self.held);
        if held.get(&tenant) == Some(fence) {
            held.remove(&tenant);
        }
    }

    /// Called when a tenant's worker has ended: a lease given up by a handoff is deleted
    /// now, so that the next owner need not wait for it to expire.
    pub async fn worker_ended(&self, shared: &Shared, tenant: &str) {
        let Ok(tenant) = TenantId::parse(tenant) else {
            return;
        };
        let fence = lock(&self.releasing).remove(&tenant);
        if let Some(fence) = fence
            && let Err(e) = shared.store.release(&tenant, &fence).await
        {
            tracing::warn!(tenant = %tenant, error = %e, "releasing a lease failed; it expires instead");
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// The rendezvous weight of `member` for `tenant`: the member with the largest weight
/// owns the tenant.
fn weight(tenant: &str, member: &str) -> u64 {
    let mut h = Sha256::new();
    h.update(tenant.as_bytes());
    h.update([0]);
    h.update(member.as_bytes());
    let d = h.finalize();
    let mut first = [0u8; 8];
    first.copy_from_slice(&d[..8]);
    u64::from_be_bytes(first)
}

/// The live member that should own `tenant`.
fn owner_of<'a>(tenant: &str, members: &'a [String]) -> Option<&'a str> {
    members
        .iter()
        .max_by_key(|m| (weight(tenant, m), m.as_str()))
        .map(String::as_str)
}

/// Cluster mode: heartbeats, renews, takes and hands over leases every third of
/// `store.lease_ms`, until shutdown; then leaves the cluster.
pub async fn run(
    shared: Arc<Shared>,
    registry: Arc<Registry>,
    ownership: Arc<Ownership>,
    mut shutdown: watch::Receiver<bool>,
) {
    if !ownership.cluster {
        return;
    }
    let lease_ms = i64::try_from(shared.store_config.lease_ms.max(300)).unwrap_or(6_000);
    let every = Duration::from_millis((lease_ms / 3).unsigned_abs());
    let mut tick = tokio::time::interval(every);
    tracing::info!(member = %ownership.member, lease_ms, "cluster mode: sharing tenants over the daemons on this store");
    loop {
        tokio::select! {
            _ = shutdown.wait_for(|s| *s) => break,
            _ = tick.tick() => {}
        }
        if let Err(e) = round(&shared, &registry, &ownership, lease_ms).await {
            shared.health.set_store(false);
            tracing::warn!(error = %e, "a cluster round failed; leases not renewed expire");
        }
    }
    // Graceful stop: the workers are drained by the supervisor; leave so that the other
    // daemons take the tenants over at once instead of after the leases expire.
    let _ = shared.store.leave(&ownership.member).await;
}

async fn round(
    shared: &Shared,
    registry: &Registry,
    ownership: &Ownership,
    lease_ms: i64,
) -> Result<(), leitstand_store::StoreError> {
    let store = &shared.store;
    let me = ownership.member.as_str();
    let now = chrono::Utc::now().timestamp_millis();
    store.heartbeat(me, now).await?;
    let members = store.live_members(now - lease_ms).await?;
    let tenants: BTreeSet<TenantId> = registry.slots().iter().map(|s| s.tenant.clone()).collect();
    let mut changed = false;

    // Renew what is held; hand over what another live member should own.
    let held: Vec<(TenantId, Fence)> = lock(&ownership.held)
        .iter()
        .map(|(t, f)| (t.clone(), f.clone()))
        .collect();
    for (tenant, fence) in held {
        let wanted = tenants.contains(&tenant) && owner_of(tenant.as_str(), &members) == Some(me);
        if !wanted {
            lock(&ownership.held).remove(&tenant);
            lock(&ownership.releasing).insert(tenant.clone(), fence);
            changed = true;
            tracing::info!(tenant = %tenant, "handing the tenant over to another daemon");
            continue;
        }
        if !store.renew(&tenant, &fence, now, lease_ms).await? {
            lock(&ownership.held).remove(&tenant);
            changed = true;
            tracing::warn!(tenant = %tenant, "the tenant's lease was lost");
        }
    }
    // Take what this daemon should own.
    for tenant in &tenants {
        if owner_of(tenant.as_str(), &members) != Some(me)
            || lock(&ownership.held).contains_key(tenant)
            || lock(&ownership.releasing).contains_key(tenant)
        {
            continue;
        }
        if let Some(fence) = store.acquire(tenant, me, now, lease_ms).await? {
            tracing::info!(tenant = %tenant, token = fence.token, "took the tenant's lease");
            lock(&ownership.held).insert(tenant.clone(), fence);
            changed = true;
        }
    }
    shared
        .context
        .metrics
        .tenants_owned
        .set(i64::try_from(ownership.held_count()).unwrap_or(i64::MAX));
    if changed {
        ownership.changed.notify_one();
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_tenant_has_one_owner_and_a_departure_moves_only_its_tenants() {
        let members: Vec<String> = ["a", "b", "c"].iter().map(|s| s.to_string()).collect();
        let tenants: Vec<String> = (0..60).map(|i| format!("t{i}")).collect();
        let before: Vec<&str> = tenants
            .iter()
            .map(|t| owner_of(t, &members).expect("an owner"))
            .collect();
        for m in ["a", "b", "c"] {
            assert!(before.contains(&m), "{m} owns some of 60 tenants");
        }
        let without_b: Vec<String> = ["a", "c"].iter().map(|s| s.to_string()).collect();
        for (t, owner) in tenants.iter().zip(&before) {
            let after = owner_of(t, &without_b).expect("an owner");
            if *owner != "b" {
                assert_eq!(after, *owner, "{t} stays where it was");
            }
        }
        assert_eq!(owner_of("t", &[]), None);
    }
}
