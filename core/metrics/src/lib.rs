//! Metrics Leitstand keeps about itself and on behalf of plugins, and their Prometheus text.
//!
//! Owns the daemon's metric families ([`Metrics`], one per process, with its own registry
//! rather than the global default one) and the export of the custom metrics plugins report
//! ([`CustomMetrics`]). It does not decide when something happened: the transport, dispatch
//! and the sandbox count through the public fields of [`Metrics`]. Serving the text over
//! HTTP belongs to the binary.
//!
//! Names follow CONTRACT §6: every name starts with `leitstand_`, counters end in `_total`,
//! durations are `_seconds`, and labels are low-cardinality — tenant, plugin, outcome, reason
//! and a plugin's own bounded metric name, never a call id, caller or agent.

mod custom;
mod sla;

use std::sync::{Arc, Mutex, PoisonError};

use prometheus::core::{Collector, Desc};
use prometheus::proto::MetricFamily;
use prometheus::{
    CounterVec, GaugeVec, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge,
    IntGaugeVec, Opts, Registry, TextEncoder,
};

pub use custom::{
    CustomMetricError, CustomMetrics, CustomValue, InstanceOutcome, Instances,
    MAX_NAMES_PER_PLUGIN, Refusal,
};
pub use sla::{Clock, MAX_SITES, MAX_UNDECLARED_QUEUES, MAX_WAITING_CALLS, OTHER, SlaMetrics};

/// Buckets for one plugin call: 10 µs to 1 s. A typical call is well under a millisecond;
/// the top buckets show calls running into the sandbox's time limit.
const PLUGIN_CALL_BUCKETS: &[f64] = &[
    0.000_01, 0.000_025, 0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025,
    0.05, 0.1, 0.25, 0.5, 1.0,
];

/// Buckets for one event from delivery to the input's ack: 100 µs to 10 s. The upper end
/// covers publisher confirms from a slow or failing-over broker.
const EVENT_BUCKETS: &[f64] = &[
    0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    5.0, 10.0,
];

