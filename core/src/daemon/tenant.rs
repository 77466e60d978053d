//! The daemon's driver of the pipeline for one tenant's queue, effectively once.
//!
//! Deliveries are taken in batches (whatever the broker has already sent, up to
//! `store.batch_max` and the tenant's slice of sandbox time) and run through the one batch
//! pipeline ([`crate::pipeline`]): intake, dedup, timers in event time, plugins, one
//! commit. Only then are the inputs acknowledged and the committed messages handed to the
//! outbox relay, which publishes them with confirms and forgets them once the broker has
//! them; whatever it had not finished is published again when the tenant's worker starts.
//!
//! Timers follow event time (CONTRACT §7): a backlog fires them between its own events,
//! exactly as a replay of the same events would. Only when the tenant is caught up —
//! nothing waits in its queue or in the worker's hands — does the wall clock fire a timer
//! due more than `daemon.watermark_ms` ago, so that a quiet line still escalates on time.
//!
//! When the store cannot be reached, the worker keeps its batch unacknowledged and
//! retries with backoff: processing pauses, nothing is lost.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use futures_util::{FutureExt, StreamExt};
use lapin::message::Delivery;
use lapin::options::{
    BasicAckOptions, BasicCancelOptions, BasicConsumeOptions, BasicNackOptions, BasicQosOptions,
    QueueDeclareOptions,
};
use lapin::types::FieldTable;
use lapin::{Channel, Confirmation};
use tokio::sync::{mpsc, watch};

use super::Shared;
use super::registry::TenantSlot;
use crate::dispatch::{Command, TenantRuntime};
use crate::envelope::{Envelope, IntakeLimits, Rejection, TenantId};
use crate::pipeline::{
    Carrier, EncodeError, Fence, Fire, JournalError, OutboxEntry, Outgoing, Pipeline,
    PipelineError, PipelineOptions, Runner, Settled, Verdict,
};
use crate::sandbox::PluginFailure;
use crate::store::Store;
use crate::transport::{Message, Publisher, TransportError, tenant_queue};

/// The reason code of a command no queue was bound for, copied to `leitstand.dead`.
const UNROUTABLE_COMMAND: &str = "unroutable-command";
/// How long confirmed messages may wait to be cleared from the outbox.
const OUTBOX_CLEAR: Duration = Duration::from_millis(200);
/// How many confirmed messages are cleared from the outbox at once at most.
const OUTBOX_CLEAR_ROWS: usize = 2_000;
/// Outbox chunks on their way to the broker before the worker waits.
const RELAY_DEPTH: usize = 64;
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

/// How RabbitMQ deliveries are read and how commands and dead letters are published:
/// the pipeline's carrier on the daemon.
pub struct Amqp;

impl Carrier for Amqp {
    type Delivery = Delivery;

    fn routing_key<'a>(&self, d: &'a Delivery) -> Option<&'a str> {
        Some(d.routing_key.as_str())
    }

    fn envelope(
        &self,
        d: &Delivery,
        limits: IntakeLimits,
        received: DateTime<Utc>,
    ) -> Result<Envelope, Rejection> {
        crate::transport::envelope_of(&d.properties, &d.data, limits, received)
    }

    fn command(&self, command: &Command) -> Result<Outgoing, EncodeError> {
        Message::command(command)
            .and_then(Message::into_outgoing)
            .map_err(|e| EncodeError(e.to_string()))
    }

    fn dead_letter(&self, d: &Delivery, reason: &str, detail: &str) -> Outgoing {
        let message = Message::dead_letter(
            &d.properties,
            d.routing_key.as_str(),
            &d.data,
            reason,
            detail,
        );
        // `Message::dead_letter` keeps only properties the outbox can store.
        let body = message.body.clone();
        message.into_outgoing().unwrap_or_else(|_| Outgoing {
            exchange: crate::transport::DEAD.to_owned(),
            routing_key: d.routing_key.to_string(),
            properties: String::new(),
            body,
        })
    }
}

