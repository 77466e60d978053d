//! Replay: the broker-free transport. Reads a JSON Lines file of CloudEvents, runs the whole
//! dispatch on it in file order with timers firing in event time, writes the commands as
//! JSON Lines and accounts the service levels.
//!
//! Owns the line format, duplicate suppression, the replay clock and the application of
//! outcomes (state commits, timers, commands) for a run without a broker. A bad line is
//! reported with its number and reason and the run goes on.

use std::collections::{BTreeMap, HashSet};
use std::io::{BufRead, Write};
use std::sync::Arc;

use anyhow::Context as _;
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::dispatch::{Dispatcher, Outcome, routing_key_tenant};
use crate::envelope::{self, Envelope, IntakeLimits, RejectReason, Rejection};
use crate::sla::{SlaBook, SlaReport};
use crate::state::{StateStore, Timer, TimerSchedule};

/// How a replay runs.
#[derive(Debug, Clone, Copy)]
pub struct ReplayOptions {
    /// Limits applied to every event.
    pub limits: IntakeLimits,
    /// After the last line, timers due at most this long after the last event time still
    /// fire; later ones are reported as pending.
    pub timer_horizon: chrono::Duration,
    /// The most timers one drain may fire; a plugin re-arming timers without end is stopped
    /// there.
    pub max_timer_firings: u64,
}

impl Default for ReplayOptions {
    fn default() -> Self {
        Self {
            limits: IntakeLimits::default(),
            timer_horizon: chrono::Duration::hours(24),
            max_timer_firings: 1_000_000,
        }
    }
}

/// Something the operator should hear about while the run goes on.
#[derive(Debug, Clone, PartialEq)]
pub enum Notice {
    /// A line was refused.
    Rejected {
        /// 1-based line number.
        line: u64,
        /// Why.
        rejection: Rejection,
    },
    /// A plugin failed on an event (or a timer); its decisions were dropped.
    PluginFailed {
        /// 1-based line number; `None` for a timer.
        line: Option<u64>,
        /// The tenant.
        tenant: String,
        /// The plugin.
        plugin: String,
        /// The event's id.
        event_id: String,
        /// What went wrong (`kind: detail`).
        failure: crate::sandbox::PluginFailure,
    },
    /// A line repeated the `source` and `id` of an earlier one and was skipped.
    Duplicate {
        /// 1-based line number.
        line: u64,
    },
    /// Timers stopped firing because of the firing limit.
    TimerStorm {
        /// Timers fired in the drain that hit the limit.
        fired: u64,
    },
}

/// What a replay did, by the numbers.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ReplayStats {
    /// Non-empty lines read.
    pub lines: u64,
    /// Events accepted and dispatched.
    pub processed: u64,
    /// Lines refused.
    pub rejected: u64,
    /// Lines skipped as duplicates.
    pub duplicates: u64,
    /// Refused lines by reason code.
    pub rejected_by_reason: BTreeMap<String, u64>,
    /// Plugin calls made.
    pub plugin_calls: u64,
    /// Plugin calls failed, by failure kind.
    pub plugin_failures: BTreeMap<String, u64>,
    /// Commands written.
    pub commands: u64,
    /// Timers fired.
    pub timers_fired: u64,
    /// Timers still pending at the end.
    pub timers_pending: u64,
}

/// The result of a replay: its numbers and its SLA report.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ReplayReport {
    /// Per tenant and queue (CONTRACT §6).
    pub tenants: Vec<crate::sla::TenantReport>,
    /// The run's numbers.
    pub replay: ReplayStats,
}

impl ReplayReport {
    /// The SLA part alone.
    pub fn sla(&self) -> SlaReport {
        SlaReport {
            tenants: self.tenants.clone(),
        }
    }
}

/// A replay in progress.
pub struct Replay<'a> {
    dispatcher: &'a Dispatcher,
    state: Arc<dyn StateStore>,
    options: ReplayOptions,
    timers: TimerSchedule,
    sla: SlaBook,
    seen: HashSet<[u8; 16]>,
    clock: Option<DateTime<Utc>>,
    stats: ReplayStats,
    commands: &'a mut dyn Write,
    notices: &'a mut dyn FnMut(Notice),
}