/// The daemon's own metrics, all registered in one registry that [`Metrics::render`]
/// exports together with plugins' custom metrics.
///
/// Callers count through the public fields, e.g.
/// `metrics.events_total.with_label_values(&[tenant.as_str(), "processed"]).inc()`.
/// Label values other than the documented ones must not be invented: each new value is a
/// new series. `tenant` is only ever a tenant with a loaded bundle; an event without one
/// (no tenant, or an unknown one) counts under the empty tenant, so that no sender can
/// create series.
pub struct Metrics {
    registry: Registry,
    /// `leitstand_events_total{tenant, outcome}`: events taken off the input queue, by how
    /// they were handled. `outcome` is `processed` (committed with its commands), `dead_lettered`
    /// (refused as bad input and copied to `leitstand.dead`), `duplicate` (its `source` and
    /// `id` were processed before: acknowledged, no plugin ran), `failed` (a plugin failed and
    /// its failure policy dead-lettered the event) or `unroutable` (no tenant queue took it;
    /// dead-lettered from `leitstand.unrouted`). An event counts once its batch is
    /// committed; a redelivery of it counts as `duplicate`.
    pub events_total: IntCounterVec,
    /// `leitstand_dead_letters_total{tenant, reason}`: events sent to the dead-letter
    /// exchange, by their CONTRACT §4 reason code (`malformed-json`, `missing-attribute`,
    /// `unknown-tenant`, `tenant-mismatch`, `too-large`, `plugin-failed`, …).
    pub dead_letters_total: IntCounterVec,
    /// `leitstand_plugin_calls_total{tenant, plugin, outcome}`: calls into a tenant's
    /// plugin, by `outcome`: `ok`, `timeout`, `out-of-memory`, `guest-panic` or
    /// `bad-output`.
    pub plugin_calls_total: IntCounterVec,
    /// `leitstand_plugin_call_seconds{tenant, plugin}`: wall time of one plugin call, from
    /// instantiation to its returned commands, 10 µs to 1 s buckets.
    pub plugin_call_seconds: HistogramVec,
    /// `leitstand_event_seconds{tenant}`: time from an event's delivery by the broker to
    /// the ack of that delivery (its batch committed), 100 µs to 10 s buckets.
    pub event_seconds: HistogramVec,
    /// `leitstand_commands_published_total{tenant}`: commands plugins emitted that the
    /// broker confirmed.
    pub commands_published_total: IntCounterVec,
    /// `leitstand_publish_failures_total{tenant, reason}`: commands that could not be
    /// published, by `reason`: `nack` (the broker refused the confirm), `returned`
    /// (unroutable, returned by the broker) or `channel` (the channel or connection failed).
    pub publish_failures_total: IntCounterVec,
    /// `leitstand_ack_failures_total{tenant}`: input deliveries whose ack or reject could not
    /// be sent; the broker will redeliver them.
    pub ack_failures_total: IntCounterVec,
    /// `leitstand_events_in_flight{tenant}`: events delivered but not yet settled.
    pub events_in_flight: IntGaugeVec,
    /// `leitstand_broker_connected`: 1 while the connection to RabbitMQ is open, else 0.
    pub broker_connected: IntGauge,
    /// `leitstand_broker_reconnects_total`: connections to RabbitMQ opened after the first.
    pub broker_reconnects_total: IntCounter,
    /// `leitstand_bundle_reloads_total{tenant, outcome}`: attempts to replace a tenant's
    /// bundle while running, by `outcome`: `applied` or `refused` (the old bundle stays).
    pub bundle_reloads_total: IntCounterVec,
    /// `leitstand_timers_fired_total{tenant}`: plugin timers that came due and were
    /// delivered to their plugin.
    pub timers_fired_total: IntCounterVec,
    /// `leitstand_store_failures_total{tenant}`: store operations that failed; the
    /// tenant's processing pauses and retries.
    pub store_failures_total: IntCounterVec,
    /// `leitstand_store_commit_seconds{tenant}`: time to commit one batch (state, timers,
    /// processed ids, outbox) in one transaction, 100 µs to 10 s buckets.
    pub store_commit_seconds: HistogramVec,
    /// `leitstand_store_pruned_total`: processed ids and fired timers deleted after the
    /// retention horizon.
    pub store_pruned_total: IntCounter,
    /// `leitstand_tenants_owned`: cluster mode: tenants whose lease this daemon holds.
    pub tenants_owned: IntGauge,
    /// `leitstand_fallbacks_total{tenant, plugin}`: bundle fallback commands emitted in
    /// place of a failed plugin.
    pub fallbacks_total: IntCounterVec,
    /// `leitstand_http_attempts_total{tenant, plugin, outcome}`: POSTs of `http.post`
    /// deliveries, by `outcome`: `delivered`, `rejected`, `gave-up`, `retry` (the endpoint
    /// answered 408, 429 or 5xx) or `unreachable` (no answer).
    pub http_attempts_total: IntCounterVec,
    /// `leitstand_http_deliveries_total{tenant, plugin, outcome}`: `http.post` deliveries
    /// settled, by `outcome`: `delivered`, `rejected` or `gave-up`.
    pub http_deliveries_total: IntCounterVec,
    /// `leitstand_events_received_total{tenant}`: deliveries taken off the tenant's queue,
    /// before any check.
    pub events_received_total: IntCounterVec,
    /// `leitstand_redeliveries_total{tenant}`: deliveries the broker marked as redelivered.
    pub redeliveries_total: IntCounterVec,
    /// `leitstand_event_lag_seconds{tenant}`: receive time minus event time of accepted
    /// events, 100 ms to 1 h buckets.
    pub event_lag_seconds: HistogramVec,
    /// `leitstand_publish_confirm_seconds`: from publishing a relayed batch of commands to
    /// the broker's last confirm of it.
    pub publish_confirm_seconds: prometheus::Histogram,
    /// `leitstand_store_connected`: 1 while the last store operation succeeded, else 0.
    pub store_connected: IntGauge,
    /// `leitstand_plugin_quarantined{tenant, plugin}`: 1 while the plugin is switched off
    /// after repeated failures, 0 while it runs.
    pub plugin_quarantined: IntGaugeVec,
    /// `leitstand_tenant_stuck{tenant}`: 1 while a batch of the tenant has run longer than
    /// its bound (well above its plugins' limits), else 0: the watchdog's verdict.
    pub tenant_stuck: IntGaugeVec,
    /// `leitstand_sandbox_wait_seconds_total{tenant, reason}`: time a tenant's batches
    /// waited before running their plugins: `paced` while the tenant had used more than
    /// its part of the plugins' CPU beside busy neighbours, `slot` for a free slot.
    pub sandbox_wait_seconds_total: CounterVec,
    /// The live SLA figures per tenant and queue (docs/METRICS.md).
    pub sla: Arc<SlaMetrics>,
}

