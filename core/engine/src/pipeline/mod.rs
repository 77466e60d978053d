//! The one batch pipeline every driver runs events through: the daemon on RabbitMQ, replay
//! over a file, the plugin test harness over fixtures.
//!
//! A batch is a list of deliveries in the order they arrived. For each, in order: intake
//! with every limit (an envelope or a reason), dedup by `source` + `id` (the processed ids
//! of the [`Journal`] and the batch's own), the tenant's timers due before the event fired
//! first (event time, [`Fire`]), dispatch to the subscribed plugins, and the outcome
//! applied: state writes into the batch's view, timers into the schedule, commands and
//! dead letters into the outbox. Then one commit per tenant, and only then the figures:
//! events by outcome, dead letters, plugin calls, timers, the SLA books and the live SLA
//! metrics. A driver says only where a batch comes from ([`Carrier`]), how its plugins get
//! CPU ([`Runner`]), and where the committed outbox goes ([`Settled::outbox`]).
//!
//! Owns the order of decisions and what is counted when; it knows no transport and no SQL.

pub mod memory;
pub mod view;

use std::collections::{BTreeMap, HashSet};
use std::future::Future;
use std::sync::Arc;
use std::time::Instant;

use chrono::{DateTime, Utc};

pub use leitstand_contract::journal::{
    Commit, Fence, Journal, JournalError, Opening, StoredTimer, TimerChange,
};
pub use leitstand_contract::wire::{Carrier, EncodeError, OutboxEntry, Outgoing};
use view::{BatchView, Cache};

use leitstand_contract::command::routing_key_tenant;

use crate::dispatch::{Outcome, TenantRuntime};
use crate::sandbox::{PluginFailure, Sandbox};
use crate::state::{StateStore, Timer, TimerSchedule};
use crate::tenants::{Bundle, FailurePolicy};
use leitstand_contract::envelope::{
    Envelope, IntakeLimits, RejectReason, Rejection, TenantId, event_key,
};
use leitstand_metrics::Metrics;
use leitstand_sla::books::{SlaBook, SlaReport};
use leitstand_sla::sites::Route;

/// How the plugins of a batch get CPU: the daemon waits for a fair slot of sandbox time,
/// replay runs them in place. The work blocks (plugins, state reads), so it must run where
/// blocking is allowed.
pub trait Runner: Sync {
    /// Runs `work` and returns its result.
    fn run<R: Send>(&self, work: impl FnOnce() -> R + Send) -> impl Future<Output = R> + Send;
}

/// Runs the plugins on the calling thread, outside the async scheduler's way
/// (`block_in_place`): for drivers on a multi-threaded runtime with nobody to share with.
#[derive(Debug, Clone, Copy, Default)]
pub struct InPlace;

impl Runner for InPlace {
    async fn run<R: Send>(&self, work: impl FnOnce() -> R + Send) -> R {
        tokio::task::block_in_place(work)
    }
}

/// Where the prepared plugins of a tenant come from: the daemon's registry (swapped on
/// reload) or a replay's fixed set.
pub trait Tenants: Sync {
    /// The runtime to run `tenant`'s next batch with, if the tenant is served.
    fn runtime(&self, tenant: &TenantId) -> Option<Arc<TenantRuntime>>;
}

impl Tenants for crate::dispatch::Dispatcher {
    fn runtime(&self, tenant: &TenantId) -> Option<Arc<TenantRuntime>> {
        self.runtimes().get(tenant).cloned()
    }
}

impl Tenants for Arc<TenantRuntime> {
    fn runtime(&self, tenant: &TenantId) -> Option<Arc<TenantRuntime>> {
        (self.bundle.tenant == *tenant).then(|| self.clone())
    }
}

/// Which timers a batch fires besides those due before its own events (CONTRACT §7: a
/// timer due at T fires before the first event of its tenant whose time is later than T).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fire {
    /// Only those: the input is not caught up, a later event may still come.
    EventTime,
    /// Also every timer due at or before this instant (milliseconds since the epoch),
    /// after the batch's events: the watermark of a caught-up daemon, or a harness moving
    /// its clock.
    Until(i64),
    /// Also every timer due up to this many milliseconds after its tenant's latest event:
    /// the end of a replay.
    Horizon(i64),
}

/// How the pipeline treats its input.
#[derive(Debug, Clone, Copy)]
pub struct PipelineOptions {
    /// The limits every event is held to.
    pub limits: IntakeLimits,
    /// The most timers one batch may fire per tenant; a plugin re-arming timers without
    /// end is stopped there, its timers stay pending for the next batch.
    pub max_timer_firings: u64,
}

impl Default for PipelineOptions {
    fn default() -> Self {
        Self {
            limits: IntakeLimits::default(),
            max_timer_firings: 100_000,
        }
    }
}

/// What became of one delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Dispatched and committed with its commands.
    Processed,
    /// Its `source` and `id` were processed before: no plugin ran.
    Duplicate,
    /// Refused as bad input; a copy is in the outbox for `leitstand.dead`.
    DeadLettered(Rejection),
    /// A plugin failed on it and its failure policy dead-letters it; the other plugins'
    /// decisions stand.
    Failed(Rejection),
}

