//! Publishing commands and dead letters on a confirm-mode channel, and waiting for the
//! broker to take responsibility for them.

use lapin::options::{BasicPublishOptions, ConfirmSelectOptions};
use lapin::types::{AMQPValue, FieldTable, LongString, ShortString};
use lapin::{BasicProperties, Channel, Connection};
use lapin::{Confirmation, PublisherConfirm};

use crate::{COMMANDS_EXCHANGE, DEAD, DETAIL_HEADER, ERROR_HEADER, TransportError};
use leitstand_contract::command::Command;
use leitstand_contract::wire::{OutboxEntry, Outgoing};

/// AMQP delivery mode 2: the broker writes the message to disk.
const PERSISTENT: u8 = 2;
/// The longest `x-leitstand-detail` written; longer details are cut.
const MAX_DETAIL_BYTES: usize = 1024;

/// A confirm-mode channel on the publishing connection.
#[derive(Clone)]
pub struct Publisher {
    channel: Channel,
}

/// Why published messages are not safely with the broker.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PublishFailure {
    /// The broker refused a message.
    #[error("the broker refused message {0}")]
    Nack(String),
    /// A `mandatory` message reached no queue.
    #[error("message {0} reached no queue (no queue is bound for its routing key)")]
    Returned(String),
    /// The channel or connection failed before the confirm arrived.
    #[error("no confirm for message {0}: {1}")]
    Channel(String, String),
}

impl PublishFailure {
    /// The `reason` label of `leitstand_publish_failures_total`.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::Nack(_) => "nack",
            Self::Returned(_) => "returned",
            Self::Channel(..) => "channel",
        }
    }
}

/// Confirms still to come for the messages published for one input.
#[derive(Default)]
pub struct Confirms {
    pending: Vec<(String, PublisherConfirm)>,
}

impl Confirms {
    /// How many messages await their confirm.
    pub fn len(&self) -> usize {
        self.pending.len()
    }

    /// Whether no message awaits a confirm.
    pub fn is_empty(&self) -> bool {
        self.pending.is_empty()
    }

    /// Waits for every confirm; the first failure is returned after all have settled.
    pub async fn settle(self) -> Result<(), PublishFailure> {
        let mut first = None;
        for (id, confirm) in self.pending {
            let failure = match confirm.await {
                Ok(Confirmation::Ack(None)) | Ok(Confirmation::NotRequested) => None,
                Ok(Confirmation::Ack(Some(_))) => Some(PublishFailure::Returned(id)),
                Ok(Confirmation::Nack(_)) => Some(PublishFailure::Nack(id)),
                Err(e) => Some(PublishFailure::Channel(id, e.to_string())),
            };
            if first.is_none() {
                first = failure;
            }
        }
        first.map_or(Ok(()), Err)
    }
}

/// The headers of a dead letter: the original headers with `x-leitstand-error` and
/// `x-leitstand-detail` set. An original header the outbox could not give back unchanged
/// (it keeps properties as JSON, which has no NaN or infinity and only so much nesting)
/// is replaced by a text: the number's, or what kind of value it was.
pub fn dead_letter_headers(
    original: Option<&FieldTable>,
    reason: &str,
    detail: &str,
) -> FieldTable {
    let mut headers = FieldTable::default();
    for (name, value) in original.map(FieldTable::inner).into_iter().flatten() {
        let value = if survives_json(value) {
            value.clone()
        } else {
            let text = match value {
                AMQPValue::Double(n) => n.to_string(),
                AMQPValue::Float(n) => n.to_string(),
                other => format!("a {:?} the outbox cannot keep", other.get_type()),
            };
            AMQPValue::LongString(LongString::from(text))
        };
        headers.insert(name.clone(), value);
    }
    headers.insert(
        ERROR_HEADER.into(),
        AMQPValue::LongString(LongString::from(reason)),
    );
    headers.insert(
        DETAIL_HEADER.into(),
        AMQPValue::LongString(LongString::from(one_line(detail))),
    );
    headers
}

/// Whether `value` comes back unchanged from JSON, as the outbox stores it.
fn survives_json<T>(value: &T) -> bool
where
    T: serde::Serialize + serde::de::DeserializeOwned + PartialEq,
{
    serde_json::to_string(value)
        .ok()
        .and_then(|text| serde_json::from_str::<T>(&text).ok())
        .is_some_and(|back| back == *value)
}

/// `detail` on one line, cut to [`MAX_DETAIL_BYTES`] at a character boundary.
fn one_line(detail: &str) -> String {
    let mut line: String = detail
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if line.len() > MAX_DETAIL_BYTES {
        let mut cut = MAX_DETAIL_BYTES;
        while !line.is_char_boundary(cut) {
            cut -= 1;
        }
        line.truncate(cut);
        line.push('…');
    }
    line
}

