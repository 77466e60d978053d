//! The service level as Asterisk itself reports it (`SL` and `SL2` of `queue show`,
//! `ServicelevelPerf` and `ServicelevelPerf2` of the manager's `QueueParams`), per queue for
//! a threshold T, recomputed from a `queue_log`, so that a provider sees why its old figures
//! and Leitstand's differ.
//!
//! This module owns Asterisk's counting rules (set out on
//! [`QueueLog::asterisk_service_level`]) and reads only a [`QueueLog`].

use std::collections::BTreeMap;

use crate::queue_log::{EntryState, QueueLog};

/// One queue's figures as Asterisk would report them, over the whole log.
#[derive(Debug, Clone, PartialEq)]
pub struct AsteriskServiceLevel {
    /// The queue as Asterisk names it.
    pub asterisk_queue: String,
    /// The Leitstand queue.
    pub queue: String,
    /// T, Asterisk's `servicelevel`, in seconds (a wait of exactly T is within).
    pub threshold_seconds: u64,
    /// `callscompleted`: answered calls that ended, and answered outbound calls.
    pub completed: u64,
    /// `callscompletedinsl`.
    pub completed_within: u64,
    /// `callsabandoned`: abandons, timeouts, empty-queue exits, withdrawals, dropped calls
    /// and unanswered outbound calls.
    pub abandoned: u64,
    /// `callsabandonedinsl`.
    pub abandoned_within: u64,
    /// Key exits, which Asterisk counts in neither figure.
    pub exited_with_key: u64,
    /// Calls still talking at the end of the log, not yet counted by Asterisk.
    pub still_talking: u64,
    /// `SL`, as a ratio; `None` where Asterisk shows 0.0 % for want of completed calls.
    pub service_level: Option<f64>,
    /// `SL2`, as a ratio; `None` where Asterisk shows 0.0 % for want of any call.
    pub service_level_2: Option<f64>,
}

impl AsteriskServiceLevel {
    /// The figures of several Asterisk queues taken together as one Leitstand `queue`, as
    /// Asterisk would show them were they one queue: the counters summed, the ratios of
    /// the sums; `asterisk_queue` names them, comma-separated.
    pub fn merged(queue: &str, threshold_seconds: u64, rows: &[Self]) -> Self {
        let sum = |f: fn(&Self) -> u64| rows.iter().map(f).sum::<u64>();
        let completed = sum(|r| r.completed);
        let completed_within = sum(|r| r.completed_within);
        let abandoned = sum(|r| r.abandoned);
        let abandoned_within = sum(|r| r.abandoned_within);
        Self {
            asterisk_queue: rows
                .iter()
                .map(|r| r.asterisk_queue.as_str())
                .collect::<Vec<_>>()
                .join(", "),
            queue: queue.to_owned(),
            threshold_seconds,
            completed,
            completed_within,
            abandoned,
            abandoned_within,
            exited_with_key: sum(|r| r.exited_with_key),
            still_talking: sum(|r| r.still_talking),
            service_level: ratio(completed_within, completed),
            service_level_2: ratio(completed_within + abandoned_within, completed + abandoned),
        }
    }
}

fn ratio(numerator: u64, denominator: u64) -> Option<f64> {
    // Counts of calls are far below 2^53, so the conversion is exact.
    (denominator > 0).then(|| numerator as f64 / denominator as f64)
}

impl QueueLog {
    /// Asterisk's `SL` and `SL2` per queue for a `servicelevel` of `threshold_seconds`,
    /// sorted by Asterisk's queue name, over the whole log and the queues the import
    /// accepted (as Asterisk shows them when its statistics were reset as the log began).
    ///
    /// # How `app_queue` counts
    ///
    /// Asterisk keeps four counters per queue (its `servicelevel` setting is T):
    ///
    /// - `callscompleted` rises when an answered call *ends* (`update_queue`, on
    ///   `COMPLETECALLER`, `COMPLETEAGENT` or a transfer), not when it is answered; a call still
    ///   talking is not yet counted. `callscompletedinsl` rises with it when the caller's wait
    ///   at the moment of the answer was ≤ T (taken in `try_calling` as the call is bridged).
    /// - `callsabandoned` rises in `record_abandoned`, which runs for `ABANDON`,
    ///   `EXITWITHTIMEOUT`, `EXITEMPTY`, `WITHDRAW` and `SYSCOMPAT` — a timeout *is* an
    ///   abandon to Asterisk — but not for `EXITWITHKEY`, which Asterisk counts nowhere.
    ///   `callsabandonedinsl` rises with it when the wait was ≤ T.
    /// - `OUTCALL` lines (`QueueUpdate`) count too: status `ANSWER` as completed, within T when
    ///   the *talk* time is ≤ T; any other status as abandoned.
    ///
    /// Then `SL = callscompletedinsl / callscompleted` and
    /// `SL2 = (callsabandonedinsl + callscompletedinsl) / (callsabandoned + callscompleted)`.
    ///
    /// Against Leitstand's policies (CONTRACT §5): `SL` is the `exclude` policy and `SL2` the
    /// `success-within` policy, except that Asterisk counts answered calls only once they
    /// end, counts outbound calls, and ignores key exits, which the import writes as
    /// `call.abandoned`; and neither figure knows short abandons, which `exclude-short`
    /// (Leitstand's default) leaves out. The log gives the hold time of `CONNECT`, which
    /// Asterisk takes after the member delay and the agent announcement: on a queue with
    /// either, a call answered a second or two inside T may show a hold time just over it.
    pub fn asterisk_service_level(&self, threshold_seconds: u64) -> Vec<AsteriskServiceLevel> {
        let mut totals: BTreeMap<(String, String), Counters> = BTreeMap::new();
        for entry in self.entries() {
            let c = totals
                .entry((entry.asterisk_queue.clone(), entry.queue.clone()))
                .or_default();
            match entry.state {
                EntryState::Waiting => {}
                EntryState::Talking { .. } => c.still_talking += 1,
                EntryState::Ended { wait_seconds, .. } => {
                    c.completed += 1;
                    c.completed_within += u64::from(wait_seconds <= threshold_seconds);
                }
                EntryState::Left { exit, wait_seconds } => {
                    if exit.counted_abandoned_by_asterisk() {
                        c.abandoned += 1;
                        c.abandoned_within += u64::from(wait_seconds <= threshold_seconds);
                    } else {
                        c.exited_with_key += 1;
                    }
                }
            }
        }
        for call in self.outbound() {
            let c = totals
                .entry((call.asterisk_queue.clone(), call.queue.clone()))
                .or_default();
            if call.answered {
                c.completed += 1;
                // app_queue compares the talk time of an outbound call with T.
                c.completed_within += u64::from(call.talk_seconds <= threshold_seconds);
            } else {
                c.abandoned += 1;
            }
        }
        totals
            .into_iter()
            .map(|((asterisk_queue, queue), c)| AsteriskServiceLevel {
                asterisk_queue,
                queue,
                threshold_seconds,
                completed: c.completed,
                completed_within: c.completed_within,
                abandoned: c.abandoned,
                abandoned_within: c.abandoned_within,
                exited_with_key: c.exited_with_key,
                still_talking: c.still_talking,
                service_level: ratio(c.completed_within, c.completed),
                service_level_2: ratio(
                    c.completed_within + c.abandoned_within,
                    c.completed + c.abandoned,
                ),
            })
            .collect()
    }
}

#[derive(Default)]
struct Counters {
    completed: u64,
    completed_within: u64,
    abandoned: u64,
    abandoned_within: u64,
    exited_with_key: u64,
    still_talking: u64,
}
