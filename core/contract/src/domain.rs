//! The inbound event vocabulary of CONTRACT §2, read into typed values.
//!
//! Only the fields the core itself uses (SLA accounting) and the required fields are
//! checked here; everything else in `data` reaches the plugins untouched. Custom event
//! types are not read at all.

use serde_json::{Map, Value};

/// A call's priority.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Priority {
    /// The default.
    Normal,
    /// An emergency call.
    Emergency,
}

/// `call.offered`.
#[derive(Debug, Clone, PartialEq)]
pub struct CallOffered {
    /// The call.
    pub call_id: String,
    /// The tenant's queue it entered.
    pub queue: String,
    /// The provider site, when reported.
    pub site: Option<String>,
    /// Its priority.
    pub priority: Priority,
}

/// `call.answered` or `call.abandoned`: a call left the queue after `wait_seconds`.
#[derive(Debug, Clone, PartialEq)]
pub struct CallLeftQueue {
    /// The call.
    pub call_id: String,
    /// The queue it waited in.
    pub queue: String,
    /// Its time in queue as the ACD reports it.
    pub wait_seconds: f64,
    /// The provider site, when reported.
    pub site: Option<String>,
}

/// `call.ended`.
#[derive(Debug, Clone, PartialEq)]
pub struct CallEnded {
    /// The call.
    pub call_id: String,
    /// The queue it came from.
    pub queue: String,
    /// Talk time.
    pub talk_seconds: f64,
    /// Settled at first contact, when reported.
    pub resolved: Option<bool>,
}

/// `site.status`.
#[derive(Debug, Clone, PartialEq)]
pub struct SiteStatus {
    /// The provider site.
    pub site: String,
    /// Agents on shift.
    pub agents_staffed: u32,
    /// Agents ready for a call.
    pub agents_available: u32,
    /// Calls waiting at the site, when reported.
    pub calls_waiting: Option<u32>,
}

/// An event of one of the CONTRACT §2 types.
#[derive(Debug, Clone, PartialEq)]
pub enum DomainEvent {
    /// `call.offered`.
    CallOffered(CallOffered),
    /// `call.answered`.
    CallAnswered(CallLeftQueue),
    /// `call.abandoned`.
    CallAbandoned(CallLeftQueue),
    /// `call.ended`.
    CallEnded(CallEnded),
    /// `site.status`.
    SiteStatus(SiteStatus),
    /// `booking.requested` (checked, then left to the plugins).
    BookingRequested {
        /// The booking.
        booking_id: String,
    },
    /// `booking.cancelled`.
    BookingCancelled {
        /// The booking.
        booking_id: String,
    },
}

impl DomainEvent {
    /// Reads `data` for a §2 `event_type`; `Ok(None)` for a custom type.
    /// The error names the field and what is wrong with it.
    pub fn parse(event_type: &str, data: &Map<String, Value>) -> Result<Option<Self>, String> {
        let d = Fields(data);
        let event = match event_type {
            "call.offered" => Self::CallOffered(CallOffered {
                call_id: d.string("call_id")?,
                queue: d.string("queue")?,
                site: d.opt_string("site")?,
                priority: match d.opt_string("priority")?.as_deref() {
                    None | Some("normal") => Priority::Normal,
                    Some("emergency") => Priority::Emergency,
                    // The value is not repeated: it may be anything a sender put there.
                    Some(_) => {
                        return Err(
                            "field `priority` is not \"normal\" or \"emergency\"".to_owned()
                        );
                    }
                },
            }),
            "call.answered" | "call.abandoned" => {
                let left = CallLeftQueue {
                    call_id: d.string("call_id")?,
                    queue: d.string("queue")?,
                    wait_seconds: d.seconds("wait_seconds")?,
                    site: d.opt_string("site")?,
                };
                if event_type == "call.answered" {
                    Self::CallAnswered(left)
                } else {
                    Self::CallAbandoned(left)
                }
            }
            "call.ended" => Self::CallEnded(CallEnded {
                call_id: d.string("call_id")?,
                queue: d.string("queue")?,
                talk_seconds: d.seconds("talk_seconds")?,
                resolved: d.opt_bool("resolved")?,
            }),
            "site.status" => Self::SiteStatus(SiteStatus {
                site: d.string("site")?,
                agents_staffed: d.count("agents_staffed")?,
                agents_available: d.count("agents_available")?,
                calls_waiting: d.opt_count("calls_waiting")?,
            }),
            "booking.requested" => {
                let slot = d.string("slot")?;
                chrono::DateTime::parse_from_rfc3339(&slot)
                    .map_err(|e| format!("field `slot` is not RFC 3339 ({e})"))?;
                d.string("center")?;
                if let Some(channel) = d.opt_string("channel")?
                    && channel != "phone"
                    && channel != "web"
                {
                    return Err("field `channel` is not \"phone\" or \"web\"".to_owned());
                }
                Self::BookingRequested {
                    booking_id: d.string("booking_id")?,
                }
            }
            "booking.cancelled" => Self::BookingCancelled {
                booking_id: d.string("booking_id")?,
            },
            _ => return Ok(None),
        };
        Ok(Some(event))
    }

