//! Amazon Connect contact trace records (contact records): one JSON object per line, as a
//! Kinesis or Firehose export of the contact record stream delivers them, read into
//! Leitstand events.
//!
//! This module owns the fields of a record that Leitstand reads (as AWS documents them in
//! "Data model for Amazon Connect contact records"), the choice among copies of one record
//! and the mapping; it knows nothing of Asterisk. Fields it does not read are ignored, as
//! AWS asks of consumers: new ones appear without notice.

use std::collections::HashMap;
use std::io::{BufRead, Write};

use chrono::{DateTime, Duration, Utc};
use serde::Deserialize;

use crate::event::{
    CallAbandoned, CallAnswered, CallData, CallEnded, CallOffered, CloudEvent, sort_by_time,
    write_json_lines,
};
use crate::queue_map::UnmappedQueues;
use crate::report::RefusalKind;
use crate::{Import, ImportError, ImportReport};

/// The `source` prefix of events from contact trace records.
const SOURCE: &str = "amazon-connect";

/// The `transferred_to` of a contact an agent handed on inside Amazon Connect (the record
/// names a next contact and no external endpoint), unless the queue map names it.
pub const INTERNAL_TRANSFER: &str = "internal";

/// One contact trace record, as far as Leitstand reads it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ContactTraceRecord {
    /// `ContactId`: the contact, and the Leitstand call id.
    pub contact_id: String,
    /// `Channel`: `VOICE`, `CHAT`, `TASK`, …; a record without one is taken for voice.
    pub channel: Option<String>,
    /// `InitiationMethod`: `INBOUND`, `OUTBOUND`, `TRANSFER`, `QUEUE_TRANSFER`,
    /// `CALLBACK`, `API`, `MONITOR`, `DISCONNECT`.
    pub initiation_method: Option<String>,
    /// `InitiationTimestamp`, UTC.
    pub initiation_timestamp: Option<String>,
    /// `DisconnectTimestamp`, UTC.
    pub disconnect_timestamp: Option<String>,
    /// `DisconnectReason`, such as `CUSTOMER_DISCONNECT` or `CONTACT_FLOW_DISCONNECT`.
    pub disconnect_reason: Option<String>,
    /// `LastUpdateTimestamp`: of several copies of a record, the latest counts.
    pub last_update_timestamp: Option<String>,
    /// `Queue`, when the contact was queued.
    pub queue: Option<QueueInfo>,
    /// `Agent`, when the contact reached an agent.
    pub agent: Option<AgentInfo>,
    /// `CustomerEndpoint`: the caller's number.
    pub customer_endpoint: Option<Endpoint>,
    /// `TransferredToEndpoint`, when the contact was transferred out of Amazon Connect.
    pub transferred_to_endpoint: Option<Endpoint>,
    /// `NextContactId`, when the contact went on as another contact (a transfer).
    pub next_contact_id: Option<String>,
    /// `PreviousContactId`, when the contact continues another one.
    pub previous_contact_id: Option<String>,
}

/// `Queue` of a contact trace record.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct QueueInfo {
    /// `Name`.
    pub name: Option<String>,
    /// `ARN`.
    #[serde(rename = "ARN")]
    pub arn: Option<String>,
    /// `EnqueueTimestamp`, UTC.
    pub enqueue_timestamp: Option<String>,
    /// `DequeueTimestamp`, UTC: the caller hung up or an agent started interacting.
    pub dequeue_timestamp: Option<String>,
    /// `Duration`: whole seconds from enqueue to dequeue.
    pub duration: Option<u64>,
}

/// `Agent` of a contact trace record.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct AgentInfo {
    /// `ARN`.
    #[serde(rename = "ARN")]
    pub arn: Option<String>,
    /// `Username`.
    pub username: Option<String>,
    /// `ConnectedToAgentTimestamp`, UTC.
    pub connected_to_agent_timestamp: Option<String>,
    /// `AgentInteractionDuration`: whole seconds the agent interacted with the caller.
    pub agent_interaction_duration: Option<u64>,
    /// `CustomerHoldDuration`: whole seconds the caller was on hold with the agent.
    pub customer_hold_duration: Option<u64>,
    /// `AfterContactWorkStartTimestamp`, UTC: the conversation's end.
    pub after_contact_work_start_timestamp: Option<String>,
}

