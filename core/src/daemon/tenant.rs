//! The consumer of one tenant's queue, effectively once.
//!
//! Deliveries are taken in batches (whatever the broker has already sent, up to
//! `store.batch_max`), together with the tenant's timers that are due. The batch's plugins
//! read state through a view that sees the batch's own earlier writes; everything the
//! batch changes (state, timers, processed ids, the commands and dead letters it
//! produces) is committed in one transaction, and only then are its inputs acknowledged.
//! An event whose `source` + `id` is already recorded is acknowledged without running
//! any plugin. The outbox relay publishes the committed messages with confirms and
//! forgets them once the broker has them; whatever it had not finished is published
//! again when the tenant's worker starts.
//!
//! When the store cannot be reached, the worker keeps its batch unacknowledged and
//! retries with backoff: processing pauses, nothing is lost.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use futures_util::{FutureExt, StreamExt};
use lapin::message::Delivery;
use lapin::options::{
    BasicAckOptions, BasicCancelOptions, BasicConsumeOptions, BasicNackOptions, BasicQosOptions,
};
use lapin::types::FieldTable;
use lapin::{Channel, Confirmation};
use tokio::sync::{mpsc, watch};

use super::Shared;
use super::registry::TenantSlot;
use crate::dispatch::{Outcome, TenantRuntime, routing_key_tenant};
use crate::envelope::{RejectReason, Rejection, TenantId};
use crate::sandbox::PluginFailure;
use crate::state::{StateStore, Timer, TimerSchedule};
use crate::store::view::{BatchView, Cache};
use crate::store::{Commit, Fence, OutboxEntry, Store, StoreError, TimerChange, event_key};
use crate::tenants::FailurePolicy;
use crate::transport::{Message, Publisher, TransportError, tenant_queue};

/// The reason code of a command no queue was bound for, copied to `leitstand.dead`.
const UNROUTABLE_COMMAND: &str = "unroutable-command";
/// How long confirmed messages may wait to be cleared from the outbox.
const OUTBOX_CLEAR: Duration = Duration::from_millis(200);
/// How many confirmed messages are cleared from the outbox at once at most.
const OUTBOX_CLEAR_ROWS: usize = 2_000;
/// Outbox chunks on their way to the broker before the worker waits.
const RELAY_DEPTH: usize = 64;

/// Outbox sequences of one lease term start at `token << OUTBOX_TERM_BITS`, so that a
/// message committed under a newer lease never reuses the sequence of one a former holder
/// (still clearing its confirmed messages) may delete.
const OUTBOX_TERM_BITS: u32 = 40;

type Key = (String, String);

/// How a tenant's worker ended, when not with a transport error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ended {
    /// It was asked to stop (or stopped while the store was unreachable).
    Stopped,
    /// A commit found the tenant's lease expired or taken: this fence can commit nothing
    /// more, and a worker must not start with it again.
    LeaseLost(Fence),
}

/// The figures of a batch, counted once it is committed.
#[derive(Default)]
struct Tally {
    outcomes: BTreeMap<&'static str, u64>,
    dead: BTreeMap<&'static str, u64>,
    timers_fired: u64,
}

/// A batch ready to commit.
struct Built {
    commit: Commit,
    tally: Tally,
    /// The schedule changes the commit makes, to apply to memory after it.
    timer_changes: BTreeMap<Key, (TimerChange, Timer)>,
    next_timer_seq: i64,
    next_outbox_seq: i64,
    /// Indices of the deliveries whose events were dispatched for the first time: the
    /// ones the SLA figures count once the batch is committed.
    dispatched: Vec<usize>,
}

/// Why a batch could not be built.
enum BuildError {
    /// The store failed while a plugin read its state; retry the batch.
    State(String),
    /// A message could not be encoded: a bug, not the input's fault.
    Transport(TransportError),
}

/// The worker of one tenant.
pub struct TenantWorker {
    shared: Arc<Shared>,
    slot: Arc<TenantSlot>,
    store: Store,
    fence: Option<Fence>,
    cache: Arc<Cache>,
    timers: TimerSchedule,
    next_timer_seq: i64,
    next_outbox_seq: i64,
    /// Set when a commit was refused for a lost lease.
    lease_lost: bool,
    /// The bundle the SLA figures were last opened with.
    sla_bundle: Option<Arc<crate::tenants::Bundle>>,
    /// How many events fit into one slice of sandbox time.
    slice: super::fair::Slice,
}

