//! Asterisk `queue_log`: reads the file `app_queue` writes
//! (`time|callid|queue|agent|event|data1|data2|…`) into queue entries and Leitstand events.
//!
//! This module owns the line format, the fields of each event as Asterisk writes them
//! (from 1.4 to today's releases) and the life of a queue entry; the mapping rules are
//! set out in the crate documentation. It knows nothing of Amazon Connect, nor of files:
//! [`QueueLog`] reads a whole log at once (an import), [`QueueLogReader`] one line at a
//! time with a state that can be saved and restored (the live bridge).

use std::collections::{HashMap, HashSet};
use std::io::{BufRead, Write};

use chrono::DateTime;
use serde::{Deserialize, Serialize};

use crate::event::{
    CallAbandoned, CallAnswered, CallData, CallEnded, CallOffered, CloudEvent, sort_by_time,
    write_json_lines,
};
use crate::queue_map::UnmappedQueues;
use crate::report::{Refusal, RefusalKind, UnfinishedCall};
use crate::{Import, ImportError, ImportReport};

/// How far (in seconds) a line may go back in time and still be read. Asterisk stamps a
/// line before it takes the file lock, so two threads logging across a second boundary
/// can write a line one second older than the line before it.
pub const CLOCK_SKEW_SECONDS: i64 = 1;

/// The `source` prefix of events from a `queue_log`.
const SOURCE: &str = "asterisk";

/// Why a queue entry left its queue without reaching an agent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum QueueExit {
    /// `ABANDON`: the caller hung up (or the call was taken out of the queue by a
    /// redirect, which `app_queue` logs alike).
    Abandon,
    /// `EXITWITHTIMEOUT`: the queue's time limit ran out and the dialplan went on.
    Timeout,
    /// `EXITEMPTY`: no agent could take calls any more (`leavewhenempty`).
    Empty,
    /// `EXITWITHKEY`: the caller pressed a key that leads out of the queue.
    Key,
    /// `WITHDRAW`: the call was withdrawn from the queue through the manager interface.
    Withdraw,
    /// `SYSCOMPAT`: Asterisk dropped the call because the channels could not be bridged.
    SystemDrop,
}

impl QueueExit {
    /// Whether `app_queue` counts this exit in its own abandoned figures
    /// (`record_abandoned`): every exit but the key.
    pub fn counted_abandoned_by_asterisk(self) -> bool {
        !matches!(self, Self::Key)
    }
}

/// Where a queue entry stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "kebab-case")]
pub enum EntryState {
    /// Entered and still waiting.
    Waiting,
    /// Answered (`CONNECT`) and still talking.
    Talking {
        /// The hold time of `CONNECT`.
        wait_seconds: u64,
    },
    /// Answered, and the conversation ended (`COMPLETECALLER`, `COMPLETEAGENT` or a
    /// transfer).
    Ended {
        /// The hold time of `CONNECT`.
        wait_seconds: u64,
        /// The call time of the ending line.
        talk_seconds: u64,
        /// Whether the conversation ended in a transfer.
        transferred: bool,
    },
    /// Left the queue without an agent.
    Left {
        /// How it left.
        exit: QueueExit,
        /// The wait time of the exit line (or, where Asterisk gives none, the time since
        /// the entry).
        wait_seconds: u64,
    },
}

impl EntryState {
    /// Whether the caller is still in the queue or with an agent.
    pub fn is_open(self) -> bool {
        matches!(self, Self::Waiting | Self::Talking { .. })
    }
}

/// One entry of a call into a queue: one Leitstand call.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueueEntry {
    /// The Leitstand call id: `<callid>/<asterisk queue>/<epoch of ENTERQUEUE>`.
    pub call_id: String,
    /// Asterisk's callid: the uniqueid of the caller's channel, by which the manager
    /// interface finds the channel.
    pub callid: String,
    /// The queue as Asterisk names it.
    pub asterisk_queue: String,
    /// The Leitstand queue.
    pub queue: String,
    /// The line of its `ENTERQUEUE` (in the file it was read from).
    pub line: u64,
    /// The time of its `ENTERQUEUE`, seconds since the epoch.
    pub entered: i64,
    /// Where it stands.
    pub state: EntryState,
}

/// An outbound call an agent reported into a queue (`OUTCALL`, written by `QueueUpdate`).
/// It gives no Leitstand event, but Asterisk counts it in its queue figures.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboundCall {
    /// The queue as Asterisk names it.
    pub asterisk_queue: String,
    /// The Leitstand queue.
    pub queue: String,
    /// Whether the status was `ANSWER`.
    pub answered: bool,
    /// The talk time given.
    pub talk_seconds: u64,
}

/// What one line of a `queue_log` gave.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Read {
    /// Events, in the order of the line (at most one today).
    Mapped(Vec<CloudEvent>),
    /// Nothing Leitstand needs: a pause, a reload, a ring, a blank line.
    Understood,
    /// A line of a queue the queue map leaves to other tenants (`unmapped = "skip"`); the
    /// Asterisk queue name.
    Skipped(String),
    /// A line that cannot be mapped, with its number and reason.
    Refused(Refusal),
}

/// A `queue_log` read whole: its events in time order, its queue entries and the report.
#[derive(Debug, Clone)]
pub struct QueueLog {
    events: Vec<CloudEvent>,
    entries: Vec<QueueEntry>,
    outbound: Vec<OutboundCall>,
    report: ImportReport,
}

impl QueueLog {
    /// The events, in time order.
    pub fn events(&self) -> &[CloudEvent] {
        &self.events
    }

    /// Every queue entry, in the order of their `ENTERQUEUE` lines.
    pub fn entries(&self) -> &[QueueEntry] {
        &self.entries
    }

