//! Inbound events, typed after CONTRACT §2.

use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use crate::timer::Timer;
use crate::{Error, Time, bindings, invalid_event};

/// The event type of a due timer.
pub const TIMER_FIRED: &str = "timer.fired";
/// The event type of the answer to an `http.post` the host delivered for this plugin.
pub const HTTP_RESPONSE: &str = "http.response";

/// One inbound event as the plugin sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    /// The event's `id`; with `source` it identifies the event.
    pub id: String,
    /// The event's `source`.
    pub source: String,
    /// The event's `type`.
    pub event_type: String,
    /// The tenant.
    pub tenant: String,
    /// The `subject` (a call or booking id), when given.
    pub subject: Option<String>,
    /// Event time.
    pub time: Time,
    /// The `data`, typed by the event type.
    pub kind: Kind,
}

/// An event's `data`, by event type.
#[derive(Debug, Clone, PartialEq)]
pub enum Kind {
    /// `call.offered`.
    CallOffered(CallOffered),
    /// `call.answered`.
    CallAnswered(CallAnswered),
    /// `call.abandoned`.
    CallAbandoned(CallAbandoned),
    /// `call.ended`.
    CallEnded(CallEnded),
    /// `site.status`.
    SiteStatus(SiteStatus),
    /// `booking.requested`.
    BookingRequested(BookingRequested),
    /// `booking.cancelled`.
    BookingCancelled(BookingCancelled),
    /// `timer.fired`: one of this plugin's timers is due.
    TimerFired(TimerFired),
    /// `http.response`: the host's delivery of one of this plugin's `http.post` commands
    /// is settled.
    HttpResponse(HttpResponse),
    /// Any other type: the data as it came.
    Custom(Map<String, Value>),
}

/// A call's priority.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Priority {
    /// The default.
    #[default]
    Normal,
    /// An emergency call.
    Emergency,
}

/// A call entered a tenant's queue.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct CallOffered {
    /// The call.
    pub call_id: String,
    /// The tenant's queue.
    pub queue: String,
    /// The site whose ACD reported it.
    #[serde(default)]
    pub site: Option<String>,
    /// `normal` unless given.
    #[serde(default)]
    pub priority: Priority,
    /// What the caller wants, as the IVR classified it.
    #[serde(default)]
    pub concern: Option<String>,
    /// The caller's pseudonym; personal data, never log it.
    #[serde(default)]
    pub caller_ref: Option<String>,
}

/// An agent took the call.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct CallAnswered {
    /// The call.
    pub call_id: String,
    /// The queue.
    pub queue: String,
    /// Seconds in the queue, as the ACD reports it.
    pub wait_seconds: f64,
    /// The answering site.
    #[serde(default)]
    pub site: Option<String>,
    /// The agent's pseudonym.
    #[serde(default)]
    pub agent_ref: Option<String>,
    /// What the caller wants, when the ACD or the agent's desktop reports it with the
    /// answer (an agent may reclassify the call); absent in most events.
    #[serde(default)]
    pub concern: Option<String>,
}

/// The caller hung up before an answer.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct CallAbandoned {
    /// The call.
    pub call_id: String,
    /// The queue.
    pub queue: String,
    /// Seconds in the queue.
    pub wait_seconds: f64,
    /// The site.
    #[serde(default)]
    pub site: Option<String>,
}

/// The conversation ended.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct CallEnded {
    /// The call.
    pub call_id: String,
    /// The queue.
    pub queue: String,
    /// Seconds of talk.
    pub talk_seconds: f64,
    /// The site.
    #[serde(default)]
    pub site: Option<String>,
    /// Settled at first contact.
    #[serde(default)]
    pub resolved: Option<bool>,
    /// Where the call was handed on.
    #[serde(default)]
    pub transferred_to: Option<String>,
}

/// A provider site's live capacity.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct SiteStatus {
    /// The site.
    pub site: String,
    /// Agents on shift.
    pub agents_staffed: u32,
    /// Agents idle and ready.
    pub agents_available: u32,
    /// Calls waiting at the site.
    #[serde(default)]
    pub calls_waiting: Option<u32>,
}

/// A citizen asks for an appointment.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct BookingRequested {
    /// The booking.
    pub booking_id: String,
    /// The centre (e.g. a vaccination centre).
    pub center: String,
    /// The slot, RFC 3339 as it came.
    pub slot: String,
    /// The citizen's pseudonym; personal data, never log it.
    #[serde(default)]
    pub citizen_ref: Option<String>,
    /// `phone` or `web`.
    #[serde(default)]
    pub channel: Option<String>,
    /// The priority group.
    #[serde(default)]
    pub priority_group: Option<String>,
}

impl BookingRequested {
    /// The slot as a time (checked when the event was parsed).
    pub fn slot_time(&self) -> Time {
        Time::parse(&self.slot).unwrap_or(Time::from_ms(0))
    }
}

