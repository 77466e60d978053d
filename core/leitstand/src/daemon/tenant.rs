//! The daemon's driver of the pipeline for one tenant: batches come from the tenant's
//! RabbitMQ queue, commands and dead letters go to the outbox relay, effectively once.
//!
//! Each batch — whatever the broker has already sent, up to `store.batch_max` and the
//! tenant's slice of sandbox time — runs through the one batch pipeline
//! (`leitstand_engine::pipeline`): intake, dedup, timers in event time, plugins, one commit.
//! Only then are the inputs acknowledged and the committed messages handed to the relay,
//! which publishes them with confirms and forgets them once the broker has them; whatever it
//! had not finished is published again when the tenant's worker starts.
//!
//! Timers follow event time (CONTRACT §7): a backlog fires them between its own events,
//! exactly as a replay of the same events would. Only when the tenant is caught up —
//! nothing waits in its queue or in the worker's hands — does the wall clock fire a timer
//! due more than `daemon.watermark_ms` ago, so that a quiet line still escalates on time.
//! When the store cannot be reached, the batch stays unacknowledged and is retried with
//! backoff: processing pauses, nothing is lost.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use leitstand_amqp::relay::{self, Outbox, RELAY_DEPTH};
use leitstand_amqp::{
    Acknowledger, Amqp, Delivery, Next, Publisher, Session, TenantQueue, TransportError,
};
use leitstand_contract::envelope::TenantId;
use leitstand_engine::pipeline::{
    Fence, Fire, JournalError, OutboxEntry, Pipeline, PipelineError, PipelineOptions, Runner,
    Settled, Verdict,
};
use leitstand_engine::registry::TenantSlot;
use leitstand_engine::sandbox::PluginFailure;
use leitstand_store::Store;
use tokio::sync::{mpsc, watch};

use super::Shared;

/// How long a worker that found its queue not caught up waits before it asks again, when
/// no delivery comes meanwhile.
const CATCH_UP_RECHECK: Duration = Duration::from_millis(100);

/// Outbox sequences of one lease term start at `token << OUTBOX_TERM_BITS`, so that a
/// message committed under a newer lease never reuses the sequence of one a former holder
/// (still clearing its confirmed messages) may delete.
const OUTBOX_TERM_BITS: u32 = 40;

/// How a tenant's worker ended, when not with a transport error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ended {
    /// It was asked to stop (or stopped while the store was unreachable).
    Stopped,
    /// A commit found the tenant's lease expired or taken: this fence can commit nothing
    /// more, and a worker must not start with it again.
    LeaseLost(Fence),
}