impl Publisher {
    /// Opens a channel on `conn` and puts it into confirm mode.
    pub async fn open(conn: &Connection) -> Result<Self, TransportError> {
        let channel = conn
            .create_channel()
            .await
            .map_err(TransportError::amqp("opening a publishing channel"))?;
        channel
            .confirm_select(ConfirmSelectOptions::default())
            .await
            .map_err(TransportError::amqp("enabling publisher confirms"))?;
        Ok(Self { channel })
    }

    /// The channel, for declarations.
    pub fn channel(&self) -> &Channel {
        &self.channel
    }

    async fn publish(
        &self,
        confirms: &mut Confirms,
        exchange: &str,
        routing_key: &str,
        body: &[u8],
        properties: BasicProperties,
        label: String,
    ) -> Result<(), TransportError> {
        let confirm = self
            .channel
            .basic_publish(
                exchange.into(),
                routing_key.into(),
                BasicPublishOptions {
                    mandatory: true,
                    ..BasicPublishOptions::default()
                },
                body,
                properties,
            )
            .await
            .map_err(TransportError::amqp(format!("publishing {label}")))?;
        confirms.pending.push((label, confirm));
        Ok(())
    }

    /// Publishes `command` to `leitstand.commands`: persistent, mandatory, `message_id`
    /// the command id, structured-mode CloudEvent body.
    pub async fn command(
        &self,
        confirms: &mut Confirms,
        command: &Command,
    ) -> Result<(), TransportError> {
        let m = Message::command(command)?;
        self.message(confirms, &m).await
    }

    /// Publishes a copy of an input to `leitstand.dead`: the body unchanged, the original
    /// properties and routing key kept, the reason headers added.
    pub async fn dead_letter(
        &self,
        confirms: &mut Confirms,
        original: &BasicProperties,
        routing_key: &str,
        body: &[u8],
        reason: &str,
        detail: &str,
    ) -> Result<(), TransportError> {
        let m = Message::dead_letter(original, routing_key, body, reason, detail);
        self.message(confirms, &m).await
    }

    /// Publishes `message`, mandatory, its confirm added to `confirms`.
    pub async fn message(
        &self,
        confirms: &mut Confirms,
        message: &Message,
    ) -> Result<(), TransportError> {
        self.publish(
            confirms,
            &message.exchange,
            &message.routing_key,
            &message.body,
            message.properties.clone(),
            message.label(),
        )
        .await
    }

    /// Publishes `message` and returns its pending confirm.
    pub async fn message_confirm(
        &self,
        message: &Message,
    ) -> Result<PublisherConfirm, TransportError> {
        let mut confirms = Confirms::default();
        self.message(&mut confirms, message).await?;
        confirms
            .pending
            .pop()
            .map(|(_, c)| c)
            .ok_or_else(|| TransportError::Session("a publish left no confirm".into()))
    }
}

/// A message to publish: a command or a dead letter, as the outbox keeps it.
#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    /// The exchange.
    pub exchange: String,
    /// The routing key.
    pub routing_key: String,
    /// The AMQP properties.
    pub properties: BasicProperties,
    /// The body.
    pub body: Vec<u8>,
}

impl Message {
    /// `command` for `leitstand.commands`: persistent, `message_id` the command id,
    /// `correlation_id` its cause (when the cause's id fits an AMQP short string),
    /// structured-mode CloudEvent body.
    pub fn command(command: &Command) -> Result<Self, TransportError> {
        let body = command
            .to_json()
            .map_err(|e| TransportError::Encode(e.to_string()))?;
        let mut properties = BasicProperties::default()
            .with_delivery_mode(PERSISTENT)
            .with_message_id(command.id.as_str().into())
            .with_content_type("application/cloudevents+json".into())
            .with_type(command.command_type.as_str().into());
        // An AMQP short string holds at most 255 bytes, and an event id may be longer
        // (CONTRACT §1 bounds only the event's size): a longer cause is left out of the
        // properties rather than failing the command; the body's `causationid` has it whole.
        if let Ok(cause) = ShortString::try_new(command.causationid.as_str()) {
            properties = properties.with_correlation_id(cause);
        }
        Ok(Self {
            exchange: COMMANDS_EXCHANGE.to_owned(),
            routing_key: command.routing_key(),
            properties,
            body,
        })
    }

    /// An event of the host's own for `leitstand.events` (an `http.response`): persistent,
    /// `message_id` the event id, structured-mode CloudEvent body.
    pub fn event(routing_key: String, id: &str, event_type: &str, body: Vec<u8>) -> Self {
        let properties = BasicProperties::default()
            .with_delivery_mode(PERSISTENT)
            .with_message_id(id.into())
            .with_content_type("application/cloudevents+json".into())
            .with_type(event_type.into());
        Self {
            exchange: crate::EVENTS_EXCHANGE.to_owned(),
            routing_key,
            properties,
            body,
        }
    }

