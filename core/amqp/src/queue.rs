//! A tenant's input queue as its driver consumes it: batches of deliveries, the question
//! whether the tenant is caught up, and the settlement of a batch.

use std::time::Duration;

use futures_util::{FutureExt, StreamExt};
use lapin::options::{
    BasicAckOptions, BasicCancelOptions, BasicConsumeOptions, BasicNackOptions, BasicQosOptions,
    QueueDeclareOptions,
};
use lapin::types::FieldTable;
use lapin::{Acker, Channel, Consumer};
use leitstand_contract::envelope::TenantId;
use tokio::sync::{mpsc, watch};

use crate::{TransportError, tenant_queue};

/// One message off a queue.
pub type Delivery = lapin::message::Delivery;

/// How long a stopping consumer waits for deliveries still under way.
const DRAIN_WAIT: Duration = Duration::from_millis(200);

/// What the queue has for its driver next.
pub enum Next {
    /// Deliveries, in order.
    Deliveries(Vec<Delivery>),
    /// None arrived before the time the driver gave: a timer is due by the wall clock.
    Due,
    /// The driver is to stop.
    Stop,
}

/// What becomes of a settled batch, named by its last delivery.
enum Settle {
    /// Acknowledged, with every earlier delivery of its channel.
    Ack(Acker),
    /// Handed back to the queue, with every earlier unacknowledged delivery of its channel.
    GiveBack(Acker),
}

impl Settle {
    /// Sends it to the broker. An acknowledgement's error means the broker will deliver
    /// the batch again; a give-back's is of no consequence (the batch goes back anyway).
    async fn send(self) -> Result<(), TransportError> {
        match self {
            Self::Ack(acker) => acker
                .ack(BasicAckOptions { multiple: true })
                .await
                .map(|_| ())
                .map_err(TransportError::amqp("acknowledging a batch")),
            Self::GiveBack(acker) => {
                let _ = acker
                    .nack(BasicNackOptions {
                        multiple: true,
                        requeue: true,
                    })
                    .await;
                Ok(())
            }
        }
    }
}

/// Settles a tenant's batches with the broker in the order its worker settled them, on a
/// task of its own: the worker goes on to its next batch while an acknowledgement is
/// written, instead of waiting for it. Acknowledgements cover every earlier delivery
/// (`multiple`), so their order is kept; [`Self::finish`] waits until all are sent, before
/// the channel closes.
pub struct Acknowledger {
    tx: mpsc::Sender<Settle>,
    task: tokio::task::JoinHandle<()>,
}

impl Acknowledger {
    /// Starts the task; `failed` is told of each acknowledgement that could not be sent
    /// (the broker will deliver its batch again).
    pub fn start(failed: impl Fn(&TransportError) + Send + 'static) -> Self {
        let (tx, mut rx) = mpsc::channel::<Settle>(ACKS_IN_FLIGHT);
        let task = tokio::spawn(async move {
            while let Some(settle) = rx.recv().await {
                if let Err(e) = settle.send().await {
                    failed(&e);
                }
            }
        });
        Self { tx, task }
    }

    /// Acknowledges `deliveries` (all up to the last) after the ones settled before.
    pub async fn ack(&self, deliveries: &[Delivery]) {
        if let Some(last) = deliveries.last() {
            self.settle(Settle::Ack(last.acker.clone())).await;
        }
    }

    /// Hands `deliveries` back to the queue after the ones settled before.
    pub async fn give_back(&self, deliveries: &[Delivery]) {
        if let Some(last) = deliveries.last() {
            self.settle(Settle::GiveBack(last.acker.clone())).await;
        }
    }

    async fn settle(&self, settle: Settle) {
        if let Err(mpsc::error::SendError(settle)) = self.tx.send(settle).await {
            // The task is gone (it never ends before `finish`): settle here instead.
            let _ = settle.send().await;
        }
    }

    /// Waits until everything settled so far has been sent to the broker.
    pub async fn finish(self) {
        drop(self.tx);
        let _ = self.task.await;
    }
}

/// Settled batches on their way to the broker before a worker waits.
const ACKS_IN_FLIGHT: usize = 64;

/// The consumer of one tenant's quorum queue.
pub struct TenantQueue {
    channel: Channel,
    consumer: Consumer,
    queue: String,
    tag: String,
}