/// A booking is withdrawn.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct BookingCancelled {
    /// The booking.
    pub booking_id: String,
}

/// One of this plugin's timers is due.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct TimerFired {
    /// The timer's name.
    pub name: String,
    /// The payload given when the timer was set.
    #[serde(default)]
    pub payload: Value,
}

impl TimerFired {
    /// The payload as `T`.
    pub fn payload_as<T: DeserializeOwned>(&self) -> Result<T, Error> {
        T::deserialize(&self.payload)
            .map_err(|e| invalid_event(format!("timer {}: payload: {e}", self.name)))
    }

    /// Whether this is a timer of kind `T`.
    pub fn is<T: Timer>(&self) -> bool {
        self.name.starts_with(T::KIND)
    }

    /// The timer as the value of kind `T` it was set as; `None` when it is of another kind.
    /// A payload that does not fit `T` is `invalid-event`.
    pub fn timer<T: Timer>(&self) -> Result<Option<T>, Error> {
        if self.is::<T>() {
            self.payload_as().map(Some)
        } else {
            Ok(None)
        }
    }
}

/// How the host's delivery of an `http.post` ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum HttpOutcome {
    /// The endpoint answered 2xx.
    Delivered,
    /// The endpoint refused the request for good (a 4xx other than 408 and 429).
    Rejected,
    /// Retries were used up without a final answer.
    GaveUp,
}

/// The settled delivery of one of this plugin's `http.post` commands.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct HttpResponse {
    /// The endpoint's name in the bundle.
    pub endpoint: String,
    /// The request's `Idempotency-Key` (the command's id).
    pub request_id: String,
    /// The subject the `http.post` carried.
    #[serde(default)]
    pub subject: Option<String>,
    /// How it ended.
    pub outcome: HttpOutcome,
    /// The last HTTP status, when the endpoint answered at all.
    #[serde(default)]
    pub status: Option<u16>,
    /// The last answer's body: JSON when it was JSON, else a string.
    #[serde(default)]
    pub body: Value,
    /// Attempts made.
    pub attempts: u32,
}

impl Event {
    /// Types the host's event.
    pub(crate) fn from_raw(raw: bindings::Event) -> Result<Self, Error> {
        let kind = Kind::parse(&raw.type_, &raw.data)?;
        Ok(Self {
            id: raw.id,
            source: raw.source,
            event_type: raw.type_,
            tenant: raw.tenant,
            subject: raw.subject,
            time: Time::from_ms(raw.time),
            kind,
        })
    }

    /// An event for tests of a plugin's pure logic, with `data` as JSON text.
    pub fn new(
        event_type: &str,
        id: &str,
        time: Time,
        subject: Option<&str>,
        data: &str,
    ) -> Result<Self, Error> {
        Ok(Self {
            id: id.to_owned(),
            source: "test".to_owned(),
            event_type: event_type.to_owned(),
            tenant: "test".to_owned(),
            subject: subject.map(str::to_owned),
            time,
            kind: Kind::parse(event_type, data)?,
        })
    }
}

impl Kind {
    /// Parses `data` by `event_type`. A missing or mistyped field is `invalid-event`
    /// naming the type and field.
    pub fn parse(event_type: &str, data: &str) -> Result<Self, Error> {
        fn typed<T: DeserializeOwned>(event_type: &str, data: &str) -> Result<T, Error> {
            // Read once without tracking where the reader is: an event is nearly always
            // well formed, and the path costs on every field. Only a failure is read again
            // with the path, to name the field.
            if let Ok(parsed) = T::deserialize(&mut serde_json::Deserializer::from_str(data)) {
                return Ok(parsed);
            }
            let mut de = serde_json::Deserializer::from_str(data);
            serde_path_to_error::deserialize(&mut de).map_err(|e| {
                let path = e.path().to_string();
                let mut reason = e.into_inner().to_string();
                if let Some(i) = reason.rfind(" at line ") {
                    reason.truncate(i);
                }
                if path == "." {
                    invalid_event(format!("{event_type}: data: {reason}"))
                } else {
                    invalid_event(format!("{event_type}: data.{path}: {reason}"))
                }
            })
        }
        Ok(match event_type {
            "call.offered" => Kind::CallOffered(typed(event_type, data)?),
            "call.answered" => {
                let c: CallAnswered = typed(event_type, data)?;
                non_negative(event_type, "wait_seconds", c.wait_seconds)?;
                Kind::CallAnswered(c)
            }
            "call.abandoned" => {
                let c: CallAbandoned = typed(event_type, data)?;
                non_negative(event_type, "wait_seconds", c.wait_seconds)?;
                Kind::CallAbandoned(c)
            }
            "call.ended" => {
                let c: CallEnded = typed(event_type, data)?;
                non_negative(event_type, "talk_seconds", c.talk_seconds)?;
                Kind::CallEnded(c)
            }
            "site.status" => Kind::SiteStatus(typed(event_type, data)?),
            "booking.requested" => {
                let b: BookingRequested = typed(event_type, data)?;
                if Time::parse(&b.slot).is_none() {
                    return Err(invalid_event(format!(
                        "{event_type}: data.slot: {:?} is not an RFC 3339 time",
                        b.slot
                    )));
                }
                Kind::BookingRequested(b)
            }
            "booking.cancelled" => Kind::BookingCancelled(typed(event_type, data)?),
            TIMER_FIRED => Kind::TimerFired(typed(event_type, data)?),
            HTTP_RESPONSE => Kind::HttpResponse(typed(event_type, data)?),
            _ => Kind::Custom(typed(event_type, data)?),
        })
    }
}

