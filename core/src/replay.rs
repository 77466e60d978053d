//! Replay: the broker-free transport. Reads a JSON Lines file of CloudEvents, runs the whole
//! dispatch on it in file order with timers firing in event time, writes the commands as
//! JSON Lines and accounts the service levels.
//!
//! Owns the line format, duplicate suppression, the replay clock and the application of
//! outcomes (state commits, timers, commands) for a run without a broker. A bad line is
//! reported with its number and reason and the run goes on.

use std::collections::{BTreeMap, HashSet};
use std::io::{BufRead, Write};
use std::sync::Arc;

use anyhow::Context as _;
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::dispatch::{Dispatcher, Outcome, routing_key_tenant};
use crate::envelope::{self, Envelope, IntakeLimits, RejectReason, Rejection, TenantId};
use crate::metrics::Metrics;
use crate::sla::{SlaBook, SlaReport};
use crate::state::{StateStore, Timer, TimerSchedule};
use crate::store::view::{BatchView, Cache};
use crate::store::{Commit, Store, StoreError, TimerChange};
use crate::transport::Message;

/// How a replay runs.
#[derive(Debug, Clone, Copy)]
pub struct ReplayOptions {
    /// Limits applied to every event.
    pub limits: IntakeLimits,
    /// After the last line, timers due at most this long after the last event time still
    /// fire; later ones are reported as pending.
    pub timer_horizon: chrono::Duration,
    /// The most timers one drain may fire; a plugin re-arming timers without end is stopped
    /// there.
    pub max_timer_firings: u64,
}

impl Default for ReplayOptions {
    fn default() -> Self {
        Self {
            limits: IntakeLimits::default(),
            timer_horizon: chrono::Duration::hours(24),
            max_timer_firings: 1_000_000,
        }
    }
}

/// Something the operator should hear about while the run goes on.
#[derive(Debug, Clone, PartialEq)]
pub enum Notice {
    /// A line was refused.
    Rejected {
        /// 1-based line number.
        line: u64,
        /// Why.
        rejection: Rejection,
    },
    /// A plugin failed on an event (or a timer); its decisions were dropped.
    PluginFailed {
        /// 1-based line number; `None` for a timer.
        line: Option<u64>,
        /// The tenant.
        tenant: String,
        /// The plugin.
        plugin: String,
        /// The event's id.
        event_id: String,
        /// What went wrong (`kind: detail`).
        failure: crate::sandbox::PluginFailure,
    },
    /// A line repeated the `source` and `id` of an earlier one and was skipped.
    Duplicate {
        /// 1-based line number.
        line: u64,
    },
    /// Timers stopped firing because of the firing limit.
    TimerStorm {
        /// Timers fired in the drain that hit the limit.
        fired: u64,
    },
}

/// What a replay did, by the numbers.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ReplayStats {
    /// Non-empty lines read.
    pub lines: u64,
    /// Events accepted and dispatched.
    pub processed: u64,
    /// Lines refused.
    pub rejected: u64,
    /// Lines skipped as duplicates.
    pub duplicates: u64,
    /// Refused lines by reason code.
    pub rejected_by_reason: BTreeMap<String, u64>,
    /// Plugin calls made.
    pub plugin_calls: u64,
    /// Plugin calls failed, by failure kind.
    pub plugin_failures: BTreeMap<String, u64>,
    /// Fallback commands emitted in place of failed plugins.
    pub fallbacks: u64,
    /// Commands written.
    pub commands: u64,
    /// Timers fired.
    pub timers_fired: u64,
    /// Timers still pending at the end.
    pub timers_pending: u64,
}

/// The result of a replay: its numbers and its SLA report.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ReplayReport {
    /// Per tenant and queue (CONTRACT §6).
    pub tenants: Vec<crate::sla::TenantReport>,
    /// The run's numbers.
    pub replay: ReplayStats,
}

impl ReplayReport {
    /// The SLA part alone.
    pub fn sla(&self) -> SlaReport {
        SlaReport {
            tenants: self.tenants.clone(),
        }
    }
}

/// Events committed to the store at once: one transaction per tenant per this many lines.
const BATCH_LINES: u64 = 1_024;

