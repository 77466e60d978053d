//! The watchdog: a tenant whose batch has run far longer than its plugins' limits allow is
//! reported stuck — `leitstand_tenant_stuck{tenant}` 1, `/readyz` failing `stuck` with the
//! tenant named, a warning in the log — instead of stalling in silence. The batch itself
//! is not touched: the sandbox's limits end a plugin call; what the watchdog catches is
//! whatever they cannot (a host-side hang).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use leitstand_contract::envelope::TenantId;
use leitstand_engine::dispatch::TenantRuntime;
use leitstand_metrics::Metrics;

use crate::http::Health;

/// How much longer than its slowest plugin's wall-clock limit one batch may take: a batch
/// is cut to a slice of sandbox time, so even a full one is far from this.
const LIMITS_PER_BATCH: u32 = 20;

/// The batches running now, by tenant, and the tenants reported stuck.
#[derive(Default)]
pub struct Watchdog {
    /// Batches under way: when each started and how long it may take.
    running: Mutex<BTreeMap<TenantId, (Instant, Duration)>>,
    /// Tenants reported stuck in the last round.
    stuck: Mutex<BTreeSet<TenantId>>,
}

/// A batch under the watchdog's eye; it is done when this is dropped.
pub struct Watched<'a> {
    watchdog: &'a Watchdog,
    tenant: TenantId,
}

impl Drop for Watched<'_> {
    fn drop(&mut self) {
        self.watchdog.lock_running().remove(&self.tenant);
    }
}

impl Watchdog {
    fn lock_running(&self) -> std::sync::MutexGuard<'_, BTreeMap<TenantId, (Instant, Duration)>> {
        self.running.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The bound of a batch of `rt`'s tenant: `floor`, or 20 times its slowest plugin's
    /// wall-clock limit when that is longer.
    pub fn bound(rt: &TenantRuntime, floor: Duration) -> Duration {
        let slowest = rt
            .bundle
            .plugins
            .iter()
            .map(|p| Duration::from_millis(p.limits.wall_ms))
            .max()
            .unwrap_or_default();
        floor.max(slowest * LIMITS_PER_BATCH)
    }

    /// Watches a batch of `tenant` that may take `bound`, from now until the guard drops.
    pub fn watch(&self, tenant: &TenantId, bound: Duration) -> Watched<'_> {
        self.lock_running()
            .insert(tenant.clone(), (Instant::now(), bound));
        Watched {
            watchdog: self,
            tenant: tenant.clone(),
        }
    }

    /// The tenants whose batch has run longer than its bound at `now`.
    pub fn overdue(&self, now: Instant) -> BTreeSet<TenantId> {
        self.lock_running()
            .iter()
            .filter(|(_, (started, bound))| now.saturating_duration_since(*started) > *bound)
            .map(|(t, _)| t.clone())
            .collect()
    }

    /// One round: reports the tenants overdue at `now` in `metrics` and `health`, and logs
    /// each tenant that became stuck or is going again. `tenants` are those served, whose
    /// gauge reads 0 while they are not stuck.
    pub fn round<'a>(
        &self,
        now: Instant,
        tenants: impl IntoIterator<Item = &'a TenantId>,
        metrics: &Metrics,
        health: &Health,
    ) {
        let overdue = self.overdue(now);
        let mut stuck = self.stuck.lock().unwrap_or_else(PoisonError::into_inner);
        for tenant in overdue.difference(&stuck) {
            let since = self
                .lock_running()
                .get(tenant)
                .map(|(started, _)| now.saturating_duration_since(*started).as_secs())
                .unwrap_or_default();
            tracing::warn!(tenant = %tenant, running_seconds = since, "a tenant is stuck: its batch has run far longer than its plugins' limits allow");
        }
        for tenant in stuck.difference(&overdue) {
            tracing::info!(tenant = %tenant, "a stuck tenant is going again");
        }
        for tenant in tenants {
            metrics
                .tenant_stuck
                .with_label_values(&[tenant.as_str()])
                .set(i64::from(overdue.contains(tenant)));
        }
        health.set_stuck(overdue.iter().map(ToString::to_string).collect());
        *stuck = overdue;
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use leitstand_metrics::CustomMetrics;

    use super::*;

    /// A batch that never ends — a host-side stand-in for a stuck tenant — is reported by
    /// the metric and by `/readyz`, and the report goes when the batch ends.
    #[test]
    fn a_stuck_batch_shows_in_the_metric_and_in_readiness() {
        let metrics = Metrics::new(Arc::new(CustomMetrics::new())).expect("metrics");
        let health = Health::new(Duration::from_secs(60));
        let watchdog = Watchdog::default();
        let stuck = TenantId::parse("stuck").expect("valid");
        let calm = TenantId::parse("calm").expect("valid");
        let guard = watchdog.watch(&stuck, Duration::from_secs(5));
        let _calm = watchdog.watch(&calm, Duration::from_secs(600));
        let tenants = [stuck.clone(), calm.clone()];

        watchdog.round(Instant::now(), &tenants, &metrics, &health);
        assert!(
            metrics
                .render()
                .contains("leitstand_tenant_stuck{tenant=\"stuck\"} 0")
        );
        assert!(!health.readiness_text().contains("\"stuck\""));

        let later = Instant::now() + Duration::from_secs(6);
        watchdog.round(later, &tenants, &metrics, &health);
        let text = metrics.render();
        assert!(
            text.contains("leitstand_tenant_stuck{tenant=\"stuck\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("leitstand_tenant_stuck{tenant=\"calm\"} 0"),
            "{text}"
        );
        let ready = health.readiness_text();
        assert!(ready.contains("\"stuck\""), "{ready}");
        assert!(ready.contains("\"stuck_tenants\":[\"stuck\"]"), "{ready}");

        drop(guard);
        watchdog.round(later, &tenants, &metrics, &health);
        assert!(
            metrics
                .render()
                .contains("leitstand_tenant_stuck{tenant=\"stuck\"} 0")
        );
        assert!(health.readiness_text().contains("\"stuck_tenants\":[]"));
    }
}