impl TenantWorker {
    /// Loads what the store holds for the tenant: pending timers and the sequences.
    /// Retries while the store is unreachable, until `stop`.
    async fn load(
        shared: Arc<Shared>,
        slot: Arc<TenantSlot>,
        store: Store,
        fence: Option<Fence>,
        stop: &watch::Receiver<bool>,
    ) -> Option<(Self, Vec<OutboxEntry>)> {
        let tenant = slot.tenant.clone();
        let mut attempt = 0;
        loop {
            let loaded = async {
                let pending = store.pending_timers(&tenant).await?;
                let timer_seq = store.last_timer_seq(&tenant).await?;
                let outbox = store.outbox(&tenant).await?;
                let outbox_seq = store.last_outbox_seq(&tenant).await?;
                Ok::<_, StoreError>((pending, timer_seq, outbox, outbox_seq))
            }
            .await;
            match loaded {
                Ok((pending, timer_seq, outbox, outbox_seq)) => {
                    let mut timers = TimerSchedule::new();
                    for t in pending {
                        timers.set(t.into_timer(&tenant));
                    }
                    let cache = Cache::new(tenant.clone(), store.clone());
                    let term_start = fence
                        .as_ref()
                        .map_or(0, |f| f.token.max(0).saturating_mul(1 << OUTBOX_TERM_BITS));
                    let slice = super::fair::Slice::new(shared.slice);
                    let worker = Self {
                        shared,
                        slot,
                        store,
                        fence,
                        cache,
                        timers,
                        next_timer_seq: timer_seq + 1,
                        next_outbox_seq: (outbox_seq + 1).max(term_start),
                        lease_lost: false,
                        sla_bundle: None,
                        slice,
                    };
                    return Some((worker, outbox));
                }
                Err(e) => {
                    if !store_pause(&shared, &tenant, &e, &mut attempt, stop).await {
                        return None;
                    }
                }
            }
        }
    }
}

/// Waits out a store failure: marks the store down (the daemon's probe marks it up again
/// once it answers), logs, sleeps with backoff. Returns false when the worker is asked to
/// stop instead.
async fn store_pause(
    shared: &Shared,
    tenant: &TenantId,
    error: &(dyn std::fmt::Display + Sync),
    attempt: &mut u32,
    stop: &watch::Receiver<bool>,
) -> bool {
    shared.health.set_store(false);
    shared.metrics.store_connected.set(0);
    shared
        .metrics
        .store_failures_total
        .with_label_values(&[tenant.as_str()])
        .inc();
    tracing::warn!(tenant = %tenant, error = %error, "the store failed; processing of this tenant pauses");
    let wait = shared.amqp.backoff(*attempt);
    *attempt = attempt.saturating_add(1);
    let mut stop = stop.clone();
    tokio::select! {
        _ = stop.wait_for(|s| *s) => false,
        () = tokio::time::sleep(wait) => true,
    }
}

/// Consumes the tenant's queue until `stop` turns true (then what was delivered is
/// finished) or the channel fails (an error for the supervisor).
pub async fn run(
    shared: Arc<Shared>,
    slot: Arc<TenantSlot>,
    channel: Channel,
    publisher: Publisher,
    store: Store,
    fence: Option<Fence>,
    stop: watch::Receiver<bool>,
) -> Result<Ended, TransportError> {
    let tenant = slot.tenant.clone();
    let Some((mut worker, leftovers)) =
        TenantWorker::load(shared.clone(), slot, store.clone(), fence, &stop).await
    else {
        return Ok(Ended::Stopped);
    };
    worker.follow_bundle();
    let (relay_tx, relay_rx) = mpsc::channel::<Vec<OutboxEntry>>(RELAY_DEPTH);
    let mut relay = tokio::spawn(relay(
        shared.clone(),
        tenant.clone(),
        publisher,
        store,
        relay_rx,
    ));
    if !leftovers.is_empty() {
        tracing::info!(tenant = %tenant, messages = leftovers.len(), "publishing the outbox left by an earlier run");
        let _ = relay_tx.send(leftovers).await;
    }
    let result = worker.consume(&channel, &relay_tx, stop).await.map(|()| {
        match (worker.lease_lost, worker.fence.clone()) {
            (true, Some(fence)) => Ended::LeaseLost(fence),
            _ => Ended::Stopped,
        }
    });
    // Whatever this channel still holds unacknowledged (a batch handed back after a lost
    // lease, deliveries prefetched behind it) goes back to the queue now, for the next
    // owner, not when the connection closes.
    if channel.status().connected() {
        let _ = channel.close(200, "tenant worker stopped".into()).await;
    }
    drop(relay_tx);
    // The relay ends when everything committed is confirmed (or its channel is gone).
    match tokio::time::timeout(Duration::from_secs(30), &mut relay).await {
        Ok(Ok(Ok(()))) => {}
        Ok(Ok(Err(e))) => {
            tracing::warn!(tenant = %tenant, error = %e, "the outbox relay stopped; the outbox is published again on the next start");
            return result.and(Err(e));
        }
        Ok(Err(e)) => tracing::error!(tenant = %tenant, error = %e, "the outbox relay failed"),
        Err(_) => {
            relay.abort();
            // Wait until it is gone, so that the tenant's next worker starts after it.
            let _ = relay.await;
            tracing::warn!(tenant = %tenant, "the outbox relay did not finish; it is published again on the next start");
        }
    }
    result
}