/// Buckets for event lag: 100 ms to 1 h. ACDs stamp events when they happen; minutes of
/// lag mean a backlog in front of Leitstand.
const LAG_BUCKETS: &[f64] = &[
    0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 3600.0,
];

impl Metrics {
    /// Creates and registers every family, and plugins' custom metrics from `custom`,
    /// which are read at each scrape. Fails only if two families clash, i.e. on a bug.
    pub fn new(custom: Arc<CustomMetrics>) -> prometheus::Result<Self> {
        Self::with_sla(custom, SlaMetrics::new(30, Clock::Wall)?)
    }

    /// As [`Metrics::new`], with the live SLA figures kept by `sla` (its window and clock).
    pub fn with_sla(custom: Arc<CustomMetrics>, sla: SlaMetrics) -> prometheus::Result<Self> {
        let registry = Registry::new();
        let r = &registry;
        let metrics = Self {
            events_total: register(
                r,
                IntCounterVec::new(
                    Opts::new(
                        "leitstand_events_total",
                        "Events taken off the input queues, by how they were handled \
                         (processed, dead_lettered, failed, unroutable).",
                    ),
                    &["tenant", "outcome"],
                )?,
            )?,
            dead_letters_total: register(
                r,
                IntCounterVec::new(
                    Opts::new(
                        "leitstand_dead_letters_total",
                        "Events sent to the dead-letter exchange, by CONTRACT reason code.",
                    ),
                    &["tenant", "reason"],
                )?,
            )?,
            plugin_calls_total: register(
                r,
                IntCounterVec::new(
                    Opts::new(
                        "leitstand_plugin_calls_total",
                        "Calls into a tenant's plugin, by outcome \
                         (ok, timeout, out-of-memory, guest-panic, bad-output).",
                    ),
                    &["tenant", "plugin", "outcome"],
                )?,
            )?,
            plugin_call_seconds: register(
                r,
                HistogramVec::new(
                    HistogramOpts::new(
                        "leitstand_plugin_call_seconds",
                        "Wall time of one plugin call, from instantiation to its commands.",
                    )
                    .buckets(PLUGIN_CALL_BUCKETS.to_vec()),
                    &["tenant", "plugin"],
                )?,
            )?,
            event_seconds: register(
                r,
                HistogramVec::new(
                    HistogramOpts::new(
                        "leitstand_event_seconds",
                        "Time from an event's delivery by the broker to the ack of that \
                         delivery, its batch committed.",
                    )
                    .buckets(EVENT_BUCKETS.to_vec()),
                    &["tenant"],
                )?,
            )?,
            commands_published_total: register(
                r,
                IntCounterVec::new(
                    Opts::new(
                        "leitstand_commands_published_total",
                        "Commands emitted by plugins and confirmed by the broker.",
                    ),
                    &["tenant"],
                )?,
            )?,
            publish_failures_total: register(
                r,
                IntCounterVec::new(
                    Opts::new(
                        "leitstand_publish_failures_total",
                        "Commands that could not be published, by reason \
                         (nack, returned, channel).",
                    ),
                    &["tenant", "reason"],
                )?,
            )?,
            ack_failures_total: register(
                r,
                IntCounterVec::new(
                    Opts::new(
                        "leitstand_ack_failures_total",
                        "Input deliveries whose ack or reject could not be sent; \
                         the broker redelivers them.",
                    ),
                    &["tenant"],
                )?,
            )?,
            events_in_flight: register(
                r,
                IntGaugeVec::new(
                    Opts::new(
                        "leitstand_events_in_flight",
                        "Events delivered by the broker and not yet settled.",
                    ),
                    &["tenant"],
                )?,
            )?,
            broker_connected: register(
                r,
                IntGauge::new(
                    "leitstand_broker_connected",
                    "1 while the connection to RabbitMQ is open, else 0.",
                )?,
            )?,
            broker_reconnects_total: register(
                r,
                IntCounter::new(
                    "leitstand_broker_reconnects_total",
                    "Connections to RabbitMQ opened after the first one.",
                )?,
            )?,
            bundle_reloads_total: register(
                r,
                IntCounterVec::new(
                    Opts::new(
                        "leitstand_bundle_reloads_total",
                        "Attempts to replace a tenant's bundle while running, by outcome \
                         (applied, refused).",
                    ),
                    &["tenant", "outcome"],
                )?,
            )?,
            timers_fired_total: register(
                r,
                IntCounterVec::new(
                    Opts::new(
                        "leitstand_timers_fired_total",
                        "Plugin timers that came due and were delivered to their plugin.",
                    ),
                    &["tenant"],
                )?,
            )?,
            store_failures_total: register(
                r,
                IntCounterVec::new(
                    Opts::new(
                        "leitstand_store_failures_total",
                        "Store operations that failed; the tenant's processing pauses and \
                         retries.",
                    ),
                    &["tenant"],
                )?,
            )?,
            store_commit_seconds: register(
                r,
                HistogramVec::new(
                    HistogramOpts::new(
                        "leitstand_store_commit_seconds",
                        "Time to commit one batch of a tenant in one transaction.",
                    )
                    .buckets(EVENT_BUCKETS.to_vec()),
                    &["tenant"],
                )?,
            )?,
            store_pruned_total: register(
                r,
                IntCounter::new(
                    "leitstand_store_pruned_total",
                    "Processed ids and fired timers deleted after the retention horizon.",
                )?,
            )?,
            tenants_owned: register(
                r,
                IntGauge::new(
                    "leitstand_tenants_owned",
                    "Cluster mode: tenants whose lease this daemon holds.",
                )?,
            )?,
            fallbacks_total: register(
                r,
                IntCounterVec::new(
                    Opts::new(
                        "leitstand_fallbacks_total",
                        "ServiceProfile fallback commands emitted in place of a failed plugin.",
                    ),
                    &["tenant", "plugin"],
                )?,
            )?,
            http_attempts_total: register(
                r,
                IntCounterVec::new(
                    Opts::new(
                        "leitstand_http_attempts_total",
                        "POSTs of plugins' http.post deliveries, by outcome (delivered, \
                         rejected, gave-up, retry, unreachable).",
                    ),
                    &["tenant", "plugin", "outcome"],
                )?,
            )?,
            http_deliveries_total: register(
                r,
                IntCounterVec::new(
                    Opts::new(
                        "leitstand_http_deliveries_total",
                        "Plugins' http.post deliveries settled, by outcome (delivered, \
                         rejected, gave-up).",
                    ),
                    &["tenant", "plugin", "outcome"],
                )?,
            )?,
            events_received_total: register(
                r,
                IntCounterVec::new(
                    Opts::new(
                        "leitstand_events_received_total",
                        "Deliveries taken off the tenant's input queue, before any check.",
                    ),
                    &["tenant"],
                )?,
            )?,
            redeliveries_total: register(
                r,
                IntCounterVec::new(
                    Opts::new(
                        "leitstand_redeliveries_total",
                        "Deliveries the broker marked as redelivered.",
                    ),
                    &["tenant"],
                )?,
            )?,
            event_lag_seconds: register(
                r,
                HistogramVec::new(
                    HistogramOpts::new(
                        "leitstand_event_lag_seconds",
                        "Receive time minus event time of accepted events.",
                    )
                    .buckets(LAG_BUCKETS.to_vec()),
                    &["tenant"],
                )?,
            )?,
            publish_confirm_seconds: register(
                r,
                prometheus::Histogram::with_opts(
                    HistogramOpts::new(
                        "leitstand_publish_confirm_seconds",
                        "From publishing a relayed batch of commands to the broker's last \
                         confirm of it.",
                    )
                    .buckets(EVENT_BUCKETS.to_vec()),
                )?,
            )?,
            store_connected: register(
                r,
                IntGauge::new(
                    "leitstand_store_connected",
                    "1 while the last store operation succeeded, else 0.",
                )?,
            )?,
            plugin_quarantined: register(
                r,
                IntGaugeVec::new(
                    Opts::new(
                        "leitstand_plugin_quarantined",
                        "1 while the plugin is switched off after repeated failures.",
                    ),
                    &["tenant", "plugin"],
                )?,
            )?,
            tenant_stuck: register(
                r,
                IntGaugeVec::new(
                    Opts::new(
                        "leitstand_tenant_stuck",
                        "1 while a batch of the tenant has run longer than its bound, well above its plugins' limits.",
                    ),
                    &["tenant"],
                )?,
            )?,
            sandbox_wait_seconds_total: register(
                r,
                CounterVec::new(
                    Opts::new(
                        "leitstand_sandbox_wait_seconds_total",
                        "Time a tenant's batches waited before running their plugins: paced (over its part of the plugins' CPU) or for a slot.",
                    ),
                    &["tenant", "reason"],
                )?,
            )?,
            sla: Arc::new(sla),
            registry,
        };
        metrics
            .registry
            .register(Box::new(PluginMetrics::new(custom)?))?;
        metrics
            .registry
            .register(Box::new(SharedCollector(metrics.sla.clone())))?;
        Ok(metrics)
    }

