//! Service-level accounting per tenant and queue, in total and per 30-minute interval of
//! the tenant's local time (CONTRACT §5).
//!
//! Owns the counting rules and the ratios (four abandon policies, ASA, abandon rate,
//! first-contact resolution, AHT; `None` for a zero denominator). It reads accepted
//! envelopes and bundles' SLA settings; it neither parses events nor knows any transport.

use std::collections::BTreeMap;

use chrono::{DateTime, SecondsFormat, Timelike, Utc};
use chrono_tz::Tz;
use serde::Serialize;

use crate::domain::DomainEvent;
use crate::envelope::{Envelope, TenantId};
use crate::tenants::{AbandonPolicy, Bundle, SlaSettings};

/// The length of a reporting interval.
pub const INTERVAL_MINUTES: i64 = 30;

/// Raw counts of one queue over some span of time.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
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

fn ratio(num: f64, den: f64) -> Option<f64> {
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

/// The Erlang C staffing of one interval (CONTRACT §5).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Staffing {
    /// Agents on the phones needed to meet the queue's target, before shrinkage.
    pub agents_required: u32,
    /// Agents to schedule after the queue's shrinkage.
    pub agents_scheduled: u32,
    /// The service level `agents_required` reach at the interval's load.
    pub service_level: f64,
}

/// The Erlang C staffing of one interval: its offered calls over [`INTERVAL_MINUTES`], its
/// AHT (the interval's talk time over its ended calls; when the interval has no ended
/// call, the AHT of `running`, the queue's counts up to and including this interval), and
/// the queue's target, threshold, maximum occupancy and shrinkage. `None` without offered
/// calls or without any AHT.
pub fn interval_staffing(
    interval: &Counts,
    running: &Counts,
    sla: &SlaSettings,
) -> Option<Staffing> {
    let aht = interval.aht_seconds().or_else(|| running.aht_seconds())?;
    let load = crate::staffing::Load {
        calls: interval.offered as f64,
        interval_seconds: (INTERVAL_MINUTES * 60) as f64,
        aht_seconds: aht,
    };
    let goal = crate::staffing::Goal {
        level: sla.target,
        within_seconds: f64::from(sla.threshold_seconds),
        max_occupancy: sla.max_occupancy,
    };
    let r = crate::staffing::recommend(&load, &goal)?;
    Some(Staffing {
        agents_required: r.agents,
        agents_scheduled: crate::staffing::scheduled(r.agents, sla.shrinkage),
        service_level: r.service_level,
    })
}

#[derive(Debug, Clone)]
struct QueueBook {
    display_name: String,
    sla: SlaSettings,
    total: Counts,
    /// By interval start (UTC).
    intervals: BTreeMap<DateTime<Utc>, Counts>,
}

#[derive(Debug, Clone)]
struct TenantBook {
    display_name: String,
    timezone: Tz,
    queues: BTreeMap<String, QueueBook>,
}

/// The SLA accounts of all tenants.
#[derive(Debug, Clone, Default)]
pub struct SlaBook {
    tenants: BTreeMap<TenantId, TenantBook>,
}

/// The start of the 30-minute interval of the tenant's local time that contains `t`.
/// Offsets of whole quarter hours (all IANA zones today) keep interval starts aligned.
pub fn interval_start(t: DateTime<Utc>, tz: Tz) -> DateTime<Utc> {
    let local = t.with_timezone(&tz);
    let into = i64::from(local.minute()) % INTERVAL_MINUTES * 60 + i64::from(local.second());
    let start = t - chrono::Duration::seconds(into);
    start.with_nanosecond(0).unwrap_or(start)
}

impl SlaBook {
    /// An empty book.
    pub fn new() -> Self {
        Self::default()
    }

    /// Opens the accounts of `bundle`'s tenant, with a line for every declared queue.
    pub fn open(&mut self, bundle: &Bundle) {
        let book = self
            .tenants
            .entry(bundle.tenant.clone())
            .or_insert_with(|| TenantBook {
                display_name: bundle.display_name.clone(),
                timezone: bundle.timezone,
                queues: BTreeMap::new(),
            });
        for (id, q) in &bundle.queues {
            book.queues.entry(id.clone()).or_insert_with(|| QueueBook {
                display_name: q.display_name.clone(),
                sla: q.sla,
                total: Counts::default(),
                intervals: BTreeMap::new(),
            });
        }
    }

