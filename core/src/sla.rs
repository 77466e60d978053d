//! Service-level accounting per tenant and queue, in total and per 30-minute interval of
//! the tenant's local time (CONTRACT §5).
//!
//! Owns the counting rules and the ratios (four abandon policies, ASA, abandon rate,
//! first-contact resolution, AHT; `None` for a zero denominator), and first-contact
//! resolution per concern and per department ([`FirstContact`]). It reads accepted
//! envelopes (their typed reading, and the two optional `data` fields it alone uses:
//! `concern` of `call.offered`, `transferred_to` of `call.ended`) and bundles' SLA
//! settings; it neither validates events nor knows any transport.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use chrono::{DateTime, NaiveDate, SecondsFormat, Timelike, Utc};
use chrono_tz::Tz;
use serde::Serialize;
use sha2::{Digest, Sha256};

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

/// Offers of calls not yet ended or abandoned one tenant remembers, to find an ended
/// call's concern. When a new offer finds the memory full, the longest-remembered tenth
/// is forgotten (counted in [`FirstContact::offers_forgotten`]); those calls, should they
/// still end, count under an unknown concern.
pub const MAX_REMEMBERED_OFFERS: usize = 100_000;
/// Distinct concerns counted by name per tenant, in the order they are first offered;
/// later ones count as [`OTHER`].
pub const MAX_CONCERNS: usize = 32;
/// Distinct departments counted by name per tenant, in the order calls are first handed
/// on to them; later ones count as [`OTHER`].
pub const MAX_DEPARTMENTS: usize = 32;
/// The name concerns and departments beyond their bound count under.
pub const OTHER: &str = "_other";

/// Ended calls of one concern or one department, by what they said about resolution
/// (CONTRACT §5: first-contact resolution = `resolved: true` / `resolved` present).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Resolution {
    /// `call.ended` events.
    pub ended: u64,
    /// Of them, those that said whether they were resolved.
    pub resolution_reported: u64,
    /// Of them, those with `resolved: true`.
    pub resolved: u64,
    /// Of the ended calls, those handed on to a department (`transferred_to`).
    pub handed_on: u64,
}

impl Resolution {
    /// Counts one ended call.
    pub fn add(&mut self, call: &EndedCall) {
        self.ended += 1;
        if let Some(resolved) = call.resolved {
            self.resolution_reported += 1;
            if resolved {
                self.resolved += 1;
            }
        }
        if call.department.is_some() {
            self.handed_on += 1;
        }
    }

    /// Adds the counts of `other`.
    pub fn merge(&mut self, other: &Resolution) {
        self.ended += other.ended;
        self.resolution_reported += other.resolution_reported;
        self.resolved += other.resolved;
        self.handed_on += other.handed_on;
    }

    /// Resolved at first contact over ended calls that reported `resolved`; `None` when
    /// none did.
    pub fn first_contact_resolution(&self) -> Option<f64> {
        ratio(self.resolved as f64, self.resolution_reported as f64)
    }
}

/// An ended call as first-contact resolution counts it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndedCall {
    /// The concern its `call.offered` named (bounded by [`MAX_CONCERNS`]); `None` when
    /// unknown: the offer was not seen, named no concern, or was forgotten.
    pub concern: Option<Arc<str>>,
    /// The department it was handed on to, its `transferred_to` (bounded by
    /// [`MAX_DEPARTMENTS`]); `None` when it was not handed on: the service center that
    /// answered it settled or closed it itself.
    pub department: Option<Arc<str>>,
    /// Its `resolved`, when it said.
    pub resolved: Option<bool>,
}

/// Ended calls per concern and per department.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FirstContactRows {
    /// By concern; `None`: unknown.
    pub by_concern: BTreeMap<Option<Arc<str>>, Resolution>,
    /// By department; `None`: not handed on (the service center itself).
    pub by_department: BTreeMap<Option<Arc<str>>, Resolution>,
}