impl TenantWorker {
    async fn consume(
        &mut self,
        channel: &Channel,
        relay: &mpsc::Sender<Vec<OutboxEntry>>,
        mut stop: watch::Receiver<bool>,
    ) -> Result<(), TransportError> {
        let queue = tenant_queue(&self.slot.tenant);
        let tag = format!("leitstand:{queue}");
        channel
            .basic_qos(self.shared.amqp.prefetch, BasicQosOptions::default())
            .await
            .map_err(TransportError::amqp(format!("setting prefetch on {queue}")))?;
        let mut consumer = channel
            .basic_consume(
                queue.as_str().into(),
                tag.as_str().into(),
                BasicConsumeOptions::default(),
                FieldTable::default(),
            )
            .await
            .map_err(TransportError::amqp(format!("consuming {queue}")))?;
        let batch_max = self.shared.store_config.batch_max.max(1);
        let mut stopping = *stop.borrow();
        while !stopping {
            let timer_wait = sleep_until_due(self.timers.next_due());
            let first = tokio::select! {
                biased;
                changed = stop.changed() => {
                    stopping = changed.is_err() || *stop.borrow();
                    continue;
                }
                next = consumer.next() => match next {
                    Some(Ok(delivery)) => Some(delivery),
                    Some(Err(e)) => return Err(TransportError::Amqp {
                        context: format!("consuming {queue}"),
                        source: e,
                    }),
                    None => return Err(TransportError::Session(format!("the consumer of {queue} was cancelled by the broker"))),
                },
                () = timer_wait => None,
            };
            let mut deliveries: Vec<Delivery> = first.into_iter().collect();
            let batch_max = self.slice.events(batch_max);
            while deliveries.len() < batch_max {
                match consumer.next().now_or_never() {
                    Some(Some(Ok(d))) => deliveries.push(d),
                    _ => break,
                }
            }
            if !self.batch(deliveries, relay, &stop).await? {
                return Ok(());
            }
        }
        // Cancel, then finish what the broker had already delivered.
        if let Err(e) = channel
            .basic_cancel(tag.as_str().into(), BasicCancelOptions::default())
            .await
        {
            tracing::warn!(queue = %queue, error = %e, "cancelling the consumer failed");
        }
        loop {
            let mut deliveries = Vec::new();
            while deliveries.len() < batch_max {
                match tokio::time::timeout(Duration::from_millis(200), consumer.next()).await {
                    Ok(Some(Ok(d))) => deliveries.push(d),
                    _ => break,
                }
            }
            if deliveries.is_empty() {
                return Ok(());
            }
            // Stopping already: a batch the store refuses stays unacknowledged and the
            // broker delivers it again.
            if !self.batch(deliveries, relay, &stop).await? {
                return Ok(());
            }
        }
    }

