//! Publishing commands and dead letters on a confirm-mode channel, and waiting for the
//! broker to take responsibility for them.

use lapin::options::{BasicPublishOptions, ConfirmSelectOptions};
use lapin::types::{AMQPValue, FieldTable, LongString, ShortString};
use lapin::{BasicProperties, Channel, Connection};
use lapin::{Confirmation, PublisherConfirm};

use crate::intake::STRUCTURED;
use crate::{COMMANDS_EXCHANGE, DEAD, DETAIL_HEADER, ERROR_HEADER, TransportError};
use leitstand_contract::attribute::AttributeValue;
use leitstand_contract::command::{Command, HTTP_POST};
use leitstand_contract::wire::{CommandMode, EncodeError, OutboxEntry, Outgoing};

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

/// The headers of a binary-mode command: its attributes ([`Command::binary_attributes`]),
/// `datacontenttype` aside (it is the content type). The AMQP binding's `cloudEvents_`
/// headers carry each attribute in its AMQP type: text as long strings, and `time` as a
/// signed 64-bit count of milliseconds since 1970 — the AMQP 1.0 timestamp's value, which
/// the SDKs' AMQP binding reads as a Timestamp, where AMQP 0-9-1's own timestamp would cut
/// the milliseconds and read back without a time zone. The RabbitMQ binding's `ce-`
/// headers carry each attribute's canonical string.
fn binary_headers(command: &Command, mode: CommandMode) -> FieldTable {
    let mut headers = FieldTable::default();
    for (name, value) in command.binary_attributes() {
        let (key, value) = match mode {
            CommandMode::AmqpBinary => (format!("cloudEvents_{name}"), amqp_value(value)),
            CommandMode::Structured | CommandMode::RabbitmqBinary => (
                format!("ce-{name}"),
                AMQPValue::LongString(LongString::from(
                    value.canonical_string().unwrap_or_default(),
                )),
            ),
        };
        headers.insert(key.into(), value);
    }
    headers
}

