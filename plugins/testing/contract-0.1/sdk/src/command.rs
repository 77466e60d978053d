//! Commands a plugin decides; the host wraps each into a CloudEvent (CONTRACT §3).

use serde::Serialize;
use serde_json::{Map, Value};

/// One command: its type, its subject and its `data` object. Build it with a constructor for
/// the field's common commands, add fields with [`Command::with`].
#[derive(Debug, Clone, PartialEq)]
pub struct Command {
    /// The command type; the bundle must grant it to the plugin.
    pub command_type: String,
    /// The call or booking the command is about.
    pub subject: Option<String>,
    /// The `data` object.
    pub data: Map<String, Value>,
}

impl Command {
    /// A command of any type, with no subject and empty data.
    pub fn new(command_type: &str) -> Self {
        Self {
            command_type: command_type.to_owned(),
            subject: None,
            data: Map::new(),
        }
    }

    /// `call.route`: send call `call_id` to `target` (a site, a team, an announcement).
    pub fn route(call_id: &str, target: &str) -> Self {
        Self::new("call.route")
            .subject(call_id)
            .with("call_id", call_id)
            .with("target", target)
    }

    /// `call.escalate`: step `step` (from 1) of an escalation of call `call_id` to `target`.
    pub fn escalate(call_id: &str, step: u32, target: &str) -> Self {
        Self::new("call.escalate")
            .subject(call_id)
            .with("call_id", call_id)
            .with("step", step)
            .with("target", target)
    }

    /// `booking.confirm`: booking `booking_id` is accepted.
    pub fn confirm_booking(booking_id: &str) -> Self {
        Self::new("booking.confirm")
            .subject(booking_id)
            .with("booking_id", booking_id)
    }

    /// `booking.reject`: booking `booking_id` is refused for `reason` (a short code such as
    /// `full`, `unknown-center`, `duplicate`).
    pub fn reject_booking(booking_id: &str, reason: &str) -> Self {
        Self::new("booking.reject")
            .subject(booking_id)
            .with("booking_id", booking_id)
            .with("reason", reason)
    }

    /// `notify`: tell `recipient` (a role such as `supervisor-on-call`) `message`.
    pub fn notify(recipient: &str, message: &str) -> Self {
        Self::new("notify")
            .with("recipient", recipient)
            .with("message", message)
    }

    /// `http.post`: the host POSTs `body` as JSON to the endpoint the bundle names
    /// `endpoint`, from its outbox, with retries and the command's id as `Idempotency-Key`.
    /// The answer comes back to this plugin as an `http.response` event with the same
    /// subject.
    pub fn http_post(endpoint: &str, body: impl Serialize) -> Self {
        Self::new("http.post")
            .with("endpoint", endpoint)
            .with("body", body)
    }

    /// Sets the subject.
    pub fn subject(mut self, subject: &str) -> Self {
        self.subject = Some(subject.to_owned());
        self
    }

    /// Adds (or replaces) the field `key` of `data`. A value that does not serialise
    /// becomes `null`.
    pub fn with(mut self, key: &str, value: impl Serialize) -> Self {
        let value = serde_json::to_value(value).unwrap_or(Value::Null);
        self.data.insert(key.to_owned(), value);
        self
    }

    /// Adds the field `key` when `value` is `Some`.
    pub fn with_opt(self, key: &str, value: Option<impl Serialize>) -> Self {
        match value {
            Some(v) => self.with(key, v),
            None => self,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builders_fill_type_subject_and_data() {
        let c = Command::route("c1", "pirmasens").with("reason", "overflow");
        assert_eq!(c.command_type, "call.route");
        assert_eq!(c.subject.as_deref(), Some("c1"));
        assert_eq!(
            Value::Object(c.data),
            serde_json::json!({"call_id": "c1", "target": "pirmasens", "reason": "overflow"})
        );
        let r = Command::reject_booking("b1", "full").with_opt("center", None::<&str>);
        assert_eq!(
            Value::Object(r.data),
            serde_json::json!({"booking_id": "b1", "reason": "full"})
        );
    }
}