    /// The registry behind these metrics, for a module that registers collectors of its
    /// own; they are then part of [`Metrics::render`].
    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// Every family with at least one series, in the Prometheus text exposition format
    /// (version 0.0.4). Labelled families appear once they have been used.
    pub fn render(&self) -> String {
        let families = self.registry.gather();
        match TextEncoder::new().encode_to_string(&families) {
            Ok(text) => text,
            Err(e) => {
                // Only malformed families fail to encode, which would be a bug here; an
                // empty scrape with the reason is more useful than a failed one.
                tracing::error!(error = %e, "metrics could not be encoded");
                format!("# leitstand: metrics could not be encoded: {e}\n")
            }
        }
    }
}

fn register<C: Collector + Clone + 'static>(
    registry: &Registry,
    collector: C,
) -> prometheus::Result<C> {
    registry.register(Box::new(collector.clone()))?;
    Ok(collector)
}

/// A collector shared with the code that feeds it.
struct SharedCollector(Arc<SlaMetrics>);

impl Collector for SharedCollector {
    fn desc(&self) -> Vec<&Desc> {
        self.0.desc()
    }

    fn collect(&self) -> Vec<MetricFamily> {
        self.0.collect()
    }
}

/// Plugins' custom metrics as two families, one per kind, so that two plugins using one
/// name as different kinds never produce conflicting `# TYPE` lines.
struct PluginMetrics {
    source: Arc<CustomMetrics>,
    /// `leitstand_plugin_metric_total{tenant, plugin, name}`.
    counters: IntCounterVec,
    /// `leitstand_plugin_metric{tenant, plugin, name}`.
    gauges: GaugeVec,
    /// `leitstand_plugin_denied_total{tenant, plugin, reason}`.
    denied: IntCounterVec,
    /// `leitstand_plugin_quota_exceeded_total{tenant, plugin, reason}`.
    quota: IntCounterVec,
    /// `leitstand_sandbox_instances_total{outcome}`.
    instances: IntCounterVec,
    /// `leitstand_sandbox_warm_instances`.
    warm: IntGauge,
    /// `leitstand_sandbox_warm_evicted_total`.
    evicted: IntCounter,
    /// Held while the families are refilled and collected, so that two scrapes at once
    /// do not see each other's half-filled families.
    scrape: Mutex<()>,
}

