//! The counting rule of CONTRACT §5: raw counts of one queue over a span of time, and the
//! ratios they give under each abandon policy (a zero denominator gives `None`).

use leitstand_contract::domain::DomainEvent;
use serde::{Deserialize, Serialize};

use crate::profile::{AbandonPolicy, SlaSettings};

/// The length of a reporting interval.
pub const INTERVAL_MINUTES: i64 = 30;

/// Raw counts of one queue over some span of time.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Counts {
    /// `call.offered` events.
    pub offered: u64,
    /// `call.answered` events.
    pub answered: u64,
    /// Answered with wait ≤ T.
    pub answered_within: u64,
    /// `call.abandoned` events.
    pub abandoned: u64,
    /// Abandoned with wait ≤ S.
    pub short_abandoned: u64,
    /// Abandoned with wait ≤ T.
    pub abandoned_within: u64,
    /// Σ wait of answered calls, seconds.
    pub answered_wait_seconds: f64,
    /// `call.ended` events.
    pub ended: u64,
    /// Σ talk time of ended calls, seconds.
    pub talk_seconds: f64,
    /// Ended calls that said whether they were resolved.
    pub resolution_known: u64,
    /// Ended calls with `resolved: true`.
    pub resolved: u64,
}

pub(crate) fn ratio(num: f64, den: f64) -> Option<f64> {
    (den > 0.0).then(|| num / den)
}

impl Counts {
    /// The service level under `policy`, `None` when its denominator is zero.
    pub fn service_level(&self, policy: AbandonPolicy) -> Option<f64> {
        let within = self.answered_within as f64;
        let answered = self.answered as f64;
        let abandoned = self.abandoned as f64;
        let short = self.short_abandoned as f64;
        match policy {
            AbandonPolicy::ExcludeShort => ratio(within, answered + abandoned - short),
            AbandonPolicy::Count => ratio(within, answered + abandoned),
            AbandonPolicy::Exclude => ratio(within, answered),
            AbandonPolicy::SuccessWithin => {
                ratio(within + self.abandoned_within as f64, answered + abandoned)
            }
        }
    }

    /// Average speed of answer: the arithmetic mean wait of answered calls.
    pub fn asa_seconds(&self) -> Option<f64> {
        ratio(self.answered_wait_seconds, self.answered as f64)
    }

    /// Abandons beyond the short limit over calls that were not short abandons.
    pub fn abandon_rate(&self) -> Option<f64> {
        let long = (self.abandoned - self.short_abandoned) as f64;
        ratio(
            long,
            (self.answered + self.abandoned - self.short_abandoned) as f64,
        )
    }

    /// Resolved at first contact over ended calls that reported `resolved`.
    pub fn first_contact_resolution(&self) -> Option<f64> {
        ratio(self.resolved as f64, self.resolution_known as f64)
    }

    /// Average handling (talk) time.
    pub fn aht_seconds(&self) -> Option<f64> {
        ratio(self.talk_seconds, self.ended as f64)
    }

    /// Adds the counts of `other`.
    pub fn merge(&mut self, other: &Counts) {
        self.offered += other.offered;
        self.answered += other.answered;
        self.answered_within += other.answered_within;
        self.abandoned += other.abandoned;
        self.short_abandoned += other.short_abandoned;
        self.abandoned_within += other.abandoned_within;
        self.answered_wait_seconds += other.answered_wait_seconds;
        self.ended += other.ended;
        self.talk_seconds += other.talk_seconds;
        self.resolution_known += other.resolution_known;
        self.resolved += other.resolved;
    }

    /// Counts one call event under the queue's settings `sla`; other events are ignored.
    pub fn add(&mut self, event: &DomainEvent, sla: &SlaSettings) {
        let t = f64::from(sla.threshold_seconds);
        let s = f64::from(sla.short_abandon_seconds);
        match event {
            DomainEvent::CallOffered(_) => self.offered += 1,
            DomainEvent::CallAnswered(e) => {
                self.answered += 1;
                self.answered_wait_seconds += e.wait_seconds;
                if e.wait_seconds <= t {
                    self.answered_within += 1;
                }
            }
            DomainEvent::CallAbandoned(e) => {
                self.abandoned += 1;
                if e.wait_seconds <= s {
                    self.short_abandoned += 1;
                }
                if e.wait_seconds <= t {
                    self.abandoned_within += 1;
                }
            }
            DomainEvent::CallEnded(e) => {
                self.ended += 1;
                self.talk_seconds += e.talk_seconds;
                if let Some(resolved) = e.resolved {
                    self.resolution_known += 1;
                    if resolved {
                        self.resolved += 1;
                    }
                }
            }
            _ => {}
        }
    }
}