    /// Counts one accepted event of `bundle`'s tenant. Events that are not call events are
    /// ignored; a queue the bundle does not declare is counted under the tenant's settings.
    pub fn record(&mut self, bundle: &Bundle, env: &Envelope) {
        let Some(domain) = &env.domain else { return };
        let Some(queue) = domain.queue() else { return };
        if !self.tenants.contains_key(&bundle.tenant) {
            self.open(bundle);
        }
        let Some(book) = self.tenants.get_mut(&bundle.tenant) else {
            return;
        };
        let tz = book.timezone;
        let q = book
            .queues
            .entry(queue.to_owned())
            .or_insert_with(|| QueueBook {
                display_name: queue.to_owned(),
                sla: bundle.sla_for(queue),
                total: Counts::default(),
                intervals: BTreeMap::new(),
            });
        let sla = q.sla;
        q.total.add(domain, &sla);
        q.intervals
            .entry(interval_start(env.time, tz))
            .or_default()
            .add(domain, &sla);
    }

    /// The report of everything counted so far.
    pub fn report(&self) -> SlaReport {
        let tenants = self
            .tenants
            .iter()
            .map(|(id, t)| TenantReport {
                tenant: id.to_string(),
                name: t.display_name.clone(),
                timezone: t.timezone.name().to_owned(),
                queues: t
                    .queues
                    .iter()
                    .map(|(qid, q)| {
                        let mut line =
                            QueueReport::from_counts(qid, &q.display_name, &q.sla, &q.total);
                        let mut running = Counts::default();
                        line.intervals = q
                            .intervals
                            .iter()
                            .map(|(start, c)| {
                                running.merge(c);
                                IntervalReport::new(*start, t.timezone, &q.sla, c, &running)
                            })
                            .collect();
                        line
                    })
                    .collect(),
            })
            .collect();
        SlaReport { tenants }
    }
}

/// The SLA report (CONTRACT §6 `--report json`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SlaReport {
    /// One entry per tenant, sorted by id.
    pub tenants: Vec<TenantReport>,
}

/// One tenant's lines.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TenantReport {
    /// The tenant id.
    pub tenant: String,
    /// Its display name.
    pub name: String,
    /// Its timezone; interval times are in it.
    pub timezone: String,
    /// One entry per queue, sorted by id.
    pub queues: Vec<QueueReport>,
}

/// Service levels under every policy.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct PolicyLevels {
    /// `exclude-short`.
    #[serde(rename = "exclude-short")]
    pub exclude_short: Option<f64>,
    /// `count`.
    pub count: Option<f64>,
    /// `exclude`.
    pub exclude: Option<f64>,
    /// `success-within`.
    #[serde(rename = "success-within")]
    pub success_within: Option<f64>,
}

impl PolicyLevels {
    fn of(c: &Counts) -> Self {
        Self {
            exclude_short: c.service_level(AbandonPolicy::ExcludeShort),
            count: c.service_level(AbandonPolicy::Count),
            exclude: c.service_level(AbandonPolicy::Exclude),
            success_within: c.service_level(AbandonPolicy::SuccessWithin),
        }
    }
}

/// The figures of one queue (the CONTRACT §6 fields first).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct QueueReport {
    /// The queue id.
    pub queue: String,
    /// Calls offered.
    pub offered: u64,
    /// Calls answered.
    pub answered: u64,
    /// Answered within the threshold.
    pub answered_within: u64,
    /// Calls abandoned.
    pub abandoned: u64,
    /// Abandoned within the short-abandon limit.
    pub short_abandoned: u64,
    /// Service level under the queue's policy.
    pub service_level: Option<f64>,
    /// Mean wait of answered calls.
    pub asa_seconds: Option<f64>,
    /// Abandon rate (short abandons left out).
    pub abandon_rate: Option<f64>,
    /// The threshold T.
    pub threshold_seconds: u32,
    /// The readable name.
    pub name: String,
    /// The short-abandon limit S.
    pub short_abandon_seconds: u32,
    /// The policy `service_level` follows.
    pub abandon_policy: AbandonPolicy,
    /// The promised service level.
    pub target: f64,
    /// Whether `service_level` meets `target` (`None` without calls).
    pub target_met: Option<bool>,
    /// The service level under every policy.
    pub service_levels: PolicyLevels,
    /// Calls ended.
    pub ended: u64,
    /// Mean talk time.
    pub aht_seconds: Option<f64>,
    /// Share resolved at first contact.
    pub first_contact_resolution: Option<f64>,
    /// Per 30-minute interval of local time, only intervals with events.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub intervals: Vec<IntervalReport>,
}