impl FirstContactRows {
    /// Counts one ended call under its concern and under its department.
    pub fn add(&mut self, call: &EndedCall) {
        self.by_concern
            .entry(call.concern.clone())
            .or_default()
            .add(call);
        self.by_department
            .entry(call.department.clone())
            .or_default()
            .add(call);
    }

    /// Adds the rows of `other`.
    pub fn merge(&mut self, other: &FirstContactRows) {
        for (k, r) in &other.by_concern {
            self.by_concern.entry(k.clone()).or_default().merge(r);
        }
        for (k, r) in &other.by_department {
            self.by_department.entry(k.clone()).or_default().merge(r);
        }
    }

    /// All ended calls together.
    pub fn total(&self) -> Resolution {
        let mut all = Resolution::default();
        for r in self.by_concern.values() {
            all.merge(r);
        }
        all
    }
}

/// A remembered offer.
#[derive(Debug, Clone)]
struct Offer {
    concern: Arc<str>,
    at: DateTime<Utc>,
}

/// One tenant's memory for first-contact resolution: `call.ended` names no concern, so
/// the concern of each call is taken from its `call.offered` (by `call_id`) and kept
/// until the call ends or is abandoned. Memory is bounded: at most
/// [`MAX_REMEMBERED_OFFERS`] offers (each as a 16-byte digest of its call id and a shared
/// concern name), [`MAX_CONCERNS`] concern and [`MAX_DEPARTMENTS`] department names.
///
/// The report ([`SlaBook`]) and the live metrics each feed one with the same accepted,
/// first-seen events, so that both attribute every ended call alike.
#[derive(Debug, Clone, Default)]
pub struct FirstContact {
    offers: HashMap<[u8; 16], Offer>,
    concerns: Vec<Arc<str>>,
    departments: Vec<Arc<str>>,
    forgotten: u64,
}

/// A non-empty string field of the event's `data`.
fn data_text<'e>(env: &'e Envelope, field: &str) -> Option<&'e str> {
    env.data
        .get(field)
        .and_then(serde_json::Value::as_str)
        .filter(|s| !s.is_empty())
}

/// `name` as counted: itself when already known or while fewer than `max` are, else
/// [`OTHER`].
fn bounded(names: &mut Vec<Arc<str>>, name: &str, max: usize) -> Arc<str> {
    if let Some(known) = names.iter().find(|n| &***n == name) {
        return known.clone();
    }
    if names.len() < max {
        let new: Arc<str> = Arc::from(name);
        names.push(new.clone());
        return new;
    }
    match names.iter().find(|n| &***n == OTHER) {
        Some(other) => other.clone(),
        None => {
            // Kept beyond `max`: the one name for all the rest.
            let other: Arc<str> = Arc::from(OTHER);
            names.push(other.clone());
            other
        }
    }
}

fn call_key(call_id: &str) -> [u8; 16] {
    let digest = Sha256::digest(call_id.as_bytes());
    let mut key = [0u8; 16];
    key.copy_from_slice(&digest[..16]);
    key
}

impl FirstContact {
    /// Takes one accepted, first-seen event of the tenant: remembers the concern of a
    /// `call.offered`, forgets it at `call.abandoned`, and for a `call.ended` forgets it
    /// and returns the call with its concern and department. Other events return `None`.
    ///
    /// An offer without a concern leaves what an earlier offer of the same call said.
    pub fn observe(&mut self, env: &Envelope) -> Option<EndedCall> {
        match env.domain.as_ref()? {
            DomainEvent::CallOffered(e) => {
                let concern = data_text(env, "concern")?;
                let concern = bounded(&mut self.concerns, concern, MAX_CONCERNS);
                let key = call_key(&e.call_id);
                if !self.offers.contains_key(&key) && self.offers.len() >= MAX_REMEMBERED_OFFERS {
                    self.forget_oldest();
                }
                self.offers.insert(
                    key,
                    Offer {
                        concern,
                        at: env.time,
                    },
                );
                None
            }
            DomainEvent::CallAbandoned(e) => {
                self.offers.remove(&call_key(&e.call_id));
                None
            }
            DomainEvent::CallEnded(e) => {
                let concern = self.offers.remove(&call_key(&e.call_id)).map(|o| o.concern);
                let department = data_text(env, "transferred_to")
                    .map(|d| bounded(&mut self.departments, d, MAX_DEPARTMENTS));
                Some(EndedCall {
                    concern,
                    department,
                    resolved: e.resolved,
                })
            }
            _ => None,
        }
    }

