//! The events an import writes: CONTRACT §2 call events in the CONTRACT §1 envelope, one
//! structured-mode CloudEvent per JSON line, as `leitstand replay` reads them.
//!
//! This module owns the output shape and nothing of the ACDs' formats.

use std::io::Write;

use chrono::{DateTime, FixedOffset, SecondsFormat};
use serde::Serialize;

use crate::ImportError;

/// `call.offered`: a call entered one of the tenant's queues.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CallOffered {
    /// The call: one queue entry.
    pub call_id: String,
    /// The Leitstand queue.
    pub queue: String,
    /// The provider site, when the import names one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub site: Option<String>,
    /// The caller's pseudonym, when the import has a key and the caller showed a number.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub caller_ref: Option<String>,
}

/// `call.answered`: an agent took the call.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CallAnswered {
    /// The call.
    pub call_id: String,
    /// The Leitstand queue.
    pub queue: String,
    /// The time in queue as the ACD reports it, whole seconds.
    pub wait_seconds: u64,
    /// The provider site, when the import names one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub site: Option<String>,
    /// The agent's pseudonym, when the import has a key.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub agent_ref: Option<String>,
}

/// `call.abandoned`: the call left the queue without reaching an agent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CallAbandoned {
    /// The call.
    pub call_id: String,
    /// The Leitstand queue.
    pub queue: String,
    /// The time in queue as the ACD reports it, whole seconds.
    pub wait_seconds: u64,
    /// The provider site, when the import names one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub site: Option<String>,
}

/// `call.ended`: the conversation ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CallEnded {
    /// The call.
    pub call_id: String,
    /// The Leitstand queue.
    pub queue: String,
    /// The time connected to the agent, whole seconds.
    pub talk_seconds: u64,
    /// The provider site, when the import names one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub site: Option<String>,
    /// Where the agent transferred the caller, when the call ended in a transfer.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub transferred_to: Option<String>,
}

/// The `data` of one imported event; its variant is the event's `type`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum CallData {
    /// `call.offered`.
    Offered(CallOffered),
    /// `call.answered`.
    Answered(CallAnswered),
    /// `call.abandoned`.
    Abandoned(CallAbandoned),
    /// `call.ended`.
    Ended(CallEnded),
}

impl CallData {
    /// The CloudEvents `type`.
    pub fn event_type(&self) -> &'static str {
        match self {
            Self::Offered(_) => "call.offered",
            Self::Answered(_) => "call.answered",
            Self::Abandoned(_) => "call.abandoned",
            Self::Ended(_) => "call.ended",
        }
    }

    /// The call the event belongs to (also the event's `subject`).
    pub fn call_id(&self) -> &str {
        match self {
            Self::Offered(d) => &d.call_id,
            Self::Answered(d) => &d.call_id,
            Self::Abandoned(d) => &d.call_id,
            Self::Ended(d) => &d.call_id,
        }
    }

    /// The Leitstand queue.
    pub fn queue(&self) -> &str {
        match self {
            Self::Offered(d) => &d.queue,
            Self::Answered(d) => &d.queue,
            Self::Abandoned(d) => &d.queue,
            Self::Ended(d) => &d.queue,
        }
    }

    /// The last part of the event's `id`: one event of each type per call.
    pub(crate) fn id_suffix(&self) -> &'static str {
        match self {
            Self::Offered(_) => "offered",
            Self::Answered(_) => "answered",
            Self::Abandoned(_) => "abandoned",
            Self::Ended(_) => "ended",
        }
    }

    /// The order of a call's events when they fall in the same second.
    pub(crate) fn rank(&self) -> u8 {
        match self {
            Self::Offered(_) => 0,
            Self::Answered(_) => 1,
            Self::Abandoned(_) => 2,
            Self::Ended(_) => 3,
        }
    }
}

