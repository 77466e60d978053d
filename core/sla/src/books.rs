//! The SLA books: service-level accounting per tenant and queue, in total and per 30-minute
//! interval of the tenant's local time, with each interval's Erlang C staffing and the
//! tenants' first-contact resolution (CONTRACT §5).
//!
//! It reads accepted envelopes (their typed reading, and the two optional `data` fields
//! first-contact resolution uses) and tenants' service profiles; it neither validates
//! events nor knows any transport. The counting rule is [`crate::counts`]'s.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, Timelike, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

use leitstand_contract::envelope::{Envelope, TenantId};

pub use crate::counts::{Counts, INTERVAL_MINUTES};
pub use crate::figures::{
    ConcernLine, DepartmentLine, FirstContactReport, IntervalReport, PolicyLevels, QueueReport,
    ResolutionLine, SERVICE_CENTER, SlaReport, TenantReport, UNKNOWN_CONCERN,
};
pub use crate::first_contact::{
    EndedCall, FirstContact, FirstContactRows, MAX_CONCERNS, MAX_DEPARTMENTS,
    MAX_REMEMBERED_OFFERS, OTHER, Resolution,
};
use crate::profile::{AbandonPolicy, ServiceProfile, SlaSettings};
use crate::site_figures::{SiteBooks, SiteCounts};
use crate::sites::{Placements, Providers, Route, Tally};

/// The Erlang C staffing of one interval (CONTRACT §5).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
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
    /// The tenant's sites and providers.
    providers: Providers,
    /// The tenant's abandon policy and target: the sites' and providers' service level.
    policy: AbandonPolicy,
    target: f64,
    /// Where each call waits (CONTRACT §8).
    placements: Placements,
    /// Counts per site label.
    sites: BTreeMap<String, SiteCounts>,
}

impl TenantBook {
    fn tally(&mut self, parts: impl IntoIterator<Item = Tally>, at: DateTime<Utc>) {
        let interval = interval_start(at, self.timezone);
        let day = at.with_timezone(&self.timezone).date_naive();
        for t in parts {
            let s = self.sites.entry(t.site).or_default();
            s.intervals.entry(interval).or_default().merge(&t.counts);
            s.days.entry(day).or_default().merge(&t.counts);
            s.day_queues
                .entry((day, t.queue.clone()))
                .or_default()
                .merge(&t.counts);
            s.queues.entry(t.queue).or_default().merge(&t.counts);
        }
    }
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
    pub fn open(&mut self, bundle: &ServiceProfile) {
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
                providers: Providers::default(),
                policy: bundle.sla.abandon_policy,
                target: bundle.sla.target,
                placements: Placements::default(),
                sites: BTreeMap::new(),
            });
        book.first_contact_target = bundle.sla.first_contact_target;
        book.providers = bundle.providers.clone();
        book.policy = bundle.sla.abandon_policy;
        book.target = bundle.sla.target;
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
    pub fn record(&mut self, bundle: &ServiceProfile, env: &Envelope) {
        self.record_routed(bundle, env, &[]);
    }

    /// [`Self::record`], with `routes` the `call.route` commands the tenant's plugins
    /// decided on the event: they place calls at sites (CONTRACT §8).
    pub fn record_routed(&mut self, bundle: &ServiceProfile, env: &Envelope, routes: &[Route]) {
        let Some(domain) = &env.domain else { return };
        if !self.tenants.contains_key(&bundle.tenant) {
            self.open(bundle);
        }
        let Some(book) = self.tenants.get_mut(&bundle.tenant) else {
            return;
        };
        let parts = book.placements.count(bundle, domain, routes);
        book.tally(parts, env.time);
        let Some(queue) = domain.queue() else { return };
        let tz = book.timezone;
        // Looked up before it is inserted: the queue's name is copied only for a new line.
        if !book.queues.contains_key(queue) {
            book.queues.insert(
                queue.to_owned(),
                QueueBook {
                    display_name: queue.to_owned(),
                    sla: bundle.sla_for(queue),
                    total: Counts::default(),
                    intervals: BTreeMap::new(),
                },
            );
        }
        let Some(q) = book.queues.get_mut(queue) else {
            return;
        };
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

    /// A route decided for a call already offered, by a timer: the call now waits at the
    /// route's place (CONTRACT §8).
    pub fn reroute(&mut self, bundle: &ServiceProfile, route: &Route) {
        if !self.tenants.contains_key(&bundle.tenant) {
            self.open(bundle);
        }
        if let Some(book) = self.tenants.get_mut(&bundle.tenant) {
            let part = book.placements.count_reroute(bundle, route);
            book.tally(part, route.at);
        }
    }

    /// The report of everything counted so far.
    pub fn report(&self) -> SlaReport {
        let tenants = self
            .tenants
            .iter()
            .map(|(id, t)| {
                let site_books = SiteBooks {
                    providers: t.providers.clone(),
                    policy: Some(t.policy),
                    target: t.target,
                    sites: t.sites.clone(),
                };
                let (sites, providers) = site_books.lines(t.timezone, None);
                TenantReport {
                    sites,
                    providers,
                    site_books,
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
                }
            })
            .collect();
        SlaReport { tenants }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::profile::AbandonPolicy;
    use leitstand_contract::domain::{CallLeftQueue, DomainEvent};

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
                sites: Vec::new(),
                providers: Vec::new(),
                site_books: Default::default(),
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
        leitstand_contract::envelope::parse_value(
            serde_json::json!({"specversion": "1.0", "id": format!("e{n}"),
                "source": "acd/test", "type": kind, "tenant": "t",
                "time": at.to_rfc3339(), "data": data}),
            leitstand_contract::envelope::IntakeLimits::default(),
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

    /// Tenant `t` in Berlin promising 65 % first-contact resolution, its queue `q` 50 %.
    fn profile() -> ServiceProfile {
        let tenant_sla = SlaSettings {
            first_contact_target: Some(0.65),
            ..settings()
        };
        let q = crate::profile::QueueSpec {
            display_name: "q".into(),
            sla: SlaSettings {
                first_contact_target: Some(0.5),
                ..tenant_sla
            },
        };
        ServiceProfile {
            tenant: TenantId::parse("t").expect("valid"),
            display_name: "t".into(),
            timezone: chrono_tz::Europe::Berlin,
            sla: tenant_sla,
            queues: [("q".to_owned(), q)].into(),
            calendars: None,
            providers: Default::default(),
        }
    }

    #[test]
    fn the_report_shows_first_contact_per_concern_department_and_day() {
        let b = profile();
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