/// `CustomerEndpoint` or `TransferredToEndpoint`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Endpoint {
    /// `Address`: for `TELEPHONE_NUMBER`, an E.164 number.
    pub address: Option<String>,
    /// `Type`.
    #[serde(rename = "Type")]
    pub endpoint_type: Option<String>,
}

/// A file of contact trace records read: its events in time order and the report.
#[derive(Debug, Clone)]
pub struct ContactTraceRecords {
    events: Vec<CloudEvent>,
    report: ImportReport,
}

type Refused = (RefusalKind, String);

fn malformed(reason: impl Into<String>) -> Refused {
    (RefusalKind::Malformed, reason.into())
}

fn timestamp(raw: Option<&str>, field: &str) -> Result<Option<DateTime<Utc>>, Refused> {
    raw.map(|raw| {
        DateTime::parse_from_rfc3339(raw)
            .map(|t| t.with_timezone(&Utc))
            .map_err(|_| malformed(format!("{field} is not an RFC 3339 timestamp")))
    })
    .transpose()
}

/// The longest duration a record may give (a week): longer is a broken record, and far
/// longer would not fit a time at all.
const MAX_SECONDS: u64 = 7 * 24 * 3600;

/// A duration field of at most [`MAX_SECONDS`].
fn duration(value: u64, field: &str) -> Result<u64, Refused> {
    if value > MAX_SECONDS {
        Err(malformed(format!("{field} is more than a week")))
    } else {
        Ok(value)
    }
}

/// `t` plus `s` seconds (both checked to be in range by their readers).
fn after(t: DateTime<Utc>, s: u64) -> DateTime<Utc> {
    i64::try_from(s)
        .ok()
        .and_then(Duration::try_seconds)
        .and_then(|d| t.checked_add_signed(d))
        .unwrap_or(t)
}

/// What one record gives.
enum Mapped {
    /// Call events.
    Events(Vec<CloudEvent>),
    /// Nothing Leitstand needs (no queue, not a voice call, outbound).
    Understood,
    /// A queue the map leaves to other tenants.
    Skipped(String),
}

impl ContactTraceRecords {
    /// The events, in time order.
    pub fn events(&self) -> &[CloudEvent] {
        &self.events
    }

    /// The account of the lines read.
    pub fn report(&self) -> &ImportReport {
        &self.report
    }

    /// The report, giving up the rest.
    pub fn into_report(self) -> ImportReport {
        self.report
    }

    /// Writes the events as JSON Lines.
    pub fn write_events(&self, out: impl Write) -> Result<(), ImportError> {
        write_json_lines(&self.events, out)
    }

    pub(crate) fn read(import: &Import, mut input: impl BufRead) -> Result<Self, ImportError> {
        let mut report = ImportReport::default();
        let mut records: Vec<(u64, ContactTraceRecord, Option<DateTime<Utc>>)> = Vec::new();
        let mut buf = Vec::new();
        let mut number = 0u64;
        loop {
            buf.clear();
            if input
                .read_until(b'\n', &mut buf)
                .map_err(ImportError::Read)?
                == 0
            {
                break;
            }
            number += 1;
            report.lines_read += 1;
            if buf.iter().all(u8::is_ascii_whitespace) {
                report.lines_understood += 1;
                continue;
            }
            match parse(&buf) {
                Ok((record, updated)) => records.push((number, record, updated)),
                Err((kind, reason)) => report.refuse(number, kind, reason),
            }
        }

        // Amazon Connect delivers a record at least once and again when it changes; of the
        // copies of one contact the last updated counts (the later line on a tie).
        let mut latest: HashMap<&str, (u64, Option<DateTime<Utc>>)> = HashMap::new();
        for (number, record, updated) in &records {
            let slot = latest
                .entry(record.contact_id.as_str())
                .or_insert((*number, *updated));
            if (*updated, *number) >= (slot.1, slot.0) {
                *slot = (*number, *updated);
            }
        }
        let source = import.source(SOURCE);
        let mut events = Vec::new();
        let mut refusals = Vec::new();
        for (number, record, _) in &records {
            let winner = latest.get(record.contact_id.as_str()).map(|w| w.0);
            if winner != Some(*number) {
                report.lines_understood += 1;
                continue;
            }
            match map(import, &source, record) {
                Ok(Mapped::Understood) => report.lines_understood += 1,
                Ok(Mapped::Skipped(queue)) => report.skip(queue),
                Ok(Mapped::Events(mapped)) => {
                    report.lines_mapped += 1;
                    report.events.count(&mapped);
                    events.extend(mapped);
                }
                Err((kind, reason)) => refusals.push((*number, kind, reason)),
            }
        }
        for (number, kind, reason) in refusals {
            report.refuse(number, kind, reason);
        }
        report.refusals.sort_by_key(|r| r.line);
        // Records arrive in the order contacts finished; Leitstand reads events in time order.
        sort_by_time(&mut events);
        Ok(Self { events, report })
    }
}