    /// The outbound calls reported into queues.
    pub fn outbound(&self) -> &[OutboundCall] {
        &self.outbound
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
        let mut reader = QueueLogReader::new(import.clone());
        let mut report = ImportReport::default();
        let mut events = Vec::new();
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
            match reader.read_line(number, &buf) {
                Read::Mapped(mapped) => {
                    report.lines_mapped += 1;
                    report.events.count(&mapped);
                    events.extend(mapped);
                }
                Read::Understood => report.lines_understood += 1,
                Read::Skipped(queue) => report.skip(queue),
                Read::Refused(refusal) => report.refusals.push(refusal),
            }
        }
        // Lines within the clock skew may be a second out of order.
        sort_by_time(&mut events);
        report.unfinished = reader
            .entries
            .iter()
            .filter_map(|e| {
                match e.state {
                    EntryState::Waiting => Some(false),
                    EntryState::Talking { .. } => Some(true),
                    _ => None,
                }
                .map(|answered| UnfinishedCall {
                    line: e.line,
                    call_id: e.call_id.clone(),
                    answered,
                })
            })
            .collect();
        Ok(Self {
            events,
            entries: reader.entries,
            outbound: reader.outbound,
            report,
        })
    }
}

type Refused = (RefusalKind, String);

fn malformed(reason: impl Into<String>) -> Refused {
    (RefusalKind::Malformed, reason.into())
}

fn inconsistent(reason: impl Into<String>) -> Refused {
    (RefusalKind::Inconsistent, reason.into())
}

/// Events Asterisk writes that say nothing about a call's progress in its queue.
const UNDERSTOOD_WITHOUT_EVENT: &[&str] = &[
    "PAUSE",
    "UNPAUSE",
    "PAUSEALL",
    "UNPAUSEALL",
    "ADDMEMBER",
    "REMOVEMEMBER",
    "PENALTY",
    "RINGINUSE",
    "QUEUESTART",
    "CONFIGRELOAD",
    "AGENTLOGIN",
    "AGENTLOGOFF",
    "AGENTCALLBACKLOGIN",
    "AGENTCALLBACKLOGOFF",
    // Written by many dialplans (FreePBX among them) with QueueLog() before ENTERQUEUE.
    "DID",
];

/// One line split into its parts.
struct Line<'a> {
    time: i64,
    callid: &'a str,
    queue: &'a str,
    agent: &'a str,
    event: &'a str,
    data: Vec<&'a str>,
}

impl Line<'_> {
    fn field_count(&self, allowed: &[usize], names: &str) -> Result<(), Refused> {
        if allowed.contains(&self.data.len()) {
            Ok(())
        } else {
            Err(malformed(format!(
                "{} has {} data fields, Asterisk writes {names}",
                self.event,
                self.data.len()
            )))
        }
    }

    fn seconds(&self, index: usize, name: &str) -> Result<u64, Refused> {
        let raw = self.data.get(index).copied().unwrap_or_default();
        raw.trim().parse::<u64>().map_err(|_| {
            malformed(format!(
                "{name} of {} is not a whole number of seconds ≥ 0",
                self.event
            ))
        })
    }

    fn number(&self, index: usize, name: &str) -> Result<u64, Refused> {
        let raw = self.data.get(index).copied().unwrap_or_default();
        raw.trim()
            .parse::<u64>()
            .map_err(|_| malformed(format!("{name} of {} is not a whole number", self.event)))
    }
}

/// What a [`QueueLogReader`] must remember between lines, to be saved and restored: the
/// calls it knows and the latest time it read.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReaderState {
    /// The latest time of a line read, seconds since the epoch.
    pub latest_time: Option<i64>,
    /// The queue entries remembered, in the order of their `ENTERQUEUE` lines.
    pub entries: Vec<QueueEntry>,
}

/// Reads a `queue_log` one line at a time, remembering the calls in its queues.
///
/// An import reads a whole file with it; the live bridge reads lines as Asterisk writes
/// them, saves [`QueueLogReader::state`] with its position in the file, and after a
/// restart goes on with [`QueueLogReader::restore`] exactly where it stopped: a call that
/// entered a queue before the restart keeps its call id.
#[derive(Debug, Clone)]
pub struct QueueLogReader {
    import: Import,
    source: String,
    entries: Vec<QueueEntry>,
    outbound: Vec<OutboundCall>,
    /// The latest entry of each callid.
    latest_entry: HashMap<String, usize>,
    call_ids: HashSet<String>,
    latest_time: Option<i64>,
}

impl QueueLogReader {
    /// A reader that knows no call yet.
    pub fn new(import: Import) -> Self {
        Self::restore(import, ReaderState::default())
    }

    /// A reader that goes on from a saved state.
    pub fn restore(import: Import, state: ReaderState) -> Self {
        let mut reader = Self {
            source: import.source(SOURCE),
            import,
            entries: state.entries,
            outbound: Vec::new(),
            latest_entry: HashMap::new(),
            call_ids: HashSet::new(),
            latest_time: state.latest_time,
        };
        reader.index();
        reader
    }

    /// What to save to go on later with [`QueueLogReader::restore`].
    pub fn state(&self) -> ReaderState {
        ReaderState {
            latest_time: self.latest_time,
            entries: self.entries.clone(),
        }
    }

    /// The import's settings.
    pub fn import(&self) -> &Import {
        &self.import
    }

    /// The entry of the Leitstand call `call_id`, while it is remembered.
    pub fn entry(&self, call_id: &str) -> Option<&QueueEntry> {
        // The callid is the call id's first part; its latest entry is the one to look at.
        let callid = call_id.split('/').next()?;
        self.latest_entry
            .get(callid)
            .map(|&i| &self.entries[i])
            .filter(|e| e.call_id == call_id)
    }

    /// The calls still waiting in a queue.
    pub fn waiting(&self) -> impl Iterator<Item = &QueueEntry> {
        self.entries
            .iter()
            .filter(|e| e.state == EntryState::Waiting)
    }

    /// Forgets the calls that are over (left their queue, or ended) and entered more than
    /// `keep_seconds` before the latest line, and the outbound calls: a reader that follows
    /// a log for months keeps only the calls still open and the recent ones, whose late
    /// lines it can still judge.
    pub fn forget_finished(&mut self, keep_seconds: i64) {
        let Some(latest) = self.latest_time else {
            return;
        };
        let cutoff = latest.saturating_sub(keep_seconds);
        self.entries
            .retain(|e| e.state.is_open() || e.entered >= cutoff);
        self.outbound.clear();
        self.index();
    }

    fn index(&mut self) {
        self.latest_entry = self
            .entries
            .iter()
            .enumerate()
            .map(|(i, e)| (e.callid.clone(), i))
            .collect();
        self.call_ids = self.entries.iter().map(|e| e.call_id.clone()).collect();
    }