impl PluginMetrics {
    fn new(source: Arc<CustomMetrics>) -> prometheus::Result<Self> {
        Ok(Self {
            source,
            counters: IntCounterVec::new(
                Opts::new(
                    "leitstand_plugin_metric_total",
                    "Counters plugins report through the metrics capability, by their name.",
                ),
                &["tenant", "plugin", "name"],
            )?,
            gauges: GaugeVec::new(
                Opts::new(
                    "leitstand_plugin_metric",
                    "Gauges plugins report through the metrics capability, by their name.",
                ),
                &["tenant", "plugin", "name"],
            )?,
            denied: IntCounterVec::new(
                Opts::new(
                    "leitstand_plugin_denied_total",
                    "Calls and outputs of plugins the sandbox denied because the bundle does not grant what they need, by what was missing.",
                ),
                &["tenant", "plugin", "reason"],
            )?,
            quota: IntCounterVec::new(
                Opts::new(
                    "leitstand_plugin_quota_exceeded_total",
                    "Calls and outputs of plugins refused for a tenant or plugin quota, by quota.",
                ),
                &["tenant", "plugin", "reason"],
            )?,
            instances: IntCounterVec::new(
                Opts::new(
                    "leitstand_sandbox_instances_total",
                    "Plugin events by the instance they ran in: warm (a prepared instance kept from an earlier event), prepared (a new instance prepared for the event) or fresh (a plugin of contract 0.1.0 or 0.2.0).",
                ),
                &["outcome"],
            )?,
            warm: IntGauge::new(
                "leitstand_sandbox_warm_instances",
                "Prepared instances kept for their plugins' next events (at most sandbox.warm_instances).",
            )?,
            evicted: IntCounter::new(
                "leitstand_sandbox_warm_evicted_total",
                "Kept prepared instances dropped to make room for more recently used ones.",
            )?,
            scrape: Mutex::new(()),
        })
    }
}