impl<'a> Replay<'a> {
    /// A replay through `dispatcher`, whose plugins keep their state in `state`. Commands go
    /// to `commands` as JSON Lines; notices to `notices`.
    pub fn new(
        dispatcher: &'a Dispatcher,
        state: Arc<dyn StateStore>,
        options: ReplayOptions,
        commands: &'a mut dyn Write,
        notices: &'a mut dyn FnMut(Notice),
    ) -> Self {
        let mut sla = SlaBook::new();
        for bundle in dispatcher.bundles() {
            sla.open(bundle);
        }
        Self {
            dispatcher,
            state,
            options,
            timers: TimerSchedule::new(),
            sla,
            seen: HashSet::new(),
            clock: None,
            stats: ReplayStats::default(),
            commands,
            notices,
        }
    }

    /// Reads every line of `input`, then fires the timers within the horizon.
    pub fn run(mut self, mut input: impl BufRead) -> anyhow::Result<ReplayReport> {
        let mut buf = Vec::new();
        let mut line_no = 0u64;
        loop {
            buf.clear();
            let n = input
                .read_until(b'\n', &mut buf)
                .context("reading events")?;
            if n == 0 {
                break;
            }
            line_no += 1;
            let line = trim_ascii(&buf);
            if line.is_empty() {
                continue;
            }
            self.line(line_no, line)?;
        }
        if let Some(last) = self.clock {
            let until = last + self.options.timer_horizon;
            self.drain_timers(until.timestamp_millis())?;
        }
        self.stats.timers_pending = self.timers.len() as u64;
        self.commands.flush().context("writing commands")?;
        Ok(ReplayReport {
            tenants: self.sla.report().tenants,
            replay: self.stats,
        })
    }

    fn line(&mut self, line_no: u64, line: &[u8]) -> anyhow::Result<()> {
        self.stats.lines += 1;
        let received = self.clock.unwrap_or_else(Utc::now);
        let (env, routing_key) = match parse_line(line, self.options.limits, received) {
            Ok(parsed) => parsed,
            Err(rejection) => {
                self.reject(line_no, rejection);
                return Ok(());
            }
        };
        let key = event_key(&env);
        if self.seen.contains(&key) {
            self.stats.duplicates += 1;
            (self.notices)(Notice::Duplicate { line: line_no });
            return Ok(());
        }
        // Timers due before this event fire first, so decisions interleave in event time.
        self.drain_timers(env.time.timestamp_millis())?;
        let routed = routing_key.as_deref().map(routing_key_tenant);
        let outcome = match self.dispatcher.dispatch(&env, routed) {
            Ok(o) => o,
            Err(rejection) => {
                self.reject(line_no, rejection);
                return Ok(());
            }
        };
        self.seen.insert(key);
        self.stats.processed += 1;
        self.clock = Some(self.clock.map_or(env.time, |c| c.max(env.time)));
        if let Some(bundle) = self.dispatcher.bundle(&env.tenant) {
            self.sla.record(bundle, &env);
        }
        self.apply(Some(line_no), &env, outcome)
    }

    fn reject(&mut self, line: u64, rejection: Rejection) {
        self.stats.rejected += 1;
        *self
            .stats
            .rejected_by_reason
            .entry(rejection.reason.code().to_owned())
            .or_default() += 1;
        (self.notices)(Notice::Rejected { line, rejection });
    }

    fn drain_timers(&mut self, until_ms: i64) -> anyhow::Result<()> {
        let mut fired = 0u64;
        while let Some(timer) = self.timers.pop_due(until_ms) {
            if fired >= self.options.max_timer_firings {
                // Put it back so it is reported as pending, and stop this drain.
                self.timers.set(timer);
                (self.notices)(Notice::TimerStorm { fired });
                break;
            }
            fired += 1;
            self.stats.timers_fired += 1;
            let Ok((env, outcome)) = self.dispatcher.fire(&timer) else {
                continue; // its tenant is gone; nothing can receive it
            };
            self.apply(None, &env, outcome)?;
        }
        Ok(())
    }

    fn apply(&mut self, line: Option<u64>, env: &Envelope, outcome: Outcome) -> anyhow::Result<()> {
        self.stats.plugin_calls += outcome.invoked as u64;
        for failed in outcome.failures {
            *self
                .stats
                .plugin_failures
                .entry(failed.failure.kind().to_owned())
                .or_default() += 1;
            (self.notices)(Notice::PluginFailed {
                line,
                tenant: env.tenant.to_string(),
                plugin: failed.plugin,
                event_id: env.id.clone(),
                failure: failed.failure,
            });
        }
        for (plugin, effects) in outcome.effects {
            self.state
                .commit(&env.tenant, &plugin, &effects.writes)
                .context("committing plugin state")?;
            for name in &effects.cancel_timers {
                self.timers.cancel(&env.tenant, &plugin, name);
            }
            for t in effects.set_timers {
                self.timers.set(Timer {
                    tenant: env.tenant.clone(),
                    plugin: plugin.clone(),
                    name: t.name,
                    at_ms: t.at_ms,
                    payload: t.payload,
                    seq: 0,
                });
            }
        }
        for command in &outcome.commands {
            serde_json::to_writer(&mut *self.commands, command).context("writing commands")?;
            self.commands.write_all(b"\n").context("writing commands")?;
            self.stats.commands += 1;
        }
        Ok(())
    }
}