fn non_negative(event_type: &str, field: &str, value: f64) -> Result<(), Error> {
    if value.is_finite() && value >= 0.0 {
        Ok(())
    } else {
        Err(invalid_event(format!(
            "{event_type}: data.{field}: must be a number ≥ 0, got {value}"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(e: Error) -> String {
        match e {
            Error::InvalidEvent(m) => m,
            other => panic!("expected invalid-event, got {other:?}"),
        }
    }

    #[test]
    fn call_offered_is_typed_with_defaults() {
        let k = Kind::parse(
            "call.offered",
            r#"{"call_id":"c1","queue":"impf","extra":1}"#,
        )
        .expect("valid");
        let Kind::CallOffered(c) = k else {
            panic!("wrong kind")
        };
        assert_eq!(c.priority, Priority::Normal);
        assert_eq!(c.queue, "impf");
    }

    #[test]
    fn bad_fields_are_named() {
        let e = Kind::parse("call.offered", r#"{"call_id":"c1"}"#).expect_err("no queue");
        assert_eq!(message(e), "call.offered: data: missing field `queue`");
        let e = Kind::parse(
            "call.offered",
            r#"{"call_id":"c1","queue":"q","priority":"urgent"}"#,
        )
        .expect_err("bad priority");
        assert!(message(e).starts_with("call.offered: data.priority: unknown variant `urgent`"));
        let e = Kind::parse(
            "call.answered",
            r#"{"call_id":"c","queue":"q","wait_seconds":-1}"#,
        )
        .expect_err("negative");
        assert!(message(e).contains("data.wait_seconds: must be a number ≥ 0"));
        let e = Kind::parse(
            "booking.requested",
            r#"{"booking_id":"b","center":"kl","slot":"soon"}"#,
        )
        .expect_err("bad slot");
        assert!(message(e).contains("\"soon\" is not an RFC 3339 time"));
    }

    #[test]
    fn an_answer_may_carry_the_concern() {
        let k = Kind::parse(
            "call.answered",
            r#"{"call_id":"c1","queue":"q","wait_seconds":3,"concern":"Wohngeld"}"#,
        )
        .expect("valid");
        assert!(matches!(k, Kind::CallAnswered(c) if c.concern.as_deref() == Some("Wohngeld")));
        let k = Kind::parse(
            "call.answered",
            r#"{"call_id":"c1","queue":"q","wait_seconds":3}"#,
        )
        .expect("valid");
        assert!(matches!(k, Kind::CallAnswered(c) if c.concern.is_none()));
        let e = Kind::parse(
            "call.answered",
            r#"{"call_id":"c1","queue":"q","wait_seconds":3,"concern":7}"#,
        )
        .expect_err("not a string");
        assert!(message(e).starts_with("call.answered: data.concern: invalid type"));
    }

    #[derive(Debug, PartialEq, serde::Serialize, serde::Deserialize)]
    struct Escalate {
        call_id: String,
        step: u32,
    }

    impl Timer for Escalate {
        const KIND: &'static str = "escalate/";
        fn key(&self) -> &str {
            &self.call_id
        }
    }

    #[test]
    fn a_fired_timer_is_read_as_its_kind() {
        let fired = |name: &str, payload: Value| TimerFired {
            name: name.into(),
            payload,
        };
        let t = fired(
            "escalate/c1",
            serde_json::json!({"call_id": "c1", "step": 2}),
        );
        assert!(t.is::<Escalate>());
        assert_eq!(
            t.timer::<Escalate>().expect("fits"),
            Some(Escalate {
                call_id: "c1".into(),
                step: 2
            })
        );
        let other = fired("forget/c1", serde_json::json!("c1"));
        assert_eq!(other.timer::<Escalate>().expect("another kind"), None);
        let e = fired("escalate/c1", serde_json::json!({"call_id": "c1"}))
            .timer::<Escalate>()
            .expect_err("no step");
        assert!(message(e).contains("missing field `step`"));
    }

    #[test]
    fn custom_events_keep_their_data() {
        let k = Kind::parse("ministry.ping", r#"{"a":[1,2]}"#).expect("valid");
        assert!(matches!(k, Kind::Custom(m) if m.contains_key("a")));
    }
}
