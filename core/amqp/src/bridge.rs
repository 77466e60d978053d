//! What a bridge between a provider's ACD and Leitstand needs of RabbitMQ: the ACD's
//! events published to `leitstand.events` with publisher confirms, and the tenant's
//! commands taken from a queue of the bridge's own, each acknowledged only once the ACD
//! has carried it out — or, refused again and again or impossible, once it is
//! dead-lettered to `leitstand.dead` with its reason.
//!
//! Owns the broker side of a bridge and nothing of what an event or a command means to the
//! ACD: the caller (`leitstand bridge asterisk`, on `leitstand-adapters`) turns log lines
//! into events and says for each command how it went ([`Handled`]).

use std::future::Future;
use std::time::Duration;

use futures_util::StreamExt;
use lapin::Connection;
use lapin::message::Delivery;
use lapin::options::{BasicAckOptions, BasicCancelOptions, BasicConsumeOptions, BasicQosOptions};
use lapin::types::FieldTable;
use tokio::sync::watch;

use crate::{
    AmqpConfig, COMMANDS_EXCHANGE, Confirms, Message, Publisher, Topology, TransportError,
};

/// An event of the ACD's, ready to publish.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BridgeEvent {
    /// `<tenant>.<event type>` (CONTRACT §4).
    pub routing_key: String,
    /// The event's id (the message id).
    pub id: String,
    /// The event's type.
    pub event_type: String,
    /// The structured-mode CloudEvent.
    pub body: Vec<u8>,
}

/// Publishes a bridge's events on a confirm-mode channel of a connection of its own,
/// connecting (and declaring the CONTRACT §4 exchanges) when it has none.
pub struct EventPublisher {
    config: AmqpConfig,
    link: Option<(Connection, Publisher)>,
}

impl EventPublisher {
    /// A publisher that connects on its first batch.
    pub fn new(config: AmqpConfig) -> Self {
        Self { config, link: None }
    }

    /// Publishes `events` (persistent, in order) and returns once the broker has
    /// confirmed every one. On an error nothing is known to be with the broker: the
    /// connection is dropped, and the caller publishes the same events again (the same
    /// ids, so a second copy is a duplicate to Leitstand).
    pub async fn publish(&mut self, events: &[BridgeEvent]) -> Result<(), TransportError> {
        if events.is_empty() {
            return Ok(());
        }
        let result = self.try_publish(events).await;
        if result.is_err()
            && let Some((conn, _)) = self.link.take()
        {
            let _ = conn.close(200, "publishing failed".into()).await;
        }
        result
    }

    async fn try_publish(&mut self, events: &[BridgeEvent]) -> Result<(), TransportError> {
        if !self
            .link
            .as_ref()
            .is_some_and(|(conn, _)| conn.status().connected())
        {
            let conn = self.config.connect("bridge-publish").await?;
            let publisher = Publisher::open(&conn).await?;
            Topology {
                delivery_limit: self.config.delivery_limit,
            }
            .declare_shared(publisher.channel())
            .await?;
            self.link = Some((conn, publisher));
        }
        let Some((_, publisher)) = &self.link else {
            return Err(TransportError::Session("no publishing channel".into()));
        };
        let mut confirms = Confirms::default();
        for e in events {
            let message =
                Message::event(e.routing_key.clone(), &e.id, &e.event_type, e.body.clone());
            publisher.message(&mut confirms, &message).await?;
        }
        confirms
            .settle()
            .await
            .map_err(|f| TransportError::Session(f.to_string()))
    }

    /// Closes the connection.
    pub async fn close(&mut self) {
        if let Some((conn, _)) = self.link.take() {
            let _ = conn.close(200, "bridge stopping".into()).await;
        }
    }
}