    /// Offers forgotten because the memory was full.
    pub fn offers_forgotten(&self) -> u64 {
        self.forgotten
    }

    /// Offers remembered now.
    pub fn offers_remembered(&self) -> usize {
        self.offers.len()
    }

    /// Forgets the tenth of the remembered offers with the oldest offer times (all offers
    /// at the cut's time go with them). Which offers go depends only on their times, so
    /// that the report and the metrics forget alike.
    fn forget_oldest(&mut self) {
        let mut times: Vec<DateTime<Utc>> = self.offers.values().map(|o| o.at).collect();
        let cut = times.len() / 10;
        if cut >= times.len() {
            return;
        }
        let (_, limit, _) = times.select_nth_unstable(cut);
        let limit = *limit;
        let before = self.offers.len();
        self.offers.retain(|_, o| o.at > limit);
        self.forgotten += (before - self.offers.len()) as u64;
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
    /// The tenant's `[sla] first_contact_target`.
    first_contact_target: Option<f64>,
    first_contact: FirstContact,
    /// Ended calls by the local date they ended on.
    first_contact_days: BTreeMap<NaiveDate, FirstContactRows>,
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
                first_contact_target: None,
                first_contact: FirstContact::default(),
                first_contact_days: BTreeMap::new(),
            });
        book.first_contact_target = bundle.sla.first_contact_target;
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
    /// An ended call also counts under its concern and department ([`FirstContact`]), on
    /// the local date it ended.
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
        if let Some(call) = book.first_contact.observe(env) {
            book.first_contact_days
                .entry(env.time.with_timezone(&tz).date_naive())
                .or_default()
                .add(&call);
        }
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
                first_contact: FirstContactReport::from_days(
                    t.first_contact_target,
                    &t.first_contact_days,
                    t.first_contact.offers_forgotten(),
                ),
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
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
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
    /// First-contact resolution per concern and per department, beside the target.
    pub first_contact: FirstContactReport,
}

/// The first-contact figures of ended calls: counts and ratio, and whether the ratio
/// meets the target.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct ResolutionLine {
    /// `call.ended` events.
    pub ended: u64,
    /// Of them, those that said whether they were resolved.
    pub resolution_reported: u64,
    /// Of them, those resolved at first contact.
    pub resolved: u64,
    /// Of the ended calls, those handed on to a department.
    pub handed_on: u64,
    /// `resolved / resolution_reported`; `null` when no call reported.
    pub first_contact_resolution: Option<f64>,
    /// Whether `first_contact_resolution` meets the target; `null` without a target or
    /// without a figure.
    pub target_met: Option<bool>,
}

impl ResolutionLine {
    /// The line of `r` against `target`.
    pub fn new(r: &Resolution, target: Option<f64>) -> Self {
        let fcr = r.first_contact_resolution();
        Self {
            ended: r.ended,
            resolution_reported: r.resolution_reported,
            resolved: r.resolved,
            handed_on: r.handed_on,
            first_contact_resolution: fcr,
            target_met: fcr.zip(target).map(|(f, t)| f >= t),
        }
    }
}

/// The calls of one concern.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ConcernLine {
    /// The concern its offer named; `null` when unknown (offer not seen, without a
    /// concern, or forgotten); `"_other"` for concerns beyond the 32 first offered.
    pub concern: Option<String>,
    /// The figures.
    #[serde(flatten)]
    pub figures: ResolutionLine,
}