/// Identifies an event by `source` and `id` in 16 bytes.
fn event_key(env: &Envelope) -> [u8; 16] {
    let mut h = Sha256::new();
    h.update((env.source.len() as u64).to_le_bytes());
    h.update(env.source.as_bytes());
    h.update(env.id.as_bytes());
    let digest = h.finalize();
    let mut key = [0u8; 16];
    key.copy_from_slice(&digest[..16]);
    key
}

fn trim_ascii(b: &[u8]) -> &[u8] {
    let start = b
        .iter()
        .position(|c| !c.is_ascii_whitespace())
        .unwrap_or(b.len());
    let end = b
        .iter()
        .rposition(|c| !c.is_ascii_whitespace())
        .map_or(start, |e| e + 1);
    &b[start..end]
}

/// Reads one line: a structured CloudEvent, or a recorded delivery
/// `{"routing_key": …, "event": {…}}` (structured) or
/// `{"routing_key": …, "headers": {…}, "body": {…}}` (binary mode).
fn parse_line(
    line: &[u8],
    limits: IntakeLimits,
    received: DateTime<Utc>,
) -> Result<(Envelope, Option<String>), Rejection> {
    if line.len() > limits.max_event_bytes {
        // Checked before parsing so an oversized line costs no JSON work.
        return envelope::parse_structured(line, limits, received).map(|e| (e, None));
    }
    let text = std::str::from_utf8(line).map_err(|e| {
        Rejection::new(
            RejectReason::MalformedJson,
            format!(
                "line is not UTF-8 (invalid byte at offset {})",
                e.valid_up_to()
            ),
        )
    })?;
    let mut value: Value = serde_json::from_str(text).map_err(|e| {
        Rejection::new(
            RejectReason::MalformedJson,
            format!("line is not valid JSON: {e}"),
        )
    })?;
    let Some(record) = value
        .as_object_mut()
        .filter(|o| o.contains_key("routing_key"))
    else {
        return envelope::parse_value(value, received).map(|e| (e, None));
    };
    let key = match record.remove("routing_key") {
        Some(Value::String(k)) => k,
        _ => {
            return Err(Rejection::new(
                RejectReason::MalformedJson,
                "a delivery record's `routing_key` must be a string",
            ));
        }
    };
    if let Some(event) = record.remove("event") {
        return envelope::parse_value(event, received).map(|e| (e, Some(key)));
    }
    let headers = record
        .remove("headers")
        .and_then(|h| match h {
            Value::Object(map) => Some(map),
            _ => None,
        })
        .ok_or_else(|| {
            Rejection::new(
                RejectReason::MalformedJson,
                "a delivery record needs `event` or `headers`",
            )
        })?;
    let body = record.get("body").map(Value::to_string).unwrap_or_default();
    let env = envelope::parse_binary(
        headers.iter().map(|(k, v)| (k.as_str(), v.clone())),
        body.as_bytes(),
        limits,
        received,
    )?;
    Ok((env, Some(key)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delivery_records_carry_a_routing_key() {
        let now = Utc::now();
        let line = br#"{"routing_key":"a.x","event":{"specversion":"1.0","id":"1","source":"s","type":"x","tenant":"b"}}"#;
        let (env, key) = parse_line(line, IntakeLimits::default(), now).expect("valid");
        assert_eq!(env.tenant.as_str(), "b");
        assert_eq!(key.as_deref(), Some("a.x"));
        let line = br#"{"routing_key":"b.x","headers":{"ce-specversion":"1.0","ce-id":"1","ce-source":"s","ce-type":"x","ce-tenant":"b"},"body":{"k":1}}"#;
        let (env, _) = parse_line(line, IntakeLimits::default(), now).expect("valid");
        assert_eq!(env.data["k"], 1);
    }

    #[test]
    fn trims_whitespace_and_line_ends() {
        assert_eq!(trim_ascii(b"  {}\r\n"), b"{}");
        assert_eq!(trim_ascii(b" \n"), b"");
    }
}