/// How one command went, as the bridge's handler says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Handled {
    /// Carried out: acknowledged.
    Done,
    /// Not this bridge's to carry out (a call it does not know, or no longer waiting):
    /// acknowledged, the reason logged.
    Skipped(String),
    /// The ACD refused it: tried again after a backoff, up to [`CommandRetry::attempts`]
    /// times in all, then dead-lettered with `reason` and `detail`.
    Refused {
        /// The reason code (`x-leitstand-error`).
        reason: String,
        /// One line saying what the ACD answered (`x-leitstand-detail`).
        detail: String,
    },
    /// It can never be carried out (not a command the bridge reads, a target that cannot
    /// be one): dead-lettered at once.
    Invalid {
        /// The reason code.
        reason: String,
        /// What is wrong.
        detail: String,
    },
    /// The ACD cannot be reached: tried again after a backoff for as long as it takes,
    /// the command held unacknowledged meanwhile.
    Unavailable(String),
}

/// How often and how patiently a refused command is tried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CommandRetry {
    /// Attempts in all before a refused command is dead-lettered (at least 1).
    pub attempts: u32,
    /// The wait after the first refusal; it doubles up to `max_backoff`.
    pub first_backoff: Duration,
    /// The longest wait between attempts.
    pub max_backoff: Duration,
}

/// The bridge's own command queue: a durable quorum queue bound to `leitstand.commands`,
/// dead-lettering to `leitstand.dead` what it delivered `amqp.delivery_limit` times.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandQueue {
    /// The queue's name.
    pub queue: String,
    /// Its binding key, e.g. `soest.call.route`.
    pub binding: String,
}

/// Consumes `commands` one at a time, in order, and settles each as `handler` says
/// ([`Handled`]) until `stop` turns true; reconnects with the configured backoff when the
/// broker goes away (an unsettled command is then delivered again).
pub async fn carry_out_commands<H, F>(
    config: AmqpConfig,
    commands: CommandQueue,
    retry: CommandRetry,
    mut handler: H,
    mut stop: watch::Receiver<bool>,
) -> Result<(), TransportError>
where
    H: FnMut(Vec<u8>) -> F,
    F: Future<Output = Handled>,
{
    let mut attempt = 0u32;
    loop {
        if *stop.borrow() {
            return Ok(());
        }
        match consume(&config, &commands, retry, &mut handler, &mut stop).await {
            Ok(()) => return Ok(()),
            Err(e) => {
                tracing::warn!(queue = %commands.queue, error = %e, "the bridge's command queue lost the broker; reconnecting");
                if pause(config.backoff(attempt), &mut stop).await {
                    return Ok(());
                }
                attempt = attempt.saturating_add(1);
            }
        }
    }
}

/// Waits `wait` unless `stop` turns true first; `true` when stopped.
async fn pause(wait: Duration, stop: &mut watch::Receiver<bool>) -> bool {
    tokio::select! {
        () = tokio::time::sleep(wait) => *stop.borrow(),
        changed = stop.changed() => changed.is_err() || *stop.borrow(),
    }
}