/// Consumes the tenant's queue until `stop` turns true (then what was delivered is
/// finished) or the broker fails (an error for the supervisor).
pub async fn run(
    shared: Arc<Shared>,
    slot: Arc<TenantSlot>,
    session: Arc<Session>,
    fence: Option<Fence>,
    mut stop: watch::Receiver<bool>,
) -> Result<Ended, TransportError> {
    let tenant = slot.tenant.clone();
    let options = PipelineOptions {
        limits: shared.context.limits,
        ..PipelineOptions::default()
    };
    let mut pipeline = Pipeline::new(shared.store.clone(), shared.sandbox.clone(), options)
        .with_metrics(shared.context.metrics.clone())
        .keeping_the_board();
    let floor = fence
        .as_ref()
        .map_or(0, |f| f.token.max(0).saturating_mul(1 << OUTBOX_TERM_BITS));
    let mut attempt = 0;
    let leftovers = loop {
        match pipeline.open(&slot.runtime(), fence.clone(), floor).await {
            Ok(left) => break left,
            Err(e) if store_pause(&shared, &tenant, &e, &mut attempt, &stop).await => {}
            Err(_) => return Ok(Ended::Stopped),
        }
    };
    let mut queue = session
        .tenant_queue(&tenant, shared.context.config.prefetch)
        .await?;
    let publisher: Publisher = session.publisher().await?;
    let (relay_tx, relay_rx) = mpsc::channel::<Vec<OutboxEntry>>(RELAY_DEPTH);
    let outbox = StoreOutbox(shared.clone());
    let context = shared.context.clone();
    let mut relay = tokio::spawn(relay::run(
        context,
        tenant.clone(),
        publisher,
        outbox,
        relay_rx,
    ));
    if !leftovers.is_empty() {
        tracing::info!(tenant = %tenant, messages = leftovers.len(), "publishing the outbox left by an earlier run");
        let _ = relay_tx.send(leftovers).await;
    }
    let acks = {
        let metrics = shared.context.metrics.clone();
        let tenant = tenant.clone();
        Acknowledger::start(move |e| {
            metrics
                .ack_failures_total
                .with_label_values(&[tenant.as_str()])
                .inc();
            tracing::warn!(tenant = %tenant, error = %e, "an acknowledgement was refused; the broker will redeliver (and the events are recognised as processed)");
        })
    };
    let mut worker = Worker {
        shared: shared.clone(),
        slot,
        pipeline,
        fence,
        slice: leitstand_engine::fair::Slice::new(shared.slice),
        relay: relay_tx,
        acks,
    };
    let result = worker.consume(&mut queue, &mut stop).await;
    // What the worker settled reaches the broker before the channel closes.
    worker.acks.finish().await;
    queue.close().await;
    drop(worker.relay);
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

/// One tenant's worker between batches.
struct Worker {
    shared: Arc<Shared>,
    slot: Arc<TenantSlot>,
    pipeline: Pipeline<Store>,
    fence: Option<Fence>,
    /// How many events fit into one slice of sandbox time.
    slice: leitstand_engine::fair::Slice,
    relay: mpsc::Sender<Vec<OutboxEntry>>,
    /// Settles batches with the broker, in order, while the next one runs.
    acks: Acknowledger,
}

/// How a batch went.
enum Batch {
    Done,
    /// Stopped while the store was unreachable: the batch goes back to the broker.
    Stopped,
    LeaseLost(Fence),
}

impl Worker {
    async fn consume(
        &mut self,
        queue: &mut TenantQueue,
        stop: &mut watch::Receiver<bool>,
    ) -> Result<Ended, TransportError> {
        let batch_max = self.shared.store_config.batch_max.max(1);
        let watermark = i64::try_from(self.shared.watermark.as_millis()).unwrap_or(i64::MAX);
        let mut recheck = None;
        loop {
            // A timer is the wall clock's business once it is due by the watermark.
            let due = self.pipeline.next_due(&self.slot.tenant).map(|at| {
                wall_instant(at.saturating_add(watermark))
                    .max(recheck.unwrap_or(tokio::time::Instant::now()))
            });
            let (deliveries, fire) =
                match queue.next(self.slice.events(batch_max), stop, due).await? {
                    Next::Stop => break,
                    Next::Deliveries(d) if d.is_empty() => continue,
                    Next::Deliveries(d) => (d, Fire::EventTime),
                    // Fire it only when nothing of the tenant waits: a later event might
                    // still cancel it. The broker sends what was ready before it answers.
                    Next::Due => {
                        if !queue.caught_up().await? {
                            recheck = Some(tokio::time::Instant::now() + CATCH_UP_RECHECK);
                            continue;
                        }
                        let ready = queue.ready(batch_max);
                        if ready.is_empty() {
                            let now = Utc::now().timestamp_millis();
                            (ready, Fire::Until(now.saturating_sub(watermark)))
                        } else {
                            (ready, Fire::EventTime)
                        }
                    }
                };
            recheck = None;
            match self.batch(&deliveries, fire, stop).await? {
                Batch::Done => {}
                Batch::Stopped => return Ok(Ended::Stopped),
                Batch::LeaseLost(fence) => return Ok(Ended::LeaseLost(fence)),
            }
        }
        // Cancel, then finish what the broker had already delivered. Stopping already: a
        // batch the store refuses stays unacknowledged and the broker delivers it again.
        queue.cancel().await;
        loop {
            let deliveries = queue.drain(batch_max).await;
            if deliveries.is_empty() {
                return Ok(Ended::Stopped);
            }
            match self.batch(&deliveries, Fire::EventTime, stop).await? {
                Batch::Done => {}
                Batch::Stopped => return Ok(Ended::Stopped),
                Batch::LeaseLost(fence) => return Ok(Ended::LeaseLost(fence)),
            }
        }
    }

    /// Runs one batch through the pipeline, then acknowledges it and hands its messages
    /// to the relay.
    async fn batch(
        &mut self,
        deliveries: &[Delivery],
        fire: Fire,
        stop: &watch::Receiver<bool>,
    ) -> Result<Batch, TransportError> {
        let started = Instant::now();
        let tenant = self.slot.tenant.clone();
        let label = tenant.as_str();
        let m = self.shared.context.metrics.clone();
        m.events_in_flight
            .with_label_values(&[label])
            .add(deliveries.len() as i64);
        m.events_received_total
            .with_label_values(&[label])
            .inc_by(deliveries.len() as u64);
        let redelivered = TenantQueue::redelivered(deliveries);
        if redelivered > 0 {
            m.redeliveries_total
                .with_label_values(&[label])
                .inc_by(redelivered as u64);
        }
        let runner = FairSlot {
            shared: &self.shared,
            tenant: &tenant,
            held: Mutex::new(Duration::ZERO),
        };
        let mut attempt = 0;
        let (mut settled, received) = loop {
            let received = Utc::now();
            let rt = self.slot.runtime();
            let bound = super::watchdog::Watchdog::bound(&rt, self.shared.stuck_after);
            let watched = self.shared.watchdog.watch(&tenant, bound);
            let result = self
                .pipeline
                .process(&rt, &Amqp, deliveries, received, fire, &runner)
                .await;
            drop(watched);
            let held = *runner.held.lock().unwrap_or_else(PoisonError::into_inner);
            self.slice.observe(deliveries.len(), held);
            match result {
                Ok(settled) => break (settled, received),
                Err(PipelineError::Journal(JournalError::LeaseLost(t))) => {
                    tracing::warn!(tenant = %t, "the tenant's lease is lost: its batch goes back to the queue");
                    self.acks.give_back(deliveries).await;
                    return Ok(match self.fence.clone() {
                        Some(fence) => Batch::LeaseLost(fence),
                        None => Batch::Stopped,
                    });
                }
                Err(PipelineError::Journal(e)) => {
                    if !store_pause(&self.shared, &tenant, &e, &mut attempt, stop).await {
                        return Ok(Batch::Stopped);
                    }
                }
                Err(PipelineError::Encode(e)) => return Err(TransportError::Encode(e.to_string())),
            }
        };
        m.store_connected.set(1);
        // The committed messages go to the relay first: their way to the broker does not
        // wait for the acknowledgement of the inputs, which commit already made safe.
        let outbox: Vec<OutboxEntry> = std::mem::take(&mut settled.outbox)
            .into_iter()
            .map(|(_, e)| e)
            .collect();
        if !outbox.is_empty() && self.relay.send(outbox).await.is_err() {
            return Err(TransportError::Session(
                "the outbox relay has stopped".into(),
            ));
        }
        self.acks.ack(deliveries).await;
        self.log(&settled, received);
        m.events_in_flight
            .with_label_values(&[label])
            .sub(deliveries.len() as i64);
        let took = started.elapsed().as_secs_f64();
        for _ in deliveries {
            m.event_seconds.with_label_values(&[label]).observe(took);
        }
        Ok(Batch::Done)
    }

    /// Logs what operators act on (dead letters, plugin failures, fallbacks) and counts
    /// how late accepted events arrived.
    fn log(&self, settled: &Settled, received: DateTime<Utc>) {
        let tenant = &self.slot.tenant;
        let m = &self.shared.context.metrics;
        for (verdict, time) in settled.verdicts.iter().zip(&settled.times) {
            match (verdict, time) {
                (Verdict::DeadLettered(r) | Verdict::Failed(r), _) => {
                    tracing::info!(tenant = %tenant, reason = r.reason.code(), detail = %r.detail, "dead-lettering an input");
                }
                (Verdict::Processed, Some(time)) => {
                    let lag = (received - *time).num_milliseconds() as f64 / 1000.0;
                    m.event_lag_seconds
                        .with_label_values(&[tenant.as_str()])
                        .observe(lag.max(0.0));
                }
                _ => {}
            }
        }
        for f in &settled.failures {
            if f.fallback {
                tracing::warn!(tenant = %tenant, plugin = %f.plugin, event_id = %f.event_id, "a plugin failed: its bundle's fallback command is emitted");
            }
            if matches!(f.failure, PluginFailure::Quarantined(_)) {
                tracing::debug!(tenant = %tenant, plugin = %f.plugin, event_id = %f.event_id, "the plugin is quarantined; it was not called");
            } else {
                tracing::warn!(tenant = %tenant, plugin = %f.plugin, event_id = %f.event_id, failure = %f.failure, "a plugin failed");
            }
        }
    }
}

/// Plugins of the daemon run in a fair slot of sandbox time, at a lower CPU priority
/// while the tenant is over its part.
struct FairSlot<'a> {
    shared: &'a super::Shared,
    tenant: &'a TenantId,
    /// How long the last batch held its slot.
    held: Mutex<Duration>,
}

