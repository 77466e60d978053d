//! What an import tells its user: how many lines it read, mapped, understood without an
//! event and refused, each refusal with its line number and reason, and the calls the
//! input left unfinished.
//!
//! No report holds a payload: reasons name fields and events, never a caller's number, an
//! agent's name or a record's contents.

use std::collections::BTreeMap;
use std::fmt;

use crate::event::{CallData, CloudEvent};

/// The kind of a refusal, for grouping and counting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RefusalKind {
    /// The line is not in the ACD's format: wrong field count, a bad number or timestamp,
    /// not JSON, a required field missing.
    Malformed,
    /// The event name is not one the ACD writes.
    UnknownEvent,
    /// The line belongs to a call that never entered a queue in this input.
    UnknownCall,
    /// The line does not fit the call's state (answered twice, ended before being
    /// answered, entering a queue while still in one, timestamps in the wrong order).
    Inconsistent,
    /// The line is further back in time than an earlier line allows.
    TimeBackwards,
    /// The queue is not in the queue map, and the map refuses unmapped queues.
    UnmappedQueue,
}

impl RefusalKind {
    /// A short code for the kind.
    pub fn code(self) -> &'static str {
        match self {
            Self::Malformed => "malformed",
            Self::UnknownEvent => "unknown-event",
            Self::UnknownCall => "unknown-call",
            Self::Inconsistent => "inconsistent",
            Self::TimeBackwards => "time-backwards",
            Self::UnmappedQueue => "unmapped-queue",
        }
    }
}

impl fmt::Display for RefusalKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// A line that could not be mapped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// 1-based line number in the input.
    pub line: u64,
    /// What kind of problem.
    pub kind: RefusalKind,
    /// One line saying exactly what is wrong, without the line's contents.
    pub reason: String,
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}: {}", self.line, self.kind, self.reason)
    }
}

/// A call whose queue entry or conversation had not ended when the input ended (the log
/// was cut, or the ACD restarted with callers in its queues).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnfinishedCall {
    /// The line that entered the call into its queue.
    pub line: u64,
    /// The call.
    pub call_id: String,
    /// Whether an agent had answered it.
    pub answered: bool,
}

/// The number of events written, by type.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EventCounts {
    /// `call.offered`.
    pub offered: u64,
    /// `call.answered`.
    pub answered: u64,
    /// `call.abandoned`.
    pub abandoned: u64,
    /// `call.ended`.
    pub ended: u64,
}

impl EventCounts {
    /// All events.
    pub fn total(&self) -> u64 {
        self.offered + self.answered + self.abandoned + self.ended
    }

    /// Counts `events` by type.
    pub fn count(&mut self, events: &[CloudEvent]) {
        for event in events {
            match event.data {
                CallData::Offered(_) => self.offered += 1,
                CallData::Answered(_) => self.answered += 1,
                CallData::Abandoned(_) => self.abandoned += 1,
                CallData::Ended(_) => self.ended += 1,
            }
        }
    }
}

/// The account of one import: every line read is mapped, understood, skipped or refused.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImportReport {
    /// Lines read.
    pub lines_read: u64,
    /// Lines that gave at least one event.
    pub lines_mapped: u64,
    /// Lines understood that give no event (agent pauses, reloads, rings, blank lines,
    /// contacts that never queued, superseded copies of a contact record).
    pub lines_understood: u64,
    /// Lines of queues the queue map leaves to other tenants (`unmapped = "skip"`), by the
    /// ACD's queue name: counted, not refused.
    pub skipped: BTreeMap<String, u64>,
    /// The lines refused, in input order.
    pub refusals: Vec<Refusal>,
    /// The events written.
    pub events: EventCounts,
    /// Calls the input left unfinished, in input order.
    pub unfinished: Vec<UnfinishedCall>,
}

impl ImportReport {
    /// Lines refused.
    pub fn lines_refused(&self) -> u64 {
        self.refusals.len() as u64
    }

    /// Lines skipped as other tenants'.
    pub fn lines_skipped(&self) -> u64 {
        self.skipped.values().sum()
    }

    /// Refusals counted by kind.
    pub fn refusals_by_kind(&self) -> BTreeMap<RefusalKind, u64> {
        let mut counts = BTreeMap::new();
        for refusal in &self.refusals {
            *counts.entry(refusal.kind).or_insert(0) += 1;
        }
        counts
    }

    pub(crate) fn refuse(&mut self, line: u64, kind: RefusalKind, reason: impl Into<String>) {
        self.refusals.push(Refusal {
            line,
            kind,
            reason: reason.into(),
        });
    }

    pub(crate) fn skip(&mut self, queue: String) {
        *self.skipped.entry(queue).or_insert(0) += 1;
    }
}

/// The report as the command line prints it: the counts, then every refused line with its
/// number and reason.
impl fmt::Display for ImportReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} lines read: {} mapped, {} understood without an event, ",
            self.lines_read, self.lines_mapped, self.lines_understood,
        )?;
        if !self.skipped.is_empty() {
            write!(f, "{} skipped as other tenants', ", self.lines_skipped())?;
        }
        writeln!(f, "{} refused", self.lines_refused())?;
        let e = &self.events;
        writeln!(
            f,
            "{} events written: call.offered {}, call.answered {}, call.abandoned {}, call.ended {}",
            e.total(),
            e.offered,
            e.answered,
            e.abandoned,
            e.ended
        )?;
        if !self.unfinished.is_empty() {
            let answered = self.unfinished.iter().filter(|u| u.answered).count();
            writeln!(
                f,
                "{} calls unfinished at the end of the input ({} waiting, {} talking)",
                self.unfinished.len(),
                self.unfinished.len() - answered,
                answered
            )?;
        }
        if !self.refusals.is_empty() {
            let kinds: Vec<String> = self
                .refusals_by_kind()
                .iter()
                .map(|(kind, n)| format!("{kind} {n}"))
                .collect();
            writeln!(f, "refused by kind: {}", kinds.join(", "))?;
            for refusal in &self.refusals {
                writeln!(f, "  {refusal}")?;
            }
        }
        if !self.skipped.is_empty() {
            let queues: Vec<String> = self
                .skipped
                .iter()
                .map(|(queue, n)| format!("{queue:?} {n}"))
                .collect();
            writeln!(f, "skipped lines by queue: {}", queues.join(", "))?;
        }
        Ok(())
    }
}
