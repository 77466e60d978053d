//! RabbitMQ deliveries as the pipeline reads them, and the pipeline's commands and dead
//! letters as they are published: the carrier of the daemon's driver.

use chrono::{DateTime, Utc};
use lapin::message::Delivery;
use leitstand_contract::command::Command;
use leitstand_contract::envelope::{Envelope, IntakeLimits, Rejection};
use leitstand_contract::wire::{Carrier, CommandMode, EncodeError, Outgoing};

use crate::{DEAD, Message};

/// Reads deliveries in structured or binary mode (CONTRACT §1); writes commands to
/// `leitstand.commands` in their tenant's mode and dead letters to `leitstand.dead` with
/// their AMQP properties.
#[derive(Debug, Clone, Copy, Default)]
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
        crate::envelope_of(&d.properties, &d.data, limits, received)
    }

    fn command(&self, command: &Command, mode: CommandMode) -> Result<Outgoing, EncodeError> {
        Message::command(command, mode)
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
            exchange: DEAD.to_owned(),
            routing_key: d.routing_key.to_string(),
            properties: String::new(),
            body,
        })
    }
}
