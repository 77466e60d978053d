//! The custom metrics plugins report through the `metrics` capability.
//!
//! Owns their values, bounded per plugin so that no plugin can grow the set of series
//! without limit. It does not decide how they are exported; [`super::Metrics`] reads them
//! through [`CustomMetrics::snapshot`] at scrape time.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

use leitstand_contract::envelope::TenantId;

/// The most distinct metric names one plugin of one tenant may create.
pub const MAX_NAMES_PER_PLUGIN: usize = 64;

/// One custom metric's current value.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum CustomValue {
    /// A counter, only ever increased.
    Counter(u64),
    /// A gauge, set to the last value.
    Gauge(f64),
}

/// Why a custom metric update was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CustomMetricError {
    /// The name is not `[a-z][a-z0-9_]*` of at most 64 characters.
    #[error("metric name {0:?} is not [a-z][a-z0-9_]* of at most 64 characters")]
    BadName(String),
    /// The name is already used with the other kind.
    #[error("metric {0:?} is already used as the other kind (counter or gauge)")]
    KindClash(String),
    /// The plugin already has the most names it may have.
    #[error("plugin has {MAX_NAMES_PER_PLUGIN} metric names already")]
    TooManyNames,
}

/// What the sandbox refused a plugin, counted by (tenant, plugin, reason).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Refusal {
    /// A call or an output that needs something the bundle does not grant.
    Denied,
    /// A call over one of the tenant's or plugin's quotas.
    Quota,
}

/// What a refusal is counted by: kind, tenant, plugin, reason.
pub type RefusalKey = (Refusal, TenantId, String, &'static str);

/// Refusals counted by their key.
type RefusalCounts = BTreeMap<RefusalKey, u64>;

/// Custom metrics of all plugins, keyed by (tenant, plugin, name), and the sandbox's
/// count of what it refused them.
#[derive(Debug, Default)]
pub struct CustomMetrics {
    values: Mutex<BTreeMap<(TenantId, String, String), CustomValue>>,
    refusals: Mutex<RefusalCounts>,
    instances: Instances,
}

/// Which instance took a plugin's event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InstanceOutcome {
    /// An instance of a contract 0.3.0 plugin prepared for an earlier event and kept.
    Warm,
    /// A new instance of a contract 0.3.0 plugin, prepared for this event: none was kept
    /// (the plugin's first event, one evicted, or one dropped after a failure).
    Prepared,
    /// A new instance of a plugin of contract 0.1.0 or 0.2.0, as every event of theirs gets.
    Fresh,
}

impl InstanceOutcome {
    /// Every outcome, in the order they are exported.
    pub const ALL: [Self; 3] = [Self::Warm, Self::Prepared, Self::Fresh];

    /// The `outcome` label.
    pub fn label(self) -> &'static str {
        match self {
            Self::Warm => "warm",
            Self::Prepared => "prepared",
            Self::Fresh => "fresh",
        }
    }
}

/// The sandbox's count of the instances its plugins' events ran in, and of the prepared
/// instances it keeps warm: what an operator sizes `sandbox.warm_instances` by.
#[derive(Debug, Default)]
pub struct Instances {
    warm: AtomicU64,
    prepared: AtomicU64,
    fresh: AtomicU64,
    evicted: AtomicU64,
    kept: AtomicI64,
}

impl Instances {
    /// Counts one event's instance.
    pub fn took(&self, outcome: InstanceOutcome) {
        self.counter(outcome).fetch_add(1, Ordering::Relaxed);
    }

    /// How many events ran in an instance of `outcome`.
    pub fn count(&self, outcome: InstanceOutcome) -> u64 {
        self.counter(outcome).load(Ordering::Relaxed)
    }

    fn counter(&self, outcome: InstanceOutcome) -> &AtomicU64 {
        match outcome {
            InstanceOutcome::Warm => &self.warm,
            InstanceOutcome::Prepared => &self.prepared,
            InstanceOutcome::Fresh => &self.fresh,
        }
    }

    /// Sets how many prepared instances are kept now.
    pub fn set_kept(&self, kept: usize) {
        self.kept
            .store(i64::try_from(kept).unwrap_or(i64::MAX), Ordering::Relaxed);
    }

    /// How many prepared instances are kept now.
    pub fn kept(&self) -> i64 {
        self.kept.load(Ordering::Relaxed)
    }

    /// Counts a kept instance dropped to make room for a more recently used one.
    pub fn evicted_one(&self) {
        self.evicted.fetch_add(1, Ordering::Relaxed);
    }

    /// How many kept instances were dropped to make room.
    pub fn evicted(&self) -> u64 {
        self.evicted.load(Ordering::Relaxed)
    }
}