/// Reads one line into a record and its `LastUpdateTimestamp`.
fn parse(line: &[u8]) -> Result<(ContactTraceRecord, Option<DateTime<Utc>>), Refused> {
    // serde's messages quote the offending value; only its position is reported.
    let record: ContactTraceRecord = serde_json::from_slice(line).map_err(|e| match e.classify() {
        serde_json::error::Category::Data => malformed(format!(
            "not a contact trace record: a field is missing or has the wrong type (near column {})",
            e.column()
        )),
        _ => malformed(format!("not a JSON object (column {})", e.column())),
    })?;
    if record.contact_id.trim().is_empty() {
        return Err(malformed("ContactId is empty"));
    }
    let updated = timestamp(
        record.last_update_timestamp.as_deref(),
        "LastUpdateTimestamp",
    )?;
    Ok((record, updated))
}

/// The events of one record; none for a contact that never waited in a queue.
fn map(import: &Import, source: &str, record: &ContactTraceRecord) -> Result<Mapped, Refused> {
    let channel = record.channel.as_deref().unwrap_or("VOICE");
    if !channel.eq_ignore_ascii_case("VOICE") {
        return Ok(Mapped::Understood);
    }
    let method = record.initiation_method.as_deref().unwrap_or("INBOUND");
    if method.eq_ignore_ascii_case("OUTBOUND") || method.eq_ignore_ascii_case("MONITOR") {
        return Ok(Mapped::Understood);
    }
    let Some(queue) = &record.queue else {
        return Ok(Mapped::Understood);
    };
    let Some(enqueued) = timestamp(queue.enqueue_timestamp.as_deref(), "Queue.EnqueueTimestamp")?
    else {
        return Ok(Mapped::Understood);
    };
    let acd_queue = queue
        .name
        .as_deref()
        .or(queue.arn.as_deref())
        .filter(|q| !q.trim().is_empty())
        .ok_or_else(|| malformed("Queue has neither Name nor ARN"))?;
    let Some(leitstand_queue) = import.queue_map().queue(acd_queue) else {
        if import.queue_map().unmapped() == UnmappedQueues::Skip {
            return Ok(Mapped::Skipped(acd_queue.to_owned()));
        }
        return Err((
            RefusalKind::UnmappedQueue,
            format!("queue {acd_queue:?} is not in the queue map"),
        ));
    };
    let dequeued = timestamp(queue.dequeue_timestamp.as_deref(), "Queue.DequeueTimestamp")?;
    if dequeued.is_some_and(|d| d < enqueued) {
        return Err(inconsistent(
            "Queue.DequeueTimestamp is before Queue.EnqueueTimestamp",
        ));
    }
    // Queue.Duration is the wait as Amazon Connect reports it.
    let wait_seconds = match (queue.duration, dequeued) {
        (Some(d), _) => duration(d, "Queue.Duration")?,
        (None, Some(d)) => u64::try_from((d - enqueued).num_seconds()).unwrap_or(0),
        (None, None) => {
            return Err(malformed(
                "Queue has an EnqueueTimestamp but neither Duration nor DequeueTimestamp",
            ));
        }
    };
    let site = import.site().map(str::to_owned);
    let call_id = record.contact_id.clone();
    let key = import.pseudonym_key();
    let at =
        |t: DateTime<Utc>, data| CloudEvent::new(source, import.tenant(), import.local(t), data);

    let caller_ref = record
        .customer_endpoint
        .as_ref()
        .and_then(|e| e.address.as_deref())
        .and_then(|number| key.and_then(|k| k.caller_ref(number)));
    let mut events = vec![at(
        enqueued,
        CallData::Offered(CallOffered {
            call_id: call_id.clone(),
            queue: leitstand_queue.clone(),
            site: site.clone(),
            caller_ref,
        }),
    )];

    let agent = record
        .agent
        .as_ref()
        .filter(|a| a.connected_to_agent_timestamp.is_some());
    let Some(agent) = agent else {
        let left = dequeued.unwrap_or_else(|| after(enqueued, wait_seconds));
        events.push(at(
            left,
            CallData::Abandoned(CallAbandoned {
                call_id,
                queue: leitstand_queue,
                wait_seconds,
                site,
            }),
        ));
        return Ok(Mapped::Events(events));
    };
    let connected = timestamp(
        agent.connected_to_agent_timestamp.as_deref(),
        "Agent.ConnectedToAgentTimestamp",
    )?
    .unwrap_or(enqueued);
    if connected < enqueued {
        return Err(inconsistent(
            "Agent.ConnectedToAgentTimestamp is before Queue.EnqueueTimestamp",
        ));
    }
    let interaction = agent.agent_interaction_duration.ok_or_else(|| {
        malformed("Agent has a ConnectedToAgentTimestamp but no AgentInteractionDuration")
    })?;
    let interaction = duration(interaction, "Agent.AgentInteractionDuration")?;
    let hold = duration(
        agent.customer_hold_duration.unwrap_or(0),
        "Agent.CustomerHoldDuration",
    )?;
    // Talk time is the time connected, as Asterisk's call time is: holds included.
    let talk_seconds = interaction + hold;
    let ended = timestamp(
        agent.after_contact_work_start_timestamp.as_deref(),
        "Agent.AfterContactWorkStartTimestamp",
    )?
    .or(timestamp(
        record.disconnect_timestamp.as_deref(),
        "DisconnectTimestamp",
    )?)
    .unwrap_or_else(|| after(connected, talk_seconds));
    if ended < connected {
        return Err(inconsistent(
            "the conversation ends before Agent.ConnectedToAgentTimestamp",
        ));
    }
    let transferred_to = match record
        .transferred_to_endpoint
        .as_ref()
        .and_then(|e| e.address.as_deref())
    {
        Some(address) => Some(import.queue_map().transfer_target(address)),
        None => record
            .next_contact_id
            .as_ref()
            .map(|_| import.queue_map().transfer_target(INTERNAL_TRANSFER)),
    };
    let agent_ref = agent
        .arn
        .as_deref()
        .or(agent.username.as_deref())
        .and_then(|a| key.and_then(|k| k.agent_ref(a)));
    events.push(at(
        connected,
        CallData::Answered(CallAnswered {
            call_id: call_id.clone(),
            queue: leitstand_queue.clone(),
            wait_seconds,
            site: site.clone(),
            agent_ref,
        }),
    ));
    events.push(at(
        ended,
        CallData::Ended(CallEnded {
            call_id,
            queue: leitstand_queue,
            talk_seconds,
            site,
            transferred_to,
        }),
    ));
    Ok(Mapped::Events(events))
}