/// One imported event with its CONTRACT §1 envelope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CloudEvent {
    /// `id`: `<call_id>/<offered|answered|abandoned|ended>`, a pure function of the ACD's
    /// record, so a second import of the same records gives duplicates, not new calls.
    pub id: String,
    /// `source`: the ACD, `asterisk/<tenant>[/<site>]` or `amazon-connect/<tenant>[/<site>]`.
    pub source: String,
    /// The `tenant` extension attribute.
    pub tenant: String,
    /// `time`, in the tenant's timezone.
    pub time: DateTime<FixedOffset>,
    /// `data`, and with it the `type`.
    pub data: CallData,
}

#[derive(Serialize)]
struct Line<'a> {
    specversion: &'static str,
    id: &'a str,
    source: &'a str,
    #[serde(rename = "type")]
    event_type: &'static str,
    tenant: &'a str,
    time: String,
    subject: &'a str,
    datacontenttype: &'static str,
    data: &'a CallData,
}

impl CloudEvent {
    pub(crate) fn new(
        source: &str,
        tenant: &str,
        time: DateTime<FixedOffset>,
        data: CallData,
    ) -> Self {
        Self {
            id: format!("{}/{}", data.call_id(), data.id_suffix()),
            source: source.to_owned(),
            tenant: tenant.to_owned(),
            time,
            data,
        }
    }

    /// The CloudEvents `type`.
    pub fn event_type(&self) -> &'static str {
        self.data.event_type()
    }

    /// `time` as written: RFC 3339 with the tenant's offset, whole seconds unless the ACD
    /// recorded fractions.
    pub fn time_rfc3339(&self) -> String {
        self.time.to_rfc3339_opts(SecondsFormat::AutoSi, false)
    }

    /// The event as one line of JSON (without the newline), attributes in the order of
    /// CONTRACT §1.
    pub fn to_json(&self) -> String {
        // Serialising plain strings and integers cannot fail; the fallback is never taken.
        serde_json::to_string(&self.line()).unwrap_or_default()
    }

    fn line(&self) -> Line<'_> {
        Line {
            specversion: "1.0",
            id: &self.id,
            source: &self.source,
            event_type: self.event_type(),
            tenant: &self.tenant,
            time: self.time_rfc3339(),
            subject: self.data.call_id(),
            datacontenttype: "application/json",
            data: &self.data,
        }
    }
}

/// Writes events as JSON Lines.
pub fn write_json_lines(events: &[CloudEvent], mut out: impl Write) -> Result<(), ImportError> {
    for event in events {
        serde_json::to_writer(&mut out, &event.line()).map_err(|e| ImportError::Write(e.into()))?;
        out.write_all(b"\n").map_err(ImportError::Write)?;
    }
    out.flush().map_err(ImportError::Write)
}

/// Puts events in time order, a call's events of one second in their natural order;
/// otherwise the order given is kept.
pub(crate) fn sort_by_time(events: &mut [CloudEvent]) {
    events.sort_by(|a, b| {
        a.time
            .cmp(&b.time)
            .then_with(|| a.data.rank().cmp(&b.data.rank()))
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_event_is_one_line_in_contract_order_without_absent_fields() {
        let time = DateTime::parse_from_rfc3339("2026-11-24T08:00:05+01:00").expect("valid");
        let event = CloudEvent::new(
            "asterisk/soest",
            "soest",
            time,
            CallData::Answered(CallAnswered {
                call_id: "c1".into(),
                queue: "stadt".into(),
                wait_seconds: 12,
                site: None,
                agent_ref: Some("a-00".into()),
            }),
        );
        assert_eq!(
            event.to_json(),
            r#"{"specversion":"1.0","id":"c1/answered","source":"asterisk/soest","type":"call.answered","tenant":"soest","time":"2026-11-24T08:00:05+01:00","subject":"c1","datacontenttype":"application/json","data":{"call_id":"c1","queue":"stadt","wait_seconds":12,"agent_ref":"a-00"}}"#
        );
        let mut out = Vec::new();
        write_json_lines(&[event.clone(), event], &mut out).expect("written");
        assert_eq!(out.iter().filter(|b| **b == b'\n').count(), 2);
    }
}