impl Verdict {
    /// The `outcome` label of `leitstand_events_total`.
    pub fn outcome(&self) -> &'static str {
        match self {
            Self::Processed => "processed",
            Self::Duplicate => "duplicate",
            Self::DeadLettered(_) => "dead_lettered",
            Self::Failed(_) => "failed",
        }
    }
}

/// A plugin's failure on an event or a timer.
#[derive(Debug, Clone, PartialEq)]
pub struct Failure {
    /// The delivery's index in the batch; `None` for a timer.
    pub input: Option<usize>,
    /// How many of the batch's deliveries were settled before it happened: a timer's
    /// failure happened before delivery `at`.
    pub at: usize,
    /// The tenant.
    pub tenant: TenantId,
    /// The plugin.
    pub plugin: String,
    /// The id of the event (or `timer.fired`) it failed on.
    pub event_id: String,
    /// What went wrong.
    pub failure: PluginFailure,
    /// Whether the bundle's fallback command was emitted in its place.
    pub fallback: bool,
}

/// A batch, committed.
#[derive(Debug, Default)]
pub struct Settled {
    /// What became of each delivery, in order.
    pub verdicts: Vec<Verdict>,
    /// The event time of each delivery that was read, in order.
    pub times: Vec<Option<DateTime<Utc>>>,
    /// The committed messages (commands and dead letters) in the order they were decided,
    /// by tenant. A dead letter of an input no served tenant can take (a replay line of an
    /// unknown tenant) has no tenant and was not committed anywhere.
    pub outbox: Vec<(Option<TenantId>, OutboxEntry)>,
    /// For each message of `outbox`: how many of the batch's deliveries were settled
    /// before it was decided — its delivery's index, or for a timer's, the index of the
    /// delivery it fired before (the batch's length for a timer fired after the last).
    pub decided_at: Vec<usize>,
    /// Plugin failures, in order.
    pub failures: Vec<Failure>,
    /// Plugin calls made (retries included).
    pub plugin_calls: u64,
    /// Timers fired.
    pub timers_fired: u64,
    /// When a tenant's timers stopped firing at the limit: how many fired.
    pub timer_storm: Option<u64>,
    /// The `call.route` commands decided, in order, for the per-site figures (CONTRACT §8).
    pub routes: Vec<Routed>,
}

/// A `call.route` a tenant's plugins decided in a batch.
#[derive(Debug, Clone, PartialEq)]
pub struct Routed {
    /// The tenant.
    pub tenant: TenantId,
    /// The delivery it was decided on; `None` for a timer's.
    pub input: Option<usize>,
    /// For a timer's: how many of the batch's deliveries were settled before it fired.
    pub at: usize,
    /// The route.
    pub route: Route,
}

