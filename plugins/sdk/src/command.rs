//! Commands a plugin decides; the host wraps each into a CloudEvent (CONTRACT §3).
//!
//! Each command type of the contract has a builder that names its fields —
//! [`Command::route`] gives a [`Route`] with `.queue()`, `.reason()`, `.announcement()`,
//! [`Command::escalate`] an [`Escalate`], and so on — so that a misspelt field is a
//! compile error, not a receiver's puzzle. `.with(key, value)` adds what a plugin sends
//! beyond them; [`Command::new`] builds a command of any other type. A builder is emitted
//! as it is: `ctx.emit(Command::route(&call.call_id, "kl").reason("primary"))`.

use serde::Serialize;
use serde_json::{Map, Value};

/// One command: its type, its subject and its `data` object.
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
    pub fn route(call_id: &str, target: &str) -> Route {
        Route(
            Self::new("call.route")
                .subject(call_id)
                .with("call_id", call_id)
                .with("target", target),
        )
    }

    /// `call.escalate`: step `step` (from 1) of an escalation of call `call_id`; say where
    /// to with [`Escalate::target`] or whom to tell with [`Escalate::notify`].
    pub fn escalate(call_id: &str, step: u32) -> Escalate {
        Escalate(
            Self::new("call.escalate")
                .subject(call_id)
                .with("call_id", call_id)
                .with("step", step),
        )
    }

    /// `booking.confirm`: booking `booking_id` is accepted.
    pub fn confirm_booking(booking_id: &str) -> ConfirmBooking {
        ConfirmBooking(
            Self::new("booking.confirm")
                .subject(booking_id)
                .with("booking_id", booking_id),
        )
    }

    /// `booking.reject`: booking `booking_id` is refused for `reason` (a short code such as
    /// `full`, `unknown-center`, `duplicate`).
    pub fn reject_booking(booking_id: &str, reason: &str) -> RejectBooking {
        RejectBooking(
            Self::new("booking.reject")
                .subject(booking_id)
                .with("booking_id", booking_id)
                .with("reason", reason),
        )
    }

    /// `notify`: tell `recipient` (a role such as `supervisor-on-call`) `message`.
    pub fn notify(recipient: &str, message: &str) -> Notify {
        Notify(
            Self::new("notify")
                .with("recipient", recipient)
                .with("message", message),
        )
    }

    /// `http.post`: the host POSTs `body` as JSON to the endpoint the bundle names
    /// `endpoint`, from its outbox, with retries and the command's id as `Idempotency-Key`.
    /// The answer comes back to this plugin as an `http.response` event with the same
    /// subject.
    pub fn http_post(endpoint: &str, body: impl Serialize) -> HttpPost {
        HttpPost(
            Self::new("http.post")
                .with("endpoint", endpoint)
                .with("body", body),
        )
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

/// What every builder has: the subject, fields of its own choosing, and the command.
macro_rules! builder {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq)]
        #[must_use = "a command does nothing until it is emitted"]
        pub struct $name(Command);

        impl $name {
            /// Sets the subject.
            pub fn subject(self, subject: &str) -> Self {
                Self(self.0.subject(subject))
            }

            /// Adds (or replaces) a field of `data` beyond the ones this builder names.
            pub fn with(self, key: &str, value: impl Serialize) -> Self {
                Self(self.0.with(key, value))
            }

            /// Adds the field `key` when `value` is `Some`.
            pub fn with_opt(self, key: &str, value: Option<impl Serialize>) -> Self {
                Self(self.0.with_opt(key, value))
            }

            /// The command as built.
            pub fn build(self) -> Command {
                self.0
            }
        }

        impl From<$name> for Command {
            fn from(builder: $name) -> Command {
                builder.0
            }
        }
    };
}

builder!(
    /// A `call.route` being built: `call_id` and `target` are set.
    Route
);

impl Route {
    /// The queue the call waits in (`queue`).
    pub fn queue(self, queue: &str) -> Self {
        self.with("queue", queue)
    }

    /// Why the call goes there (`reason`: `primary`, `overflow`, `out-of-hours`, …).
    pub fn reason(self, reason: &str) -> Self {
        self.with("reason", reason)
    }