    /// The queue a call event belongs to.
    pub fn queue(&self) -> Option<&str> {
        match self {
            Self::CallOffered(e) => Some(&e.queue),
            Self::CallAnswered(e) | Self::CallAbandoned(e) => Some(&e.queue),
            Self::CallEnded(e) => Some(&e.queue),
            _ => None,
        }
    }
}

struct Fields<'a>(&'a Map<String, Value>);

impl Fields<'_> {
    fn string(&self, name: &str) -> Result<String, String> {
        self.opt_string(name)?
            .ok_or_else(|| format!("required field `{name}` is missing"))
    }

    fn opt_string(&self, name: &str) -> Result<Option<String>, String> {
        match self.0.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) if s.is_empty() => Err(format!("field `{name}` is empty")),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(_) => Err(format!("field `{name}` is not a string")),
        }
    }

    fn opt_bool(&self, name: &str) -> Result<Option<bool>, String> {
        match self.0.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(_) => Err(format!("field `{name}` is not a boolean")),
        }
    }

    fn seconds(&self, name: &str) -> Result<f64, String> {
        match self.0.get(name) {
            None | Some(Value::Null) => Err(format!("required field `{name}` is missing")),
            Some(Value::Number(n)) => match n.as_f64() {
                Some(v) if v >= 0.0 && v.is_finite() => Ok(v),
                _ => Err(format!("field `{name}` must be a number ≥ 0")),
            },
            Some(_) => Err(format!("field `{name}` is not a number")),
        }
    }

    fn count(&self, name: &str) -> Result<u32, String> {
        self.opt_count(name)?
            .ok_or_else(|| format!("required field `{name}` is missing"))
    }

    fn opt_count(&self, name: &str) -> Result<Option<u32>, String> {
        match self.0.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Number(n)) => n
                .as_u64()
                .and_then(|v| u32::try_from(v).ok())
                .map(Some)
                .ok_or_else(|| format!("field `{name}` must be a whole number ≥ 0")),
            Some(_) => Err(format!("field `{name}` is not a number")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(ty: &str, v: Value) -> Result<Option<DomainEvent>, String> {
        DomainEvent::parse(ty, v.as_object().expect("object"))
    }

    #[test]
    fn custom_types_are_not_interpreted() {
        assert_eq!(parse("x.custom", json!({"any": 1})), Ok(None));
    }

    #[test]
    fn required_fields_and_ranges_are_checked() {
        let err = parse("call.answered", json!({"call_id":"c","queue":"q"})).expect_err("no wait");
        assert!(err.contains("wait_seconds"), "{err}");
        let err = parse(
            "call.abandoned",
            json!({"call_id":"c","queue":"q","wait_seconds":-1}),
        )
        .expect_err("negative");
        assert!(err.contains("≥ 0"), "{err}");
        let err = parse(
            "call.offered",
            json!({"call_id":"c","queue":"q","priority":"high"}),
        )
        .expect_err("bad priority");
        assert!(err.contains("priority"), "{err}");
        let err = parse(
            "booking.requested",
            json!({"booking_id":"b","center":"kl","slot":"tomorrow"}),
        )
        .expect_err("bad slot");
        assert!(err.contains("slot"), "{err}");
        let err = parse("site.status", json!({"site":"kl","agents_staffed":3}))
            .expect_err("no available");
        assert!(err.contains("agents_available"), "{err}");
    }

    #[test]
    fn reads_the_fields_the_core_uses() {
        let e = parse(
            "call.ended",
            json!({"call_id":"c","queue":"q","talk_seconds":120.5,"resolved":true}),
        )
        .expect("valid")
        .expect("typed");
        assert_eq!(
            e,
            DomainEvent::CallEnded(CallEnded {
                call_id: "c".into(),
                queue: "q".into(),
                talk_seconds: 120.5,
                resolved: Some(true)
            })
        );
    }
}