impl TenantQueue {
    /// Consumes `tenant`'s queue on `channel` with `prefetch` deliveries unacknowledged at
    /// most.
    pub async fn open(
        channel: Channel,
        tenant: &TenantId,
        prefetch: u16,
    ) -> Result<Self, TransportError> {
        let queue = tenant_queue(tenant);
        let tag = format!("leitstand:{queue}");
        channel
            .basic_qos(prefetch, BasicQosOptions::default())
            .await
            .map_err(TransportError::amqp(format!("setting prefetch on {queue}")))?;
        let consumer = channel
            .basic_consume(
                queue.as_str().into(),
                tag.as_str().into(),
                BasicConsumeOptions::default(),
                FieldTable::default(),
            )
            .await
            .map_err(TransportError::amqp(format!("consuming {queue}")))?;
        Ok(Self {
            channel,
            consumer,
            queue,
            tag,
        })
    }

    /// Waits for the first delivery (then takes the ones already here, up to `max` in all),
    /// for `stop` to turn true, or until `due`.
    pub async fn next(
        &mut self,
        max: usize,
        stop: &mut watch::Receiver<bool>,
        due: Option<tokio::time::Instant>,
    ) -> Result<Next, TransportError> {
        if *stop.borrow() {
            return Ok(Next::Stop);
        }
        let wait = async {
            match due {
                Some(at) => tokio::time::sleep_until(at).await,
                None => std::future::pending::<()>().await,
            }
        };
        let first = tokio::select! {
            biased;
            changed = stop.changed() => {
                return Ok(if changed.is_err() || *stop.borrow() { Next::Stop } else { Next::Deliveries(Vec::new()) });
            }
            next = self.consumer.next() => match next {
                Some(Ok(delivery)) => delivery,
                Some(Err(e)) => return Err(TransportError::Amqp {
                    context: format!("consuming {}", self.queue),
                    source: e,
                }),
                None => return Err(TransportError::Session(format!(
                    "the consumer of {} was cancelled by the broker", self.queue
                ))),
            },
            () = wait => return Ok(Next::Due),
        };
        let mut deliveries = vec![first];
        deliveries.extend(self.ready(max.saturating_sub(1)));
        Ok(Next::Deliveries(deliveries))
    }

    /// The deliveries already here, up to `max`, without waiting.
    pub fn ready(&mut self, max: usize) -> Vec<Delivery> {
        let mut out = Vec::new();
        while out.len() < max {
            match self.consumer.next().now_or_never() {
                Some(Some(Ok(d))) => out.push(d),
                _ => break,
            }
        }
        out
    }

    /// Whether nothing of the tenant waits in its queue: the broker counts no ready
    /// message. The broker sends what was ready before it answers, so a delivery under way
    /// is [`Self::ready`] afterwards; the driver holds none unacknowledged between batches.
    pub async fn caught_up(&self) -> Result<bool, TransportError> {
        let q = self
            .channel
            .queue_declare(
                self.queue.as_str().into(),
                QueueDeclareOptions {
                    passive: true,
                    ..QueueDeclareOptions::default()
                },
                FieldTable::default(),
            )
            .await
            .map_err(TransportError::amqp(format!(
                "asking {} for its depth",
                self.queue
            )))?;
        Ok(q.message_count() == 0)
    }

    /// How many of `deliveries` the broker marked as delivered before.
    pub fn redelivered(deliveries: &[Delivery]) -> usize {
        deliveries.iter().filter(|d| d.redelivered).count()
    }

    /// Stops consuming; what the broker had sent already still arrives ([`Self::drain`]).
    pub async fn cancel(&self) {
        if let Err(e) = self
            .channel
            .basic_cancel(self.tag.as_str().into(), BasicCancelOptions::default())
            .await
        {
            tracing::warn!(queue = %self.queue, error = %e, "cancelling the consumer failed");
        }
    }

    /// After [`Self::cancel`]: the deliveries still arriving, up to `max`; none when all
    /// have been taken.
    pub async fn drain(&mut self, max: usize) -> Vec<Delivery> {
        let mut out = Vec::new();
        while out.len() < max {
            match tokio::time::timeout(DRAIN_WAIT, self.consumer.next()).await {
                Ok(Some(Ok(d))) => out.push(d),
                _ => break,
            }
        }
        out
    }

    /// Closes the channel: whatever it holds unacknowledged goes back to the queue now,
    /// for the next owner, not when the connection closes.
    pub async fn close(self) {
        if self.channel.status().connected() {
            let _ = self
                .channel
                .close(200, "tenant worker stopped".into())
                .await;
        }
    }
}