/// Why a batch was not committed. Nothing of it took effect: the driver may run the same
/// deliveries again.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PipelineError {
    /// The journal failed (or, in cluster mode, the lease is lost).
    #[error(transparent)]
    Journal(#[from] JournalError),
    /// A message could not be encoded.
    #[error("{0}")]
    Encode(#[from] EncodeError),
}

/// One tenant's part of the pipeline between batches.
struct Books<J> {
    cache: Arc<Cache<J>>,
    timers: TimerSchedule,
    next_timer_seq: i64,
    next_outbox_seq: i64,
    /// The latest event time processed.
    clock: Option<DateTime<Utc>>,
    fence: Option<Fence>,
    /// The bundle the figures were opened with.
    bundle: Arc<Bundle>,
}

/// The pipeline over `J`, for one tenant (a daemon's worker) or many (a replay).
pub struct Pipeline<J: Journal> {
    journal: J,
    sandbox: Arc<Sandbox>,
    options: PipelineOptions,
    books: BTreeMap<TenantId, Books<J>>,
    metrics: Option<Arc<Metrics>>,
    /// Whether each commit keeps the tenant's live board and opening a tenant continues it.
    keep_board: bool,
    report: Option<SlaBook>,
}

/// A schedule change made while building a batch, to undo when the batch is not
/// committed.
enum Undo {
    Set {
        timer: Timer,
        replaced: Option<Timer>,
    },
    Cancel(Option<Timer>),
    Pop(Timer),
}

/// One tenant's batch while it is built.
struct Draft<J> {
    view: Arc<BatchView<J>>,
    commit: Commit,
    undo: Vec<Undo>,
    next_timer_seq: i64,
    next_outbox_seq: i64,
    clock: Option<DateTime<Utc>>,
    fired: u64,
    storm: bool,
    runtime: Arc<TenantRuntime>,
}

/// Why building a batch stopped.
enum BuildError {
    State(String),
    Encode(EncodeError),
}

impl<J: Journal> Pipeline<J> {
    /// A pipeline whose tenants keep their state, timers, processed ids and outbox in
    /// `journal` and run their plugins in `sandbox`. Open each tenant before its first
    /// batch.
    pub fn new(journal: J, sandbox: Arc<Sandbox>, options: PipelineOptions) -> Self {
        Self {
            journal,
            sandbox,
            options,
            books: BTreeMap::new(),
            metrics: None,
            keep_board: false,
            report: None,
        }
    }

    /// Keeps each tenant's live board (calls waiting, the oldest wait, the rolling window,
    /// the interval counts behind the staffing gauge; see [`Self::with_metrics`]) with every
    /// commit that counts events, and continues it when a tenant is opened: a daemon that
    /// restarts, or takes a tenant over, shows the figures where they were.
    pub fn keeping_the_board(mut self) -> Self {
        self.keep_board = true;
        self
    }

    /// Counts into `metrics` as the daemon exports them.
    pub fn with_metrics(mut self, metrics: Arc<Metrics>) -> Self {
        self.metrics = Some(metrics);
        self
    }

    /// Keeps the SLA report of the events processed ([`Self::report`]).
    pub fn with_report(mut self) -> Self {
        self.report = Some(SlaBook::new());
        self
    }

    /// The journal.
    pub fn journal(&self) -> &J {
        &self.journal
    }

    /// Starts processing `rt`'s tenant: takes its pending timers and sequences from the
    /// journal and returns the messages committed but not yet confirmed, to publish
    /// first. With a `fence` (cluster mode) every commit checks the lease, and outbox
    /// sequences of this lease term start at `outbox_floor`.
    pub async fn open(
        &mut self,
        rt: &TenantRuntime,
        fence: Option<Fence>,
        outbox_floor: i64,
    ) -> Result<Vec<OutboxEntry>, JournalError> {
        let tenant = rt.bundle.tenant.clone();
        let opening = self.journal.open(&tenant).await?;
        let mut timers = TimerSchedule::new();
        for t in opening.pending {
            timers.set(Timer {
                tenant: tenant.clone(),
                plugin: t.plugin,
                name: t.name,
                at_ms: t.due_ms,
                payload: t.payload,
                seq: t.seq,
            });
        }
        let books = Books {
            cache: Cache::new(tenant.clone(), self.journal.clone(), !opening.has_state),
            timers,
            next_timer_seq: opening.last_timer_seq + 1,
            next_outbox_seq: (opening.last_outbox_seq + 1).max(outbox_floor),
            clock: None,
            fence,
            bundle: rt.bundle.clone(),
        };
        self.open_figures(&rt.bundle);
        if self.keep_board
            && let (Some(m), Some(board)) = (&self.metrics, &opening.board)
        {
            match m.sla.restore_board(&rt.bundle.service, board) {
                Ok(0) => {}
                Ok(dropped) => {
                    tracing::warn!(tenant = %tenant, calls = dropped, "calls kept waiting on the live board could not be continued; they are forgotten");
                }
                Err(e) => {
                    tracing::warn!(tenant = %tenant, error = %e, "the live board kept for the tenant is not continued; it starts afresh");
                }
            }
        }
        self.books.insert(tenant, books);
        Ok(opening.outbox)
    }

    /// Stops processing `tenant` here.
    pub fn close(&mut self, tenant: &TenantId) {
        self.books.remove(tenant);
    }

    /// When `tenant`'s earliest pending timer is due (event time, milliseconds).
    pub fn next_due(&self, tenant: &TenantId) -> Option<i64> {
        self.books.get(tenant).and_then(|b| b.timers.next_due())
    }

    /// How many timers are pending over all tenants.
    pub fn pending_timers(&self) -> usize {
        self.books.values().map(|b| b.timers.len()).sum()
    }

    /// The latest event time processed over all tenants.
    pub fn clock(&self) -> Option<DateTime<Utc>> {
        self.books.values().filter_map(|b| b.clock).max()
    }

    /// The SLA report of everything processed so far, when kept.
    pub fn report(&self) -> Option<SlaReport> {
        self.report.as_ref().map(SlaBook::report)
    }

    /// Opens the figures of `bundle`'s tenant: its SLA lines, so that a tenant without
    /// events is seen, and its plugins' quarantine gauges.
    fn open_figures(&mut self, bundle: &Bundle) {
        if let Some(report) = &mut self.report {
            report.open(&bundle.service);
        }
        if let Some(m) = &self.metrics {
            m.sla.open(&bundle.service);
            for p in &bundle.plugins {
                m.plugin_quarantined
                    .with_label_values(&[bundle.tenant.as_str(), &p.name])
                    .set(0);
            }
        }
    }

    /// Runs one batch: `deliveries` in order, the timers `fire` names, one commit per
    /// tenant. On an error nothing of the batch took effect.
    pub async fn process<C: Carrier, T: Tenants, R: Runner>(
        &mut self,
        tenants: &T,
        carrier: &C,
        deliveries: &[C::Delivery],
        received: DateTime<Utc>,
        fire: Fire,
        runner: &R,
    ) -> Result<Settled, PipelineError> {
        let limits = self.options.limits;
        let served = |t: &str| {
            self.books
                .get_key_value(t)
                .map(|(k, _)| k)
                .filter(|k| tenants.runtime(k).is_some())
                .cloned()
        };
        let entries: Vec<Intake> = deliveries
            .iter()
            .map(|d| intake(&served, carrier, d, limits, received))
            .collect();
        self.process_read(tenants, carrier, deliveries, entries, fire, runner)
            .await
    }

    /// [`Self::process`] of deliveries already read by [`intake`] (one for each, in
    /// order): for a driver that spreads one batch's tenants over several pipelines, each
    /// opened for its own tenants, and reads the batch once for all of them.
    pub async fn process_read<C: Carrier, T: Tenants, R: Runner>(
        &mut self,
        tenants: &T,
        carrier: &C,
        deliveries: &[C::Delivery],
        entries: Vec<Intake>,
        fire: Fire,
        runner: &R,
    ) -> Result<Settled, PipelineError> {
        let entries: Vec<Entry> = entries.into_iter().map(|i| i.0).collect();
        // The tenants this batch runs, each with the runtime it runs on now.
        let mut runtimes: BTreeMap<TenantId, Arc<TenantRuntime>> = BTreeMap::new();
        for tenant in self.books.keys() {
            let touched = entries.iter().any(|e| e.tenant() == Some(tenant));
            if (touched || fire != Fire::EventTime)
                && let Some(rt) = tenants.runtime(tenant)
            {
                runtimes.insert(tenant.clone(), rt);
            }
        }
        // A reloaded bundle opens its figures anew (queues, targets, hours may change).
        for rt in runtimes.values() {
            let stale = self
                .books
                .get(&rt.bundle.tenant)
                .is_some_and(|b| !Arc::ptr_eq(&b.bundle, &rt.bundle));
            if stale {
                self.open_figures(&rt.bundle);
                if let Some(b) = self.books.get_mut(&rt.bundle.tenant) {
                    b.bundle = rt.bundle.clone();
                }
            }
        }
        // Dedup against what the journal has processed.
        let mut seen: BTreeMap<TenantId, HashSet<String>> = BTreeMap::new();
        for tenant in runtimes.keys() {
            let keys: Vec<String> = entries
                .iter()
                .filter_map(|e| match e {
                    Entry::Read { tenant: t, key, .. } if t == tenant => Some(key.clone()),
                    _ => None,
                })
                .collect();
            if !keys.is_empty() {
                let found = self.journal.processed_among(tenant, &keys).await?;
                seen.insert(tenant.clone(), found);
            }
        }
        let at_ms = Utc::now().timestamp_millis();
        let handle = tokio::runtime::Handle::current();
        let built = {
            let mut b = Builder {
                sandbox: &self.sandbox,
                books: &mut self.books,
                metrics: self.metrics.as_deref(),
                options: self.options,
                carrier,
                drafts: BTreeMap::new(),
                settled: Settled::default(),
                order: Vec::new(),
                orphans: Vec::new(),
                at_ms,
            };
            let (entries, runtimes, seen) = (&entries, &runtimes, &seen);
            runner
                .run(
                    move || match b.build(runtimes, deliveries, entries, seen, fire, &handle) {
                        Ok(()) => Ok((b.drafts, b.settled, b.order, b.orphans)),
                        Err(e) => {
                            b.undo();
                            Err(e)
                        }
                    },
                )
                .await
        };
        let (mut drafts, mut settled, order, orphans) = match built {
            Ok(b) => b,
            Err(BuildError::State(detail)) => {
                return Err(PipelineError::Journal(JournalError::Unavailable(format!(
                    "a plugin could not read its state: {detail}"
                ))));
            }
            Err(BuildError::Encode(e)) => return Err(PipelineError::Encode(e)),
        };
        if self.keep_board {
            self.board_into(&mut drafts, &entries, &settled);
        }
        // One commit per tenant; on a failure, memory goes back to where it was.
        for (tenant, draft) in &mut drafts {
            draft.commit.writes = draft.view.take();
            if draft.commit.is_empty() {
                continue;
            }
            let fence = self.books.get(tenant).and_then(|b| b.fence.clone());
            let started = Instant::now();
            if let Err(e) = self.commit(tenant, &draft.commit, fence.as_ref()).await {
                for (t, d) in &mut drafts {
                    if let Some(books) = self.books.get_mut(t) {
                        undo(&mut books.timers, std::mem::take(&mut d.undo));
                    }
                }
                return Err(e.into());
            }
            if let Some(m) = &self.metrics {
                m.store_commit_seconds
                    .with_label_values(&[tenant.as_str()])
                    .observe(started.elapsed().as_secs_f64());
            }
        }
        // Committed: memory follows, the figures count, the outbox is handed on.
        let mut outboxes: BTreeMap<TenantId, Vec<Option<OutboxEntry>>> = BTreeMap::new();
        for (tenant, draft) in drafts {
            if let (Some(m), Some(_)) = (&self.metrics, &draft.commit.board) {
                m.sla.board_committed(&tenant);
            }
            if let Some(books) = self.books.get_mut(&tenant) {
                books.cache.apply(&draft.commit.writes);
                books.next_timer_seq = draft.next_timer_seq;
                books.next_outbox_seq = draft.next_outbox_seq;
                books.clock = draft.clock;
            }
            if let Some(m) = &self.metrics {
                m.timers_fired_total
                    .with_label_values(&[tenant.as_str()])
                    .inc_by(draft.fired);
                for q in draft.runtime.quarantine() {
                    m.plugin_quarantined
                        .with_label_values(&[tenant.as_str(), &q.plugin])
                        .set(i64::from(q.quarantined));
                }
            }
            outboxes.insert(tenant, draft.commit.outbox.into_iter().map(Some).collect());
        }
        let mut orphans: Vec<Option<OutboxEntry>> = orphans.into_iter().map(Some).collect();
        for (tenant, slot, at) in order {
            let entry = match &tenant {
                Some(t) => outboxes.get_mut(t).and_then(|o| o.get_mut(slot)),
                None => orphans.get_mut(slot),
            };
            if let Some(entry) = entry.and_then(Option::take) {
                settled.outbox.push((tenant, entry));
                settled.decided_at.push(at);
            }
        }
        self.count(&entries, &settled);
        settled.times = entries
            .iter()
            .map(|e| match e {
                Entry::Read { env, .. } => Some(env.time),
                Entry::Refused { .. } => None,
            })
            .collect();
        Ok(settled)
    }

    async fn commit(
        &self,
        tenant: &TenantId,
        commit: &Commit,
        fence: Option<&Fence>,
    ) -> Result<(), JournalError> {
        match self.journal.commit(tenant, commit, fence).await {
            Ok(()) => Ok(()),
            Err(JournalError::LeaseLost(t)) => Err(JournalError::LeaseLost(t)),
            // The commit may have landed with its answer lost: then it is done.
            Err(e) if self.landed(tenant, commit).await => {
                tracing::info!(tenant = %tenant, error = %e, "a commit's answer was lost, but it landed");
                Ok(())
            }
            Err(e) => Err(e),
        }
    }

    /// Whether a commit whose answer was lost did land.
    async fn landed(&self, tenant: &TenantId, commit: &Commit) -> bool {
        if let Some(first) = commit.processed.first() {
            return self
                .journal
                .processed_among(tenant, std::slice::from_ref(first))
                .await
                .is_ok_and(|seen| !seen.is_empty());
        }
        if let Some(first) = commit.outbox.first() {
            return self
                .journal
                .last_outbox_seq(tenant)
                .await
                .is_ok_and(|last| last >= first.seq);
        }
        // Timer changes alone: writing them twice is harmless.
        false
    }

    /// Puts each tenant's live board, as it will be once the batch is counted, into its
    /// commit.
    fn board_into(
        &self,
        drafts: &mut BTreeMap<TenantId, Draft<J>>,
        entries: &[Entry],
        settled: &Settled,
    ) {
        let Some(m) = &self.metrics else { return };
        for (tenant, draft) in drafts.iter_mut() {
            let Some(books) = self.books.get(tenant) else {
                continue;
            };
            let mut counted = entries
                .iter()
                .zip(&settled.verdicts)
                .filter_map(|(e, v)| match e {
                    Entry::Read { tenant: t, env, .. }
                        if t == tenant && matches!(v, Verdict::Processed | Verdict::Failed(_)) =>
                    {
                        Some(env)
                    }
                    _ => None,
                })
                .peekable();
            if counted.peek().is_none() {
                continue;
            }
            match m.sla.board_after(&books.bundle.service, counted) {
                Ok(board) => draft.commit.board = Some(board),
                Err(e) => {
                    tracing::warn!(tenant = %tenant, error = %e, "the live board is not kept with this batch");
                }
            }
        }
    }

    /// Counts a committed batch: events by outcome, dead letters by reason, the SLA books
    /// and the live SLA figures of every event dispatched for the first time.
    fn count(&mut self, entries: &[Entry], settled: &Settled) {
        // Routes decided on each delivery, and those timers decided before each one.
        let mut on_input: BTreeMap<usize, Vec<Route>> = BTreeMap::new();
        let mut before: BTreeMap<usize, Vec<(&TenantId, &Route)>> = BTreeMap::new();
        for r in &settled.routes {
            match r.input {
                Some(i) => on_input.entry(i).or_default().push(r.route.clone()),
                None => before.entry(r.at).or_default().push((&r.tenant, &r.route)),
            }
        }
        let mut reroute = |this: &mut Self, at: usize| {
            for (tenant, route) in before.remove(&at).unwrap_or_default() {
                let Some(bundle) = this.books.get(tenant).map(|b| b.bundle.clone()) else {
                    continue;
                };
                if let Some(report) = &mut this.report {
                    report.reroute(&bundle.service, route);
                }
                if let Some(m) = &this.metrics {
                    m.sla.reroute(&bundle.service, route);
                }
            }
        };
        for (index, (entry, verdict)) in entries.iter().zip(&settled.verdicts).enumerate() {
            reroute(self, index);
            if let Some(m) = &self.metrics {
                let label = entry.tenant().map_or("", TenantId::as_str);
                m.events_total
                    .with_label_values(&[label, verdict.outcome()])
                    .inc();
                if let Verdict::DeadLettered(r) | Verdict::Failed(r) = verdict {
                    m.dead_letters_total
                        .with_label_values(&[label, r.reason.code()])
                        .inc();
                }
            }
            let Entry::Read { tenant, env, .. } = entry else {
                continue;
            };
            if !matches!(verdict, Verdict::Processed | Verdict::Failed(_)) {
                continue;
            }
            let Some(bundle) = self.books.get(tenant).map(|b| b.bundle.clone()) else {
                continue;
            };
            let routes = on_input.remove(&index).unwrap_or_default();
            if let Some(report) = &mut self.report {
                report.record_routed(&bundle.service, env, &routes);
            }
            if let Some(m) = &self.metrics {
                m.sla.observe_routed(&bundle.service, env, &routes);
            }
        }
        reroute(self, entries.len());
    }
}

/// One delivery as read: its envelope and the served tenant it belongs to, or why it is
/// refused (and the served tenant it was sent for).
#[derive(Debug)]
pub struct Intake(Entry);

impl Intake {
    /// The served tenant whose pipeline takes it: the event's, or for a refusal the one it
    /// was sent for; `None` when no served tenant takes it.
    pub fn tenant(&self) -> Option<&TenantId> {
        self.0.tenant()
    }
}

/// Reads one delivery: its envelope, and the served tenant it belongs to. `served` gives a
/// tenant's id when a pipeline serves it.
pub fn intake<C: Carrier>(
    served: &dyn Fn(&str) -> Option<TenantId>,
    carrier: &C,
    d: &C::Delivery,
    limits: IntakeLimits,
    received: DateTime<Utc>,
) -> Intake {
    let routed = carrier.routing_key(d).map(routing_key_tenant);
    // Only a refusal needs to know whose figures it counts in.
    let home = || match routed {
        Some(r) => served(r),
        None => carrier.tenant_hint(d).and_then(|t| served(&t)),
    };
    let env = match carrier.envelope(d, limits, received) {
        Ok(env) => env,
        Err(rejection) => {
            let home = home();
            return Intake(Entry::Refused { home, rejection });
        }
    };
    if let Some(r) = routed
        && r != env.tenant.as_str()
    {
        let detail = format!(
            "routing key names tenant {r:?}, the event names {:?}",
            env.tenant.as_str()
        );
        let rejection = Rejection::new(RejectReason::TenantMismatch, detail);
        let home = home();
        return Intake(Entry::Refused { home, rejection });
    }
    let Some(tenant) = served(env.tenant.as_str()) else {
        let detail = format!("no bundle is loaded for tenant {:?}", env.tenant.as_str());
        let rejection = Rejection::new(RejectReason::UnknownTenant, detail);
        let home = home();
        return Intake(Entry::Refused { home, rejection });
    };
    Intake(Entry::Read {
        tenant,
        key: event_key(&env.source, &env.id),
        env,
    })
}

// Entries live for one batch in a vector; boxing the envelope would cost an allocation per
// event for nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
enum Entry {
    /// Read, for a served tenant.
    Read {
        tenant: TenantId,
        key: String,
        env: Envelope,
    },
    /// Refused; `home` is the served tenant it was sent for, when there is one.
    Refused {
        home: Option<TenantId>,
        rejection: Rejection,
    },
}

impl Entry {
    /// The served tenant whose figures and outbox the delivery goes to.
    fn tenant(&self) -> Option<&TenantId> {
        match self {
            Self::Read { tenant, .. } => Some(tenant),
            Self::Refused { home, .. } => home.as_ref(),
        }
    }
}

/// Puts a schedule back as it was before `log`'s changes.
fn undo(timers: &mut TimerSchedule, log: Vec<Undo>) {
    for change in log.into_iter().rev() {
        match change {
            Undo::Set { timer, replaced } => {
                timers.cancel(&timer.tenant, &timer.plugin, &timer.name);
                if let Some(old) = replaced {
                    timers.set(old);
                }
            }
            Undo::Cancel(Some(old)) | Undo::Pop(old) => {
                timers.set(old);
            }
            Undo::Cancel(None) => {}
        }
    }
}

/// The synchronous part of a batch: plugins run, decisions gathered.
struct Builder<'a, J, C> {
    sandbox: &'a Arc<Sandbox>,
    books: &'a mut BTreeMap<TenantId, Books<J>>,
    metrics: Option<&'a Metrics>,
    options: PipelineOptions,
    carrier: &'a C,
    drafts: BTreeMap<TenantId, Draft<J>>,
    settled: Settled,
    /// The outbox in the order of decisions: tenant (none for an orphaned dead letter),
    /// index in that tenant's outbox, and deliveries settled before it was decided.
    order: Vec<(Option<TenantId>, usize, usize)>,
    /// Dead letters of inputs no served tenant takes.
    orphans: Vec<OutboxEntry>,
    at_ms: i64,
}