/// A replay in progress.
///
/// It takes the daemon's path through the store: plugins read their state through a
/// batch view, and each batch commits every tenant's writes, timer changes, processed ids
/// and commands (into the outbox) in one transaction per tenant; then the commands are
/// written out in the order they were decided and cleared from the outbox. The store is
/// a throw-away in-memory database unless the caller opens a lasting one; a lasting one
/// lets a second run resume: its processed events are skipped as duplicates, its pending
/// timers fire, its unwritten commands are written first.
pub struct Replay<'a> {
    dispatcher: &'a Dispatcher,
    store: Store,
    runtime: tokio::runtime::Handle,
    options: ReplayOptions,
    timers: TimerSchedule,
    sla: SlaBook,
    seen: HashSet<[u8; 16]>,
    /// The store already knew processed events when the run started.
    resumed: bool,
    tenants: BTreeMap<TenantId, TenantBatch>,
    /// The batch's commands in the order they were decided: tenant and outbox index.
    order: Vec<(TenantId, usize)>,
    in_batch: u64,
    line_no: u64,
    clock: Option<DateTime<Utc>>,
    stats: ReplayStats,
    commands: &'a mut dyn Write,
    notices: &'a mut dyn FnMut(Notice),
    metrics: Option<Arc<Metrics>>,
}

/// One tenant's part of the batch in progress.
struct TenantBatch {
    cache: Arc<Cache>,
    view: Arc<BatchView>,
    commit: Commit,
    next_timer_seq: i64,
    next_outbox_seq: i64,
}

impl<'a> Replay<'a> {
    /// A replay through `dispatcher` with plugin state, timers, processed ids and the
    /// outbox in `store`, whose calls run on `runtime` (a multi-threaded runtime; the
    /// replay itself must run outside it). Commands go to `commands` as JSON Lines;
    /// notices to `notices`.
    pub fn new(
        dispatcher: &'a Dispatcher,
        store: Store,
        runtime: tokio::runtime::Handle,
        options: ReplayOptions,
        commands: &'a mut dyn Write,
        notices: &'a mut dyn FnMut(Notice),
    ) -> Self {
        let mut sla = SlaBook::new();
        for bundle in dispatcher.bundles() {
            sla.open(bundle);
        }
        Self {
            dispatcher,
            store,
            runtime,
            options,
            timers: TimerSchedule::new(),
            sla,
            seen: HashSet::new(),
            resumed: false,
            tenants: BTreeMap::new(),
            order: Vec::new(),
            in_batch: 0,
            line_no: 0,
            clock: None,
            stats: ReplayStats::default(),
            commands,
            notices,
            metrics: None,
        }
    }

    /// Counts the run in `metrics` as the daemon would count it: the SLA families from
    /// the same events the report counts, events by outcome, dead letters by reason,
    /// plugin calls and failures, fallbacks, timers and commands. At the end the
    /// interval in progress is closed, so that the staffing gauges show the last interval.
    pub fn with_metrics(mut self, metrics: Arc<Metrics>) -> Self {
        for bundle in self.dispatcher.bundles() {
            metrics.sla.open(bundle);
            for p in &bundle.plugins {
                metrics
                    .plugin_quarantined
                    .with_label_values(&[bundle.tenant.as_str(), &p.name])
                    .set(0);
            }
        }
        self.metrics = Some(metrics);
        self
    }

    fn count_event(&self, tenant: &str, outcome: &str) {
        if let Some(m) = &self.metrics {
            m.events_total.with_label_values(&[tenant, outcome]).inc();
        }
    }

    /// Reads every line of `input`, then fires the timers within the horizon.
    pub fn run(mut self, mut input: impl BufRead) -> anyhow::Result<ReplayReport> {
        self.start()?;
        let mut buf = Vec::new();
        loop {
            buf.clear();
            let n = input
                .read_until(b'\n', &mut buf)
                .context("reading events")?;
            if n == 0 {
                break;
            }
            self.feed(&buf)?;
        }
        self.finish()
    }

    /// Takes what the store holds (pending timers, unwritten commands); call once before
    /// the first [`Self::feed`].
    pub fn start(&mut self) -> anyhow::Result<()> {
        self.load()
    }

    /// Processes one line (a CloudEvent; blank lines are skipped but counted), firing the
    /// timers due before its event first.
    pub fn feed(&mut self, raw: &[u8]) -> anyhow::Result<()> {
        self.line_no += 1;
        let line = trim_ascii(raw);
        if line.is_empty() {
            return Ok(());
        }
        self.line(self.line_no, line)?;
        self.in_batch += 1;
        if self.in_batch >= BATCH_LINES {
            self.flush()?;
        }
        Ok(())
    }

