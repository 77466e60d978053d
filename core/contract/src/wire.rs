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

    /// A command, as the driver publishes it, laid out as its tenant asks (`mode`; a
    /// driver without headers writes every command whole).
    fn command(&self, command: &Command, mode: CommandMode) -> Result<Outgoing, EncodeError>;

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

/// How a tenant's commands are laid out on a transport with headers: a tenant's
/// `[commands] mode`. The consumers of the commands choose; every one of them reads the
/// same command (attributes, data) in any mode.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum CommandMode {
    /// Structured mode: the whole command as an `application/cloudevents+json` body. The
    /// default, and what every CloudEvents reader takes.
    #[default]
    Structured,
    /// Binary mode of the CloudEvents AMQP binding: the attributes as `cloudEvents_`
    /// headers with their types (`time` a count of milliseconds since 1970, as the SDKs'
    /// AMQP binding reads it), `data` as the `application/json` body.
    AmqpBinary,
    /// Binary mode of the RabbitMQ binding: the attributes as `ce-` headers, each its
    /// canonical string (`time` in RFC 3339), `data` as the `application/json` body.
    RabbitmqBinary,
}

impl CommandMode {
    /// Every mode, in the order the documentation lists them.
    pub const ALL: [Self; 3] = [Self::Structured, Self::AmqpBinary, Self::RabbitmqBinary];

    /// The mode's name in `tenant.toml`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Structured => "structured",
            Self::AmqpBinary => "amqp-binary",
            Self::RabbitmqBinary => "rabbitmq-binary",
        }
    }

    /// The mode named `name`; the refusal lists the names there are.
    pub fn parse(name: &str) -> Result<Self, String> {
        Self::ALL
            .into_iter()
            .find(|m| m.name() == name)
            .ok_or_else(|| {
                format!(
                    "{name:?} is not a command mode (one of {})",
                    Self::ALL.map(Self::name).join(", ")
                )
            })
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