impl QueueReport {
    /// The figures of `queue` (readable `name`) from its counts `c` under `sla`, without
    /// intervals: how the report's totals are made, and how a report over part of the
    /// intervals (one day) makes its own.
    pub fn from_counts(queue: &str, name: &str, sla: &SlaSettings, c: &Counts) -> Self {
        let service_level = c.service_level(sla.abandon_policy);
        Self {
            queue: queue.to_owned(),
            offered: c.offered,
            answered: c.answered,
            answered_within: c.answered_within,
            abandoned: c.abandoned,
            short_abandoned: c.short_abandoned,
            service_level,
            asa_seconds: c.asa_seconds(),
            abandon_rate: c.abandon_rate(),
            threshold_seconds: sla.threshold_seconds,
            name: name.to_owned(),
            short_abandon_seconds: sla.short_abandon_seconds,
            abandon_policy: sla.abandon_policy,
            target: sla.target,
            target_met: service_level.map(|l| l >= sla.target),
            service_levels: PolicyLevels::of(c),
            ended: c.ended,
            aht_seconds: c.aht_seconds(),
            first_contact_resolution: c.first_contact_resolution(),
            intervals: Vec::new(),
        }
    }
}

/// The figures of one queue in one 30-minute interval.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct IntervalReport {
    /// Start, local time with offset (RFC 3339).
    pub start: String,
    /// End, local time with offset (RFC 3339).
    pub end: String,
    /// Calls offered.
    pub offered: u64,
    /// Calls answered.
    pub answered: u64,
    /// Answered within the threshold.
    pub answered_within: u64,
    /// Calls abandoned.
    pub abandoned: u64,
    /// Abandoned within the short-abandon limit.
    pub short_abandoned: u64,
    /// Service level under the queue's policy.
    pub service_level: Option<f64>,
    /// Mean wait of answered calls.
    pub asa_seconds: Option<f64>,
    /// Abandon rate.
    pub abandon_rate: Option<f64>,
    /// Mean talk time.
    pub aht_seconds: Option<f64>,
    /// Erlang C agents needed for this interval's load at the target, before shrinkage.
    pub agents_required: Option<u32>,
    /// Agents to schedule after shrinkage.
    pub agents_scheduled: Option<u32>,
    /// The service level `agents_required` would reach at this interval's load.
    pub service_level_planned: Option<f64>,
    /// The counts behind these figures (not part of the JSON report), so that intervals
    /// can be added up exactly.
    #[serde(skip)]
    pub counts: Counts,
}

impl IntervalReport {
    fn new(start: DateTime<Utc>, tz: Tz, sla: &SlaSettings, c: &Counts, running: &Counts) -> Self {
        let staffing = interval_staffing(c, running, sla);
        let end = start + chrono::Duration::minutes(INTERVAL_MINUTES);
        let fmt = |t: DateTime<Utc>| {
            t.with_timezone(&tz)
                .to_rfc3339_opts(SecondsFormat::Secs, false)
        };
        Self {
            start: fmt(start),
            end: fmt(end),
            offered: c.offered,
            answered: c.answered,
            answered_within: c.answered_within,
            abandoned: c.abandoned,
            short_abandoned: c.short_abandoned,
            service_level: c.service_level(sla.abandon_policy),
            asa_seconds: c.asa_seconds(),
            abandon_rate: c.abandon_rate(),
            aht_seconds: c.aht_seconds(),
            agents_required: staffing.map(|s| s.agents_required),
            agents_scheduled: staffing.map(|s| s.agents_scheduled),
            service_level_planned: staffing.map(|s| s.service_level),
            counts: *c,
        }
    }
}

fn pct(v: Option<f64>) -> String {
    v.map_or_else(|| "–".to_owned(), |v| format!("{:.1} %", v * 100.0))
}

fn secs(v: Option<f64>) -> String {
    v.map_or_else(|| "–".to_owned(), |v| format!("{v:.1} s"))
}

fn count(v: Option<u32>) -> String {
    v.map_or_else(|| "–".to_owned(), |v| v.to_string())
}

fn clock(rfc3339: &str) -> &str {
    rfc3339.get(11..16).unwrap_or(rfc3339)
}