    /// Fires every timer due at or before `until_ms`.
    pub fn advance(&mut self, until_ms: i64) -> anyhow::Result<()> {
        self.drain_timers(until_ms)
    }

    /// When the next pending timer is due.
    pub fn next_timer_ms(&self) -> Option<i64> {
        self.timers.next_due()
    }

    /// The latest event time seen so far.
    pub fn clock(&self) -> Option<DateTime<Utc>> {
        self.clock
    }

    /// Commits what is decided so far and writes its commands.
    pub fn commit(&mut self) -> anyhow::Result<()> {
        self.flush()
    }

    /// Fires the timers within the horizon after the last event, commits, and reports.
    pub fn finish(mut self) -> anyhow::Result<ReplayReport> {
        if let Some(last) = self.clock {
            let until = last + self.options.timer_horizon;
            self.drain_timers(until.timestamp_millis())?;
        }
        self.flush()?;
        self.stats.timers_pending = self.timers.len() as u64;
        self.commands.flush().context("writing commands")?;
        if let Some(m) = &self.metrics {
            m.sla.close_intervals();
            for (tenant, rt) in self.dispatcher.runtimes() {
                for q in rt.quarantine() {
                    m.plugin_quarantined
                        .with_label_values(&[tenant.as_str(), &q.plugin])
                        .set(i64::from(q.quarantined));
                }
            }
        }
        Ok(ReplayReport {
            tenants: self.sla.report().tenants,
            replay: self.stats,
        })
    }

    fn block_on<T>(
        &self,
        f: impl std::future::Future<Output = Result<T, StoreError>>,
    ) -> anyhow::Result<T> {
        Ok(self.runtime.block_on(f)?)
    }

    /// Takes what the store holds for every tenant: pending timers, sequences, and
    /// commands committed but not yet written, which are written first.
    fn load(&mut self) -> anyhow::Result<()> {
        let tenants: Vec<TenantId> = self.dispatcher.runtimes().keys().cloned().collect();
        self.resumed = self.block_on(self.store.retained())? > 0;
        for tenant in tenants {
            let store = self.store.clone();
            let (pending, timer_seq, outbox, outbox_seq) = self.block_on(async {
                Ok((
                    store.pending_timers(&tenant).await?,
                    store.last_timer_seq(&tenant).await?,
                    store.outbox(&tenant).await?,
                    store.last_outbox_seq(&tenant).await?,
                ))
            })?;
            for t in pending {
                self.timers.set(t.into_timer(&tenant));
            }
            for entry in &outbox {
                self.write_command(&tenant, &entry.body)?;
            }
            let seqs: Vec<i64> = outbox.iter().map(|e| e.seq).collect();
            self.block_on(store.outbox_done(&tenant, &seqs))?;
            // A tenant the store has no state of (always so on a throw-away store) is
            // read from memory alone.
            let cache = if self.block_on(store.has_state(&tenant))? {
                Cache::new(tenant.clone(), store.clone())
            } else {
                Cache::of_new_tenant(tenant.clone(), store.clone())
            };
            self.tenants.insert(
                tenant,
                TenantBatch {
                    view: BatchView::new(cache.clone(), self.runtime.clone()),
                    cache,
                    commit: Commit::default(),
                    next_timer_seq: timer_seq + 1,
                    next_outbox_seq: outbox_seq + 1,
                },
            );
        }
        Ok(())
    }

    /// Commits the batch, one transaction per tenant, then writes its commands in the
    /// order they were decided and clears them from the outbox.
    fn flush(&mut self) -> anyhow::Result<()> {
        self.in_batch = 0;
        let at_ms = Utc::now().timestamp_millis();
        let store = self.store.clone();
        for (tenant, batch) in &mut self.tenants {
            batch.commit.writes = batch.view.take();
            if batch.commit.is_empty() {
                continue;
            }
            batch.commit.at_ms = at_ms;
            self.runtime
                .block_on(store.commit(tenant, &batch.commit, None))
                .with_context(|| format!("committing a batch of {tenant}"))?;
            batch.cache.apply(&batch.commit.writes);
        }
        for (tenant, index) in std::mem::take(&mut self.order) {
            let body = self.tenants[&tenant].commit.outbox[index].body.clone();
            self.write_command(&tenant, &body)?;
        }
        self.commands.flush().context("writing commands")?;
        for (tenant, batch) in &mut self.tenants {
            let commit = std::mem::take(&mut batch.commit);
            if !commit.outbox.is_empty() {
                let seqs: Vec<i64> = commit.outbox.iter().map(|e| e.seq).collect();
                self.runtime
                    .block_on(store.outbox_done(tenant, &seqs))
                    .with_context(|| format!("clearing the outbox of {tenant}"))?;
            }
        }
        Ok(())
    }