/// One connection's worth of consuming; `Ok` only when stopped.
async fn consume<H, F>(
    config: &AmqpConfig,
    commands: &CommandQueue,
    retry: CommandRetry,
    handler: &mut H,
    stop: &mut watch::Receiver<bool>,
) -> Result<(), TransportError>
where
    H: FnMut(Vec<u8>) -> F,
    F: Future<Output = Handled>,
{
    let conn = config.connect("bridge-commands").await?;
    let publisher = Publisher::open(&conn).await?;
    let topology = Topology {
        delivery_limit: config.delivery_limit,
    };
    topology.declare_shared(publisher.channel()).await?;
    let channel = conn
        .create_channel()
        .await
        .map_err(TransportError::amqp("opening the command channel"))?;
    topology
        .queue(
            &channel,
            &commands.queue,
            COMMANDS_EXCHANGE,
            &commands.binding,
            true,
        )
        .await?;
    // One at a time: commands of one call are carried out in the order they were given.
    channel
        .basic_qos(1, BasicQosOptions::default())
        .await
        .map_err(TransportError::amqp(format!(
            "setting prefetch on {}",
            commands.queue
        )))?;
    let tag = format!("leitstand:{}", commands.queue);
    let mut consumer = channel
        .basic_consume(
            commands.queue.as_str().into(),
            tag.as_str().into(),
            BasicConsumeOptions::default(),
            FieldTable::default(),
        )
        .await
        .map_err(TransportError::amqp(format!(
            "consuming {}",
            commands.queue
        )))?;
    tracing::info!(queue = %commands.queue, binding = %commands.binding, "taking commands");
    let result = loop {
        tokio::select! {
            biased;
            changed = stop.changed() => {
                if changed.is_err() || *stop.borrow() {
                    break Ok(());
                }
            }
            next = consumer.next() => match next {
                Some(Ok(delivery)) => {
                    if !settle(&publisher, delivery, retry, handler, stop).await? {
                        break Ok(());
                    }
                }
                Some(Err(e)) => break Err(TransportError::Amqp {
                    context: format!("consuming {}", commands.queue),
                    source: e,
                }),
                None => break Err(TransportError::Session(format!(
                    "the consumer of {} was cancelled by the broker",
                    commands.queue
                ))),
            },
        }
    };
    if result.is_ok() {
        let _ = channel
            .basic_cancel(tag.as_str().into(), BasicCancelOptions::default())
            .await;
    }
    // A command still unsettled goes back to the queue with the connection.
    let _ = conn.close(200, "bridge stopping".into()).await;
    result
}

/// Carries out one command until it is settled; `false` when stopped first (the command
/// is left unsettled, to be delivered again).
async fn settle<H, F>(
    publisher: &Publisher,
    delivery: Delivery,
    retry: CommandRetry,
    handler: &mut H,
    stop: &mut watch::Receiver<bool>,
) -> Result<bool, TransportError>
where
    H: FnMut(Vec<u8>) -> F,
    F: Future<Output = Handled>,
{
    let id = delivery
        .properties
        .message_id()
        .as_ref()
        .map_or_else(|| "(no id)".to_owned(), |m| m.as_str().to_owned());
    let mut refused = 0u32;
    let mut refused_wait = retry.first_backoff;
    let mut unavailable_wait = retry.first_backoff;
    let dead_letter = loop {
        match handler(delivery.data.clone()).await {
            Handled::Done => {
                tracing::info!(command = %id, "carried out");
                break None;
            }
            Handled::Skipped(why) => {
                tracing::info!(command = %id, %why, "not for this bridge; acknowledged");
                break None;
            }
            Handled::Invalid { reason, detail } => break Some((reason, detail)),
            Handled::Refused { reason, detail } => {
                refused += 1;
                if refused >= retry.attempts.max(1) {
                    break Some((reason, format!("{detail} (refused {refused} times)")));
                }
                tracing::warn!(command = %id, %detail, attempt = refused, "refused; trying again");
                if pause(refused_wait, stop).await {
                    return Ok(false);
                }
                refused_wait = (refused_wait * 2).min(retry.max_backoff);
            }
            Handled::Unavailable(why) => {
                tracing::warn!(command = %id, %why, "the ACD cannot be reached; trying again");
                if pause(unavailable_wait, stop).await {
                    return Ok(false);
                }
                unavailable_wait = (unavailable_wait * 2).min(retry.max_backoff);
            }
        }
    };
    let Some((reason, detail)) = dead_letter else {
        delivery
            .acker
            .ack(BasicAckOptions::default())
            .await
            .map_err(TransportError::amqp(format!("acknowledging command {id}")))?;
        return Ok(true);
    };
    tracing::warn!(command = %id, %reason, %detail, "dead-lettering the command");
    let mut confirms = Confirms::default();
    publisher
        .dead_letter(
            &mut confirms,
            &delivery.properties,
            delivery.routing_key.as_str(),
            &delivery.data,
            &reason,
            &detail,
        )
        .await?;
    confirms
        .settle()
        .await
        .map_err(|f| TransportError::Session(f.to_string()))?;
    delivery
        .acker
        .ack(BasicAckOptions::default())
        .await
        .map_err(TransportError::amqp(format!("acknowledging command {id}")))?;
    Ok(true)
}
