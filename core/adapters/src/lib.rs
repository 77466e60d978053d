//! Adapters between the ACDs providers already run and Leitstand: importers that turn an
//! ACD's records into Leitstand's inbound events, and the parts of a live bridge to
//! Asterisk — following its `queue_log`, and routing calls over its manager interface.
//!
//! A provider adopting Leitstand already runs an ACD, and no cross-vendor event standard
//! exists. This crate reads two ACDs' own records — Asterisk's `queue_log` and Amazon
//! Connect's contact trace records — and writes the CONTRACT §2 call events in the
//! CONTRACT §1 envelope, one structured-mode CloudEvent per JSON line, which
//! `leitstand replay` reads as they are. For Asterisk it also recomputes the service level
//! the way Asterisk itself reports it, so a provider can see why its old report and
//! Leitstand's differ. It reaches neither the broker nor the engine: the binary's
//! `leitstand bridge asterisk` joins [`follow`], [`QueueLogReader`], [`route`] and [`ami`]
//! to the broker.
//!
//! # Layout
//!
//! - [`import`](Import): the tenant's settings (id, timezone, site, queue map, pseudonym
//!   key), validated once, and the entry points `asterisk_queue_log` and `connect_ctr`
//!   (reader in, writer out, a report back).
//! - `queue_log`: Asterisk's `queue_log` lines, queue entries and their mapping; a whole
//!   log ([`QueueLog`]) or line by line with a state to save ([`QueueLogReader`]).
//! - `service_level`: Asterisk's own `SL` and `SL2` over a read log.
//! - `contact_trace`: Amazon Connect contact trace records and their mapping.
//! - `event`: the output — call events in their envelope, written as JSON Lines.
//! - `queue_map`: the TOML map of queue names and transfer targets.
//! - `pseudonym`: HMAC-SHA256 pseudonyms for callers and agents.
//! - `comparison`: Asterisk's own service level beside Leitstand's four policies.
//! - [`follow`]: a log followed as it grows, across rotation, and the bridge's checkpoint.
//! - [`ami`]: the Asterisk Manager Interface's line protocol over TCP.
//! - [`route`]: a `call.route` command as an AMI `Redirect`, and the dialplan side.
//! - `report`: what was read, mapped, understood and refused, line by line.
//! - `error`: what stops an import as a whole.
//!
//! ```no_run
//! use std::fs::File;
//! use std::io::BufReader;
//! use leitstand_adapters::{Import, ImportError, PseudonymKey, QueueMap};
//!
//! # fn main() -> Result<(), ImportError> {
//! let map = std::fs::read_to_string("examples/acd/queue-map.toml").map_err(ImportError::Read)?;
//! let key = std::fs::read("/etc/leitstand/pseudonym.key").map_err(ImportError::Read)?;
//! let import = Import::new("soest")?
//!     .with_site("soest")?
//!     .with_queue_map(QueueMap::from_toml(&map)?)
//!     .with_pseudonym_key(PseudonymKey::new(&key)?);
//! let log = BufReader::new(File::open("examples/acd/queue_log").map_err(ImportError::Read)?);
//! let report = import.asterisk_queue_log(log, std::io::stdout().lock())?;
//! eprint!("{report}");
//! # Ok(()) }
//! ```
//!
//! # What every import does
//!
//! - **One queue entry is one call.** Leitstand's SLA counts calls per queue, so each time
//!   a caller enters a queue — again after a transfer, or after leaving another queue — is
//!   a call of its own, with `call.offered` and then exactly one of `call.answered` or
//!   `call.abandoned`, and `call.ended` after an answer.
//! - **Every way out of a queue without an agent is `call.abandoned`**, with the wait the
//!   ACD reports: the caller hanging up, the queue's timeout, an empty queue, a key that
//!   leads out, a withdrawal, a dropped call, a contact flow moving the contact on. A call
//!   left standing as offered would look to Leitstand's plugins like a caller still
//!   waiting (an escalation would fire for someone long gone), and Leitstand's policies
//!   already decide how unanswered calls count: `exclude` leaves them all out, the others
//!   count them, `exclude-short` not the short ones.
//! - **Ids are a pure function of the record**: `id` is `<call_id>/<offered|answered|
//!   abandoned|ended>`, `source` is `asterisk/<tenant>` or `amazon-connect/<tenant>` with
//!   `/<site>` when a site is given (one site's ACD is one source). Nothing depends on line
//!   numbers, so importing a file twice, or a rotated log that repeats lines, gives
//!   duplicates that Leitstand drops, never new calls.
//! - **`time`** is RFC 3339 with the offset of the tenant's timezone
//!   ([`Import::DEFAULT_TIMEZONE`] Europe/Berlin unless set), whole seconds as the ACDs
//!   record them. Events are written in time order.
//! - **`tenant`** is the import's; **`site`**, when given, is on every event.
//! - **Queues** go through the [`QueueMap`]: without a map every queue keeps its ACD name;
//!   a map that names queues refuses the others (one ACD often serves several tenants, and
//!   a queue the map does not name is taken for another tenant's) unless it says
//!   `unmapped = "keep"`, or `unmapped = "skip"` for an ACD known to serve several
//!   tenants: their lines are counted per queue as skipped, not refused.
//! - **Personal data**: `caller_ref` and `agent_ref` are HMAC-SHA256 pseudonyms under the
//!   [`PseudonymKey`] the import is given, and are left out without one; a caller who
//!   withheld the number gets none. Raw numbers, caller names and channel names are never
//!   written, and a transfer to a telephone number the map does not name is written as
//!   `external`. Nothing here logs; reports name fields, never their contents.
//! - **Nothing is dropped silently**: every line is mapped (gave events), understood
//!   (needs no event), skipped as another tenant's (counted per queue) or refused with its
//!   line number and a [`Refusal`] reason, and the [`ImportReport`] counts all four; calls
//!   still open at the end of the input are listed.
//!
//! # Asterisk `queue_log`
//!
//! Lines are `time|callid|queue|agent|event|data…`, time in seconds since 1970, as
//! `app_queue` writes them from Asterisk 1.4 to today (older and newer field counts of the
//! same event are both read).
//!
//! | event | data | Leitstand |
//! |---|---|---|
//! | `ENTERQUEUE` | url, callerid, position[, caller name] | `call.offered`, `caller_ref` from the caller id |
//! | `CONNECT` | holdtime, bridged channel, ringtime | `call.answered`, `wait_seconds` = holdtime, `agent_ref` from the member |
//! | `ABANDON` | position, origposition, waittime | `call.abandoned`, `wait_seconds` = waittime |
//! | `EXITWITHTIMEOUT` | position[, origposition, waittime] | `call.abandoned` (the queue's timeout) |
//! | `EXITEMPTY` | position, origposition, waittime | `call.abandoned` (no agents left) |
//! | `EXITWITHKEY` | key, position[, origposition, waittime] | `call.abandoned` (the caller chose to leave) |
//! | `WITHDRAW` | position, origposition, waittime, info | `call.abandoned` |
//! | `SYSCOMPAT` | – | `call.abandoned`, wait = time since the entry |
//! | `COMPLETECALLER`, `COMPLETEAGENT` | holdtime, calltime[, origposition] | `call.ended`, `talk_seconds` = calltime |
//! | `TRANSFER` (≤ 11), `BLINDTRANSFER` | extension, context, holdtime, calltime[, origposition] | `call.ended` with `transferred_to` = `extension@context` through the map |
//! | `ATTENDEDTRANSFER` | `BRIDGE`/`APP`/`LINK` and their names, holdtime, calltime, origposition | `call.ended` with `transferred_to` = `attended` through the map (Asterisk names no dialled target, only bridges or channels) |
//! | `RINGNOANSWER`, `RINGCANCELED`, `AGENTDUMP` | ring time / – | understood, no event; the call waits on |
//! | `OUTCALL` | status, talktime, … | understood, no event (outbound); counted in Asterisk's own figures |
//! | `PAUSE`, `UNPAUSE`, `PAUSEALL`, `UNPAUSEALL`, `ADDMEMBER`, `REMOVEMEMBER`, `PENALTY`, `RINGINUSE`, `AGENTLOGIN`, `AGENTLOGOFF`, `QUEUESTART`, `CONFIGRELOAD`, `DID` | | understood, no event |
//!
//! - **`call_id`** is `<callid>/<queue>/<time of ENTERQUEUE>` (Asterisk's queue name), a
//!   function of the entering line alone. A callid that enters queues again — transferred
//!   by an agent into another queue, or sent on by the dialplan after a timeout — thus gets
//!   a new call id per entry, and the id of an entry does not change when a rotated log
//!   starts later and no longer holds the earlier entries (numbering a callid's entries
//!   1, 2, … would). Only a callid entering the same queue twice within one second would
//!   collide; the second then gets `-2` appended.
//! - **A transfer** ends the call (`call.ended` with `transferred_to`); when the transfer
//!   leads into a queue, the caller's `ENTERQUEUE` there is a new call.
//! - **Refused**: an unknown event, a wrong field count, a number that is not one, an
//!   event for a call that entered no queue in the log (or for another queue than the one
//!   it waits in), an event that does not fit the call's state (answered twice, ended
//!   unanswered, entering while still queued), and a time more than
//!   [`CLOCK_SKEW_SECONDS`] before an earlier line's (Asterisk stamps a line before it
//!   takes the file lock, so neighbouring lines of two threads may be a second apart the
//!   wrong way round).
//!
//! # Amazon Connect contact trace records
//!
//! One JSON record per line, fields as AWS documents them. A voice contact (`Channel`
//! `VOICE` or absent) that was queued (`Queue.EnqueueTimestamp`) is a call with
//! `call_id` = `ContactId`:
//!
//! - `call.offered` at `Queue.EnqueueTimestamp` in `Queue.Name` (else `Queue.ARN`) through
//!   the map, `caller_ref` from `CustomerEndpoint.Address`;
//! - with `Agent.ConnectedToAgentTimestamp`: `call.answered` then, `wait_seconds` =
//!   `Queue.Duration` (else dequeue − enqueue), `agent_ref` from `Agent.ARN` (else
//!   `Agent.Username`); and `call.ended` at `Agent.AfterContactWorkStartTimestamp` (else
//!   `DisconnectTimestamp`), `talk_seconds` = `Agent.AgentInteractionDuration` +
//!   `Agent.CustomerHoldDuration` (the time connected, as Asterisk's call time), with
//!   `transferred_to` from `TransferredToEndpoint` through the map (else `external`), or
//!   `internal` when the record names a `NextContactId` (a transfer inside Connect, whose
//!   new contact is a call of its own);
//! - without: `call.abandoned` at `Queue.DequeueTimestamp` with `Queue.Duration`, whatever
//!   the `DisconnectReason` — a caller hanging up and a flow moving the contact on alike.
//!
//! Contacts that never queued, outbound and monitoring contacts, chats and tasks are
//! understood without an event. Of several copies of one contact (Connect delivers at
//! least once, and again on updates) the one with the latest `LastUpdateTimestamp` counts
//! and the others are understood. Refused: a line that is not a record, a bad timestamp,
//! a queue without name or ARN, a queued contact with neither `Duration` nor dequeue time,
//! an answered contact without `AgentInteractionDuration`, timestamps out of order.
//!
//! # Asterisk's own service level
//!
//! [`QueueLog::asterisk_service_level`] gives `SL` and `SL2` per queue for a threshold T as
//! `app_queue` computes them; its documentation sets out the counting rules and how they
//! relate to Leitstand's four abandon policies. [`QueueLog::compare_service_levels`] puts
//! them beside Leitstand's four policies per Leitstand queue, counted by the SLA books as
//! `leitstand replay` counts them, and [`ComparisonTable`] prints both with what makes
//! them differ (`leitstand import asterisk-queue-log --sla-as-asterisk`).

#![forbid(unsafe_code)]

pub mod ami;
mod comparison;
mod contact_trace;
mod error;
mod event;
pub mod follow;
mod import;
mod pseudonym;
mod queue_log;
mod queue_map;
mod report;
pub mod route;
mod service_level;

pub use comparison::{ComparisonTable, ServiceLevelComparison};
pub use contact_trace::{
    AgentInfo, ContactTraceRecord, ContactTraceRecords, Endpoint, INTERNAL_TRANSFER, QueueInfo,
};
pub use error::ImportError;
pub use event::{
    CallAbandoned, CallAnswered, CallData, CallEnded, CallOffered, CloudEvent, write_json_lines,
};
pub use import::Import;
pub use pseudonym::PseudonymKey;
pub use queue_log::{
    CLOCK_SKEW_SECONDS, EntryState, OutboundCall, QueueEntry, QueueExit, QueueLog, QueueLogReader,
    Read, ReaderState,
};
pub use queue_map::{EXTERNAL_TRANSFER, QueueMap, UnmappedQueues};
pub use report::{EventCounts, ImportReport, Refusal, RefusalKind, UnfinishedCall};
pub use service_level::AsteriskServiceLevel;