    /// Writes one command `tenant`'s plugins decided on.
    fn write_command(&mut self, tenant: &TenantId, body: &[u8]) -> anyhow::Result<()> {
        self.commands.write_all(body).context("writing commands")?;
        self.commands.write_all(b"\n").context("writing commands")?;
        self.stats.commands += 1;
        if let Some(m) = &self.metrics {
            m.commands_published_total
                .with_label_values(&[tenant.as_str()])
                .inc();
        }
        Ok(())
    }

    fn line(&mut self, line_no: u64, line: &[u8]) -> anyhow::Result<()> {
        self.stats.lines += 1;
        let received = self.clock.unwrap_or_else(Utc::now);
        let (env, routing_key) = match parse_line(line, self.options.limits, received) {
            Ok(parsed) => parsed,
            Err(rejection) => {
                self.reject(line_no, rejection);
                return Ok(());
            }
        };
        let key = event_key(&env);
        if self.seen.contains(&key) || self.processed_earlier(&env)? {
            self.stats.duplicates += 1;
            self.count_event(self.known_tenant(&env.tenant), "duplicate");
            (self.notices)(Notice::Duplicate { line: line_no });
            return Ok(());
        }
        // Timers due before this event fire first, so decisions interleave in event time.
        self.drain_timers(env.time.timestamp_millis())?;
        let routed = routing_key.as_deref().map(routing_key_tenant);
        // A tenant without a bundle has no batch; the dispatcher refuses its event before
        // any plugin could read state.
        let view: Arc<dyn StateStore> = match self.tenants.get(&env.tenant) {
            Some(batch) => batch.view.clone(),
            None => Arc::new(crate::state::Detached),
        };
        let outcome = match self.dispatcher.dispatch_in(&env, routed, view) {
            Ok(o) => o,
            Err(rejection) => {
                let tenant = self.known_tenant(&env.tenant).to_owned();
                self.reject_for(&tenant, line_no, rejection);
                return Ok(());
            }
        };
        self.seen.insert(key);
        self.stats.processed += 1;
        self.clock = Some(self.clock.map_or(env.time, |c| c.max(env.time)));
        if let Some(bundle) = self.dispatcher.bundle(&env.tenant) {
            self.sla.record(bundle, &env);
            if let Some(m) = &self.metrics {
                m.sla.observe(bundle, &env);
            }
        }
        self.count_event(env.tenant.as_str(), "processed");
        self.apply(Some(line_no), &env, outcome)?;
        if let Some(batch) = self.tenants.get_mut(&env.tenant) {
            batch
                .commit
                .processed
                .push(crate::store::event_key(&env.source, &env.id));
        }
        Ok(())
    }

    /// Whether a lasting store recorded the event in an earlier run.
    fn processed_earlier(&self, env: &Envelope) -> anyhow::Result<bool> {
        if !self.resumed {
            return Ok(false);
        }
        let key = crate::store::event_key(&env.source, &env.id);
        let seen = self.block_on(
            self.store
                .processed_among(&env.tenant, std::slice::from_ref(&key)),
        )?;
        Ok(!seen.is_empty())
    }

    fn reject(&mut self, line: u64, rejection: Rejection) {
        self.reject_for("", line, rejection);
    }