    /// A copy of an input for `leitstand.dead`: the body unchanged, the original
    /// properties and routing key kept (as far as the outbox can keep them, see
    /// [`dead_letter_headers`]), the reason headers added, persistent.
    pub fn dead_letter(
        original: &BasicProperties,
        routing_key: &str,
        body: &[u8],
        reason: &str,
        detail: &str,
    ) -> Self {
        let headers = dead_letter_headers(original.headers().as_ref(), reason, detail);
        let mut properties = original
            .clone()
            .with_headers(headers)
            .with_delivery_mode(PERSISTENT);
        // The outbox's JSON reader takes only so much nesting: original properties it
        // could not give back are left out, so that the dead letter can still be published.
        if !survives_json(&properties) {
            properties = BasicProperties::default()
                .with_headers(dead_letter_headers(None, reason, detail))
                .with_delivery_mode(PERSISTENT);
        }
        Self {
            exchange: DEAD.to_owned(),
            routing_key: routing_key.to_owned(),
            properties,
            body: body.to_vec(),
        }
    }

    /// Whether this is a command (not a dead letter).
    pub fn is_command(&self) -> bool {
        self.exchange == COMMANDS_EXCHANGE
    }

    /// How logs and errors name this message.
    pub fn label(&self) -> String {
        match (self.is_command(), self.properties.message_id()) {
            (true, Some(id)) => format!("command {id}"),
            (true, None) => "a command".to_owned(),
            (false, _) => match self.properties.headers().as_ref().and_then(|h| {
                h.inner()
                    .get(ERROR_HEADER)
                    .and_then(|v| v.as_long_string().map(ToString::to_string))
            }) {
                Some(reason) => format!("dead letter ({reason})"),
                None => "a dead letter".to_owned(),
            },
        }
    }

    /// This message as the outbox keeps it: its properties as JSON.
    pub fn into_outgoing(self) -> Result<Outgoing, TransportError> {
        let properties = serde_json::to_string(&self.properties).map_err(|e| {
            TransportError::Encode(format!(
                "the properties of {} cannot be stored: {e}",
                self.label()
            ))
        })?;
        Ok(Outgoing {
            exchange: self.exchange,
            routing_key: self.routing_key,
            properties,
            body: self.body,
        })
    }

    /// The message an outbox row holds.
    pub fn from_outbox(entry: &OutboxEntry) -> Result<Self, TransportError> {
        let properties = serde_json::from_str(&entry.properties).map_err(|e| {
            TransportError::Encode(format!(
                "outbox message {} has unreadable properties: {e}",
                entry.seq
            ))
        })?;
        Ok(Self {
            exchange: entry.exchange.clone(),
            routing_key: entry.routing_key.clone(),
            properties,
            body: entry.body.clone(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outbox_rows_give_back_the_same_message() {
        let mut original = FieldTable::default();
        original.insert("ce-id".into(), AMQPValue::LongString("e-1".into()));
        original.insert("n".into(), AMQPValue::LongLongInt(7));
        let props = BasicProperties::default()
            .with_content_type("application/json".into())
            .with_message_id("m-1".into())
            .with_headers(original);
        let m = Message::dead_letter(&props, "t.call.offered", b"\xff{", "malformed-json", "bad");
        let row = m.clone().into_outgoing().map(|o| o.at(9)).expect("row");
        assert_eq!(row.seq, 9);
        assert_eq!(Message::from_outbox(&row).expect("message"), m);
        assert_eq!(m.label(), "dead letter (malformed-json)");
    }

    #[test]
    fn dead_letter_headers_keep_the_original_and_stay_on_one_line() {
        let mut original = FieldTable::default();
        original.insert("ce-id".into(), AMQPValue::LongString("e-1".into()));
        let long = format!("line one\nline two {}", "ü".repeat(2000));
        let h = dead_letter_headers(Some(&original), "malformed-json", &long);
        assert!(h.inner().contains_key("ce-id"));
        assert_eq!(
            h.inner().get(ERROR_HEADER),
            Some(&AMQPValue::LongString("malformed-json".into()))
        );
        let Some(AMQPValue::LongString(detail)) = h.inner().get(DETAIL_HEADER) else {
            panic!("no detail header");
        };
        let detail = String::from_utf8(detail.as_bytes().to_vec()).expect("utf-8");
        assert!(detail.starts_with("line one line two"));
        assert!(detail.len() <= MAX_DETAIL_BYTES + '…'.len_utf8());
    }
}