    /// Reads line `number` (its bytes, with or without the line end). A refused line
    /// changes nothing.
    pub fn read_line(&mut self, number: u64, bytes: &[u8]) -> Read {
        let mut end = bytes.len();
        while end > 0 && matches!(bytes[end - 1], b'\n' | b'\r') {
            end -= 1;
        }
        // Caller names may come in any encoding; they are only hashed, never written.
        let text = String::from_utf8_lossy(&bytes[..end]);
        match self.line(&text, number) {
            Ok(read) => read,
            Err((kind, reason)) => Read::Refused(Refusal {
                line: number,
                kind,
                reason,
            }),
        }
    }

    fn line(&mut self, text: &str, number: u64) -> Result<Read, Refused> {
        if text.trim().is_empty() {
            return Ok(Read::Understood);
        }
        let mut parts = text.split('|');
        let mut next = || parts.next();
        let (Some(time), Some(callid), Some(queue), Some(agent), Some(event)) =
            (next(), next(), next(), next(), next())
        else {
            return Err(malformed(
                "fewer than the 5 fields time|callid|queue|agent|event",
            ));
        };
        let line = Line {
            time: time
                .trim()
                .parse::<i64>()
                .ok()
                .filter(|t| DateTime::from_timestamp(*t, 0).is_some())
                .ok_or_else(|| malformed("the time is not a number of seconds since 1970"))?,
            callid,
            queue,
            agent,
            event,
            data: parts.collect(),
        };
        if let Some(latest) = self.latest_time
            && line.time + CLOCK_SKEW_SECONDS < latest
        {
            return Err((
                RefusalKind::TimeBackwards,
                format!(
                    "the time is {} s before that of an earlier line",
                    latest - line.time
                ),
            ));
        }
        let result = self.event(number, &line)?;
        self.latest_time = Some(self.latest_time.map_or(line.time, |t| t.max(line.time)));
        Ok(result)
    }

    fn event(&mut self, number: u64, line: &Line<'_>) -> Result<Read, Refused> {
        // With a map, every line of a queue the map does not name is another tenant's.
        let queue = if line.queue == "NONE" {
            None
        } else {
            match self.import.queue_map().queue(line.queue) {
                Some(queue) => Some(queue),
                None if self.import.queue_map().unmapped() == UnmappedQueues::Skip => {
                    return Ok(Read::Skipped(line.queue.to_owned()));
                }
                None => {
                    return Err((
                        RefusalKind::UnmappedQueue,
                        format!("queue {:?} is not in the queue map", line.queue),
                    ));
                }
            }
        };
        let call_queue = || {
            queue
                .clone()
                .ok_or_else(|| malformed(format!("{} without a queue", line.event)))
        };
        let mapped = |event: CloudEvent| Read::Mapped(vec![event]);
        match line.event {
            "ENTERQUEUE" => self.enter(number, line, call_queue()?).map(mapped),
            "CONNECT" => self.connect(line).map(mapped),
            "ABANDON" => {
                line.field_count(&[3], "3 (position|origposition|waittime)")?;
                self.leave(line, QueueExit::Abandon, Some(2)).map(mapped)
            }
            "EXITWITHTIMEOUT" => {
                // Asterisk up to 13 wrote only the position on some paths.
                line.field_count(
                    &[1, 3],
                    "1 (position) or 3 (position|origposition|waittime)",
                )?;
                let wait = (line.data.len() == 3).then_some(2);
                self.leave(line, QueueExit::Timeout, wait).map(mapped)
            }
            "EXITEMPTY" => {
                line.field_count(&[3], "3 (position|origposition|waittime)")?;
                self.leave(line, QueueExit::Empty, Some(2)).map(mapped)
            }
            "EXITWITHKEY" => {
                // Before Asterisk 12: key|position.
                line.field_count(
                    &[2, 4],
                    "2 (key|position) or 4 (key|position|origposition|waittime)",
                )?;
                let wait = (line.data.len() == 4).then_some(3);
                self.leave(line, QueueExit::Key, wait).map(mapped)
            }
            "WITHDRAW" => {
                if line.data.len() < 3 {
                    line.field_count(&[4], "4 (position|origposition|waittime|info)")?;
                }
                self.leave(line, QueueExit::Withdraw, Some(2)).map(mapped)
            }
            "SYSCOMPAT" => self.leave(line, QueueExit::SystemDrop, None).map(mapped),
            "COMPLETECALLER" | "COMPLETEAGENT" => {
                // Asterisk 1.4 wrote holdtime|calltime.
                line.field_count(&[2, 3], "2 or 3 (holdtime|calltime|origposition)")?;
                let talk = line.seconds(1, "calltime")?;
                self.end(line, talk, None).map(mapped)
            }
            "TRANSFER" => {
                // Asterisk 1.4 to 11: extension|context|holdtime|calltime[|origposition].
                line.field_count(
                    &[4, 5],
                    "4 or 5 (extension|context|holdtime|calltime|origposition)",
                )?;
                let talk = line.seconds(3, "calltime")?;
                let target = format!("{}@{}", line.data[0], line.data[1]);
                self.end(line, talk, Some(target)).map(mapped)
            }
            "BLINDTRANSFER" => {
                line.field_count(&[5], "5 (extension|context|holdtime|calltime|origposition)")?;
                let talk = line.seconds(3, "calltime")?;
                let target = format!("{}@{}", line.data[0], line.data[1]);
                self.end(line, talk, Some(target)).map(mapped)
            }
            "ATTENDEDTRANSFER" => {
                // BRIDGE|bridge or APP|application (5 fields), LINK|channel|channel (6),
                // then holdtime|calltime|origposition. None of these names a dialled
                // target, and channel names are never written, so the target is
                // "attended" for the queue map to name.
                line.field_count(
                    &[5, 6],
                    "5 or 6 (BRIDGE|…, APP|… or LINK|…|…, then holdtime|calltime|origposition)",
                )?;
                let talk = line.seconds(line.data.len() - 2, "calltime")?;
                self.end(line, talk, Some("attended".to_owned()))
                    .map(mapped)
            }
            "RINGNOANSWER" | "RINGCANCELED" => {
                line.field_count(&[1], "1 (ring time in milliseconds)")?;
                line.number(0, "the ring time")?;
                self.waiting_entry(line)?;
                Ok(Read::Understood)
            }
            "AGENTDUMP" => {
                // The agent hung up before the caller was connected; the caller waits on.
                self.waiting_entry(line)?;
                Ok(Read::Understood)
            }
            "OUTCALL" => {
                if line.data.len() < 2 {
                    line.field_count(&[3], "3 or more (status|talktime|params)")?;
                }
                let talk_seconds = line.seconds(1, "talktime")?;
                self.outbound.push(OutboundCall {
                    asterisk_queue: line.queue.to_owned(),
                    queue: call_queue()?,
                    answered: line.data[0].eq_ignore_ascii_case("ANSWER"),
                    talk_seconds,
                });
                Ok(Read::Understood)
            }
            other if UNDERSTOOD_WITHOUT_EVENT.contains(&other) => Ok(Read::Understood),
            other => Err((
                RefusalKind::UnknownEvent,
                format!("{other:?} is not an event Asterisk's app_queue writes"),
            )),
        }
    }