/// An attribute value in the AMQP type the CloudEvents AMQP binding maps its type to.
fn amqp_value(value: AttributeValue) -> AMQPValue {
    match value {
        AttributeValue::String(s) => AMQPValue::LongString(LongString::from(s)),
        AttributeValue::Boolean(b) => AMQPValue::Boolean(b),
        AttributeValue::Integer(n) | AttributeValue::Timestamp(n) => i64::try_from(n)
            .map(AMQPValue::LongLongInt)
            .unwrap_or_else(|_| AMQPValue::LongString(LongString::from(n.to_string()))),
        AttributeValue::Binary(bytes) => AMQPValue::ByteArray(bytes.into()),
        AttributeValue::Other(name) => AMQPValue::LongString(LongString::from(name)),
    }
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

    /// Publishes `command` to `leitstand.commands` in `mode`: persistent, mandatory,
    /// `message_id` the command id (see [`Message::command`]).
    pub async fn command(
        &self,
        confirms: &mut Confirms,
        command: &Command,
        mode: CommandMode,
    ) -> Result<(), TransportError> {
        let m = Message::command(command, mode)?;
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
    /// `correlation_id` its cause (when the cause's id fits an AMQP short string), `type`
    /// the command type, laid out in `mode`: a structured-mode CloudEvent body, or binary
    /// mode with the attributes as headers (`cloudEvents_` or `ce-`) and `data` as the
    /// `application/json` body. An `http.post` is always structured: Leitstand's own
    /// delivery worker reads it.
    pub fn command(command: &Command, mode: CommandMode) -> Result<Self, TransportError> {
        let encode = |e: EncodeError| TransportError::Encode(e.to_string());
        let mode = if command.command_type == HTTP_POST {
            CommandMode::Structured
        } else {
            mode
        };
        let mut properties = BasicProperties::default()
            .with_delivery_mode(PERSISTENT)
            .with_message_id(command.id.as_str().into())
            .with_type(command.command_type.as_str().into());
        // An AMQP short string holds at most 255 bytes, and an event id may be longer
        // (CONTRACT §1 bounds only the event's size): a longer cause is left out of the
        // properties rather than failing the command; the body's `causationid` has it whole.
        if let Ok(cause) = ShortString::try_new(command.causationid.as_str()) {
            properties = properties.with_correlation_id(cause);
        }
        let (properties, body) = match mode {
            CommandMode::Structured => (
                properties.with_content_type(STRUCTURED.into()),
                command.to_json().map_err(encode)?,
            ),
            CommandMode::AmqpBinary | CommandMode::RabbitmqBinary => (
                properties
                    .with_content_type(command.datacontenttype.as_str().into())
                    .with_headers(binary_headers(command, mode)),
                command.data_json().map_err(encode)?,
            ),
        };
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

    fn command(command_type: &str) -> Command {
        let mut data = serde_json::Map::new();
        data.insert("call_id".into(), "c1".into());
        data.insert("target".into(), "stadt-buergerbuero".into());
        Command {
            specversion: "1.0".into(),
            id: "cmd-1".into(),
            source: "leitstand/soest/switchboard".into(),
            command_type: command_type.into(),
            tenant: "soest".into(),
            time: "2026-11-19T08:00:05.123Z".into(),
            causationid: "e-1".into(),
            subject: Some("c1".into()),
            datacontenttype: "application/json".into(),
            data,
        }
    }

    #[test]
    fn binary_commands_carry_the_attributes_as_headers_in_the_binding_types() {
        let c = command("call.route");
        let m = Message::command(&c, CommandMode::AmqpBinary).expect("message");
        let h = m.properties.headers().clone().expect("headers");
        let h = h.inner();
        assert_eq!(
            h.get("cloudEvents_time"),
            Some(&AMQPValue::LongLongInt(1_795_075_205_123)),
            "time in milliseconds since 1970"
        );
        assert_eq!(
            h.get("cloudEvents_causationid"),
            Some(&AMQPValue::LongString("e-1".into()))
        );
        assert!(!h.contains_key("cloudEvents_datacontenttype"));
        assert_eq!(
            m.properties.content_type().as_ref().map(|c| c.as_str()),
            Some("application/json")
        );
        let body: serde_json::Value = serde_json::from_slice(&m.body).expect("data");
        assert_eq!(body, serde_json::Value::Object(c.data.clone()));

        let m = Message::command(&c, CommandMode::RabbitmqBinary).expect("message");
        let h = m.properties.headers().clone().expect("headers");
        assert_eq!(
            h.inner().get("ce-time"),
            Some(&AMQPValue::LongString("2026-11-19T08:00:05.123Z".into()))
        );

        // Leitstand's own delivery worker reads http.post whole: never binary.
        let m = Message::command(&command(HTTP_POST), CommandMode::AmqpBinary).expect("message");
        assert_eq!(
            m.properties.content_type().as_ref().map(|c| c.as_str()),
            Some(STRUCTURED)
        );
        assert!(m.properties.headers().is_none());
    }

    #[test]
    fn a_command_in_every_mode_reads_back_the_same_and_survives_the_outbox() {
        let c = command("call.route");
        for mode in CommandMode::ALL {
            let m = Message::command(&c, mode).expect("message");
            let row = m.clone().into_outgoing().map(|o| o.at(1)).expect("row");
            assert_eq!(Message::from_outbox(&row).expect("back"), m, "{mode:?}");
            let env = crate::envelope_of(
                &m.properties,
                &m.body,
                leitstand_contract::envelope::IntakeLimits::default(),
                chrono::Utc::now(),
            )
            .unwrap_or_else(|e| panic!("{mode:?}: {e}"));
            assert_eq!(
                (
                    env.id.as_str(),
                    env.source.as_str(),
                    env.event_type.as_str()
                ),
                ("cmd-1", "leitstand/soest/switchboard", "call.route"),
                "{mode:?}"
            );
            assert_eq!(env.tenant.as_str(), "soest");
            assert_eq!(env.time_rfc3339(), c.time, "{mode:?}");
            assert_eq!(env.subject.as_deref(), Some("c1"));
            assert_eq!(env.data, c.data, "{mode:?}");
        }
    }

    #[test]
    fn an_outbox_row_written_before_command_modes_reads_back_as_a_structured_command() {
        // The properties of a command's outbox row as Leitstand wrote them before tenants
        // could ask for binary commands.
        let properties = r#"{"content_type":"application/cloudevents+json","content_encoding":null,"headers":null,"delivery_mode":2,"priority":null,"correlation_id":"e-1","reply_to":null,"expiration":null,"message_id":"cmd-1","timestamp":null,"kind":"call.route","user_id":null,"app_id":null,"cluster_id":null}"#;
        let c = command("call.route");
        let row = OutboxEntry {
            seq: 7,
            exchange: COMMANDS_EXCHANGE.to_owned(),
            routing_key: c.routing_key(),
            properties: properties.to_owned(),
            body: c.to_json().expect("json"),
        };
        assert_eq!(
            Message::from_outbox(&row).expect("an old row reads"),
            Message::command(&c, CommandMode::Structured).expect("message")
        );
    }
}