    /// Processes one batch: due timers, then `deliveries` in order. Returns false when the
    /// worker was stopped while the store was unreachable (the batch stays unacknowledged
    /// and the broker delivers it again).
    async fn batch(
        &mut self,
        deliveries: Vec<Delivery>,
        relay: &mpsc::Sender<Vec<OutboxEntry>>,
        stop: &watch::Receiver<bool>,
    ) -> Result<bool, TransportError> {
        let started = Instant::now();
        let tenant = self.slot.tenant.clone();
        let label = tenant.as_str();
        let m = self.shared.metrics.clone();
        let bundle = self.follow_bundle();
        m.events_in_flight
            .with_label_values(&[label])
            .add(deliveries.len() as i64);
        m.events_received_total
            .with_label_values(&[label])
            .inc_by(deliveries.len() as u64);
        let redelivered = deliveries.iter().filter(|d| d.redelivered).count();
        if redelivered > 0 {
            m.redeliveries_total
                .with_label_values(&[label])
                .inc_by(redelivered as u64);
        }
        let now = Utc::now().timestamp_millis();
        let batch_max = self.shared.store_config.batch_max.max(1);
        let mut due = Vec::new();
        while due.len() < batch_max {
            match self.timers.pop_due(now) {
                Some(t) => due.push(t),
                None => break,
            }
        }
        let verdicts: Vec<_> = deliveries
            .iter()
            .map(|d| {
                self.shared
                    .intake
                    .envelope(&d.properties, &d.data, Utc::now())
            })
            .collect();
        let keys: Vec<String> = verdicts
            .iter()
            .filter_map(|v| v.as_ref().ok().map(|env| event_key(&env.source, &env.id)))
            .collect();
        let mut attempt = 0;
        let built = loop {
            let seen = match self.store.processed_among(&tenant, &keys).await {
                Ok(seen) => seen,
                Err(e) => {
                    if store_pause(&self.shared, &tenant, &e, &mut attempt, stop).await {
                        continue;
                    }
                    self.give_back(due);
                    return Ok(false);
                }
            };
            let rt = self.slot.runtime();
            // The batch runs in `block_in_place`, where a read may block on the runtime.
            let view = BatchView::new(self.cache.clone(), tokio::runtime::Handle::current());
            // Plugins run only in a slot of sandbox time, handed out fairly by tenant.
            let permit = self.shared.fair.acquire(&tenant).await;
            for (reason, waited) in [("paced", permit.paced), ("slot", permit.queued)] {
                if !waited.is_zero() {
                    m.sandbox_wait_seconds_total
                        .with_label_values(&[label, reason])
                        .inc_by(waited.as_secs_f64());
                }
            }
            // A tenant over its part runs its batch at a lower CPU priority.
            let nicer = self.shared.yield_nice;
            let over = nicer > 0 && !permit.paced.is_zero();
            let result = tokio::task::block_in_place(|| {
                let build = || self.build(&rt, &view, &due, &deliveries, &verdicts, &seen, now);
                if over {
                    super::fair::yielding(nicer, build)
                } else {
                    build()
                }
            });
            let held = permit.release();
            self.slice.observe(deliveries.len() + due.len(), held);
            match result {
                Ok(built) => break built,
                Err(BuildError::Transport(e)) => {
                    self.give_back(due);
                    return Err(e);
                }
                Err(BuildError::State(detail)) => {
                    let e = format!("a plugin could not read its state: {detail}");
                    if store_pause(&self.shared, &tenant, &e, &mut attempt, stop).await {
                        continue;
                    }
                    self.give_back(due);
                    return Ok(false);
                }
            }
        };
        // Commit; while the store is unreachable, retry the same batch.
        let commit_started = Instant::now();
        loop {
            match self
                .store
                .commit(&tenant, &built.commit, self.fence.as_ref())
                .await
            {
                Ok(()) => break,
                Err(StoreError::LeaseLost(t)) => {
                    tracing::warn!(tenant = %t, "the tenant's lease is lost: its batch goes back to the queue");
                    self.lease_lost = true;
                    self.give_back(due);
                    nack_all(&deliveries).await;
                    return Ok(false);
                }
                Err(e) => {
                    // The commit may have landed with its answer lost: then it is done.
                    if self.landed(&built.commit).await {
                        break;
                    }
                    if !store_pause(&self.shared, &tenant, &e, &mut attempt, stop).await {
                        self.give_back(due);
                        return Ok(false);
                    }
                }
            }
        }
        m.store_commit_seconds
            .with_label_values(&[label])
            .observe(commit_started.elapsed().as_secs_f64());
        m.store_connected.set(1);
        // Committed: the events count towards the SLA figures, once.
        let received = chrono::DateTime::from_timestamp_millis(now).unwrap_or_else(Utc::now);
        for &i in &built.dispatched {
            if let Some(Ok(env)) = verdicts.get(i) {
                m.sla.observe(&bundle, env);
                let lag = (received - env.time).num_milliseconds() as f64 / 1000.0;
                m.event_lag_seconds
                    .with_label_values(&[label])
                    .observe(lag.max(0.0));
            }
        }
        // Committed: memory follows, inputs are acknowledged, messages go out.
        self.cache.apply(&built.commit.writes);
        for ((plugin, name), (change, timer)) in built.timer_changes {
            match change {
                TimerChange::Set { .. } => self.timers.set(timer),
                TimerChange::Cancel => self.timers.cancel(&tenant, &plugin, &name),
                TimerChange::Fired { .. } => {}
            }
        }
        self.next_timer_seq = built.next_timer_seq;
        self.next_outbox_seq = built.next_outbox_seq;
        if let Some(last) = deliveries.last()
            && let Err(e) = last.acker.ack(BasicAckOptions { multiple: true }).await
        {
            m.ack_failures_total.with_label_values(&[label]).inc();
            tracing::warn!(tenant = %tenant, error = %e, "an acknowledgement was refused; the broker will redeliver (and the events are recognised as processed)");
        }
        if !built.commit.outbox.is_empty() && relay.send(built.commit.outbox).await.is_err() {
            return Err(TransportError::Session(
                "the outbox relay has stopped".into(),
            ));
        }
        for (outcome, n) in built.tally.outcomes {
            m.events_total
                .with_label_values(&[label, outcome])
                .inc_by(n);
        }
        for (reason, n) in built.tally.dead {
            m.dead_letters_total
                .with_label_values(&[label, reason])
                .inc_by(n);
        }
        m.timers_fired_total
            .with_label_values(&[label])
            .inc_by(built.tally.timers_fired);
        for q in self.slot.runtime().quarantine() {
            m.plugin_quarantined
                .with_label_values(&[label, &q.plugin])
                .set(i64::from(q.quarantined));
        }
        m.events_in_flight
            .with_label_values(&[label])
            .sub(deliveries.len() as i64);
        let took = started.elapsed().as_secs_f64();
        for _ in &deliveries {
            m.event_seconds.with_label_values(&[label]).observe(took);
        }
        Ok(true)
    }