    fn enter(
        &mut self,
        number: u64,
        line: &Line<'_>,
        queue: String,
    ) -> Result<CloudEvent, Refused> {
        // url|callerid, from Asterisk 1.8 |position, with log_caller_id_name |callername.
        line.field_count(&[2, 3, 4], "2 to 4 (url|callerid|position|callername)")?;
        if line.data.len() >= 3 {
            line.number(2, "the position")?;
        }
        if line.callid.is_empty() || line.callid == "NONE" {
            return Err(malformed("ENTERQUEUE without a callid"));
        }
        if line.callid.contains('/') {
            // The call id's parts are separated by '/'; Asterisk's uniqueids hold none.
            return Err(malformed("the callid holds a '/'"));
        }
        if let Some(open) = self.open_entry(line.callid) {
            return Err(inconsistent(format!(
                "the callid entered queue {:?} at line {} and has not left it",
                open.asterisk_queue, open.line
            )));
        }
        let base = format!("{}/{}/{}", line.callid, line.queue, line.time);
        let mut call_id = base.clone();
        let mut n = 1;
        // Only a callid entering the same queue twice within one second needs this.
        while self.call_ids.contains(&call_id) {
            n += 1;
            call_id = format!("{base}-{n}");
        }
        let caller_ref = self
            .import
            .pseudonym_key()
            .and_then(|k| k.caller_ref(line.data[1]));
        let event = self.event_at(
            line.time,
            CallData::Offered(CallOffered {
                call_id: call_id.clone(),
                queue: queue.clone(),
                site: self.site(),
                caller_ref,
            }),
        );
        self.call_ids.insert(call_id.clone());
        self.latest_entry
            .insert(line.callid.to_owned(), self.entries.len());
        self.entries.push(QueueEntry {
            call_id,
            callid: line.callid.to_owned(),
            asterisk_queue: line.queue.to_owned(),
            queue,
            line: number,
            entered: line.time,
            state: EntryState::Waiting,
        });
        Ok(event)
    }

    fn connect(&mut self, line: &Line<'_>) -> Result<CloudEvent, Refused> {
        // holdtime|bridged channel uniqueid, from Asterisk 1.6 |ringtime.
        line.field_count(&[2, 3], "2 or 3 (holdtime|bridged channel|ringtime)")?;
        let wait_seconds = line.seconds(0, "holdtime")?;
        if line.data.len() == 3 {
            line.number(2, "ringtime")?;
        }
        let index = self.waiting_entry(line)?;
        let agent_ref = self
            .import
            .pseudonym_key()
            .and_then(|k| k.agent_ref(line.agent));
        let site = self.site();
        let entry = &mut self.entries[index];
        entry.state = EntryState::Talking { wait_seconds };
        let data = CallData::Answered(CallAnswered {
            call_id: entry.call_id.clone(),
            queue: entry.queue.clone(),
            wait_seconds,
            site,
            agent_ref,
        });
        Ok(self.event_at(line.time, data))
    }

    fn leave(
        &mut self,
        line: &Line<'_>,
        exit: QueueExit,
        wait_field: Option<usize>,
    ) -> Result<CloudEvent, Refused> {
        let wait = match wait_field {
            Some(index) => Some(line.seconds(index, "waittime")?),
            None => None,
        };
        let index = self.waiting_entry(line)?;
        let site = self.site();
        let entry = &mut self.entries[index];
        let wait_seconds =
            wait.unwrap_or_else(|| u64::try_from(line.time - entry.entered).unwrap_or(0));
        entry.state = EntryState::Left { exit, wait_seconds };
        let data = CallData::Abandoned(CallAbandoned {
            call_id: entry.call_id.clone(),
            queue: entry.queue.clone(),
            wait_seconds,
            site,
        });
        Ok(self.event_at(line.time, data))
    }

    fn end(
        &mut self,
        line: &Line<'_>,
        talk_seconds: u64,
        target: Option<String>,
    ) -> Result<CloudEvent, Refused> {
        let index = self.entry_of(line)?;
        let wait_seconds = match self.entries[index].state {
            EntryState::Talking { wait_seconds } => wait_seconds,
            EntryState::Waiting => {
                return Err(inconsistent(format!(
                    "{} for a call no agent answered (no CONNECT)",
                    line.event
                )));
            }
            EntryState::Ended { .. } | EntryState::Left { .. } => {
                return Err(inconsistent(format!(
                    "{} for a call that has already ended",
                    line.event
                )));
            }
        };
        let transferred_to = target
            .as_deref()
            .map(|t| self.import.queue_map().transfer_target(t));
        let site = self.site();
        let entry = &mut self.entries[index];
        entry.state = EntryState::Ended {
            wait_seconds,
            talk_seconds,
            transferred: target.is_some(),
        };
        let data = CallData::Ended(CallEnded {
            call_id: entry.call_id.clone(),
            queue: entry.queue.clone(),
            talk_seconds,
            site,
            transferred_to,
        });
        Ok(self.event_at(line.time, data))
    }

