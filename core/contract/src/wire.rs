//! What crosses between the engine and a driver: a driver's messages in ([`Carrier`]), the
//! engine's messages out ([`Outgoing`], kept in the outbox as [`OutboxEntry`] until the
//! transport has them).
//!
//! The engine reads every delivery through a carrier and writes every command and dead
//! letter through it, so that it knows no transport: RabbitMQ's deliveries, a replay's
//! lines and a fixture's events are carriers of the same pipeline.

use chrono::{DateTime, Utc};

use crate::command::Command;
use crate::envelope::{Envelope, IntakeLimits, Rejection};

/// How a driver's messages are read and written: where a batch comes from and in which
/// form its commands and dead letters go.
pub trait Carrier: Sync {
    /// One message as the driver received it.
    type Delivery: Sync;

    /// The routing key the delivery arrived with, if the driver has one; its first segment
    /// names the tenant the delivery was sent for.
    fn routing_key<'a>(&self, delivery: &'a Self::Delivery) -> Option<&'a str>;

    /// The delivery's envelope under `limits`, or why it is refused. `received` is the
    /// event time of an event without `time`.
    fn envelope(
        &self,
        delivery: &Self::Delivery,
        limits: IntakeLimits,
        received: DateTime<Utc>,
    ) -> Result<Envelope, Rejection>;

    /// A command, as the driver publishes it.
    fn command(&self, command: &Command) -> Result<Outgoing, EncodeError>;

    /// A copy of `delivery` for `leitstand.dead`: its body unchanged, `reason` and
    /// `detail` added.
    fn dead_letter(&self, delivery: &Self::Delivery, reason: &str, detail: &str) -> Outgoing;

    /// The tenant a refused delivery without a routing key names, if it names one: whose
    /// figures its dead letter counts in, as the routing key decides on a broker.
    fn tenant_hint(&self, delivery: &Self::Delivery) -> Option<String> {
        let _ = delivery;
        None
    }
}

/// One message committed to the outbox: where it goes and what it is.
#[derive(Debug, Clone, PartialEq)]
pub struct OutboxEntry {
    /// Per-tenant sequence; messages leave in this order.
    pub seq: i64,
    /// The exchange (`leitstand.commands` or `leitstand.dead`).
    pub exchange: String,
    /// The routing key.
    pub routing_key: String,
    /// The message properties, as the driver that wrote the message encodes them.
    pub properties: String,
    /// The body.
    pub body: Vec<u8>,
}

/// A message a driver encoded for the outbox, before the pipeline gives it its place.
#[derive(Debug, Clone, PartialEq)]
pub struct Outgoing {
    /// The exchange.
    pub exchange: String,
    /// The routing key.
    pub routing_key: String,
    /// The message properties, encoded by the driver.
    pub properties: String,
    /// The body.
    pub body: Vec<u8>,
}

impl Outgoing {
    /// The outbox row of this message at position `seq`.
    pub fn at(self, seq: i64) -> OutboxEntry {
        OutboxEntry {
            seq,
            exchange: self.exchange,
            routing_key: self.routing_key,
            properties: self.properties,
            body: self.body,
        }
    }
}

/// A message a driver could not encode: a bug, not the input's fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct EncodeError(pub String);