    /// Opens the tenant's SLA figures and plugin gauges for its current bundle: when the
    /// worker starts (so that an open tenant without events is seen) and after a reload
    /// (queues, targets and hours may have changed). Returns the bundle.
    fn follow_bundle(&mut self) -> Arc<crate::tenants::Bundle> {
        let bundle = self.slot.runtime().bundle.clone();
        if !self
            .sla_bundle
            .as_ref()
            .is_some_and(|b| Arc::ptr_eq(b, &bundle))
        {
            let m = &self.shared.metrics;
            m.sla.open(&bundle);
            for p in &bundle.plugins {
                m.plugin_quarantined
                    .with_label_values(&[self.slot.tenant.as_str(), p.name.as_str()])
                    .set(0);
            }
            self.sla_bundle = Some(bundle.clone());
        }
        bundle
    }

    /// Whether a commit whose answer was lost did land.
    async fn landed(&self, commit: &Commit) -> bool {
        let tenant = &self.slot.tenant;
        if let Some(first) = commit.processed.first() {
            return self
                .store
                .processed_among(tenant, std::slice::from_ref(first))
                .await
                .is_ok_and(|seen| !seen.is_empty());
        }
        if let Some(first) = commit.outbox.first() {
            return self
                .store
                .last_outbox_seq(tenant)
                .await
                .is_ok_and(|last| last >= first.seq);
        }
        // Timer changes alone: writing them twice is harmless.
        false
    }

    /// Puts timers taken for a batch that did not commit back into the schedule.
    fn give_back(&mut self, due: Vec<Timer>) {
        for t in due {
            self.timers.set(t);
        }
    }