/// The calls of one department.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DepartmentLine {
    /// The department calls were handed on to (`transferred_to`); `null` for calls not
    /// handed on, which the service center settled or closed itself; `"_other"` for
    /// departments beyond the 32 first handed on to.
    pub department: Option<String>,
    /// The figures (`handed_on` equals `ended` for a department, 0 for the service
    /// center).
    #[serde(flatten)]
    pub figures: ResolutionLine,
}

/// A tenant's first-contact resolution per concern and per department.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct FirstContactReport {
    /// The tenant's promised first-contact resolution (`[sla] first_contact_target`).
    pub target: Option<f64>,
    /// All ended calls of the tenant.
    #[serde(flatten)]
    pub total: ResolutionLine,
    /// Per concern, sorted by name, unknown first.
    pub by_concern: Vec<ConcernLine>,
    /// Per department, sorted by name, the service center (not handed on) first.
    pub by_department: Vec<DepartmentLine>,
    /// Offers forgotten because the tenant's memory of offers was full; their calls
    /// count under an unknown concern.
    pub offers_forgotten: u64,
    /// The counts by local date the calls ended on (not part of the JSON report), so
    /// that a report of one day can be made.
    #[serde(skip)]
    pub days: BTreeMap<NaiveDate, FirstContactRows>,
}

impl FirstContactReport {
    /// The figures of `rows` against `target`.
    pub fn from_rows(target: Option<f64>, rows: &FirstContactRows, offers_forgotten: u64) -> Self {
        let name = |k: &Option<Arc<str>>| k.as_deref().map(str::to_owned);
        Self {
            target,
            total: ResolutionLine::new(&rows.total(), target),
            by_concern: rows
                .by_concern
                .iter()
                .map(|(k, r)| ConcernLine {
                    concern: name(k),
                    figures: ResolutionLine::new(r, target),
                })
                .collect(),
            by_department: rows
                .by_department
                .iter()
                .map(|(k, r)| DepartmentLine {
                    department: name(k),
                    figures: ResolutionLine::new(r, target),
                })
                .collect(),
            offers_forgotten,
            days: BTreeMap::new(),
        }
    }

    /// The figures over all `days`, which they keep.
    pub fn from_days(
        target: Option<f64>,
        days: &BTreeMap<NaiveDate, FirstContactRows>,
        offers_forgotten: u64,
    ) -> Self {
        let mut all = FirstContactRows::default();
        for rows in days.values() {
            all.merge(rows);
        }
        Self {
            days: days.clone(),
            ..Self::from_rows(target, &all, offers_forgotten)
        }
    }

    /// The figures of one local `day` (none when no call ended that day).
    pub fn of_day(&self, day: NaiveDate) -> Self {
        let rows = self.days.get(&day).cloned().unwrap_or_default();
        Self::from_rows(self.target, &rows, self.offers_forgotten)
    }
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
    /// The queue's promised first-contact resolution (its own `first_contact_target`,
    /// else the tenant's).
    pub first_contact_target: Option<f64>,
    /// Whether `first_contact_resolution` meets it (`None` without either).
    pub first_contact_target_met: Option<bool>,
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
            first_contact_target: sla.first_contact_target,
            first_contact_target_met: c
                .first_contact_resolution()
                .zip(sla.first_contact_target)
                .map(|(f, t)| f >= t),
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

fn verdict(met: Option<bool>) -> &'static str {
    match met {
        Some(true) => "; target met",
        Some(false) => "; TARGET MISSED",
        None => "",
    }
}

/// How the table shows an unknown concern.
pub const UNKNOWN_CONCERN: &str = "(unknown)";
/// How the table shows calls not handed on to a department.
pub const SERVICE_CENTER: &str = "(service center)";