    /// The entry a call line belongs to: the latest entry of its callid, in its queue.
    fn entry_of(&self, line: &Line<'_>) -> Result<usize, Refused> {
        let index = *self.latest_entry.get(line.callid).ok_or_else(|| {
            (
                RefusalKind::UnknownCall,
                format!(
                    "{} for a call that entered no queue in this log",
                    line.event
                ),
            )
        })?;
        let entry = &self.entries[index];
        if entry.asterisk_queue != line.queue {
            return Err(inconsistent(format!(
                "{} in queue {:?} for a call last entered into queue {:?} (line {})",
                line.event, line.queue, entry.asterisk_queue, entry.line
            )));
        }
        Ok(index)
    }

    /// The entry of a call line that needs the call still waiting in its queue.
    fn waiting_entry(&self, line: &Line<'_>) -> Result<usize, Refused> {
        let index = self.entry_of(line)?;
        match self.entries[index].state {
            EntryState::Waiting => Ok(index),
            EntryState::Talking { .. } => Err(inconsistent(format!(
                "{} for a call an agent has already answered",
                line.event
            ))),
            EntryState::Ended { .. } | EntryState::Left { .. } => Err(inconsistent(format!(
                "{} for a call that has already left its queue",
                line.event
            ))),
        }
    }

    fn open_entry(&self, callid: &str) -> Option<&QueueEntry> {
        let entry = &self.entries[*self.latest_entry.get(callid)?];
        entry.state.is_open().then_some(entry)
    }

    fn site(&self) -> Option<String> {
        self.import.site().map(str::to_owned)
    }