    /// Runs the batch's timers and events through the plugins and gathers one commit.
    #[allow(clippy::too_many_arguments)]
    fn build(
        &self,
        rt: &TenantRuntime,
        view: &Arc<BatchView>,
        due: &[Timer],
        deliveries: &[Delivery],
        verdicts: &[Result<crate::envelope::Envelope, Rejection>],
        seen: &HashSet<String>,
        now: i64,
    ) -> Result<Built, BuildError> {
        let sandbox = self.shared.sandbox.clone();
        let state: Arc<dyn StateStore> = view.clone();
        let mut b = Builder {
            tenant: &self.slot.tenant,
            metrics: &self.shared.metrics,
            view,
            commit: Commit {
                at_ms: now,
                ..Commit::default()
            },
            tally: Tally::default(),
            timer_changes: BTreeMap::new(),
            next_timer_seq: self.next_timer_seq,
            next_outbox_seq: self.next_outbox_seq,
        };
        for timer in due {
            let key = (timer.plugin.clone(), timer.name.clone());
            if b.timer_changes.contains_key(&key) {
                // An earlier timer's plugin cancelled or re-set this one in this batch.
                continue;
            }
            let (env, outcome) = rt.fire_in(&sandbox, timer, state.clone());
            b.tally.timers_fired += 1;
            b.timer_changes.insert(
                key.clone(),
                (
                    TimerChange::Fired {
                        seq: timer.seq,
                        at_ms: now,
                    },
                    timer.clone(),
                ),
            );
            // A failed timer has no input to dead-letter; the failure is logged and counted.
            let _ignored_policy = b.apply(&env, outcome, |_| FailurePolicy::Ignore)?;
        }
        let mut in_batch = HashSet::new();
        let mut dispatched = Vec::new();
        for (i, (delivery, verdict)) in deliveries.iter().zip(verdicts).enumerate() {
            let routing_key = delivery.routing_key.as_str();
            let env = match verdict {
                Ok(env) => env,
                Err(rejection) => {
                    b.dead_letter(delivery, rejection)?;
                    b.count("dead_lettered");
                    continue;
                }
            };
            let key = event_key(&env.source, &env.id);
            if seen.contains(&key) || !in_batch.insert(key.clone()) {
                b.count("duplicate");
                continue;
            }
            let routed = routing_key_tenant(routing_key);
            match rt.dispatch_in(&sandbox, env, Some(routed), state.clone()) {
                Ok(outcome) => {
                    dispatched.push(i);
                    let policy = |plugin: &str| rt.failure_policy(plugin);
                    match b.apply(env, outcome, policy)? {
                        Ok(()) => b.count("processed"),
                        Err(rejection) => {
                            b.dead_letter(delivery, &rejection)?;
                            b.count("failed");
                        }
                    }
                    b.commit.processed.push(key);
                }
                Err(rejection) => {
                    b.dead_letter(delivery, &rejection)?;
                    b.count("dead_lettered");
                }
            }
        }
        b.commit.writes = view.take();
        for (key, (change, _)) in &b.timer_changes {
            b.commit.timers.insert(key.clone(), change.clone());
        }
        Ok(Built {
            commit: b.commit,
            tally: b.tally,
            timer_changes: b.timer_changes,
            next_timer_seq: b.next_timer_seq,
            next_outbox_seq: b.next_outbox_seq,
            dispatched,
        })
    }
}

/// Gathers one batch's commit.
struct Builder<'a> {
    tenant: &'a TenantId,
    metrics: &'a crate::metrics::Metrics,
    view: &'a BatchView,
    commit: Commit,
    tally: Tally,
    timer_changes: BTreeMap<Key, (TimerChange, Timer)>,
    next_timer_seq: i64,
    next_outbox_seq: i64,
}