/// The first-contact block of a tenant: its total against the target, then one table
/// per concern and one per department. Nothing when no call ended.
fn write_first_contact(
    f: &mut std::fmt::Formatter<'_>,
    fc: &FirstContactReport,
) -> std::fmt::Result {
    if fc.total.ended == 0 {
        return Ok(());
    }
    writeln!(f)?;
    let target = fc
        .target
        .map_or_else(String::new, |t| format!(", target {}", pct(Some(t))));
    writeln!(
        f,
        "  first-contact resolution{target}: {} of {} reported = {}{}",
        fc.total.resolved,
        fc.total.resolution_reported,
        pct(fc.total.first_contact_resolution),
        verdict(fc.total.target_met)
    )?;
    let mut table = |heading: &str,
                     rows: &mut dyn Iterator<Item = (&str, &ResolutionLine)>|
     -> std::fmt::Result {
        writeln!(
            f,
            "    {:<20} {:>8} {:>9} {:>9} {:>10} {:>8}",
            heading, "ended", "reported", "resolved", "handed on", "FCR"
        )?;
        for (name, l) in rows {
            writeln!(
                f,
                "    {:<20} {:>8} {:>9} {:>9} {:>10} {:>8}{}",
                name,
                l.ended,
                l.resolution_reported,
                l.resolved,
                l.handed_on,
                pct(l.first_contact_resolution),
                if l.target_met == Some(false) {
                    "  below target"
                } else {
                    ""
                }
            )?;
        }
        Ok(())
    };
    table(
        "concern",
        &mut fc
            .by_concern
            .iter()
            .map(|c| (c.concern.as_deref().unwrap_or(UNKNOWN_CONCERN), &c.figures)),
    )?;
    table(
        "department",
        &mut fc.by_department.iter().map(|d| {
            (
                d.department.as_deref().unwrap_or(SERVICE_CENTER),
                &d.figures,
            )
        }),
    )?;
    if fc.offers_forgotten > 0 {
        writeln!(
            f,
            "    {} offers forgotten at the limit of {MAX_REMEMBERED_OFFERS}; their calls count as {UNKNOWN_CONCERN}",
            fc.offers_forgotten
        )?;
    }
    Ok(())
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
                    verdict(q.target_met)
                )?;
                if let Some(target) = q.first_contact_target {
                    writeln!(
                        f,
                        "  {:<12} first-contact target {}{}",
                        "",
                        pct(Some(target)),
                        verdict(q.first_contact_target_met)
                    )?;
                }
            }
            write_first_contact(f, &t.first_contact)?;
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
            first_contact_target: None,
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
                first_contact: FirstContactReport::default(),
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

    /// A call event of tenant `t` at `at` with `data`.
    fn event(n: usize, kind: &str, at: DateTime<Utc>, data: serde_json::Value) -> Envelope {
        crate::envelope::parse_value(
            serde_json::json!({"specversion": "1.0", "id": format!("e{n}"),
                "source": "acd/test", "type": kind, "tenant": "t",
                "time": at.to_rfc3339(), "data": data}),
            crate::envelope::IntakeLimits::default(),
            Utc::now(),
        )
        .expect("a valid event")
    }

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s)
            .expect("time")
            .with_timezone(&Utc)
    }

    fn offered(n: usize, call: &str, concern: Option<&str>) -> Envelope {
        let mut data = serde_json::json!({"call_id": call, "queue": "q"});
        if let Some(c) = concern {
            data["concern"] = c.into();
        }
        event(n, "call.offered", at("2026-11-19T09:00:00+01:00"), data)
    }

    fn ended(n: usize, call: &str, resolved: Option<bool>, to: Option<&str>) -> Envelope {
        let mut data = serde_json::json!({"call_id": call, "queue": "q", "talk_seconds": 60});
        if let Some(r) = resolved {
            data["resolved"] = r.into();
        }
        if let Some(d) = to {
            data["transferred_to"] = d.into();
        }
        event(n, "call.ended", at("2026-11-19T09:05:00+01:00"), data)
    }

    fn name(s: &str) -> Option<Arc<str>> {
        Some(Arc::from(s))
    }

    /// Feeds `events` through one tenant's memory and counts the ended calls.
    fn rows(events: &[Envelope]) -> (FirstContact, FirstContactRows) {
        let mut fc = FirstContact::default();
        let mut rows = FirstContactRows::default();
        for e in events {
            if let Some(call) = fc.observe(e) {
                rows.add(&call);
            }
        }
        (fc, rows)
    }

    #[test]
    fn first_contact_resolution_with_a_zero_denominator_is_null() {
        assert_eq!(Resolution::default().first_contact_resolution(), None);
        // Two calls of one concern ended, neither said whether it was resolved.
        let (_, r) = rows(&[
            offered(1, "a", Some("abfall")),
            offered(2, "b", Some("abfall")),
            ended(3, "a", None, None),
            ended(4, "b", None, None),
        ]);
        let abfall = r.by_concern[&name("abfall")];
        assert_eq!((abfall.ended, abfall.resolution_reported), (2, 0));
        assert_eq!(abfall.first_contact_resolution(), None);
        let report = FirstContactReport::from_rows(Some(0.65), &r, 0);
        let json = serde_json::to_value(&report).expect("json");
        assert_eq!(json["by_concern"][0]["concern"], "abfall");
        assert!(json["by_concern"][0]["first_contact_resolution"].is_null());
        assert!(json["by_concern"][0]["target_met"].is_null());
        assert!(json["first_contact_resolution"].is_null());
        assert_eq!(json["target"], 0.65);
        // Nothing ended at all: no lines, no figure.
        let empty = FirstContactReport::from_rows(Some(0.65), &FirstContactRows::default(), 0);
        assert!(empty.by_concern.is_empty() && empty.by_department.is_empty());
        assert_eq!(empty.total.first_contact_resolution, None);
    }

    #[test]
    fn a_call_ended_without_resolved_counts_as_ended_only() {
        let (_, r) = rows(&[
            offered(1, "a", Some("wohngeld")),
            offered(2, "b", Some("wohngeld")),
            offered(3, "c", Some("wohngeld")),
            ended(4, "a", Some(true), None),
            ended(5, "b", Some(false), Some("sozialamt")),
            ended(6, "c", None, None),
        ]);
        let w = r.by_concern[&name("wohngeld")];
        assert_eq!(
            (w.ended, w.resolution_reported, w.resolved, w.handed_on),
            (3, 2, 1, 1)
        );
        assert_eq!(w.first_contact_resolution(), Some(0.5));
        let center = r.by_department[&None];
        assert_eq!((center.ended, center.resolution_reported), (2, 1));
        assert_eq!(center.first_contact_resolution(), Some(1.0));
        let sozialamt = r.by_department[&name("sozialamt")];
        assert_eq!((sozialamt.ended, sozialamt.handed_on), (1, 1));
        assert_eq!(sozialamt.first_contact_resolution(), Some(0.0));
    }

    #[test]
    fn a_concern_is_unknown_when_its_offer_was_never_seen() {
        let (fc, r) = rows(&[
            offered(1, "a", Some("abfall")),
            offered(2, "b", None),
            ended(3, "a", Some(true), None),
            ended(4, "b", Some(true), None),
            // Offered before the input began.
            ended(5, "x", Some(false), None),
            // Abandoned: the offer is forgotten; a late end of it is unknown too.
            offered(6, "c", Some("abfall")),
            event(
                7,
                "call.abandoned",
                at("2026-11-19T09:01:00+01:00"),
                serde_json::json!({"call_id": "c", "queue": "q", "wait_seconds": 30}),
            ),
        ]);
        assert_eq!(
            fc.offers_remembered(),
            0,
            "ended and abandoned calls are forgotten"
        );
        assert_eq!(r.by_concern[&name("abfall")].ended, 1);
        let unknown = r.by_concern[&None];
        assert_eq!((unknown.ended, unknown.resolved), (2, 1));
        let report = FirstContactReport::from_rows(None, &r, 0);
        let json = serde_json::to_value(&report).expect("json");
        assert!(json["by_concern"][0]["concern"].is_null(), "unknown first");
        assert_eq!(json["by_concern"][0]["ended"], 2);
        assert!(json["by_department"][0]["department"].is_null());
        assert!(json["target"].is_null());
    }

    #[test]
    fn remembered_offers_are_capped_and_the_oldest_forgotten() {
        let mut fc = FirstContact::default();
        let start = at("2026-11-19T00:00:00Z");
        let offer = |n: usize| {
            event(
                n,
                "call.offered",
                start + chrono::Duration::seconds(n as i64),
                serde_json::json!({"call_id": format!("c{n}"), "queue": "q",
                                   "concern": if n == 0 { "first" } else { "later" }}),
            )
        };
        for n in 0..MAX_REMEMBERED_OFFERS {
            assert_eq!(fc.observe(&offer(n)), None);
        }
        assert_eq!(fc.offers_remembered(), MAX_REMEMBERED_OFFERS);
        assert_eq!(fc.offers_forgotten(), 0);
        // One more: the longest-remembered tenth goes, the new one is kept.
        fc.observe(&offer(MAX_REMEMBERED_OFFERS));
        let forgotten = fc.offers_forgotten() as usize;
        assert!(forgotten >= MAX_REMEMBERED_OFFERS / 10, "{forgotten}");
        assert!(forgotten <= MAX_REMEMBERED_OFFERS / 10 + 1, "{forgotten}");
        assert_eq!(
            fc.offers_remembered() + forgotten,
            MAX_REMEMBERED_OFFERS + 1
        );
        // The first call was forgotten: its end counts under an unknown concern; the
        // newest keeps its concern.
        let first = fc
            .observe(&ended(1, "c0", Some(true), None))
            .expect("ended");
        assert_eq!(first.concern, None);
        let newest = fc
            .observe(&ended(
                2,
                &format!("c{MAX_REMEMBERED_OFFERS}"),
                Some(true),
                None,
            ))
            .expect("ended");
        assert_eq!(newest.concern, name("later"));
    }

    #[test]
    fn concerns_and_departments_beyond_their_bound_count_as_other() {
        let mut events = Vec::new();
        for n in 0..(MAX_CONCERNS + 3) {
            events.push(offered(2 * n, &format!("c{n}"), Some(&format!("k{n}"))));
            events.push(ended(
                2 * n + 1,
                &format!("c{n}"),
                Some(false),
                Some(&format!("d{n}")),
            ));
        }
        let (_, r) = rows(&events);
        assert_eq!(r.by_concern.len(), MAX_CONCERNS + 1, "named plus _other");
        assert_eq!(r.by_concern[&name(OTHER)].ended, 3);
        assert_eq!(r.by_concern[&name("k0")].ended, 1);
        assert_eq!(r.by_department.len(), MAX_DEPARTMENTS + 1);
        assert_eq!(r.by_department[&name(OTHER)].handed_on, 3);
        assert_eq!(r.total().ended, (MAX_CONCERNS + 3) as u64);
    }

    fn bundle(toml_tail: &str) -> Bundle {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(
            dir.path().join("tenant.toml"),
            format!("id = \"t\"\ntimezone = \"Europe/Berlin\"\n{toml_tail}"),
        )
        .expect("write");
        Bundle::load(dir.path()).expect("a valid bundle")
    }

    #[test]
    fn the_report_shows_first_contact_per_concern_department_and_day() {
        let b = bundle(
            "[sla]\nfirst_contact_target = 0.65\n\
             [queues.q]\nsla = { first_contact_target = 0.5 }\n",
        );
        let mut book = SlaBook::new();
        book.open(&b);
        let mut n = 0;
        let mut call = |day: &str, concern: &str, resolved: bool, to: Option<&str>| {
            n += 2;
            let id = format!("c{n}");
            let offer = event(
                n,
                "call.offered",
                at(&format!("{day}T09:00:00+01:00")),
                serde_json::json!({"call_id": id, "queue": "q", "concern": concern}),
            );
            let mut data = serde_json::json!({"call_id": id, "queue": "q",
                                              "talk_seconds": 60, "resolved": resolved});
            if let Some(d) = to {
                data["transferred_to"] = d.into();
            }
            let end = event(
                n + 1,
                "call.ended",
                at(&format!("{day}T09:05:00+01:00")),
                data,
            );
            book.record(&b, &offer);
            book.record(&b, &end);
        };
        call("2026-11-19", "abfall", true, None);
        call("2026-11-19", "abfall", true, None);
        call("2026-11-19", "abfall", false, None);
        call("2026-11-19", "wohngeld", false, Some("sozialamt"));
        call("2026-11-20", "abfall", false, None);
        let report = book.report();
        let t = &report.tenants[0];
        let fc = &t.first_contact;
        assert_eq!(fc.target, Some(0.65));
        assert_eq!((fc.total.ended, fc.total.resolved), (5, 2));
        assert_eq!(fc.total.target_met, Some(false));
        let abfall = &fc.by_concern[0];
        assert_eq!(abfall.concern.as_deref(), Some("abfall"));
        assert_eq!((abfall.figures.ended, abfall.figures.resolved), (4, 2));
        assert_eq!(abfall.figures.first_contact_resolution, Some(0.5));
        assert_eq!(abfall.figures.target_met, Some(false));
        assert_eq!(fc.by_department[0].department, None);
        assert_eq!(fc.by_department[1].department.as_deref(), Some("sozialamt"));
        assert_eq!(fc.by_department[1].figures.handed_on, 1);
        // The queue's own target, beside its figure.
        let q = &t.queues[0];
        assert_eq!(q.first_contact_target, Some(0.5));
        assert_eq!(q.first_contact_resolution, Some(0.4));
        assert_eq!(q.first_contact_target_met, Some(false));
        // One day's share of it.
        let day = fc.of_day(NaiveDate::from_ymd_opt(2026, 11, 19).expect("date"));
        assert_eq!((day.total.ended, day.total.resolved), (4, 2));
        assert_eq!(
            day.by_concern[0].figures.first_contact_resolution,
            Some(2.0 / 3.0)
        );
        assert_eq!(day.target, Some(0.65));
        // The JSON shape, beside the CONTRACT §6 fields.
        let json = serde_json::to_value(&report).expect("json");
        let f = &json["tenants"][0]["first_contact"];
        assert_eq!(f["target"], 0.65);
        assert_eq!(f["by_concern"][1]["concern"], "wohngeld");
        assert_eq!(f["by_concern"][1]["handed_on"], 1);
        assert_eq!(f["by_department"][1]["department"], "sozialamt");
        assert!(
            f.get("days").is_none(),
            "the days stay out of the JSON: {f}"
        );
        assert_eq!(json["tenants"][0]["queues"][0]["first_contact_target"], 0.5);
        // The table.
        let text = report.to_string();
        assert!(
            text.contains(
                "first-contact resolution, target 65.0 %: 2 of 5 reported = 40.0 %; TARGET MISSED"
            ),
            "{text}"
        );
        let row = |first: &str| {
            text.lines()
                .find(|l| l.trim_start().starts_with(first))
                .unwrap_or_else(|| panic!("a {first} row in\n{text}"))
                .to_owned()
        };
        assert!(
            row("abfall").ends_with("50.0 %  below target"),
            "{}",
            row("abfall")
        );
        assert!(
            row(SERVICE_CENTER).contains("50.0 %"),
            "{}",
            row(SERVICE_CENTER)
        );
        assert!(
            row("sozialamt").contains("       1 "),
            "{}",
            row("sozialamt")
        );
        assert!(
            text.contains("first-contact target 50.0 %; TARGET MISSED"),
            "{text}"
        );
    }
}