/// Plugins of the daemon run in a fair slot of sandbox time, at a lower CPU priority
/// while the tenant is over its part.
struct FairSlot<'a> {
    shared: &'a Shared,
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
                super::fair::yielding(nicer, work)
            } else {
                work()
            }
        });
        *self.held.lock().unwrap_or_else(PoisonError::into_inner) = permit.release();
        result
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

/// The worker of one tenant.
struct TenantWorker {
    shared: Arc<Shared>,
    slot: Arc<TenantSlot>,
    pipeline: Pipeline<Store>,
    carrier: Amqp,
    /// Set when a commit was refused for a lost lease.
    lease_lost: Option<Fence>,
    fence: Option<Fence>,
    /// How many events fit into one slice of sandbox time.
    slice: super::fair::Slice,
    /// Not before this instant is the queue asked again whether it is caught up.
    recheck: Option<tokio::time::Instant>,
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
    let options = PipelineOptions {
        limits: shared.intake.limits,
        ..PipelineOptions::default()
    };
    let mut worker = TenantWorker {
        pipeline: Pipeline::new(store.clone(), shared.sandbox.clone(), options)
            .with_metrics(shared.metrics.clone()),
        carrier: Amqp,
        slice: super::fair::Slice::new(shared.slice),
        shared: shared.clone(),
        slot: slot.clone(),
        lease_lost: None,
        fence: fence.clone(),
        recheck: None,
    };
    let term_start = fence
        .as_ref()
        .map_or(0, |f| f.token.max(0).saturating_mul(1 << OUTBOX_TERM_BITS));
    let mut attempt = 0;
    let leftovers = loop {
        match worker
            .pipeline
            .open(&slot.runtime(), fence.clone(), term_start)
            .await
        {
            Ok(left) => break left,
            Err(e) => {
                if !store_pause(&shared, &tenant, &e, &mut attempt, &stop).await {
                    return Ok(Ended::Stopped);
                }
            }
        }
    };
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
    let result =
        worker
            .consume(&channel, &relay_tx, stop)
            .await
            .map(|()| match worker.lease_lost.take() {
                Some(fence) => Ended::LeaseLost(fence),
                None => Ended::Stopped,
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
        let watermark = self.shared.watermark;
        let mut stopping = *stop.borrow();
        while !stopping {
            // The next timer is the wall clock's business once it is due by the watermark.
            let due = self
                .pipeline
                .next_due(&self.slot.tenant)
                .map(|at| at.saturating_add(watermark.as_millis() as i64));
            let timer_wait = sleep_until_due(due, self.recheck);
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
            let fire = if deliveries.is_empty() {
                // A timer is due by the wall clock: fire it only when nothing of the
                // tenant waits, for a later event might still cancel it.
                if !self.caught_up(channel, &queue).await? {
                    self.recheck = Some(tokio::time::Instant::now() + CATCH_UP_RECHECK);
                    continue;
                }
                // The broker sends what was ready before it answers: take it first.
                if let Some(Some(Ok(d))) = consumer.next().now_or_never() {
                    deliveries.push(d);
                    Fire::EventTime
                } else {
                    let now = Utc::now().timestamp_millis();
                    Fire::Until(now.saturating_sub(watermark.as_millis() as i64))
                }
            } else {
                Fire::EventTime
            };
            self.recheck = None;
            if !self.batch(deliveries, fire, relay, &stop).await? {
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
            if !self
                .batch(deliveries, Fire::EventTime, relay, &stop)
                .await?
            {
                return Ok(());
            }
        }
    }

    /// Whether nothing of the tenant waits in its queue: the broker counts no ready
    /// message (the worker holds none unacknowledged between batches).
    async fn caught_up(&self, channel: &Channel, queue: &str) -> Result<bool, TransportError> {
        let q = channel
            .queue_declare(
                queue.into(),
                QueueDeclareOptions {
                    passive: true,
                    ..QueueDeclareOptions::default()
                },
                FieldTable::default(),
            )
            .await
            .map_err(TransportError::amqp(format!(
                "asking {queue} for its depth"
            )))?;
        Ok(q.message_count() == 0)
    }

    /// Processes one batch through the pipeline, then acknowledges it and hands its
    /// messages to the relay. Returns false when the worker was stopped while the store
    /// was unreachable or its lease was lost (the batch stays unacknowledged and the
    /// broker delivers it again).
    async fn batch(
        &mut self,
        deliveries: Vec<Delivery>,
        fire: Fire,
        relay: &mpsc::Sender<Vec<OutboxEntry>>,
        stop: &watch::Receiver<bool>,
    ) -> Result<bool, TransportError> {
        let started = Instant::now();
        let tenant = self.slot.tenant.clone();
        let label = tenant.as_str();
        let m = self.shared.metrics.clone();
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
        let runner = FairSlot {
            shared: &self.shared,
            tenant: &tenant,
            held: Mutex::new(Duration::ZERO),
        };
        let mut attempt = 0;
        let settled = loop {
            let received = Utc::now();
            let rt: Arc<TenantRuntime> = self.slot.runtime();
            let result = self
                .pipeline
                .process(&rt, &self.carrier, &deliveries, received, fire, &runner)
                .await;
            let held = *runner.held.lock().unwrap_or_else(PoisonError::into_inner);
            self.slice.observe(deliveries.len(), held);
            match result {
                Ok(settled) => break (settled, received),
                Err(PipelineError::Journal(JournalError::LeaseLost(t))) => {
                    tracing::warn!(tenant = %t, "the tenant's lease is lost: its batch goes back to the queue");
                    self.lease_lost = self.fence.clone();
                    nack_all(&deliveries).await;
                    return Ok(false);
                }
                Err(PipelineError::Journal(e)) => {
                    if !store_pause(&self.shared, &tenant, &e, &mut attempt, stop).await {
                        return Ok(false);
                    }
                }
                Err(PipelineError::Encode(e)) => {
                    return Err(TransportError::Encode(e.to_string()));
                }
            }
        };
        let (settled, received) = settled;
        m.store_connected.set(1);
        self.log(&settled, received);
        if let Some(last) = deliveries.last()
            && let Err(e) = last.acker.ack(BasicAckOptions { multiple: true }).await
        {
            m.ack_failures_total.with_label_values(&[label]).inc();
            tracing::warn!(tenant = %tenant, error = %e, "an acknowledgement was refused; the broker will redeliver (and the events are recognised as processed)");
        }
        let outbox: Vec<OutboxEntry> = settled.outbox.into_iter().map(|(_, e)| e).collect();
        if !outbox.is_empty() && relay.send(outbox).await.is_err() {
            return Err(TransportError::Session(
                "the outbox relay has stopped".into(),
            ));
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

    /// Logs what operators act on (dead letters, plugin failures, fallbacks) and counts
    /// how late accepted events arrived.
    fn log(&self, settled: &Settled, received: DateTime<Utc>) {
        let tenant = &self.slot.tenant;
        for verdict in &settled.verdicts {
            match verdict {
                Verdict::DeadLettered(r) | Verdict::Failed(r) => {
                    tracing::info!(tenant = %tenant, reason = r.reason.code(), detail = %r.detail, "dead-lettering an input");
                }
                Verdict::Processed | Verdict::Duplicate => {}
            }
        }
        for (verdict, time) in settled.verdicts.iter().zip(&settled.times) {
            if let (Verdict::Processed, Some(time)) = (verdict, time) {
                let lag = (received - *time).num_milliseconds() as f64 / 1000.0;
                self.shared
                    .metrics
                    .event_lag_seconds
                    .with_label_values(&[tenant.as_str()])
                    .observe(lag.max(0.0));
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

/// Sleeps until `due_ms` (wall clock) but not before `not_before`, or forever when no
/// timer is pending.
async fn sleep_until_due(due_ms: Option<i64>, not_before: Option<tokio::time::Instant>) {
    match due_ms {
        Some(at_ms) => {
            let wait = at_ms.saturating_sub(Utc::now().timestamp_millis()).max(0);
            let mut until =
                tokio::time::Instant::now() + Duration::from_millis(wait.unsigned_abs());
            if let Some(earliest) = not_before {
                until = until.max(earliest);
            }
            tokio::time::sleep_until(until).await;
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