    fn event_at(&self, time: i64, data: CallData) -> CloudEvent {
        // The time was checked when the line was read; the epoch is never reached.
        let utc = DateTime::from_timestamp(time, 0).unwrap_or_default();
        CloudEvent::new(
            &self.source,
            self.import.tenant(),
            self.import.local(utc),
            data,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{PseudonymKey, QueueMap};
    use serde_json::Value;

    /// 2026-11-24 08:00:00 in Berlin.
    const T0: i64 = 1_795_503_600;

    fn import() -> Import {
        Import::new("soest")
            .expect("valid")
            .with_site("soest")
            .expect("valid")
            .with_pseudonym_key(
                PseudonymKey::new(b"a test key of 32 bytes, no more.").expect("long"),
            )
    }

    /// Lines written with times relative to T0: `+5|callid|queue|…`.
    fn log(lines: &[&str]) -> String {
        lines
            .iter()
            .map(|l| match l.split_once('|') {
                Some((t, rest)) if t.starts_with('+') => {
                    let dt: i64 = t[1..].parse().expect("offset");
                    format!("{}|{rest}\n", T0 + dt)
                }
                _ => format!("{l}\n"),
            })
            .collect()
    }

    fn read_with(import: &Import, lines: &[&str]) -> QueueLog {
        import.read_queue_log(log(lines).as_bytes()).expect("read")
    }

    fn read(lines: &[&str]) -> QueueLog {
        read_with(&import(), lines)
    }

    fn json(event: &CloudEvent) -> Value {
        serde_json::from_str(&event.to_json()).expect("json")
    }

    fn types(log: &QueueLog) -> Vec<&'static str> {
        log.events().iter().map(CloudEvent::event_type).collect()
    }

    fn only_refusal(log: &QueueLog) -> (u64, RefusalKind, String) {
        assert_eq!(
            log.report().refusals.len(),
            1,
            "{:?}",
            log.report().refusals
        );
        let r = &log.report().refusals[0];
        (r.line, r.kind, r.reason.clone())
    }

    fn assert_accounted(log: &QueueLog) {
        let r = log.report();
        assert_eq!(
            r.lines_read,
            r.lines_mapped + r.lines_understood + r.lines_refused(),
            "{r:?}"
        );
    }

    #[test]
    fn an_answered_call_gives_offered_answered_and_ended() {
        let log = read(&[
            "+0|1795503590.12|stadt-115|NONE|ENTERQUEUE||+4930231250123|1",
            "+14|1795503590.12|stadt-115|PJSIP/2101|CONNECT|14|1795503609.13|5",
            "+200|1795503590.12|stadt-115|PJSIP/2101|COMPLETECALLER|14|186|1",
        ]);
        assert_eq!(types(&log), ["call.offered", "call.answered", "call.ended"]);
        let call_id = format!("1795503590.12/stadt-115/{T0}");
        let offered = json(&log.events()[0]);
        assert_eq!(offered["id"], format!("{call_id}/offered"));
        assert_eq!(offered["source"], "asterisk/soest/soest");
        assert_eq!(offered["tenant"], "soest");
        assert_eq!(offered["subject"], call_id.as_str());
        assert_eq!(offered["time"], "2026-11-24T08:00:00+01:00");
        assert_eq!(offered["data"]["queue"], "stadt-115");
        assert_eq!(offered["data"]["site"], "soest");
        let caller_ref = offered["data"]["caller_ref"].as_str().expect("a pseudonym");
        assert!(caller_ref.starts_with("p-"));
        let answered = json(&log.events()[1]);
        assert_eq!(answered["data"]["wait_seconds"], 14);
        assert_eq!(answered["time"], "2026-11-24T08:00:14+01:00");
        assert!(
            answered["data"]["agent_ref"]
                .as_str()
                .expect("ref")
                .starts_with("a-")
        );
        let ended = json(&log.events()[2]);
        assert_eq!(ended["data"]["talk_seconds"], 186);
        assert!(ended["data"].get("transferred_to").is_none());
        for event in log.events() {
            let line = event.to_json();
            for raw in ["4930231250123", "PJSIP", "2101"] {
                assert!(!line.contains(raw), "{raw} in {line}");
            }
        }
        assert_eq!(log.report().lines_mapped, 3);
        assert!(log.report().unfinished.is_empty());
        assert_accounted(&log);
    }

    #[test]
    fn every_exit_without_an_agent_is_an_abandon_with_the_reported_wait() {
        let cases: [(&str, u64); 8] = [
            ("+40|c|stadt-115|NONE|ABANDON|1|3|40", 40),
            ("+240|c|stadt-115|NONE|EXITWITHTIMEOUT|2|3|240", 240),
            // Asterisk up to 13 wrote only the position on some timeout paths.
            ("+241|c|stadt-115|NONE|EXITWITHTIMEOUT|2", 241),
            ("+30|c|stadt-115|NONE|EXITEMPTY|1|1|30", 30),
            ("+61|c|stadt-115|NONE|EXITWITHKEY|1|2|4|61", 61),
            ("+62|c|stadt-115|NONE|EXITWITHKEY|1|2", 62),
            ("+20|c|stadt-115|NONE|WITHDRAW|1|1|20|moved", 20),
            ("+9|c|stadt-115|PJSIP/2101|SYSCOMPAT|", 9),
        ];
        for (exit, wait) in cases {
            let log = read(&["+0|c|stadt-115|NONE|ENTERQUEUE||0302312501|1", exit]);
            assert_eq!(types(&log), ["call.offered", "call.abandoned"], "{exit}");
            let abandoned = json(&log.events()[1]);
            assert_eq!(abandoned["data"]["wait_seconds"], wait, "{exit}");
            assert!(abandoned["data"].get("agent_ref").is_none());
            assert!(log.report().refusals.is_empty(), "{exit}");
        }
    }

    #[test]
    fn transfers_end_the_call_and_a_new_entry_of_the_callid_is_a_new_call() {
        let map = QueueMap::from_toml(
            r#"
            [queues]
            "stadt-115" = "stadt"
            "kreis-115" = "kreis"
            [transfers]
            "3100@abteilungen" = "kfz-stelle"
            "kreis@queues" = "kreis"
            "#,
        )
        .expect("valid");
        let import = import().with_queue_map(map);
        let log = read_with(
            &import,
            &[
                "+0|c|stadt-115|NONE|ENTERQUEUE||0302312501|1",
                "+5|c|stadt-115|PJSIP/2101|CONNECT|5|d|3",
                "+65|c|stadt-115|PJSIP/2101|BLINDTRANSFER|kreis|queues|5|60|1",
                "+66|c|kreis-115|NONE|ENTERQUEUE||0302312501|1",
                "+70|c|kreis-115|PJSIP/2102|CONNECT|4|e|2",
                "+90|c|kreis-115|PJSIP/2102|BLINDTRANSFER|3100|abteilungen|4|20|1",
                "+100|x|stadt-115|NONE|ENTERQUEUE||0302312502|1",
                "+101|x|stadt-115|PJSIP/2103|CONNECT|1|f|1",
                "+150|x|stadt-115|PJSIP/2103|BLINDTRANSFER|004929211234567|extern|1|49|1",
                "+200|y|stadt-115|NONE|ENTERQUEUE||0302312503|1",
                "+201|y|stadt-115|PJSIP/2103|CONNECT|1|g|1",
                "+250|y|stadt-115|PJSIP/2103|ATTENDEDTRANSFER|BRIDGE|5c1f|1|49|1",
                "+300|z|stadt-115|NONE|ENTERQUEUE||0302312504|1",
                "+301|z|stadt-115|PJSIP/2103|CONNECT|1|h|1",
                "+350|z|stadt-115|PJSIP/2103|TRANSFER|3200|abteilungen|1|49",
            ],
        );
        assert!(
            log.report().refusals.is_empty(),
            "{:?}",
            log.report().refusals
        );
        let ended: Vec<Value> = log
            .events()
            .iter()
            .filter(|e| e.event_type() == "call.ended")
            .map(json)
            .collect();
        let targets: Vec<&str> = ended
            .iter()
            .map(|e| e["data"]["transferred_to"].as_str().expect("a transfer"))
            .collect();
        assert_eq!(
            targets,
            [
                "kreis",
                "kfz-stelle",
                "external",
                "attended",
                "3200@abteilungen"
            ]
        );
        assert_eq!(ended[0]["data"]["talk_seconds"], 60);
        let entries = log.entries();
        assert_eq!(entries[0].queue, "stadt");
        assert_eq!(entries[1].queue, "kreis");
        assert_ne!(entries[0].call_id, entries[1].call_id);
        assert_eq!(entries[1].call_id, format!("c/kreis-115/{}", T0 + 66));
    }

    #[test]
    fn lines_that_are_not_calls_are_understood_without_an_event() {
        let log = read(&[
            "+0|NONE|NONE|NONE|QUEUESTART|",
            "+1|1795503601.1|stadt-115|PJSIP/2101|ADDMEMBER|",
            "+2|NONE|NONE|PJSIP/2101|PAUSEALL|Mittagspause",
            "+2|NONE|stadt-115|PJSIP/2101|PAUSE|Mittagspause",
            "+3|NONE|stadt-115|PJSIP/2101|UNPAUSE|",
            "+4|c|stadt-115|NONE|ENTERQUEUE||0302312501|1",
            "+19|c|stadt-115|PJSIP/2101|RINGNOANSWER|15000",
            "+19|NONE|stadt-115|PJSIP/2101|PAUSE|Auto-Pause",
            "+22|c|stadt-115|PJSIP/2102|RINGCANCELED|2500",
            "+22|c|stadt-115|NONE|ABANDON|1|1|18",
            "+30|NONE|NONE|NONE|CONFIGRELOAD|",
            "",
            "+31|1795503601.1|stadt-115|PJSIP/2101|REMOVEMEMBER|",
        ]);
        let r = log.report();
        assert_eq!(r.lines_read, 13);
        assert_eq!(r.lines_mapped, 2);
        assert_eq!(r.lines_understood, 11);
        assert!(r.refusals.is_empty(), "{:?}", r.refusals);
        assert_eq!(types(&log), ["call.offered", "call.abandoned"]);
    }

    #[test]
    fn malformed_lines_are_refused_by_number_and_change_nothing() {
        let cases: [(&str, RefusalKind, &str); 9] = [
            (
                "+5|c|stadt-115|NONE|SOMETHING|1",
                RefusalKind::UnknownEvent,
                "SOMETHING",
            ),
            (
                "+5|c|stadt-115|NONE|ABANDON|1|1",
                RefusalKind::Malformed,
                "2 data fields",
            ),
            (
                "+5|c|stadt-115|NONE|ABANDON|1|1|-3",
                RefusalKind::Malformed,
                "waittime",
            ),
            (
                "+5|c|stadt-115|PJSIP/2101|CONNECT|x|d|1",
                RefusalKind::Malformed,
                "holdtime",
            ),
            (
                "yesterday|c|stadt-115|NONE|ABANDON|1|1|3",
                RefusalKind::Malformed,
                "time",
            ),
            ("+5|c|stadt-115|NONE", RefusalKind::Malformed, "fewer than"),
            (
                "+5|other|stadt-115|NONE|ABANDON|1|1|3",
                RefusalKind::UnknownCall,
                "entered no queue",
            ),
            (
                "+5|c|kreis-115|NONE|ABANDON|1|1|3",
                RefusalKind::Inconsistent,
                "kreis-115",
            ),
            (
                "+5|c|stadt-115|PJSIP/2101|COMPLETEAGENT|5|9|1",
                RefusalKind::Inconsistent,
                "no CONNECT",
            ),
        ];
        for (bad, kind, says) in cases {
            let log = read(&[
                "+0|c|stadt-115|NONE|ENTERQUEUE||0302312501|1",
                bad,
                "+9|c|stadt-115|NONE|ABANDON|1|1|9",
            ]);
            let (line, got, reason) = only_refusal(&log);
            assert_eq!((line, got), (2, kind), "{bad}: {reason}");
            assert!(reason.contains(says), "{bad}: {reason}");
            assert!(!reason.contains("0302312501"), "{reason}");
            assert_eq!(types(&log), ["call.offered", "call.abandoned"], "{bad}");
            assert_eq!(json(&log.events()[1])["data"]["wait_seconds"], 9);
            assert_accounted(&log);
        }
    }

    #[test]
    fn calls_in_the_wrong_state_are_refused() {
        let log = read(&[
            "+0|c|stadt-115|NONE|ENTERQUEUE||0302312501|1",
            "+1|c|kreis-115|NONE|ENTERQUEUE||0302312501|1",
            "+2|c|stadt-115|PJSIP/2101|CONNECT|2|d|1",
            "+3|c|stadt-115|PJSIP/2102|CONNECT|3|e|1",
            "+4|c|stadt-115|NONE|ABANDON|1|1|4",
            "+9|c|stadt-115|PJSIP/2101|COMPLETEAGENT|2|7|1",
            "+10|c|stadt-115|PJSIP/2101|COMPLETECALLER|2|8|1",
        ]);
        let lines: Vec<(u64, RefusalKind)> = log
            .report()
            .refusals
            .iter()
            .map(|r| (r.line, r.kind))
            .collect();
        assert_eq!(
            lines,
            [
                (2, RefusalKind::Inconsistent),
                (4, RefusalKind::Inconsistent),
                (5, RefusalKind::Inconsistent),
                (7, RefusalKind::Inconsistent),
            ]
        );
        assert_eq!(types(&log), ["call.offered", "call.answered", "call.ended"]);
    }

    #[test]
    fn time_may_step_back_one_second_but_no_more() {
        let log = read(&[
            "+10|c|stadt-115|NONE|ENTERQUEUE||0302312501|1",
            "+9|d|stadt-115|NONE|ENTERQUEUE||0302312502|2",
            "+4|e|stadt-115|NONE|ENTERQUEUE||0302312503|3",
            "+12|c|stadt-115|NONE|ABANDON|1|2|2",
        ]);
        let (line, kind, reason) = only_refusal(&log);
        assert_eq!((line, kind), (3, RefusalKind::TimeBackwards), "{reason}");
        // Written in time order all the same.
        let times: Vec<_> = log.events().iter().map(|e| e.time).collect();
        assert!(times.windows(2).all(|w| w[0] <= w[1]));
        assert_eq!(log.report().unfinished.len(), 1);
        assert_eq!(log.report().unfinished[0].line, 2);
    }

    #[test]
    fn queues_go_through_the_map_and_unmapped_ones_are_refused() {
        let map = QueueMap::from_toml("[queues]\n\"stadt-115\" = \"stadt\"\n").expect("valid");
        let log = read_with(
            &import().with_queue_map(map),
            &[
                "+0|c|stadt-115|NONE|ENTERQUEUE||0302312501|1",
                "+0|d|andere|NONE|ENTERQUEUE||0302312502|1",
                "+1|NONE|andere|PJSIP/2201|PAUSE|",
                "+5|d|andere|NONE|ABANDON|1|1|5",
                "+5|NONE|NONE|NONE|CONFIGRELOAD|",
            ],
        );
        assert_eq!(json(&log.events()[0])["data"]["queue"], "stadt");
        let refused: Vec<(u64, RefusalKind)> = log
            .report()
            .refusals
            .iter()
            .map(|r| (r.line, r.kind))
            .collect();
        assert_eq!(
            refused,
            [
                (2, RefusalKind::UnmappedQueue),
                (3, RefusalKind::UnmappedQueue),
                (4, RefusalKind::UnmappedQueue),
            ]
        );
        assert_accounted(&log);
    }

    #[test]
    fn without_a_key_there_are_no_references() {
        let import = Import::new("soest").expect("valid");
        let log = read_with(
            &import,
            &[
                "+0|c|stadt-115|NONE|ENTERQUEUE||0302312501|1",
                "+3|c|stadt-115|PJSIP/2101|CONNECT|3|d|1",
            ],
        );
        let offered = json(&log.events()[0]);
        assert!(offered["data"].get("caller_ref").is_none());
        assert!(offered["data"].get("site").is_none());
        assert_eq!(offered["source"], "asterisk/soest");
        assert!(json(&log.events()[1])["data"].get("agent_ref").is_none());
    }

    #[test]
    fn ids_do_not_depend_on_line_numbers() {
        let call = [
            "+100|c|stadt-115|NONE|ENTERQUEUE||0302312501|1",
            "+103|c|stadt-115|PJSIP/2101|CONNECT|3|d|1",
        ];
        let alone = read(&call);
        let mut later = vec![
            "+0|NONE|NONE|NONE|QUEUESTART|",
            "+1|NONE|NONE|PJSIP/2101|PAUSEALL|",
        ];
        later.extend(call);
        let after_others = read(&later);
        assert_eq!(alone.events(), after_others.events());
    }

    #[test]
    fn a_callid_entering_one_queue_twice_in_a_second_gets_distinct_calls() {
        let log = read(&[
            "+0|c|stadt-115|NONE|ENTERQUEUE||0302312501|1",
            "+0|c|stadt-115|NONE|EXITEMPTY|1|1|0",
            "+0|c|stadt-115|NONE|ENTERQUEUE||0302312501|1",
        ]);
        let ids: Vec<&str> = log.entries().iter().map(|e| e.call_id.as_str()).collect();
        assert_eq!(ids[1], format!("{}-2", ids[0]));
    }

    #[test]
    fn asterisk_counts_completed_calls_timeouts_as_abandons_and_ignores_key_exits() {
        let log = read(&[
            // completed within 20 s, completed late, still talking; abandoned within 20 s,
            // a late timeout, a key exit; an answered outbound call of 15 s, an unanswered one
            "+0|a|q|NONE|ENTERQUEUE||1|1",
            "+0|b|q|NONE|ENTERQUEUE||2|2",
            "+20|a|q|PJSIP/1|CONNECT|20|x|1",
            "+21|b|q|PJSIP/2|CONNECT|21|y|1",
            "+80|a|q|PJSIP/1|COMPLETECALLER|20|60|1",
            "+81|b|q|PJSIP/2|BLINDTRANSFER|3100|abteilungen|21|60|2",
            "+82|c|q|NONE|ENTERQUEUE||3|1",
            "+85|c|q|PJSIP/1|CONNECT|3|z|1",
            "+90|d|q|NONE|ENTERQUEUE||4|1",
            "+90|e|q|NONE|ENTERQUEUE||5|2",
            "+95|d|q|NONE|ABANDON|1|1|5",
            "+330|e|q|NONE|EXITWITHTIMEOUT|1|2|240",
            "+331|f|q|NONE|ENTERQUEUE||6|1",
            "+341|f|q|NONE|EXITWITHKEY|1|1|1|10",
            "+400|g|q|PJSIP/1|OUTCALL|ANSWER|15|0302312509",
            "+401|h|q|PJSIP/1|OUTCALL|NOANSWER|0|0302312509",
        ]);
        assert!(
            log.report().refusals.is_empty(),
            "{:?}",
            log.report().refusals
        );
        let figures = log.asterisk_service_level(20);
        assert_eq!(figures.len(), 1);
        let q = &figures[0];
        assert_eq!(
            (
                q.completed,
                q.completed_within,
                q.abandoned,
                q.abandoned_within
            ),
            (3, 2, 3, 1)
        );
        assert_eq!((q.exited_with_key, q.still_talking), (1, 1));
        assert_eq!(q.service_level, Some(2.0 / 3.0));
        assert_eq!(q.service_level_2, Some(3.0 / 6.0));
        let none = read(&["+0|a|q|NONE|ENTERQUEUE||1|1"]).asterisk_service_level(20);
        assert_eq!(
            (none[0].service_level, none[0].service_level_2),
            (None, None)
        );
    }

    #[test]
    fn a_map_that_skips_other_queues_counts_their_lines_without_refusing_them() {
        let map = QueueMap::from_toml("unmapped = \"skip\"\n[queues]\n\"stadt-115\" = \"stadt\"\n")
            .expect("valid");
        let log = read_with(
            &import().with_queue_map(map),
            &[
                "+0|c|stadt-115|NONE|ENTERQUEUE||0302312501|1",
                "+0|d|andere|NONE|ENTERQUEUE||0302312502|1",
                "+1|NONE|andere|PJSIP/2201|PAUSE|",
                "+5|d|andere|NONE|ABANDON|1|1|5",
            ],
        );
        let r = log.report();
        assert!(r.refusals.is_empty(), "{r}");
        assert_eq!(r.lines_skipped(), 3);
        assert_eq!(r.skipped.get("andere"), Some(&3));
        assert_eq!(
            r.lines_read,
            r.lines_mapped + r.lines_understood + r.lines_skipped() + r.lines_refused()
        );
        assert_eq!(types(&log), ["call.offered"]);
        assert!(r.to_string().contains("3 skipped as other tenants'"), "{r}");
    }

    #[test]
    fn a_reader_restored_from_its_saved_state_goes_on_as_if_never_stopped() {
        let lines = log(&[
            "+0|c|stadt-115|NONE|ENTERQUEUE||0302312501|1",
            "+1|d|kreis-115|NONE|ENTERQUEUE||0302312502|1",
            "+5|c|stadt-115|PJSIP/2101|CONNECT|5|x|2",
            "+9|d|kreis-115|NONE|ABANDON|1|1|8",
            "+60|c|stadt-115|PJSIP/2101|COMPLETEAGENT|5|55|1",
            "+61|d|stadt-115|NONE|ENTERQUEUE||0302312502|1",
            "+70|d|stadt-115|PJSIP/2102|CONNECT|9|y|3",
        ]);
        let lines: Vec<&str> = lines.lines().collect();
        let read_all = |reader: &mut QueueLogReader, from: usize, to: usize| -> Vec<CloudEvent> {
            let mut events = Vec::new();
            for (i, line) in lines.iter().enumerate().take(to).skip(from) {
                match reader.read_line(i as u64 + 1, line.as_bytes()) {
                    Read::Mapped(e) => events.extend(e),
                    Read::Refused(r) => panic!("{r}"),
                    _ => {}
                }
            }
            events
        };
        let mut whole = QueueLogReader::new(import());
        let once = read_all(&mut whole, 0, lines.len());

        let mut first = QueueLogReader::new(import());
        let mut twice = read_all(&mut first, 0, 3);
        let saved = serde_json::to_string(&first.state()).expect("state as JSON");
        let state: ReaderState = serde_json::from_str(&saved).expect("read back");
        let mut second = QueueLogReader::restore(import(), state);
        twice.extend(read_all(&mut second, 3, lines.len()));
        assert_eq!(once, twice);
        assert_eq!(second.state(), whole.state());

        // The call in talk and the one waiting stay; finished calls go once old enough.
        let waiting: Vec<&str> = second.waiting().map(|e| e.call_id.as_str()).collect();
        assert!(waiting.is_empty(), "{waiting:?}");
        second.forget_finished(0);
        let kept: Vec<String> = second
            .state()
            .entries
            .into_iter()
            .map(|e| e.callid)
            .collect();
        assert_eq!(kept, ["d"]);
        let talking = second
            .entry(&format!("d/stadt-115/{}", T0 + 61))
            .expect("kept");
        assert_eq!(talking.state, EntryState::Talking { wait_seconds: 9 });
        assert!(second.entry(&format!("c/stadt-115/{T0}")).is_none());
    }
}