impl Collector for PluginMetrics {
    fn desc(&self) -> Vec<&Desc> {
        let mut descs = self.counters.desc();
        descs.extend(self.gauges.desc());
        descs.extend(self.denied.desc());
        descs.extend(self.quota.desc());
        descs.extend(self.instances.desc());
        descs.extend(self.warm.desc());
        descs.extend(self.evicted.desc());
        descs
    }

    fn collect(&self) -> Vec<MetricFamily> {
        let _scrape = self.scrape.lock().unwrap_or_else(PoisonError::into_inner);
        self.counters.reset();
        self.gauges.reset();
        for ((tenant, plugin, name), value) in self.source.snapshot() {
            let labels = [tenant.as_str(), plugin.as_str(), name.as_str()];
            // Three labels always match the three declared; the error cannot happen.
            match value {
                CustomValue::Counter(v) => {
                    if let Ok(c) = self.counters.get_metric_with_label_values(&labels) {
                        c.inc_by(v);
                    }
                }
                CustomValue::Gauge(v) => {
                    if let Ok(g) = self.gauges.get_metric_with_label_values(&labels) {
                        g.set(v);
                    }
                }
            }
        }
        self.denied.reset();
        self.quota.reset();
        for ((kind, tenant, plugin, reason), n) in self.source.refusals() {
            let family = match kind {
                Refusal::Denied => &self.denied,
                Refusal::Quota => &self.quota,
            };
            if let Ok(c) = family.get_metric_with_label_values(&[tenant.as_str(), &plugin, reason])
            {
                c.inc_by(n);
            }
        }
        let instances = self.source.instances();
        for outcome in InstanceOutcome::ALL {
            if let Ok(c) = self
                .instances
                .get_metric_with_label_values(&[outcome.label()])
            {
                c.reset();
                c.inc_by(instances.count(outcome));
            }
        }
        self.warm.set(instances.kept());
        self.evicted.reset();
        self.evicted.inc_by(instances.evicted());
        let mut families = self.counters.collect();
        families.extend(self.gauges.collect());
        families.extend(self.denied.collect());
        families.extend(self.quota.collect());
        families.extend(self.instances.collect());
        families.extend(self.warm.collect());
        families.extend(self.evicted.collect());
        families
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use leitstand_contract::envelope::TenantId;

    /// Labels the naming rules allow: CONTRACT §6's list, a plugin metric's bounded `name`,
    /// and the histogram bucket label.
    const ALLOWED_LABELS: &[&str] = &[
        "tenant", "queue", "site", "plugin", "outcome", "reason", "name", "le",
    ];

    /// Sample lines of `text` as (name, labels) → value.
    fn samples(text: &str) -> BTreeMap<(String, BTreeMap<String, String>), f64> {
        let mut out = BTreeMap::new();
        for line in text
            .lines()
            .filter(|l| !l.starts_with('#') && !l.is_empty())
        {
            let (series, value) = line.rsplit_once(' ').expect("sample has a value");
            let (name, labels) = match series.split_once('{') {
                Some((name, rest)) => {
                    let body = rest.strip_suffix('}').expect("labels close");
                    let labels = body
                        .split(',')
                        .filter(|p| !p.is_empty())
                        .map(|p| {
                            let (k, v) = p.split_once('=').expect("label has a value");
                            (k.to_owned(), v.trim_matches('"').to_owned())
                        })
                        .collect();
                    (name, labels)
                }
                None => (series, BTreeMap::new()),
            };
            let value: f64 = value.parse().expect("numeric value");
            out.insert((name.to_owned(), labels), value);
        }
        out
    }

    fn value(text: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        let labels = labels
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        samples(text).get(&(name.to_owned(), labels)).copied()
    }

    fn type_lines(text: &str) -> BTreeMap<String, Vec<String>> {
        let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for line in text.lines() {
            if let Some(rest) = line.strip_prefix("# TYPE ") {
                let (name, kind) = rest.split_once(' ').expect("TYPE name kind");
                out.entry(name.to_owned())
                    .or_default()
                    .push(kind.to_owned());
            }
        }
        out
    }

    fn use_every_family(m: &Metrics) {
        m.events_total.with_label_values(&["t", "processed"]).inc();
        m.dead_letters_total
            .with_label_values(&["t", "malformed-json"])
            .inc();
        m.plugin_calls_total
            .with_label_values(&["t", "router", "ok"])
            .inc_by(2);
        m.plugin_call_seconds
            .with_label_values(&["t", "router"])
            .observe(0.000_3);
        m.event_seconds.with_label_values(&["t"]).observe(0.02);
        m.commands_published_total.with_label_values(&["t"]).inc();
        m.publish_failures_total
            .with_label_values(&["t", "nack"])
            .inc();
        m.ack_failures_total.with_label_values(&["t"]).inc();
        m.events_in_flight.with_label_values(&["t"]).set(3);
        m.broker_connected.set(1);
        m.broker_reconnects_total.inc();
        m.bundle_reloads_total
            .with_label_values(&["t", "applied"])
            .inc();
        m.timers_fired_total.with_label_values(&["t"]).inc();
        m.store_failures_total.with_label_values(&["t"]).inc();
        m.store_commit_seconds
            .with_label_values(&["t"])
            .observe(0.002);
        m.store_pruned_total.inc_by(4);
        m.tenants_owned.set(2);
        m.fallbacks_total.with_label_values(&["t", "p"]).inc();
        m.http_attempts_total
            .with_label_values(&["t", "p", "retry"])
            .inc();
        m.http_deliveries_total
            .with_label_values(&["t", "p", "delivered"])
            .inc();
        m.events_received_total.with_label_values(&["t"]).inc();
        m.redeliveries_total.with_label_values(&["t"]).inc();
        m.event_lag_seconds.with_label_values(&["t"]).observe(0.4);
        m.publish_confirm_seconds.observe(0.003);
        m.store_connected.set(1);
        m.plugin_quarantined.with_label_values(&["t", "p"]).set(0);
        m.sandbox_wait_seconds_total
            .with_label_values(&["t", "paced"])
            .inc_by(0.25);
    }

    #[test]
    fn render_contains_every_family_with_its_kind_and_values() {
        let m = Metrics::new(Arc::new(CustomMetrics::new())).expect("metrics");
        use_every_family(&m);
        let text = m.render();
        let types = type_lines(&text);
        let expected = [
            ("leitstand_events_total", "counter"),
            ("leitstand_dead_letters_total", "counter"),
            ("leitstand_plugin_calls_total", "counter"),
            ("leitstand_plugin_call_seconds", "histogram"),
            ("leitstand_event_seconds", "histogram"),
            ("leitstand_commands_published_total", "counter"),
            ("leitstand_publish_failures_total", "counter"),
            ("leitstand_ack_failures_total", "counter"),
            ("leitstand_events_in_flight", "gauge"),
            ("leitstand_broker_connected", "gauge"),
            ("leitstand_broker_reconnects_total", "counter"),
            ("leitstand_bundle_reloads_total", "counter"),
            ("leitstand_timers_fired_total", "counter"),
            ("leitstand_store_failures_total", "counter"),
            ("leitstand_store_commit_seconds", "histogram"),
            ("leitstand_store_pruned_total", "counter"),
            ("leitstand_tenants_owned", "gauge"),
            ("leitstand_fallbacks_total", "counter"),
            ("leitstand_http_attempts_total", "counter"),
            ("leitstand_http_deliveries_total", "counter"),
            ("leitstand_events_received_total", "counter"),
            ("leitstand_redeliveries_total", "counter"),
            ("leitstand_event_lag_seconds", "histogram"),
            ("leitstand_publish_confirm_seconds", "histogram"),
            ("leitstand_store_connected", "gauge"),
            ("leitstand_plugin_quarantined", "gauge"),
            ("leitstand_sandbox_wait_seconds_total", "counter"),
            // The sandbox's instances, always exported (0 until a plugin runs).
            ("leitstand_sandbox_instances_total", "counter"),
            ("leitstand_sandbox_warm_instances", "gauge"),
            ("leitstand_sandbox_warm_evicted_total", "counter"),
        ];
        for (name, kind) in expected {
            assert_eq!(
                types.get(name),
                Some(&vec![kind.to_owned()]),
                "{name} in\n{text}"
            );
            assert!(text.contains(&format!("# HELP {name} ")), "{name} has help");
        }
        assert_eq!(types.len(), expected.len(), "no other families:\n{text}");

        let get = |name, labels: &[(&str, &str)]| value(&text, name, labels);
        assert_eq!(
            get(
                "leitstand_events_total",
                &[("tenant", "t"), ("outcome", "processed")]
            ),
            Some(1.0)
        );
        assert_eq!(
            get(
                "leitstand_plugin_calls_total",
                &[("tenant", "t"), ("plugin", "router"), ("outcome", "ok")]
            ),
            Some(2.0)
        );
        assert_eq!(
            get("leitstand_events_in_flight", &[("tenant", "t")]),
            Some(3.0)
        );
        assert_eq!(get("leitstand_broker_connected", &[]), Some(1.0));
        // 0.3 ms lands in the 0.5 ms bucket but not in the 0.25 ms one.
        let bucket = |le| {
            get(
                "leitstand_plugin_call_seconds_bucket",
                &[("tenant", "t"), ("plugin", "router"), ("le", le)],
            )
        };
        assert_eq!(bucket("0.00025"), Some(0.0));
        assert_eq!(bucket("0.0005"), Some(1.0));
        assert_eq!(
            get(
                "leitstand_event_seconds_bucket",
                &[("tenant", "t"), ("le", "10")]
            ),
            Some(1.0)
        );
    }

    #[test]
    fn rendered_names_and_labels_follow_the_naming_rules() {
        let custom = Arc::new(CustomMetrics::new());
        let t = TenantId::parse("t").expect("tenant");
        custom.counter_add(&t, "p", "bookings", 1).expect("counter");
        custom.gauge_set(&t, "p", "free_slots", 2.0).expect("gauge");
        let m = Metrics::new(custom).expect("metrics");
        use_every_family(&m);
        let text = m.render();

        let types = type_lines(&text);
        assert!(!types.is_empty());
        for (name, kinds) in &types {
            assert!(name.starts_with("leitstand_"), "{name}");
            assert_eq!(kinds.len(), 1, "{name} has one TYPE line");
            match kinds[0].as_str() {
                "counter" => assert!(name.ends_with("_total"), "{name}"),
                "histogram" => assert!(name.ends_with("_seconds"), "{name}"),
                "gauge" => assert!(!name.ends_with("_total"), "{name}"),
                other => panic!("{name} has unexpected kind {other}"),
            }
        }
        for (name, labels) in samples(&text).keys() {
            assert!(name.starts_with("leitstand_"), "{name}");
            for label in labels.keys() {
                assert!(
                    ALLOWED_LABELS.contains(&label.as_str()),
                    "{name} has label {label}"
                );
            }
        }
    }

    #[test]
    fn plugin_custom_metrics_are_exported_by_kind_at_scrape_time() {
        let custom = Arc::new(CustomMetrics::new());
        let m = Metrics::new(Arc::clone(&custom)).expect("metrics");
        assert!(!m.render().contains("leitstand_plugin_"), "nothing yet");

        let t = TenantId::parse("stadt-a").expect("tenant");
        // One name, two kinds, two plugins: each lands in its own family.
        custom.counter_add(&t, "router", "bookings", 2).expect("ok");
        custom.counter_add(&t, "router", "bookings", 3).expect("ok");
        custom
            .gauge_set(&t, "planner", "bookings", 7.5)
            .expect("ok");
        let text = m.render();
        let types = type_lines(&text);
        assert_eq!(
            types.get("leitstand_plugin_metric_total"),
            Some(&vec!["counter".to_owned()])
        );
        assert_eq!(
            types.get("leitstand_plugin_metric"),
            Some(&vec!["gauge".to_owned()])
        );
        let labels = |plugin| {
            [
                ("tenant", "stadt-a"),
                ("plugin", plugin),
                ("name", "bookings"),
            ]
        };
        assert_eq!(
            value(&text, "leitstand_plugin_metric_total", &labels("router")),
            Some(5.0)
        );
        assert_eq!(
            value(&text, "leitstand_plugin_metric", &labels("planner")),
            Some(7.5)
        );
        assert_eq!(
            value(&text, "leitstand_plugin_metric", &labels("router")),
            None
        );

        // Values are read again at each scrape.
        custom
            .gauge_set(&t, "planner", "bookings", 1.0)
            .expect("ok");
        let text = m.render();
        assert_eq!(
            value(&text, "leitstand_plugin_metric", &labels("planner")),
            Some(1.0)
        );
        assert_eq!(
            value(&text, "leitstand_plugin_metric_total", &labels("router")),
            Some(5.0)
        );
    }
}