impl<J: Journal, C: Carrier> Builder<'_, J, C> {
    fn build(
        &mut self,
        runtimes: &BTreeMap<TenantId, Arc<TenantRuntime>>,
        deliveries: &[C::Delivery],
        entries: &[Entry],
        seen: &BTreeMap<TenantId, HashSet<String>>,
        fire: Fire,
        handle: &tokio::runtime::Handle,
    ) -> Result<(), BuildError> {
        for tenant in runtimes.keys() {
            self.draft(runtimes, tenant, handle);
        }
        // Processed ids are the tenant's (as the journal keeps them): the same `source` and
        // `id` under another tenant in the same batch is not a duplicate.
        let mut in_batch: foldhash::HashSet<(&TenantId, &str)> = foldhash::HashSet::default();
        for (i, (delivery, entry)) in deliveries.iter().zip(entries).enumerate() {
            let verdict = match entry {
                Entry::Refused { home, rejection } => {
                    self.dead_letter(home.as_ref(), delivery, rejection);
                    Verdict::DeadLettered(rejection.clone())
                }
                Entry::Read { tenant, key, env } => {
                    let duplicate = seen.get(tenant).is_some_and(|s| s.contains(key));
                    if duplicate || !in_batch.insert((tenant, key)) {
                        Verdict::Duplicate
                    } else {
                        self.event(tenant, key, env, i, delivery)?
                    }
                }
            };
            self.settled.verdicts.push(verdict);
        }
        for tenant in runtimes.keys() {
            let until = match fire {
                Fire::EventTime => continue,
                Fire::Until(ms) => ms,
                Fire::Horizon(ms) => {
                    let Some(clock) = self.drafts.get(tenant).and_then(|d| d.clock) else {
                        continue;
                    };
                    clock.timestamp_millis().saturating_add(ms)
                }
            };
            self.fire_due(tenant, until)?;
        }
        Ok(())
    }

    /// One event read for the first time: the timers due before it, then its plugins.
    fn event(
        &mut self,
        tenant: &TenantId,
        key: &str,
        env: &Envelope,
        input: usize,
        delivery: &C::Delivery,
    ) -> Result<Verdict, BuildError> {
        // Timers due before this event fire first: decisions interleave in event time.
        self.fire_due(tenant, env.time.timestamp_millis())?;
        let Some(draft) = self.drafts.get(tenant) else {
            return Ok(Verdict::Duplicate);
        };
        let rt = draft.runtime.clone();
        let state: Arc<dyn StateStore> = draft.view.clone();
        let outcome = match rt.dispatch_in(self.sandbox, env, None, state) {
            Ok(o) => o,
            Err(rejection) => {
                self.dead_letter(Some(tenant), delivery, &rejection);
                return Ok(Verdict::DeadLettered(rejection));
            }
        };
        let failed = self.apply(tenant, Some(input), env, outcome, &rt)?;
        if let Some(draft) = self.drafts.get_mut(tenant) {
            draft.commit.processed.push(key.to_owned());
            draft.clock = Some(draft.clock.map_or(env.time, |c| c.max(env.time)));
        }
        Ok(match failed {
            None => Verdict::Processed,
            Some(rejection) => {
                self.dead_letter(Some(tenant), delivery, &rejection);
                Verdict::Failed(rejection)
            }
        })
    }

    /// The draft of `tenant`'s batch, opened with the runtime it runs on.
    fn draft(
        &mut self,
        runtimes: &BTreeMap<TenantId, Arc<TenantRuntime>>,
        tenant: &TenantId,
        handle: &tokio::runtime::Handle,
    ) {
        let (Some(books), Some(rt)) = (self.books.get(tenant), runtimes.get(tenant)) else {
            return;
        };
        self.drafts.insert(
            tenant.clone(),
            Draft {
                view: BatchView::new(books.cache.clone(), handle.clone()),
                commit: Commit {
                    at_ms: self.at_ms,
                    ..Commit::default()
                },
                undo: Vec::new(),
                next_timer_seq: books.next_timer_seq,
                next_outbox_seq: books.next_outbox_seq,
                clock: books.clock,
                fired: 0,
                storm: false,
                runtime: rt.clone(),
            },
        );
    }

    /// Puts back what the batch changed in the schedules.
    fn undo(&mut self) {
        for (tenant, draft) in &mut self.drafts {
            if let Some(books) = self.books.get_mut(tenant) {
                undo(&mut books.timers, std::mem::take(&mut draft.undo));
            }
        }
    }

    /// Fires `tenant`'s timers due at or before `until_ms`, earliest first, each into the
    /// plugin that set it.
    fn fire_due(&mut self, tenant: &TenantId, until_ms: i64) -> Result<(), BuildError> {
        loop {
            let (Some(books), Some(draft)) =
                (self.books.get_mut(tenant), self.drafts.get_mut(tenant))
            else {
                return Ok(());
            };
            if draft.storm {
                return Ok(());
            }
            let Some(timer) = books.timers.pop_due(until_ms) else {
                return Ok(());
            };
            if draft.fired >= self.options.max_timer_firings {
                books.timers.set(timer);
                draft.storm = true;
                self.settled.timer_storm = Some(draft.fired);
                tracing::warn!(tenant = %tenant, fired = draft.fired, "timers stopped firing at the limit of one batch (a plugin re-arms without end?); the rest stay pending");
                return Ok(());
            }
            draft.fired += 1;
            self.settled.timers_fired += 1;
            draft.commit.timers.insert(
                (timer.plugin.clone(), timer.name.clone()),
                TimerChange::Fired {
                    seq: timer.seq,
                    at_ms: self.at_ms,
                },
            );
            draft.undo.push(Undo::Pop(timer.clone()));
            let rt = draft.runtime.clone();
            let state: Arc<dyn StateStore> = draft.view.clone();
            let (env, outcome) = rt.fire_in(self.sandbox, &timer, state);
            // A failed timer has no input to dead-letter; the failure is logged and counted.
            let _no_input = self.apply(tenant, None, &env, outcome, &rt)?;
        }
    }

    /// Takes one dispatch's outcome into the tenant's draft: the successful plugins'
    /// writes, timers and commands. Returns the `plugin-failed` refusal when a plugin
    /// whose policy dead-letters failed on an input.
    fn apply(
        &mut self,
        tenant: &TenantId,
        input: Option<usize>,
        env: &Envelope,
        outcome: Outcome,
        rt: &TenantRuntime,
    ) -> Result<Option<Rejection>, BuildError> {
        let label = tenant.as_str();
        self.settled.plugin_calls += outcome.invoked as u64;
        if let Some(m) = self.metrics {
            for (plugin, took) in &outcome.durations {
                m.plugin_call_seconds
                    .with_label_values(&[label, plugin])
                    .observe(took.as_secs_f64());
            }
            for plugin in &outcome.fallbacks {
                m.fallbacks_total.with_label_values(&[label, plugin]).inc();
            }
        }
        let mut dead = Vec::new();
        for failed in outcome.failures {
            if let PluginFailure::StateUnavailable(detail) = &failed.failure {
                return Err(BuildError::State(detail.clone()));
            }
            if let Some(m) = self.metrics {
                m.plugin_calls_total
                    .with_label_values(&[label, &failed.plugin, failed.failure.kind()])
                    .inc();
            }
            // Retry dead-letters what its retries did not cure.
            if input.is_some() && rt.failure_policy(&failed.plugin) != FailurePolicy::Ignore {
                dead.push(format!("plugin {}: {}", failed.plugin, failed.failure));
            }
            self.settled.failures.push(Failure {
                input,
                at: self.settled.verdicts.len(),
                tenant: tenant.clone(),
                fallback: outcome.fallbacks.contains(&failed.plugin),
                plugin: failed.plugin,
                event_id: env.id.clone(),
                failure: failed.failure,
            });
        }
        let Some(draft) = self.drafts.get_mut(tenant) else {
            return Ok(None);
        };
        let schedule = match self.books.get_mut(tenant) {
            Some(b) => &mut b.timers,
            None => return Ok(None),
        };
        for (plugin, effects) in outcome.effects {
            if let Some(m) = self.metrics {
                m.plugin_calls_total
                    .with_label_values(&[label, &plugin, "ok"])
                    .inc();
            }
            // The plugin's writes become visible to the batch's later events.
            draft
                .view
                .write(tenant, &plugin, &effects.writes)
                .map_err(|e| BuildError::State(e.to_string()))?;
            for name in effects.cancel_timers {
                let old = schedule.cancel(tenant, &plugin, &name);
                draft.undo.push(Undo::Cancel(old));
                draft
                    .commit
                    .timers
                    .insert((plugin.clone(), name), TimerChange::Cancel);
            }
            for t in effects.set_timers {
                let seq = draft.next_timer_seq;
                draft.next_timer_seq += 1;
                draft.commit.timers.insert(
                    (plugin.clone(), t.name.clone()),
                    TimerChange::Set {
                        due_ms: t.at_ms,
                        payload: t.payload.clone(),
                        seq,
                    },
                );
                let timer = Timer {
                    tenant: tenant.clone(),
                    plugin: plugin.clone(),
                    name: t.name,
                    at_ms: t.at_ms,
                    payload: t.payload,
                    seq,
                };
                let replaced = schedule.set(timer.clone());
                draft.undo.push(Undo::Set { timer, replaced });
            }
        }
        for command in &outcome.commands {
            if let Some(route) = Route::from_command(command) {
                self.settled.routes.push(Routed {
                    tenant: tenant.clone(),
                    input,
                    at: self.settled.verdicts.len(),
                    route,
                });
            }
            let message = self
                .carrier
                .command(command, rt.bundle.command_mode)
                .map_err(BuildError::Encode)?;
            let seq = draft.next_outbox_seq;
            draft.next_outbox_seq += 1;
            self.order.push((
                Some(tenant.clone()),
                draft.commit.outbox.len(),
                self.settled.verdicts.len(),
            ));
            draft.commit.outbox.push(message.at(seq));
        }
        Ok((!dead.is_empty()).then(|| Rejection::new(RejectReason::PluginFailed, dead.join("; "))))
    }

    /// Puts a copy of `delivery` into its tenant's outbox for `leitstand.dead`; without a
    /// served tenant it is handed to the driver uncommitted.
    fn dead_letter(
        &mut self,
        tenant: Option<&TenantId>,
        delivery: &C::Delivery,
        rejection: &Rejection,
    ) {
        let message =
            self.carrier
                .dead_letter(delivery, rejection.reason.code(), &rejection.detail);
        match tenant.and_then(|t| self.drafts.get_mut(t).map(|d| (t, d))) {
            Some((tenant, draft)) => {
                let seq = draft.next_outbox_seq;
                draft.next_outbox_seq += 1;
                self.order.push((
                    Some(tenant.clone()),
                    draft.commit.outbox.len(),
                    self.settled.verdicts.len(),
                ));
                draft.commit.outbox.push(message.at(seq));
            }
            None => {
                self.order
                    .push((None, self.orphans.len(), self.settled.verdicts.len()));
                self.orphans.push(message.at(0));
            }
        }
    }
}