impl std::fmt::Display for SlaReport {
    /// A readable table: per tenant its queues' totals, then each queue's intervals.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for t in &self.tenants {
            writeln!(f, "{} — {} ({})", t.tenant, t.name, t.timezone)?;
            writeln!(
                f,
                "  {:<12} {:>8} {:>8} {:>8} {:>9} {:>6} {:>9} {:>7} {:>8} {:>9} {:>8} {:>7}",
                "queue",
                "offered",
                "answered",
                "within",
                "abandoned",
                "short",
                "SL",
                "target",
                "ASA",
                "abandon",
                "AHT",
                "FCR"
            )?;
            for q in &t.queues {
                writeln!(
                    f,
                    "  {:<12} {:>8} {:>8} {:>8} {:>9} {:>6} {:>9} {:>7} {:>8} {:>9} {:>8} {:>7}",
                    q.queue,
                    q.offered,
                    q.answered,
                    q.answered_within,
                    q.abandoned,
                    q.short_abandoned,
                    pct(q.service_level),
                    pct(Some(q.target)),
                    secs(q.asa_seconds),
                    pct(q.abandon_rate),
                    secs(q.aht_seconds),
                    pct(q.first_contact_resolution),
                )?;
                writeln!(
                    f,
                    "  {:<12} within = wait ≤ {} s; SL by {}; short abandon ≤ {} s{}",
                    "",
                    q.threshold_seconds,
                    q.abandon_policy.name(),
                    q.short_abandon_seconds,
                    match q.target_met {
                        Some(true) => "; target met",
                        Some(false) => "; TARGET MISSED",
                        None => "",
                    }
                )?;
            }
            for q in t.queues.iter().filter(|q| !q.intervals.is_empty()) {
                writeln!(f)?;
                writeln!(f, "  {} per 30 minutes", q.queue)?;
                writeln!(
                    f,
                    "    {:<13} {:>8} {:>8} {:>9} {:>9} {:>8} {:>9} {:>7} {:>9}",
                    "interval",
                    "offered",
                    "answered",
                    "abandoned",
                    "SL",
                    "ASA",
                    "abandon",
                    "agents",
                    "scheduled"
                )?;
                for i in &q.intervals {
                    let missed = i.service_level.is_some_and(|l| l < q.target);
                    writeln!(
                        f,
                        "    {}–{}   {:>8} {:>8} {:>9} {:>9} {:>8} {:>9} {:>7} {:>9}{}",
                        clock(&i.start),
                        clock(&i.end),
                        i.offered,
                        i.answered,
                        i.abandoned,
                        pct(i.service_level),
                        secs(i.asa_seconds),
                        pct(i.abandon_rate),
                        count(i.agents_required),
                        count(i.agents_scheduled),
                        if missed { "  below target" } else { "" }
                    )?;
                }
            }
            writeln!(f)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::CallLeftQueue;

    fn left(wait: f64) -> CallLeftQueue {
        CallLeftQueue {
            call_id: "c".into(),
            queue: "q".into(),
            wait_seconds: wait,
            site: None,
        }
    }

    fn settings() -> SlaSettings {
        SlaSettings {
            threshold_seconds: 20,
            target: 0.8,
            short_abandon_seconds: 5,
            abandon_policy: AbandonPolicy::ExcludeShort,
            max_occupancy: None,
            shrinkage: 0.0,
        }
    }

    /// CONTRACT §5's worked example, counted directly.
    #[test]
    fn the_worked_example_gives_the_contract_figures() {
        let s = settings();
        let mut c = Counts::default();
        let mut add = |e: DomainEvent| c.add(&e, &s);
        for i in 0..70 {
            add(DomainEvent::CallAnswered(left(f64::from(i % 21))));
        }
        for i in 0..10 {
            add(DomainEvent::CallAnswered(left(21.0 + f64::from(i))));
        }
        for w in [
            0.0, 1.0, 2.0, 4.0, 5.0, 6.0, 10.0, 15.0, 19.0, 20.0, 21.0, 30.0, 60.0, 90.0, 200.0,
        ] {
            add(DomainEvent::CallAbandoned(left(w)));
        }
        let close = |a: Option<f64>, b: f64| (a.expect("defined") - b).abs() < 1e-12;
        assert!(close(
            c.service_level(AbandonPolicy::ExcludeShort),
            70.0 / 90.0
        ));
        assert!(close(c.service_level(AbandonPolicy::Count), 70.0 / 95.0));
        assert!(close(c.service_level(AbandonPolicy::Exclude), 70.0 / 80.0));
        assert!(close(
            c.service_level(AbandonPolicy::SuccessWithin),
            80.0 / 95.0
        ));
        assert!(close(c.abandon_rate(), 10.0 / 90.0));
    }

    #[test]
    fn zero_denominators_are_none() {
        let c = Counts::default();
        for p in AbandonPolicy::ALL {
            assert_eq!(c.service_level(p), None);
        }
        assert_eq!(c.asa_seconds(), None);
        assert_eq!(c.abandon_rate(), None);
        assert_eq!(c.first_contact_resolution(), None);
        assert_eq!(c.aht_seconds(), None);
        // Only short abandons: exclude-short has nothing left to divide by.
        let mut only_short = Counts::default();
        only_short.add(&DomainEvent::CallAbandoned(left(2.0)), &settings());
        assert_eq!(only_short.service_level(AbandonPolicy::ExcludeShort), None);
        assert_eq!(only_short.service_level(AbandonPolicy::Count), Some(0.0));
    }