    /// Whether `target` names an announcement to play rather than a place to take the
    /// call (`announcement`).
    pub fn announcement(self, announcement: bool) -> Self {
        self.with("announcement", announcement)
    }
}

builder!(
    /// A `call.escalate` being built: `call_id` and `step` are set.
    Escalate
);

impl Escalate {
    /// Where the call is handed on to (`target`).
    pub fn target(self, target: &str) -> Self {
        self.with("target", target)
    }

    /// Whom to tell (`notify`: a role such as `supervisor-on-call`).
    pub fn notify(self, recipient: &str) -> Self {
        self.with("notify", recipient)
    }

    /// The queue the call waits in (`queue`).
    pub fn queue(self, queue: &str) -> Self {
        self.with("queue", queue)
    }

    /// Why the call escalates (`reason`).
    pub fn reason(self, reason: &str) -> Self {
        self.with("reason", reason)
    }

    /// How long the call has waited, in seconds (`waited_seconds`).
    pub fn waited_seconds(self, seconds: i64) -> Self {
        self.with("waited_seconds", seconds)
    }
}

builder!(
    /// A `booking.confirm` being built: `booking_id` is set.
    ConfirmBooking
);

impl ConfirmBooking {
    /// The centre the booking is for (`center`).
    pub fn center(self, center: &str) -> Self {
        self.with("center", center)
    }

    /// The slot booked, RFC 3339 (`slot`).
    pub fn slot(self, slot: &str) -> Self {
        self.with("slot", slot)
    }
}

builder!(
    /// A `booking.reject` being built: `booking_id` and `reason` are set.
    RejectBooking
);

impl RejectBooking {
    /// The centre the booking was for (`center`).
    pub fn center(self, center: &str) -> Self {
        self.with("center", center)
    }

    /// The slot asked for, RFC 3339 (`slot`).
    pub fn slot(self, slot: &str) -> Self {
        self.with("slot", slot)
    }
}

builder!(
    /// A `notify` being built: `recipient` and `message` are set.
    Notify
);

impl Notify {
    /// The call the message is about: the subject and `call_id`.
    pub fn about_call(self, call_id: &str) -> Self {
        self.subject(call_id).with("call_id", call_id)
    }
}

builder!(
    /// An `http.post` being built: `endpoint` and `body` are set.
    HttpPost
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builders_fill_type_subject_and_data() {
        let c: Command = Command::route("c1", "pirmasens")
            .queue("impf")
            .reason("overflow")
            .announcement(false)
            .into();
        assert_eq!(c.command_type, "call.route");
        assert_eq!(c.subject.as_deref(), Some("c1"));
        assert_eq!(
            Value::Object(c.data),
            serde_json::json!({"call_id": "c1", "target": "pirmasens", "queue": "impf",
                               "reason": "overflow", "announcement": false})
        );
        let r = Command::reject_booking("b1", "full")
            .center("kl")
            .with_opt("note", None::<&str>)
            .build();
        assert_eq!(
            Value::Object(r.data),
            serde_json::json!({"booking_id": "b1", "reason": "full", "center": "kl"})
        );
        let e = Command::escalate("c2", 2)
            .notify("supervisor")
            .waited_seconds(61)
            .build();
        assert_eq!(e.command_type, "call.escalate");
        assert_eq!(
            Value::Object(e.data),
            serde_json::json!({"call_id": "c2", "step": 2, "notify": "supervisor",
                               "waited_seconds": 61})
        );
        let n = Command::notify("lead", "hello").about_call("c3").build();
        assert_eq!(n.subject.as_deref(), Some("c3"));
        assert_eq!(n.data["call_id"], "c3");
        let p = Command::http_post("ministry", serde_json::json!({"a": 1}))
            .subject("b9")
            .build();
        assert_eq!(p.command_type, "http.post");
        assert_eq!(p.data["body"]["a"], 1);
        let c = Command::confirm_booking("b2").slot("2026-11-19T10:00:00+01:00");
        assert_eq!(c.build().data["slot"], "2026-11-19T10:00:00+01:00");
    }
}