impl Builder<'_> {
    /// Counts a plugin call as it happens (a batch retried after a store failure calls
    /// its plugins again, and those calls count too).
    fn call(&self, plugin: &str, outcome: &str) {
        self.metrics
            .plugin_calls_total
            .with_label_values(&[self.tenant.as_str(), plugin, outcome])
            .inc();
    }

    fn count(&mut self, outcome: &'static str) {
        *self.tally.outcomes.entry(outcome).or_default() += 1;
    }

    fn outbox(&mut self, message: &Message) -> Result<(), BuildError> {
        let entry = message
            .to_outbox(self.next_outbox_seq)
            .map_err(BuildError::Transport)?;
        self.next_outbox_seq += 1;
        self.commit.outbox.push(entry);
        Ok(())
    }

    fn dead_letter(
        &mut self,
        delivery: &Delivery,
        rejection: &Rejection,
    ) -> Result<(), BuildError> {
        let reason = rejection.reason.code();
        *self.tally.dead.entry(reason).or_default() += 1;
        tracing::info!(tenant = %self.tenant, reason, detail = %rejection.detail, "dead-lettering an input");
        self.outbox(&Message::dead_letter(
            &delivery.properties,
            delivery.routing_key.as_str(),
            &delivery.data,
            reason,
            &rejection.detail,
        ))
    }

    /// Takes the successful plugins' writes, timers and commands into the batch. Returns
    /// `Err(plugin-failed)` when a plugin whose policy is to dead-letter failed; the other
    /// plugins' decisions stand.
    fn apply(
        &mut self,
        env: &crate::envelope::Envelope,
        outcome: Outcome,
        policy: impl Fn(&str) -> FailurePolicy,
    ) -> Result<Result<(), Rejection>, BuildError> {
        let mut dead = Vec::new();
        for (plugin, took) in &outcome.durations {
            self.metrics
                .plugin_call_seconds
                .with_label_values(&[self.tenant.as_str(), plugin])
                .observe(took.as_secs_f64());
        }
        for plugin in &outcome.fallbacks {
            self.metrics
                .fallbacks_total
                .with_label_values(&[self.tenant.as_str(), plugin])
                .inc();
            tracing::warn!(tenant = %self.tenant, plugin = %plugin, event_id = %env.id, "a plugin failed: its bundle's fallback command is emitted");
        }
        for failed in &outcome.failures {
            if let PluginFailure::StateUnavailable(detail) = &failed.failure {
                return Err(BuildError::State(detail.clone()));
            }
            self.call(&failed.plugin, failed.failure.kind());
            if matches!(failed.failure, PluginFailure::Quarantined(_)) {
                tracing::debug!(tenant = %self.tenant, plugin = %failed.plugin, event_id = %env.id, "the plugin is quarantined; it was not called");
            } else {
                tracing::warn!(tenant = %self.tenant, plugin = %failed.plugin, event_id = %env.id, failure = %failed.failure, "a plugin failed");
            }
            // Retry dead-letters what its retries did not cure.
            if policy(&failed.plugin) != FailurePolicy::Ignore {
                dead.push(format!("plugin {}: {}", failed.plugin, failed.failure));
            }
        }
        for (plugin, effects) in &outcome.effects {
            self.call(plugin, "ok");
            // The plugin's writes become visible to the batch's later events.
            if let Err(e) = self.view.commit(self.tenant, plugin, &effects.writes) {
                return Err(BuildError::State(e.to_string()));
            }
            for name in &effects.cancel_timers {
                let timer = Timer {
                    tenant: self.tenant.clone(),
                    plugin: plugin.clone(),
                    name: name.clone(),
                    at_ms: 0,
                    payload: String::new(),
                    seq: 0,
                };
                self.timer_changes
                    .insert((plugin.clone(), name.clone()), (TimerChange::Cancel, timer));
            }
            for t in &effects.set_timers {
                let seq = self.next_timer_seq;
                self.next_timer_seq += 1;
                let timer = Timer {
                    tenant: self.tenant.clone(),
                    plugin: plugin.clone(),
                    name: t.name.clone(),
                    at_ms: t.at_ms,
                    payload: t.payload.clone(),
                    seq,
                };
                let change = TimerChange::Set {
                    due_ms: t.at_ms,
                    payload: t.payload.clone(),
                    seq,
                };
                self.timer_changes
                    .insert((plugin.clone(), t.name.clone()), (change, timer));
            }
        }
        for command in &outcome.commands {
            let message = Message::command(command).map_err(BuildError::Transport)?;
            self.outbox(&message)?;
        }
        if dead.is_empty() {
            Ok(Ok(()))
        } else {
            Ok(Err(Rejection::new(
                RejectReason::PluginFailed,
                dead.join("; "),
            )))
        }
    }
}

/// Sleeps until `due_ms` (wall clock), or forever when no timer is pending.
async fn sleep_until_due(due_ms: Option<i64>) {
    match due_ms {
        Some(at_ms) => {
            let wait = at_ms.saturating_sub(Utc::now().timestamp_millis()).max(0);
            tokio::time::sleep(Duration::from_millis(wait.unsigned_abs())).await;
        }
        None => std::future::pending::<()>().await,
    }
}

/// Hands a batch back to the broker.
async fn nack_all(deliveries: &[Delivery]) {
    if let Some(last) = deliveries.last() {
        let _ = last
            .acker
            .nack(BasicNackOptions {
                multiple: true,
                requeue: true,
            })
            .await;
    }
}

/// Deletes the confirmed messages `done` from the outbox, retrying while the store fails.
async fn clear(shared: &Shared, store: &Store, tenant: &TenantId, done: &mut Vec<i64>) {
    if done.is_empty() {
        return;
    }
    let mut attempt = 0;
    while let Err(e) = store.outbox_done(tenant, done).await {
        // Harmless to wait: at worst the messages are published once more.
        shared.health.set_store(false);
        tracing::warn!(tenant = %tenant, error = %e, "confirmed messages cannot be cleared from the outbox yet");
        tokio::time::sleep(shared.amqp.backoff(attempt)).await;
        attempt = attempt.saturating_add(1);
    }
    done.clear();
}