impl Runner for FairSlot<'_> {
    async fn run<R: Send>(&self, work: impl FnOnce() -> R + Send) -> R {
        let label = self.tenant.as_str();
        let permit = self.shared.fair.acquire(self.tenant).await;
        for (reason, waited) in [("paced", permit.paced), ("slot", permit.queued)] {
            if !waited.is_zero() {
                self.shared
                    .context
                    .metrics
                    .sandbox_wait_seconds_total
                    .with_label_values(&[label, reason])
                    .inc_by(waited.as_secs_f64());
            }
        }
        let nicer = self.shared.yield_nice;
        let over = nicer > 0 && !permit.paced.is_zero();
        let result = tokio::task::block_in_place(|| {
            if over {
                leitstand_engine::fair::yielding(nicer, work)
            } else {
                work()
            }
        });
        *self.held.lock().unwrap_or_else(PoisonError::into_inner) = permit.release();
        result
    }
}

/// The store as the relay's outbox: confirmed messages are forgotten, and a failure marks
/// the store down for `/readyz`.
struct StoreOutbox(Arc<Shared>);

impl Outbox for StoreOutbox {
    async fn confirmed(&self, tenant: &TenantId, seqs: &[i64]) -> Result<(), String> {
        self.0.store.outbox_done(tenant, seqs).await.map_err(|e| {
            self.0.health.set_store(false);
            e.to_string()
        })
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
    let m = &shared.context.metrics;
    m.store_connected.set(0);
    m.store_failures_total
        .with_label_values(&[tenant.as_str()])
        .inc();
    tracing::warn!(tenant = %tenant, error = %error, "the store failed; processing of this tenant pauses");
    let wait = shared.context.config.backoff(*attempt);
    *attempt = attempt.saturating_add(1);
    let mut stop = stop.clone();
    tokio::select! {
        _ = stop.wait_for(|s| *s) => false,
        () = tokio::time::sleep(wait) => true,
    }
}

/// The monotonic instant when the wall clock shows `at_ms`.
fn wall_instant(at_ms: i64) -> tokio::time::Instant {
    let wait = at_ms.saturating_sub(Utc::now().timestamp_millis()).max(0);
    tokio::time::Instant::now() + Duration::from_millis(wait.unsigned_abs())
}