    fn offered_and_ended(calls: u64, talk_seconds: f64) -> Counts {
        Counts {
            offered: calls,
            ended: calls,
            talk_seconds: talk_seconds * calls as f64,
            ..Counts::default()
        }
    }

    /// CONTRACT §5's staffing check through an interval's counts.
    #[test]
    fn an_interval_is_staffed_by_erlang_c() {
        let sla = SlaSettings {
            max_occupancy: Some(0.85),
            shrinkage: 0.3,
            ..settings()
        };
        let c = offered_and_ended(100, 180.0);
        let s = interval_staffing(&c, &c, &sla).expect("staffed");
        assert_eq!((s.agents_required, s.agents_scheduled), (14, 20));
        assert_eq!(format!("{:.3}", s.service_level), "0.888");
        let capped = SlaSettings {
            max_occupancy: Some(0.70),
            ..sla
        };
        let s = interval_staffing(&c, &c, &capped).expect("staffed");
        assert_eq!((s.agents_required, s.agents_scheduled), (15, 22));
    }

    #[test]
    fn an_interval_without_ended_calls_borrows_the_queue_aht() {
        let sla = settings();
        let mut running = offered_and_ended(100, 180.0);
        let quiet = Counts {
            offered: 100,
            ..Counts::default()
        };
        running.merge(&quiet);
        let s = interval_staffing(&quiet, &running, &sla).expect("staffed");
        assert_eq!(s.agents_required, 14);
        // Nothing offered, or no call ended yet anywhere: nothing to staff.
        assert_eq!(interval_staffing(&Counts::default(), &running, &sla), None);
        assert_eq!(interval_staffing(&quiet, &quiet, &sla), None);
    }

    #[test]
    fn the_interval_table_shows_the_staffing() {
        let sla = SlaSettings {
            shrinkage: 0.3,
            ..settings()
        };
        let mut c = offered_and_ended(100, 180.0);
        c.answered = 100;
        c.answered_within = 70;
        let start = DateTime::parse_from_rfc3339("2026-11-19T09:00:00+01:00")
            .expect("time")
            .with_timezone(&Utc);
        let tz: Tz = "Europe/Berlin".parse().expect("zone");
        let mut q = QueueReport::from_counts("q", "Q", &sla, &c);
        q.intervals = vec![IntervalReport::new(start, tz, &sla, &c, &c)];
        assert_eq!(q.intervals[0].agents_required, Some(14));
        assert_eq!(q.intervals[0].agents_scheduled, Some(20));
        let report = SlaReport {
            tenants: vec![TenantReport {
                tenant: "t".into(),
                name: "T".into(),
                timezone: "Europe/Berlin".into(),
                queues: vec![q],
            }],
        };
        let text = report.to_string();
        let row = text
            .lines()
            .find(|l| l.contains("09:00–09:30"))
            .expect("an interval row");
        assert!(row.contains(" 14 ") && row.contains(" 20 "), "{row}");
        assert!(row.ends_with("below target"), "{row}");
        let json = serde_json::to_value(&report).expect("json");
        let i = &json["tenants"][0]["queues"][0]["intervals"][0];
        assert_eq!(i["agents_required"], 14);
        assert!(
            i.get("counts").is_none(),
            "counts stay out of the JSON: {i}"
        );
    }

    #[test]
    fn intervals_follow_local_time_across_the_dst_switch() {
        let tz: Tz = "Europe/Berlin".parse().expect("zone");
        let at = |s: &str| {
            DateTime::parse_from_rfc3339(s)
                .expect("time")
                .with_timezone(&Utc)
        };
        assert_eq!(
            interval_start(at("2026-11-19T10:44:59+01:00"), tz),
            at("2026-11-19T10:30:00+01:00")
        );
        // 2026-10-25: 02:00–03:00 happens twice; both halves stay apart.
        let first = interval_start(at("2026-10-25T02:10:00+02:00"), tz);
        let second = interval_start(at("2026-10-25T02:10:00+01:00"), tz);
        assert_ne!(first, second);
        assert_eq!(second - first, chrono::Duration::hours(1));
        // A zone with a half-hour offset aligns to its own clock.
        let india: Tz = "Asia/Kolkata".parse().expect("zone");
        assert_eq!(
            interval_start(at("2026-11-19T10:14:00+05:30"), india),
            at("2026-11-19T10:00:00+05:30")
        );
    }
}