    /// The tenant label of an event: its tenant when a bundle serves it, else empty, so
    /// that no input creates series (as in the daemon).
    fn known_tenant<'t>(&self, tenant: &'t TenantId) -> &'t str {
        if self.dispatcher.bundle(tenant).is_some() {
            tenant.as_str()
        } else {
            ""
        }
    }

    /// Refuses a line; `tenant` is the label it counts under (empty when unknown).
    fn reject_for(&mut self, tenant: &str, line: u64, rejection: Rejection) {
        if let Some(m) = &self.metrics {
            m.events_total
                .with_label_values(&[tenant, "dead_lettered"])
                .inc();
            m.dead_letters_total
                .with_label_values(&[tenant, rejection.reason.code()])
                .inc();
        }
        self.stats.rejected += 1;
        *self
            .stats
            .rejected_by_reason
            .entry(rejection.reason.code().to_owned())
            .or_default() += 1;
        (self.notices)(Notice::Rejected { line, rejection });
    }

    fn drain_timers(&mut self, until_ms: i64) -> anyhow::Result<()> {
        let mut fired = 0u64;
        while let Some(timer) = self.timers.pop_due(until_ms) {
            if fired >= self.options.max_timer_firings {
                // Put it back so it is reported as pending, and stop this drain.
                self.timers.set(timer);
                (self.notices)(Notice::TimerStorm { fired });
                break;
            }
            fired += 1;
            self.stats.timers_fired += 1;
            if let Some(m) = &self.metrics {
                m.timers_fired_total
                    .with_label_values(&[timer.tenant.as_str()])
                    .inc();
            }
            let Some(batch) = self.tenants.get_mut(&timer.tenant) else {
                continue; // its tenant is gone; nothing can receive it
            };
            batch.commit.timers.insert(
                (timer.plugin.clone(), timer.name.clone()),
                TimerChange::Fired {
                    seq: timer.seq,
                    at_ms: timer.at_ms,
                },
            );
            let view = batch.view.clone();
            let Ok((env, outcome)) = self.dispatcher.fire_in(&timer, view) else {
                continue;
            };
            self.apply(None, &env, outcome)?;
        }
        Ok(())
    }

    fn apply(&mut self, line: Option<u64>, env: &Envelope, outcome: Outcome) -> anyhow::Result<()> {
        self.stats.plugin_calls += outcome.invoked as u64;
        self.stats.fallbacks += outcome.fallbacks.len() as u64;
        if let Some(m) = &self.metrics {
            let t = env.tenant.as_str();
            for plugin in &outcome.fallbacks {
                m.fallbacks_total.with_label_values(&[t, plugin]).inc();
            }
            for failed in &outcome.failures {
                m.plugin_calls_total
                    .with_label_values(&[t, &failed.plugin, failed.failure.kind()])
                    .inc();
            }
            for (plugin, took) in &outcome.durations {
                m.plugin_call_seconds
                    .with_label_values(&[t, plugin])
                    .observe(took.as_secs_f64());
            }
            for plugin in outcome.effects.keys() {
                m.plugin_calls_total
                    .with_label_values(&[t, plugin, "ok"])
                    .inc();
            }
        }
        for failed in outcome.failures {
            if let crate::sandbox::PluginFailure::StateUnavailable(detail) = &failed.failure {
                anyhow::bail!("the store failed while a plugin read its state: {detail}");
            }
            *self
                .stats
                .plugin_failures
                .entry(failed.failure.kind().to_owned())
                .or_default() += 1;
            (self.notices)(Notice::PluginFailed {
                line,
                tenant: env.tenant.to_string(),
                plugin: failed.plugin,
                event_id: env.id.clone(),
                failure: failed.failure,
            });
        }
        let Some(batch) = self.tenants.get_mut(&env.tenant) else {
            anyhow::bail!("no batch for tenant {}", env.tenant);
        };
        for (plugin, effects) in outcome.effects {
            batch
                .view
                .commit(&env.tenant, &plugin, &effects.writes)
                .context("committing plugin state")?;
            for name in &effects.cancel_timers {
                self.timers.cancel(&env.tenant, &plugin, name);
                batch
                    .commit
                    .timers
                    .insert((plugin.clone(), name.clone()), TimerChange::Cancel);
            }
            for t in effects.set_timers {
                let seq = batch.next_timer_seq;
                batch.next_timer_seq += 1;
                batch.commit.timers.insert(
                    (plugin.clone(), t.name.clone()),
                    TimerChange::Set {
                        due_ms: t.at_ms,
                        payload: t.payload.clone(),
                        seq,
                    },
                );
                self.timers.set(Timer {
                    tenant: env.tenant.clone(),
                    plugin: plugin.clone(),
                    name: t.name,
                    at_ms: t.at_ms,
                    payload: t.payload,
                    seq,
                });
            }
        }
        for command in &outcome.commands {
            let entry = Message::command(command)
                .and_then(|m| m.to_outbox(batch.next_outbox_seq))
                .context("encoding a command")?;
            batch.next_outbox_seq += 1;
            self.order
                .push((env.tenant.clone(), batch.commit.outbox.len()));
            batch.commit.outbox.push(entry);
        }
        Ok(())
    }
}