impl CustomMetrics {
    /// An empty set.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `by` to a counter.
    pub fn counter_add(
        &self,
        tenant: &TenantId,
        plugin: &str,
        name: &str,
        by: u64,
    ) -> Result<(), CustomMetricError> {
        self.update(
            tenant,
            plugin,
            name,
            CustomValue::Counter(by),
            |old| match old {
                CustomValue::Counter(v) => Some(CustomValue::Counter(v.saturating_add(by))),
                CustomValue::Gauge(_) => None,
            },
        )
    }

    /// Sets a gauge.
    pub fn gauge_set(
        &self,
        tenant: &TenantId,
        plugin: &str,
        name: &str,
        value: f64,
    ) -> Result<(), CustomMetricError> {
        self.update(
            tenant,
            plugin,
            name,
            CustomValue::Gauge(value),
            |old| match old {
                CustomValue::Gauge(_) => Some(CustomValue::Gauge(value)),
                CustomValue::Counter(_) => None,
            },
        )
    }

    fn update(
        &self,
        tenant: &TenantId,
        plugin: &str,
        name: &str,
        fresh: CustomValue,
        next: impl FnOnce(CustomValue) -> Option<CustomValue>,
    ) -> Result<(), CustomMetricError> {
        let valid = name.len() <= 64
            && name.starts_with(|c: char| c.is_ascii_lowercase())
            && name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
        if !valid {
            return Err(CustomMetricError::BadName(name.to_owned()));
        }
        let mut values = self.values.lock().unwrap_or_else(|p| p.into_inner());
        let key = (tenant.clone(), plugin.to_owned(), name.to_owned());
        if let Some(old) = values.get(&key).copied() {
            let new = next(old).ok_or_else(|| CustomMetricError::KindClash(name.to_owned()))?;
            values.insert(key, new);
            return Ok(());
        }
        let used = values
            .keys()
            .filter(|(t, p, _)| t == tenant && p == plugin)
            .count();
        if used >= MAX_NAMES_PER_PLUGIN {
            return Err(CustomMetricError::TooManyNames);
        }
        values.insert(key, fresh);
        Ok(())
    }

    /// Counts one refusal of `plugin` of `tenant` for `reason` (a short, fixed name such
    /// as `timers` or `state-keys`).
    pub fn refused(&self, kind: Refusal, tenant: &TenantId, plugin: &str, reason: &'static str) {
        let mut refusals = self.refusals.lock().unwrap_or_else(|p| p.into_inner());
        *refusals
            .entry((kind, tenant.clone(), plugin.to_owned(), reason))
            .or_default() += 1;
    }

    /// The sandbox's count of instances.
    pub fn instances(&self) -> &Instances {
        &self.instances
    }

    /// A copy of the refusal counts, sorted.
    pub fn refusals(&self) -> Vec<(RefusalKey, u64)> {
        let refusals = self.refusals.lock().unwrap_or_else(|p| p.into_inner());
        refusals.iter().map(|(k, v)| (k.clone(), *v)).collect()
    }

    /// A copy of every value, sorted by tenant, plugin and name. The exporter reads this
    /// once per scrape; the lock is held only while copying.
    pub fn snapshot(&self) -> Vec<((TenantId, String, String), CustomValue)> {
        let values = self.values.lock().unwrap_or_else(|p| p.into_inner());
        values.iter().map(|(k, v)| (k.clone(), *v)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_add_gauges_set_and_names_are_bounded() {
        let m = CustomMetrics::new();
        let t = TenantId::parse("t").expect("valid");
        m.counter_add(&t, "p", "bookings", 2).expect("ok");
        m.counter_add(&t, "p", "bookings", 3).expect("ok");
        m.gauge_set(&t, "p", "free_slots", 7.5).expect("ok");
        assert_eq!(
            m.gauge_set(&t, "p", "bookings", 1.0),
            Err(CustomMetricError::KindClash("bookings".into()))
        );
        assert!(matches!(
            m.counter_add(&t, "p", "Bad-Name", 1),
            Err(CustomMetricError::BadName(_))
        ));
        let snap = m.snapshot();
        assert_eq!(snap[0].1, CustomValue::Counter(5));
        for i in 0..MAX_NAMES_PER_PLUGIN - 2 {
            m.counter_add(&t, "p", &format!("n{i}"), 1).expect("room");
        }
        assert_eq!(
            m.counter_add(&t, "p", "one_more", 1),
            Err(CustomMetricError::TooManyNames)
        );
        m.counter_add(&t, "other", "one_more", 1)
            .expect("other plugin has room");
    }
}
