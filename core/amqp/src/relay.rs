//! The outbox relay of one tenant: publishes committed messages (commands and dead
//! letters) in order on a confirm-mode channel, awaits the broker's confirms in order (a
//! second stage, so publishing goes on meanwhile) and then tells the outbox to forget them.
//! A command no queue is bound for is copied to `leitstand.dead` as `unroutable-command`.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use lapin::Confirmation;
use leitstand_contract::envelope::TenantId;
use leitstand_contract::wire::OutboxEntry;
use tokio::sync::mpsc;

use crate::{Context, Message, Publisher, TransportError};

/// The reason code of a command no queue was bound for, copied to `leitstand.dead`.
const UNROUTABLE_COMMAND: &str = "unroutable-command";
/// How long confirmed messages may wait to be cleared from the outbox.
const OUTBOX_CLEAR: Duration = Duration::from_millis(200);
/// How many confirmed messages are cleared from the outbox at once at most.
const OUTBOX_CLEAR_ROWS: usize = 2_000;
/// Outbox chunks on their way to the broker before the worker waits.
pub const RELAY_DEPTH: usize = 64;

/// Where the relay's messages are kept until the broker has them: it forgets what was
/// confirmed. An error is retried with backoff (a message not yet forgotten is published
/// once more after a restart, under the same id).
pub trait Outbox: Send + Sync + 'static {
    /// Forgets `seqs` of `tenant`'s outbox.
    fn confirmed(
        &self,
        tenant: &TenantId,
        seqs: &[i64],
    ) -> impl Future<Output = Result<(), String>> + Send;
}

/// Deletes the confirmed messages `done` from the outbox, retrying while the store fails.
async fn clear<O: Outbox>(context: &Context, outbox: &O, tenant: &TenantId, done: &mut Vec<i64>) {
    if done.is_empty() {
        return;
    }
    let mut attempt = 0;
    while let Err(e) = outbox.confirmed(tenant, done).await {
        // Harmless to wait: at worst the messages are published once more.
        tracing::warn!(tenant = %tenant, error = %e, "confirmed messages cannot be cleared from the outbox yet");
        tokio::time::sleep(context.config.backoff(attempt)).await;
        attempt = attempt.saturating_add(1);
    }
    done.clear();
}

/// Publishes committed messages in order, awaits their confirms in order (a second
/// stage, so publishing goes on meanwhile) and forgets them in the store once confirmed.
/// A command no queue is bound for is copied to `leitstand.dead` as
/// `unroutable-command`. Ends with an error when the broker refuses a message or the
/// channel fails: the messages stay in the outbox for the next start.
pub async fn run<O: Outbox>(
    context: Arc<Context>,
    tenant: TenantId,
    publisher: Publisher,
    outbox: O,
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
        let context = context.clone();
        let tenant = tenant.clone();
        let publisher = publisher.clone();
        tokio::spawn(async move {
            let m = &context.metrics;
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
                        clear(&context, &outbox, &tenant, &mut done).await;
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
                    clear(&context, &outbox, &tenant, &mut done).await;
                }
            }
            clear(&context, &outbox, &tenant, &mut done).await;
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