/// Identifies an event by `source` and `id` in 16 bytes.
fn event_key(env: &Envelope) -> [u8; 16] {
    let mut h = Sha256::new();
    h.update((env.source.len() as u64).to_le_bytes());
    h.update(env.source.as_bytes());
    h.update(env.id.as_bytes());
    let digest = h.finalize();
    let mut key = [0u8; 16];
    key.copy_from_slice(&digest[..16]);
    key
}

fn trim_ascii(b: &[u8]) -> &[u8] {
    let start = b
        .iter()
        .position(|c| !c.is_ascii_whitespace())
        .unwrap_or(b.len());
    let end = b
        .iter()
        .rposition(|c| !c.is_ascii_whitespace())
        .map_or(start, |e| e + 1);
    &b[start..end]
}

/// Reads one line: a structured CloudEvent, or a recorded delivery
/// `{"routing_key": …, "event": {…}}` (structured) or
/// `{"routing_key": …, "headers": {…}, "body": {…}}` (binary mode).
fn parse_line(
    line: &[u8],
    limits: IntakeLimits,
    received: DateTime<Utc>,
) -> Result<(Envelope, Option<String>), Rejection> {
    if line.len() > limits.max_event_bytes {
        // Checked before parsing so an oversized line costs no JSON work.
        return envelope::parse_structured(line, limits, received).map(|e| (e, None));
    }
    let text = std::str::from_utf8(line).map_err(|e| {
        Rejection::new(
            RejectReason::MalformedJson,
            format!(
                "line is not UTF-8 (invalid byte at offset {})",
                e.valid_up_to()
            ),
        )
    })?;
    let mut value: Value = serde_json::from_str(text).map_err(|e| {
        Rejection::new(
            RejectReason::MalformedJson,
            format!("line is not valid JSON: {e}"),
        )
    })?;
    let Some(record) = value
        .as_object_mut()
        .filter(|o| o.contains_key("routing_key"))
    else {
        return envelope::parse_value(value, received).map(|e| (e, None));
    };
    let key = match record.remove("routing_key") {
        Some(Value::String(k)) => k,
        _ => {
            return Err(Rejection::new(
                RejectReason::MalformedJson,
                "a delivery record's `routing_key` must be a string",
            ));
        }
    };
    if let Some(event) = record.remove("event") {
        return envelope::parse_value(event, received).map(|e| (e, Some(key)));
    }
    let headers = record
        .remove("headers")
        .and_then(|h| match h {
            Value::Object(map) => Some(map),
            _ => None,
        })
        .ok_or_else(|| {
            Rejection::new(
                RejectReason::MalformedJson,
                "a delivery record needs `event` or `headers`",
            )
        })?;
    let body = record.get("body").map(Value::to_string).unwrap_or_default();
    let env = envelope::parse_binary(
        headers.iter().map(|(k, v)| (k.as_str(), v.clone())),
        body.as_bytes(),
        limits,
        received,
    )?;
    Ok((env, Some(key)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delivery_records_carry_a_routing_key() {
        let now = Utc::now();
        let line = br#"{"routing_key":"a.x","event":{"specversion":"1.0","id":"1","source":"s","type":"x","tenant":"b"}}"#;
        let (env, key) = parse_line(line, IntakeLimits::default(), now).expect("valid");
        assert_eq!(env.tenant.as_str(), "b");
        assert_eq!(key.as_deref(), Some("a.x"));
        let line = br#"{"routing_key":"b.x","headers":{"ce-specversion":"1.0","ce-id":"1","ce-source":"s","ce-type":"x","ce-tenant":"b"},"body":{"k":1}}"#;
        let (env, _) = parse_line(line, IntakeLimits::default(), now).expect("valid");
        assert_eq!(env.data["k"], 1);
    }

    #[test]
    fn trims_whitespace_and_line_ends() {
        assert_eq!(trim_ascii(b"  {}\r\n"), b"{}");
        assert_eq!(trim_ascii(b" \n"), b"");
    }
}