/// Publishes committed messages in order, awaits their confirms in order (a second
/// stage, so publishing goes on meanwhile) and forgets them in the store once confirmed.
/// A command no queue is bound for is copied to `leitstand.dead` as
/// `unroutable-command`. Ends with an error when the broker refuses a message or the
/// channel fails: the messages stay in the outbox for the next start.
async fn relay(
    shared: Arc<Shared>,
    tenant: TenantId,
    publisher: Publisher,
    store: Store,
    mut rx: mpsc::Receiver<Vec<OutboxEntry>>,
) -> Result<(), TransportError> {
    /// A relayed batch: when its first message was published, and its messages.
    type InFlight = (
        Instant,
        Vec<(OutboxEntry, Message, lapin::PublisherConfirm)>,
    );
    let (tx, mut confirmed_rx) = mpsc::channel::<InFlight>(RELAY_DEPTH);
    // Aborted with the relay: a confirm task outliving its worker could clear messages
    // after the tenant's next worker started.
    let mut confirmer = AbortOnDrop({
        let shared = shared.clone();
        let tenant = tenant.clone();
        let publisher = publisher.clone();
        tokio::spawn(async move {
            let m = &shared.metrics;
            let label = tenant.as_str();
            // Confirmed messages are cleared from the outbox in groups (every
            // `OUTBOX_CLEAR_MS` or `OUTBOX_CLEAR_ROWS`), so that clearing costs the store
            // one transaction per group, not one per batch. Not yet cleared means, at
            // worst, published once more (same ids) after a crash.
            let mut done: Vec<i64> = Vec::new();
            let mut due = tokio::time::Instant::now() + OUTBOX_CLEAR;
            loop {
                let chunk = tokio::select! {
                    chunk = confirmed_rx.recv() => chunk,
                    () = tokio::time::sleep_until(due), if !done.is_empty() => {
                        clear(&shared, &store, &tenant, &mut done).await;
                        continue;
                    }
                };
                let Some((published, chunk)) = chunk else {
                    break;
                };
                if done.is_empty() {
                    due = tokio::time::Instant::now() + OUTBOX_CLEAR;
                }
                for (entry, message, confirm) in chunk {
                    let outcome = confirm.await;
                    match outcome {
                        Ok(Confirmation::Ack(None)) | Ok(Confirmation::NotRequested) => {}
                        Ok(Confirmation::Ack(Some(_))) if message.is_command() => {
                            m.publish_failures_total
                                .with_label_values(&[label, "returned"])
                                .inc();
                            tracing::error!(tenant = label, message = %message.label(), "no queue is bound for a command; it goes to leitstand.dead");
                            let copy = Message::dead_letter(
                                &message.properties,
                                &message.routing_key,
                                &message.body,
                                UNROUTABLE_COMMAND,
                                &format!(
                                    "no queue is bound to leitstand.commands for routing key {:?}",
                                    message.routing_key
                                ),
                            );
                            let c = publisher.message_confirm(&copy).await?;
                            match c.await {
                                Ok(Confirmation::Ack(None)) | Ok(Confirmation::NotRequested) => {}
                                other => {
                                    return Err(TransportError::Session(format!(
                                        "{} could not be dead-lettered: {other:?}",
                                        message.label()
                                    )));
                                }
                            }
                        }
                        other => {
                            let reason = match &other {
                                Ok(Confirmation::Nack(_)) => "nack",
                                Ok(_) => "returned",
                                Err(_) => "channel",
                            };
                            m.publish_failures_total
                                .with_label_values(&[label, reason])
                                .inc();
                            return Err(TransportError::Session(format!(
                                "{} is not confirmed ({reason}): {other:?}",
                                message.label()
                            )));
                        }
                    }
                    if message.is_command() {
                        m.commands_published_total.with_label_values(&[label]).inc();
                    }
                    done.push(entry.seq);
                }
                m.publish_confirm_seconds
                    .observe(published.elapsed().as_secs_f64());
                if done.len() >= OUTBOX_CLEAR_ROWS {
                    clear(&shared, &store, &tenant, &mut done).await;
                }
            }
            clear(&shared, &store, &tenant, &mut done).await;
            Ok(())
        })
    });
    while let Some(entries) = rx.recv().await {
        let mut chunk = Vec::with_capacity(entries.len());
        let published = Instant::now();
        for entry in entries {
            let message = Message::from_outbox(&entry)?;
            let confirm = publisher.message_confirm(&message).await?;
            chunk.push((entry, message, confirm));
        }
        if tx.send((published, chunk)).await.is_err() {
            break;
        }
    }
    drop(tx);
    match (&mut confirmer.0).await {
        Ok(r) => r,
        Err(e) => Err(TransportError::Session(format!(
            "the confirm task of {tenant} failed: {e}"
        ))),
    }
}

/// A spawned task that is aborted when its handle is dropped.
struct AbortOnDrop<T>(tokio::task::JoinHandle<T>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}