fn inconsistent(reason: impl Into<String>) -> Refused {
    (RefusalKind::Inconsistent, reason.into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{PseudonymKey, QueueMap};
    use serde_json::{Value, json};

    fn import() -> Import {
        Import::new("soest")
            .expect("valid")
            .with_pseudonym_key(
                PseudonymKey::new(b"a test key of 32 bytes, no more.").expect("long"),
            )
            .with_queue_map(
                QueueMap::from_toml("[queues]\n\"Stadt Soest\" = \"stadt\"\n").expect("valid"),
            )
    }

    fn answered() -> Value {
        json!({
            "AWSContactTraceRecordFormatVersion": "2017-03-10",
            "ContactId": "5f0c0d3e-5a3c-4a4e-9f7e-0a1b2c3d4e5f",
            "Channel": "VOICE",
            "InitiationMethod": "INBOUND",
            "InitiationTimestamp": "2026-11-24T07:59:50Z",
            "DisconnectTimestamp": "2026-11-24T08:03:40Z",
            "DisconnectReason": "CUSTOMER_DISCONNECT",
            "LastUpdateTimestamp": "2026-11-24T08:04:10Z",
            "CustomerEndpoint": {"Address": "+4930231250123", "Type": "TELEPHONE_NUMBER"},
            "Queue": {
                "Name": "Stadt Soest",
                "ARN": "arn:aws:connect:eu-central-1:123456789012:instance/i/queue/q",
                "EnqueueTimestamp": "2026-11-24T08:00:00Z",
                "DequeueTimestamp": "2026-11-24T08:00:14Z",
                "Duration": 14
            },
            "Agent": {
                "ARN": "arn:aws:connect:eu-central-1:123456789012:instance/i/agent/a",
                "Username": "soest.2101",
                "ConnectedToAgentTimestamp": "2026-11-24T08:00:14Z",
                "AgentInteractionDuration": 180,
                "CustomerHoldDuration": 6,
                "AfterContactWorkStartTimestamp": "2026-11-24T08:03:20Z"
            },
            "TransferredToEndpoint": null,
            "SomeFieldAddedLater": {"x": 1}
        })
    }

    fn lines(records: &[Value]) -> String {
        records.iter().map(|r| format!("{r}\n")).collect()
    }

    fn read(records: &[Value]) -> ContactTraceRecords {
        import()
            .read_contact_trace_records(lines(records).as_bytes())
            .expect("read")
    }

    fn json_of(e: &CloudEvent) -> Value {
        serde_json::from_str(&e.to_json()).expect("json")
    }

    #[test]
    fn an_answered_contact_gives_offered_answered_and_ended() {
        let records = read(&[answered()]);
        let events: Vec<Value> = records.events().iter().map(json_of).collect();
        let types: Vec<&str> = events
            .iter()
            .map(|e| e["type"].as_str().expect("type"))
            .collect();
        assert_eq!(types, ["call.offered", "call.answered", "call.ended"]);
        let id = "5f0c0d3e-5a3c-4a4e-9f7e-0a1b2c3d4e5f";
        assert_eq!(events[0]["id"], format!("{id}/offered"));
        assert_eq!(events[0]["source"], "amazon-connect/soest");
        assert_eq!(events[0]["time"], "2026-11-24T09:00:00+01:00");
        assert_eq!(events[0]["data"]["queue"], "stadt");
        assert!(
            events[0]["data"]["caller_ref"]
                .as_str()
                .expect("ref")
                .starts_with("p-")
        );
        assert_eq!(events[1]["data"]["wait_seconds"], 14);
        assert!(
            events[1]["data"]["agent_ref"]
                .as_str()
                .expect("ref")
                .starts_with("a-")
        );
        assert_eq!(events[2]["data"]["talk_seconds"], 186);
        assert_eq!(events[2]["time"], "2026-11-24T09:03:20+01:00");
        for e in records.events() {
            let line = e.to_json();
            assert!(
                !line.contains("4930231250123") && !line.contains("soest.2101"),
                "{line}"
            );
        }
        assert_eq!(records.report().lines_mapped, 1);
    }

    #[test]
    fn a_contact_that_left_the_queue_unanswered_is_abandoned() {
        let mut r = answered();
        r["Agent"] = Value::Null;
        r["DisconnectReason"] = json!("CONTACT_FLOW_DISCONNECT");
        r["Queue"]["Duration"] = json!(240);
        r["Queue"]["DequeueTimestamp"] = json!("2026-11-24T08:04:00Z");
        let records = read(&[r]);
        let events: Vec<Value> = records.events().iter().map(json_of).collect();
        assert_eq!(events.len(), 2);
        assert_eq!(events[1]["type"], "call.abandoned");
        assert_eq!(events[1]["data"]["wait_seconds"], 240);
        assert_eq!(events[1]["time"], "2026-11-24T09:04:00+01:00");
    }

    #[test]
    fn transfers_name_their_target_through_the_map_and_never_a_number() {
        let mut external = answered();
        external["TransferredToEndpoint"] =
            json!({"Address": "+4929213031000", "Type": "TELEPHONE_NUMBER"});
        let mut internal = answered();
        internal["ContactId"] = json!("b");
        internal["NextContactId"] = json!("c");
        let records = read(&[external, internal]);
        let targets: Vec<Value> = records
            .events()
            .iter()
            .filter(|e| e.event_type() == "call.ended")
            .map(|e| json_of(e)["data"]["transferred_to"].clone())
            .collect();
        assert_eq!(targets, [json!("external"), json!("internal")]);
    }

    #[test]
    fn contacts_that_never_queued_are_understood_and_copies_superseded() {
        let mut ivr_only = answered();
        ivr_only["ContactId"] = json!("ivr");
        ivr_only["Queue"] = Value::Null;
        ivr_only["Agent"] = Value::Null;
        let mut outbound = answered();
        outbound["ContactId"] = json!("out");
        outbound["InitiationMethod"] = json!("OUTBOUND");
        let mut chat = answered();
        chat["ContactId"] = json!("chat");
        chat["Channel"] = json!("CHAT");
        // The first delivery, before after-contact work was known, then the update.
        let mut first = answered();
        first["LastUpdateTimestamp"] = json!("2026-11-24T08:03:41Z");
        first["Agent"]["AfterContactWorkStartTimestamp"] = Value::Null;
        let records = read(&[ivr_only, first, outbound, chat, answered()]);
        let r = records.report();
        assert_eq!(
            (r.lines_read, r.lines_mapped, r.lines_understood),
            (5, 1, 4)
        );
        assert!(r.refusals.is_empty());
        assert_eq!(r.events.offered, 1);
        let ended = json_of(&records.events()[2]);
        assert_eq!(ended["time"], "2026-11-24T09:03:20+01:00");
    }

    #[test]
    fn bad_records_are_refused_by_line_without_their_contents() {
        let mut no_duration = answered();
        no_duration["Queue"]["Duration"] = Value::Null;
        no_duration["Queue"]["DequeueTimestamp"] = Value::Null;
        let mut bad_time = answered();
        bad_time["Queue"]["EnqueueTimestamp"] = json!("gestern");
        let mut wrong_type = answered();
        wrong_type["Queue"]["Duration"] = json!("+4930231250123");
        let mut early = answered();
        early["Agent"]["ConnectedToAgentTimestamp"] = json!("2026-11-24T07:00:00Z");
        let mut unmapped = answered();
        unmapped["Queue"]["Name"] = json!("Andere");
        let mut no_talk = answered();
        no_talk["Agent"]["AgentInteractionDuration"] = Value::Null;
        let mut endless = answered();
        endless["Agent"] = Value::Null;
        endless["Queue"]["DequeueTimestamp"] = Value::Null;
        endless["Queue"]["Duration"] = json!(u64::MAX / 2);
        let mut bad = [
            no_duration,
            bad_time,
            wrong_type,
            early,
            unmapped,
            no_talk,
            endless,
        ];
        // Distinct contacts, so that no record supersedes another.
        for (i, record) in bad.iter_mut().enumerate() {
            record["ContactId"] = json!(format!("c{i}"));
        }
        let text = format!("{}not json\n{}", lines(&[answered()]), lines(&bad));
        let records = import()
            .read_contact_trace_records(text.as_bytes())
            .expect("read");
        let refused: Vec<(u64, RefusalKind)> = records
            .report()
            .refusals
            .iter()
            .map(|r| (r.line, r.kind))
            .collect();
        assert_eq!(
            refused,
            [
                (2, RefusalKind::Malformed),
                (3, RefusalKind::Malformed),
                (4, RefusalKind::Malformed),
                (5, RefusalKind::Malformed),
                (6, RefusalKind::Inconsistent),
                (7, RefusalKind::UnmappedQueue),
                (8, RefusalKind::Malformed),
                (9, RefusalKind::Malformed),
            ]
        );
        for r in &records.report().refusals {
            assert!(
                !r.reason.contains("4930231250123") && !r.reason.contains("gestern"),
                "{r}"
            );
        }
        assert_eq!(records.report().lines_mapped, 1);
    }

    #[test]
    fn a_map_that_skips_other_queues_counts_their_records() {
        let import = import().with_queue_map(
            QueueMap::from_toml("unmapped = \"skip\"\n[queues]\n\"Stadt Soest\" = \"stadt\"\n")
                .expect("valid"),
        );
        let mut other = answered();
        other["ContactId"] = json!("x");
        other["Queue"]["Name"] = json!("Andere");
        let records = import
            .read_contact_trace_records(lines(&[answered(), other]).as_bytes())
            .expect("read");
        let r = records.report();
        assert!(r.refusals.is_empty(), "{r}");
        assert_eq!((r.lines_mapped, r.lines_skipped()), (1, 1));
        assert_eq!(r.skipped.get("Andere"), Some(&1));
    }
}
