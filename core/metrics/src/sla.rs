//! The live SLA metrics: per tenant and queue, what CONTRACT §5 counts, as Prometheus
//! families (docs/METRICS.md, section SLA).
//!
//! Owns the live view of the calls: counters of offered, answered, abandoned and ended
//! calls, wait and talk histograms with buckets at each queue's threshold and short-abandon
//! limit, the calls waiting now and the oldest of them, the sites' reported capacity, the
//! service level over a rolling window of event time, the Erlang C staffing of the
//! latest complete interval, and ended calls per concern and per department for
//! first-contact resolution. The counting rules are [`crate::sla`]'s, so that a replay's
//! metrics and its report agree. The daemon and the replay feed it accepted, first-seen
//! events through [`SlaMetrics::observe`]; it never parses events itself.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex, PoisonError};

use chrono::{DateTime, NaiveDate, Utc};
use chrono_tz::Tz;
use prometheus::core::{Collector, Desc};
use prometheus::proto::{self, LabelPair, MetricFamily, MetricType};

use leitstand_contract::domain::{DomainEvent, Priority};
use leitstand_contract::envelope::{Envelope, TenantId};
use leitstand_contract::journal::{BoardChange, KeptBoard};
use leitstand_sla::books::{
    Counts, FirstContact, FirstContactRows, Resolution, Staffing, interval_staffing, interval_start,
};
use leitstand_sla::sites::{Placements, Providers, Route, Tally};
use leitstand_sla::{AbandonPolicy, Calendars, ServiceProfile, SlaSettings};
use serde::{Deserialize, Serialize};

mod board;

use board::Board;

/// Undeclared queue names one tenant may add as labels; later ones count as [`OTHER`].
pub const MAX_UNDECLARED_QUEUES: usize = 16;
/// Sites one tenant may report; later ones are not exported.
pub const MAX_SITES: usize = 64;
/// Waiting calls remembered per tenant; beyond it the oldest are forgotten.
pub const MAX_WAITING_CALLS: usize = 100_000;
/// The label of queues beyond [`MAX_UNDECLARED_QUEUES`], and of concerns and departments
/// beyond [`leitstand_sla::books::MAX_CONCERNS`] and [`leitstand_sla::books::MAX_DEPARTMENTS`].
pub const OTHER: &str = leitstand_sla::books::OTHER;
/// The `concern` label of ended calls whose concern is unknown (their offer was not seen,
/// named no concern, or was forgotten).
pub const UNKNOWN_CONCERN: &str = "_unknown";
/// The `department` label of ended calls not handed on to a department: the service
/// center settled or closed them itself.
pub const SERVICE_CENTER: &str = "_service_center";

/// The `provider` label of sites no provider declares (and of calls at no site).
pub const NO_PROVIDER: &str = "_none";

/// Wait buckets every queue has, in seconds; its threshold and short-abandon limit are
/// added.
const WAIT_BUCKETS: &[f64] = &[
    5.0, 10.0, 15.0, 20.0, 30.0, 45.0, 60.0, 90.0, 120.0, 180.0, 300.0, 600.0,
];
/// Talk-time buckets, in seconds.
const TALK_BUCKETS: &[f64] = &[
    30.0, 60.0, 120.0, 180.0, 240.0, 300.0, 420.0, 600.0, 900.0, 1800.0,
];

/// Which clock says how old the oldest waiting call is and whether a tenant is open.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Clock {
    /// The host's clock: the daemon.
    Wall,
    /// The tenant's latest event time: a replay.
    Event,
}

/// A histogram with fixed bounds.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Hist {
    bounds: Vec<f64>,
    /// Per bound, observations ≤ it (not cumulative; summed when exported).
    counts: Vec<u64>,
    count: u64,
    sum: f64,
}

impl Hist {
    fn new(bounds: Vec<f64>) -> Self {
        let n = bounds.len();
        Self {
            bounds,
            counts: vec![0; n],
            count: 0,
            sum: 0.0,
        }
    }

    fn observe(&mut self, v: f64) {
        if let Some(i) = self.bounds.iter().position(|b| v <= *b) {
            self.counts[i] += 1;
        }
        self.count += 1;
        self.sum += v;
    }

    fn proto(&self) -> proto::Histogram {
        let mut h = proto::Histogram::default();
        h.set_sample_count(self.count);
        h.set_sample_sum(self.sum);
        let mut cumulative = 0;
        let buckets = self
            .bounds
            .iter()
            .zip(&self.counts)
            .map(|(bound, n)| {
                cumulative += n;
                let mut b = proto::Bucket::default();
                b.set_upper_bound(*bound);
                b.set_cumulative_count(cumulative);
                b
            })
            .collect();
        h.set_bucket(buckets);
        h
    }
}

fn wait_bounds(sla: &SlaSettings) -> Vec<f64> {
    let mut b: Vec<f64> = WAIT_BUCKETS.to_vec();
    b.push(f64::from(sla.threshold_seconds));
    b.push(f64::from(sla.short_abandon_seconds));
    b.sort_by(f64::total_cmp);
    b.dedup();
    b
}

/// One queue's live figures.
#[derive(Debug, Clone)]
struct QueueLive {
    sla: SlaSettings,
    total: Counts,
    wait_answered: Hist,
    wait_abandoned: Hist,
    talk: Hist,
    /// Per event-time minute, the counts of that minute (the rolling window).
    minutes: VecDeque<(i64, Counts)>,
    /// The interval being counted and its counts.
    interval: Option<(DateTime<Utc>, Counts)>,
    /// The staffing of the latest complete interval.
    staffing: Option<Staffing>,
}

impl QueueLive {
    fn new(sla: SlaSettings) -> Self {
        Self {
            sla,
            total: Counts::default(),
            wait_answered: Hist::new(wait_bounds(&sla)),
            wait_abandoned: Hist::new(wait_bounds(&sla)),
            talk: Hist::new(TALK_BUCKETS.to_vec()),
            minutes: VecDeque::new(),
            interval: None,
            staffing: None,
        }
    }

    /// New settings from a reloaded bundle; histograms whose buckets change start again.
    fn settle(&mut self, sla: SlaSettings) {
        if wait_bounds(&sla) != self.wait_answered.bounds {
            self.wait_answered = Hist::new(wait_bounds(&sla));
            self.wait_abandoned = Hist::new(wait_bounds(&sla));
        }
        self.sla = sla;
    }

    /// Closes the interval being counted: its staffing becomes the exported one.
    fn close_interval(&mut self) {
        if let Some((_, counts)) = self.interval.take() {
            self.staffing = interval_staffing(&counts, &self.total, &self.sla);
        }
    }

    fn record(&mut self, domain: &DomainEvent, at: DateTime<Utc>, tz: Tz, window_minutes: i64) {
        let start = interval_start(at, tz);
        match &self.interval {
            Some((current, _)) if *current < start => {
                // The next interval begins; staffing is for complete intervals, and the
                // running counts must not yet hold this event.
                self.close_interval();
            }
            _ => {}
        }
        let sla = self.sla;
        self.total.add(domain, &sla);
        match &mut self.interval {
            Some((current, counts)) if *current == start => counts.add(domain, &sla),
            Some(_) => {} // an event of an earlier interval arriving late
            None => {
                let mut counts = Counts::default();
                counts.add(domain, &sla);
                self.interval = Some((start, counts));
            }
        }
        match domain {
            DomainEvent::CallAnswered(e) => self.wait_answered.observe(e.wait_seconds),
            DomainEvent::CallAbandoned(e) => self.wait_abandoned.observe(e.wait_seconds),
            DomainEvent::CallEnded(e) => self.talk.observe(e.talk_seconds),
            _ => {}
        }
        let minute = at.timestamp().div_euclid(60);
        match self.minutes.iter_mut().rev().find(|(m, _)| *m == minute) {
            Some((_, c)) => c.add(domain, &sla),
            None => {
                let mut c = Counts::default();
                c.add(domain, &sla);
                let pos = self.minutes.partition_point(|(m, _)| *m < minute);
                self.minutes.insert(pos, (minute, c));
            }
        }
        if let Some(&(newest, _)) = self.minutes.back() {
            while self
                .minutes
                .front()
                .is_some_and(|(m, _)| *m <= newest - window_minutes)
            {
                self.minutes.pop_front();
            }
        }
    }

    /// The counts of the rolling window ending at the latest minute.
    fn window(&self) -> Counts {
        let mut sum = Counts::default();
        for (_, c) in &self.minutes {
            sum.merge(c);
        }
        sum
    }
}

/// A call offered and not yet answered or abandoned.
#[derive(Debug, Clone)]
struct Waiting {
    queue: String,
    priority: Priority,
    since: DateTime<Utc>,
}

/// A site's latest `site.status`.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
struct SiteLive {
    staffed: u32,
    available: u32,
    calls_waiting: Option<u32>,
}

#[derive(Debug, Clone)]
struct TenantLive {
    timezone: Tz,
    /// The tenant's calendars; `leitstand_tenant_open` reads its own.
    calendars: Option<Arc<Calendars>>,
    /// What the wallboard shows of its queues now; kept durably with each commit.
    board: Board,
    /// The tenant's `[sla] first_contact_target`.
    first_contact_target: Option<f64>,
    /// The tenant's `[sla] target`: a provider's unless its contract names its own.
    target: f64,
    /// Which concern each call has, for first-contact resolution.
    first_contact: FirstContact,
    /// Ended calls per concern and per department.
    resolutions: FirstContactRows,
    /// The tenant's sites and providers.
    providers: Providers,
    /// Where each call waits (CONTRACT §8).
    placements: Placements,
    /// Counts per (site label, queue).
    sites: BTreeMap<(String, String), Counts>,
    /// Per provider: the local day and the calls offered at its sites on it.
    today: BTreeMap<String, (NaiveDate, u64)>,
}

impl TenantLive {
    fn tally(&mut self, parts: Vec<Tally>, at: DateTime<Utc>) {
        let day = at.with_timezone(&self.timezone).date_naive();
        for t in parts {
            if t.counts.offered > 0
                && let Some(p) = self.providers.provider_of(&t.site)
            {
                let e = self.today.entry(p.to_owned()).or_insert((day, 0));
                if e.0 < day {
                    *e = (day, 0);
                }
                e.1 += t.counts.offered;
            }
            self.sites
                .entry((t.site, t.queue))
                .or_default()
                .merge(&t.counts);
        }
    }
}

/// The live SLA figures of every tenant, exported as Prometheus families when the
/// registry they are registered with is gathered.
pub struct SlaMetrics {
    tenants: Mutex<BTreeMap<TenantId, TenantLive>>,
    window_minutes: i64,
    clock: Clock,
    descs: Vec<Desc>,
}

impl std::fmt::Debug for SlaMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SlaMetrics")
            .field("window_minutes", &self.window_minutes)
            .field("clock", &self.clock)
            .finish_non_exhaustive()
    }
}

/// (name, help, type, labels) of every family, in export order.
const FAMILIES: &[(&str, &str, MetricType, &[&str])] = &[
    (
        "leitstand_calls_offered_total",
        "call.offered events.",
        MetricType::COUNTER,
        &["tenant", "queue"],
    ),
    (
        "leitstand_calls_answered_total",
        "call.answered events.",
        MetricType::COUNTER,
        &["tenant", "queue"],
    ),
    (
        "leitstand_calls_answered_within_threshold_total",
        "Calls answered with a wait at most the queue's threshold.",
        MetricType::COUNTER,
        &["tenant", "queue"],
    ),
    (
        "leitstand_calls_abandoned_total",
        "call.abandoned events.",
        MetricType::COUNTER,
        &["tenant", "queue"],
    ),
    (
        "leitstand_calls_short_abandoned_total",
        "Calls abandoned with a wait at most the queue's short-abandon limit.",
        MetricType::COUNTER,
        &["tenant", "queue"],
    ),
    (
        "leitstand_calls_abandoned_within_threshold_total",
        "Calls abandoned with a wait at most the queue's threshold.",
        MetricType::COUNTER,
        &["tenant", "queue"],
    ),
    (
        "leitstand_calls_ended_total",
        "call.ended events.",
        MetricType::COUNTER,
        &["tenant", "queue"],
    ),
    (
        "leitstand_calls_resolution_reported_total",
        "Ended calls that say whether they were resolved at first contact.",
        MetricType::COUNTER,
        &["tenant", "queue"],
    ),
    (
        "leitstand_calls_resolved_total",
        "Ended calls resolved at first contact.",
        MetricType::COUNTER,
        &["tenant", "queue"],
    ),
    (
        "leitstand_calls_ended_by_concern_total",
        "Ended calls by the concern their offer named and by whether they were resolved at \
         first contact (resolved, unresolved, unreported).",
        MetricType::COUNTER,
        &["tenant", "concern", "resolution"],
    ),
    (
        "leitstand_calls_handed_on_by_concern_total",
        "Ended calls handed on to a department, by the concern their offer named.",
        MetricType::COUNTER,
        &["tenant", "concern"],
    ),
    (
        "leitstand_calls_ended_by_department_total",
        "Ended calls by the department they were handed on to (_service_center: not handed \
         on) and by whether they were resolved at first contact.",
        MetricType::COUNTER,
        &["tenant", "department", "resolution"],
    ),
    (
        "leitstand_call_wait_seconds",
        "Wait in queue of answered and abandoned calls; buckets include the queue's \
         threshold and short-abandon limit.",
        MetricType::HISTOGRAM,
        &["tenant", "queue", "outcome"],
    ),
    (
        "leitstand_call_talk_seconds",
        "Talk time of ended calls.",
        MetricType::HISTOGRAM,
        &["tenant", "queue"],
    ),
    (
        "leitstand_calls_waiting",
        "Calls offered and not yet answered or abandoned.",
        MetricType::GAUGE,
        &["tenant", "queue", "priority"],
    ),
    (
        "leitstand_oldest_wait_seconds",
        "Age of the oldest waiting call (0 when none waits).",
        MetricType::GAUGE,
        &["tenant", "queue", "priority"],
    ),
    (
        "leitstand_service_level",
        "Service level under the queue's abandon policy over the rolling window of event time.",
        MetricType::GAUGE,
        &["tenant", "queue"],
    ),
    (
        "leitstand_service_level_target",
        "The promised service level of the queue (0.8 for 80 %).",
        MetricType::GAUGE,
        &["tenant", "queue"],
    ),
    (
        "leitstand_service_level_threshold_seconds",
        "The queue's threshold: a wait at most this is within the service level.",
        MetricType::GAUGE,
        &["tenant", "queue"],
    ),
    (
        "leitstand_short_abandon_seconds",
        "The queue's short-abandon limit.",
        MetricType::GAUGE,
        &["tenant", "queue"],
    ),
    (
        "leitstand_queue_first_contact_target",
        "The queue's promised first-contact resolution (0.65 for 65 %).",
        MetricType::GAUGE,
        &["tenant", "queue"],
    ),
    (
        "leitstand_abandon_policy",
        "1 for the abandon policy the queue's service level follows.",
        MetricType::GAUGE,
        &["tenant", "queue", "policy"],
    ),
    (
        "leitstand_staffing_agents_required",
        "Erlang C agents for the latest complete 30-minute interval's arrivals and AHT at \
         the queue's target, before shrinkage.",
        MetricType::GAUGE,
        &["tenant", "queue"],
    ),
    (
        "leitstand_staffing_agents_scheduled",
        "Agents to schedule for the latest complete interval, after the queue's shrinkage.",
        MetricType::GAUGE,
        &["tenant", "queue"],
    ),
    (
        "leitstand_site_agents_staffed",
        "Agents staffed at a site, from its latest site.status.",
        MetricType::GAUGE,
        &["tenant", "site"],
    ),
    (
        "leitstand_site_agents_available",
        "Agents available at a site, from its latest site.status.",
        MetricType::GAUGE,
        &["tenant", "site"],
    ),
    (
        "leitstand_site_calls_waiting",
        "Calls waiting at a site, from its latest site.status.",
        MetricType::GAUGE,
        &["tenant", "site"],
    ),
    (
        "leitstand_tenant_open",
        "1 while the tenant's calendar has it open, 0 while closed.",
        MetricType::GAUGE,
        &["tenant"],
    ),
    (
        "leitstand_first_contact_target",
        "The tenant's promised first-contact resolution (0.65 for 65 %).",
        MetricType::GAUGE,
        &["tenant"],
    ),
    (
        "leitstand_site_calls_offered_total",
        "Calls offered at a site: placed there by the route on their offer (else the offer's site) or rerouted there; once per call and site.",
        MetricType::COUNTER,
        &["tenant", "queue", "site", "provider"],
    ),
    (
        "leitstand_site_calls_answered_total",
        "Calls answered at a site (CONTRACT §8).",
        MetricType::COUNTER,
        &["tenant", "queue", "site", "provider"],
    ),
    (
        "leitstand_site_calls_answered_within_threshold_total",
        "Calls answered at a site with a wait at most the queue's threshold.",
        MetricType::COUNTER,
        &["tenant", "queue", "site", "provider"],
    ),
    (
        "leitstand_site_calls_abandoned_total",
        "Calls abandoned while waiting at a site (CONTRACT §8).",
        MetricType::COUNTER,
        &["tenant", "queue", "site", "provider"],
    ),
    (
        "leitstand_site_calls_short_abandoned_total",
        "Calls abandoned at a site with a wait at most the queue's short-abandon limit.",
        MetricType::COUNTER,
        &["tenant", "queue", "site", "provider"],
    ),
    (
        "leitstand_site_calls_abandoned_within_threshold_total",
        "Calls abandoned at a site with a wait at most the queue's threshold.",
        MetricType::COUNTER,
        &["tenant", "queue", "site", "provider"],
    ),
    (
        "leitstand_site_answered_wait_seconds_total",
        "Sum of the waits of the calls answered at a site (ASA = this / answered).",
        MetricType::COUNTER,
        &["tenant", "queue", "site", "provider"],
    ),
    (
        "leitstand_site_calls_ended_total",
        "Calls ended that were answered at a site.",
        MetricType::COUNTER,
        &["tenant", "queue", "site", "provider"],
    ),
    (
        "leitstand_site_calls_resolution_reported_total",
        "Calls ended at a site that say whether they were resolved.",
        MetricType::COUNTER,
        &["tenant", "queue", "site", "provider"],
    ),
    (
        "leitstand_site_calls_resolved_total",
        "Calls ended at a site with resolved: true.",
        MetricType::COUNTER,
        &["tenant", "queue", "site", "provider"],
    ),
    (
        "leitstand_provider_share_target",
        "A provider's contracted share of a queue's handled calls (0.6 for 60 %).",
        MetricType::GAUGE,
        &["tenant", "provider", "queue"],
    ),
    (
        "leitstand_provider_service_level_target",
        "A provider's service-level target: its contract's own, else the tenant's.",
        MetricType::GAUGE,
        &["tenant", "provider"],
    ),
    (
        "leitstand_provider_daily_cap",
        "A provider's daily cap of calls; absent without a cap.",
        MetricType::GAUGE,
        &["tenant", "provider"],
    ),
    (
        "leitstand_provider_calls_today",
        "Calls offered at a provider's sites on the tenant's current local day (what its daily cap counts).",
        MetricType::GAUGE,
        &["tenant", "provider"],
    ),
];

/// The `resolution` label values of ended calls and their counts in `r`.
fn by_resolution(r: &Resolution) -> [(&'static str, u64); 3] {
    [
        ("resolved", r.resolved),
        ("unresolved", r.resolution_reported - r.resolved),
        ("unreported", r.ended - r.resolution_reported),
    ]
}

fn policy_name(p: AbandonPolicy) -> &'static str {
    match p {
        AbandonPolicy::ExcludeShort => "exclude-short",
        AbandonPolicy::Count => "count",
        AbandonPolicy::Exclude => "exclude",
        AbandonPolicy::SuccessWithin => "success-within",
    }
}

const POLICIES: [AbandonPolicy; 4] = [
    AbandonPolicy::ExcludeShort,
    AbandonPolicy::Count,
    AbandonPolicy::Exclude,
    AbandonPolicy::SuccessWithin,
];

fn priority_name(p: Priority) -> &'static str {
    match p {
        Priority::Normal => "normal",
        Priority::Emergency => "emergency",
    }
}

impl SlaMetrics {
    /// Live figures with a rolling service-level window of `window_minutes` of event
    /// time, reading ages and opening hours on `clock`.
    pub fn new(window_minutes: u32, clock: Clock) -> prometheus::Result<Self> {
        let descs = FAMILIES
            .iter()
            .map(|(name, help, _, labels)| {
                Desc::new(
                    (*name).to_owned(),
                    (*help).to_owned(),
                    labels.iter().map(|l| (*l).to_owned()).collect(),
                    HashMap::new(),
                )
            })
            .collect::<prometheus::Result<Vec<_>>>()?;
        Ok(Self {
            tenants: Mutex::new(BTreeMap::new()),
            window_minutes: i64::from(window_minutes.max(1)),
            clock,
            descs,
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<TenantId, TenantLive>> {
        self.tenants.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Opens (or, on a reload, updates) the accounts of `bundle`'s tenant: a line for every
    /// declared queue, its settings, timezone and calendar. Counts so far are kept.
    pub fn open(&self, bundle: &ServiceProfile) {
        let mut tenants = self.lock();
        let t = tenants
            .entry(bundle.tenant.clone())
            .or_insert_with(|| TenantLive {
                timezone: bundle.timezone,
                calendars: None,
                board: Board::default(),
                first_contact_target: None,
                first_contact: FirstContact::default(),
                resolutions: FirstContactRows::default(),
                target: bundle.sla.target,
                providers: Providers::default(),
                placements: Placements::default(),
                sites: BTreeMap::new(),
                today: BTreeMap::new(),
            });
        t.timezone = bundle.timezone;
        t.providers = bundle.providers.clone();
        t.target = bundle.sla.target;
        t.calendars = bundle.calendars.clone();
        t.first_contact_target = bundle.sla.first_contact_target;
        t.board.declare(bundle);
    }

    /// Forgets a tenant whose bundle was removed.
    pub fn close(&self, tenant: &TenantId) {
        self.lock().remove(tenant);
    }

    /// Runs `f` on the accounts of `bundle`'s tenant, opened first when they are not.
    fn with_tenant<R>(
        &self,
        bundle: &ServiceProfile,
        f: impl FnOnce(&mut TenantLive) -> R,
    ) -> Option<R> {
        let mut tenants = self.lock();
        if !tenants.contains_key(&bundle.tenant) {
            drop(tenants);
            self.open(bundle);
            tenants = self.lock();
        }
        tenants.get_mut(&bundle.tenant).map(f)
    }

    /// Counts one accepted, first-seen event of `bundle`'s tenant.
    pub fn observe(&self, bundle: &ServiceProfile, env: &Envelope) {
        self.observe_routed(bundle, env, &[]);
    }

    /// [`Self::observe`], with `routes` the `call.route` commands the tenant's plugins
    /// decided on the event: they place calls at sites (CONTRACT §8), as in the books.
    pub fn observe_routed(&self, bundle: &ServiceProfile, env: &Envelope, routes: &[Route]) {
        let Some(domain) = &env.domain else { return };
        let window = self.window_minutes;
        self.with_tenant(bundle, |t| {
            let parts = t.placements.count(bundle, domain, routes);
            t.tally(parts, env.time);
            let tz = t.timezone;
            t.board.record(bundle, domain, env.time, tz, window);
            if let Some(call) = t.first_contact.observe(env) {
                t.resolutions.add(&call);
            }
        });
    }

    /// A route decided for a call already offered, by a timer: the call now waits at the
    /// route's place (CONTRACT §8).
    pub fn reroute(&self, bundle: &ServiceProfile, route: &Route) {
        self.with_tenant(bundle, |t| {
            let part = t.placements.count_reroute(bundle, route);
            t.tally(part.into_iter().collect(), route.at);
        });
    }

    /// What counting `envs` (the batch's accepted, first-seen events of `bundle`'s tenant,
    /// in order) changes of the tenant's board, in its durable form: committed with the
    /// batch, so that the daemon that processes the tenant next continues from it. The
    /// board itself changes only when [`Self::observe`] counts the events after the
    /// commit; [`Self::board_committed`] says the commit landed.
    pub fn board_after<'a>(
        &self,
        bundle: &ServiceProfile,
        envs: impl IntoIterator<Item = &'a Envelope>,
    ) -> Result<BoardChange, String> {
        let window = self.window_minutes;
        let tenants = self.lock();
        let empty = Board::default();
        let (board, tz) = match tenants.get(&bundle.tenant) {
            Some(t) => (&t.board, t.timezone),
            None => (&empty, bundle.timezone),
        };
        let mut ahead = board.summary();
        ahead.declare(bundle);
        let mut changes = Vec::new();
        for env in envs {
            if let Some(domain) = &env.domain
                && let Some(change) = ahead.count(bundle, domain, env.time, tz, window)
            {
                changes.push(change);
            }
        }
        board.change(&ahead, changes)
    }

    /// The change [`Self::board_after`] made for `tenant` is committed: the calls it ended
    /// because the board had forgotten them are gone durably.
    pub fn board_committed(&self, tenant: &TenantId) {
        if let Some(t) = self.lock().get_mut(tenant) {
            t.board.forgotten.clear();
        }
    }

    /// Continues `bundle`'s tenant's board from what the journal kept (what
    /// [`Self::board_after`] changed, commit by commit): a daemon that starts, or takes
    /// the tenant over, shows the calls waiting, the oldest wait, the rolling window and
    /// the interval counts where they were. The board in memory is replaced; on an error
    /// it is left as it was. Returns how many kept calls could not be continued.
    pub fn restore_board(
        &self,
        bundle: &ServiceProfile,
        kept: &KeptBoard,
    ) -> Result<usize, String> {
        let board = Board::restore(bundle, kept, self.window_minutes)?;
        let dropped = board.forgotten.len();
        self.with_tenant(bundle, |t| t.board = board);
        Ok(dropped)
    }

    /// Closes every tenant's interval in progress, so that its staffing is exported: the
    /// end of a replay, where no later event will close it.
    pub fn close_intervals(&self) {
        for t in self.lock().values_mut() {
            for q in t.board.queues.values_mut() {
                q.close_interval();
            }
        }
    }

    fn families(&self) -> Vec<MetricFamily> {
        let tenants = self.lock();
        let mut out: BTreeMap<&str, Vec<proto::Metric>> = BTreeMap::new();
        let mut push = |name: &'static str, labels: &[(&str, &str)], fill: Value| {
            let mut m = proto::Metric::default();
            m.set_label(
                labels
                    .iter()
                    .map(|(k, v)| {
                        let mut l = LabelPair::default();
                        l.set_name((*k).to_owned());
                        l.set_value((*v).to_owned());
                        l
                    })
                    .collect(),
            );
            match fill {
                Value::Counter(v) => {
                    let mut c = proto::Counter::default();
                    c.set_value(v);
                    m.set_counter(c);
                }
                Value::Gauge(v) => {
                    let mut g = proto::Gauge::default();
                    g.set_value(v);
                    m.set_gauge(g);
                }
                Value::Histogram(h) => m.set_histogram(h),
            }
            out.entry(name).or_default().push(m);
        };
        for (tenant, t) in tenants.iter() {
            let tn = tenant.as_str();
            let now = match self.clock {
                Clock::Wall => Some(Utc::now()),
                Clock::Event => t.board.latest,
            };
            // Waiting calls per queue and priority: count and oldest.
            let mut waiting: BTreeMap<(&str, &str), WaitingSummary> = BTreeMap::new();
            for w in t.board.waiting.values() {
                let e = waiting
                    .entry((w.queue.as_str(), priority_name(w.priority)))
                    .or_insert((0, None));
                e.0 += 1;
                e.1 = Some(e.1.map_or(w.since, |s| s.min(w.since)));
            }
            for (qn, q) in &t.board.queues {
                let l = [("tenant", tn), ("queue", qn.as_str())];
                let c = &q.total;
                let counter = |v: u64| Value::Counter(v as f64);
                push("leitstand_calls_offered_total", &l, counter(c.offered));
                push("leitstand_calls_answered_total", &l, counter(c.answered));
                push(
                    "leitstand_calls_answered_within_threshold_total",
                    &l,
                    counter(c.answered_within),
                );
                push("leitstand_calls_abandoned_total", &l, counter(c.abandoned));
                push(
                    "leitstand_calls_short_abandoned_total",
                    &l,
                    counter(c.short_abandoned),
                );
                push(
                    "leitstand_calls_abandoned_within_threshold_total",
                    &l,
                    counter(c.abandoned_within),
                );
                push("leitstand_calls_ended_total", &l, counter(c.ended));
                push(
                    "leitstand_calls_resolution_reported_total",
                    &l,
                    counter(c.resolution_known),
                );
                push("leitstand_calls_resolved_total", &l, counter(c.resolved));
                for (outcome, h) in [
                    ("answered", &q.wait_answered),
                    ("abandoned", &q.wait_abandoned),
                ] {
                    push(
                        "leitstand_call_wait_seconds",
                        &[("tenant", tn), ("queue", qn), ("outcome", outcome)],
                        Value::Histogram(h.proto()),
                    );
                }
                push(
                    "leitstand_call_talk_seconds",
                    &l,
                    Value::Histogram(q.talk.proto()),
                );
                for p in [Priority::Normal, Priority::Emergency] {
                    let (n, since) = waiting
                        .get(&(qn.as_str(), priority_name(p)))
                        .copied()
                        .unwrap_or((0, None));
                    let pl = [
                        ("tenant", tn),
                        ("queue", qn),
                        ("priority", priority_name(p)),
                    ];
                    push("leitstand_calls_waiting", &pl, Value::Gauge(n as f64));
                    let age = match (since, now) {
                        (Some(s), Some(now)) => {
                            ((now - s).num_milliseconds() as f64 / 1000.0).max(0.0)
                        }
                        _ => 0.0,
                    };
                    push("leitstand_oldest_wait_seconds", &pl, Value::Gauge(age));
                }
                if let Some(level) = q.window().service_level(q.sla.abandon_policy) {
                    push("leitstand_service_level", &l, Value::Gauge(level));
                }
                push(
                    "leitstand_service_level_target",
                    &l,
                    Value::Gauge(q.sla.target),
                );
                push(
                    "leitstand_service_level_threshold_seconds",
                    &l,
                    Value::Gauge(f64::from(q.sla.threshold_seconds)),
                );
                push(
                    "leitstand_short_abandon_seconds",
                    &l,
                    Value::Gauge(f64::from(q.sla.short_abandon_seconds)),
                );
                if let Some(target) = q.sla.first_contact_target {
                    push(
                        "leitstand_queue_first_contact_target",
                        &l,
                        Value::Gauge(target),
                    );
                }
                for p in POLICIES {
                    push(
                        "leitstand_abandon_policy",
                        &[("tenant", tn), ("queue", qn), ("policy", policy_name(p))],
                        Value::Gauge(if p == q.sla.abandon_policy { 1.0 } else { 0.0 }),
                    );
                }
                if let Some(s) = &q.staffing {
                    push(
                        "leitstand_staffing_agents_required",
                        &l,
                        Value::Gauge(f64::from(s.agents_required)),
                    );
                    push(
                        "leitstand_staffing_agents_scheduled",
                        &l,
                        Value::Gauge(f64::from(s.agents_scheduled)),
                    );
                }
            }
            for (site, s) in &t.board.sites {
                let l = [("tenant", tn), ("site", site.as_str())];
                push(
                    "leitstand_site_agents_staffed",
                    &l,
                    Value::Gauge(f64::from(s.staffed)),
                );
                push(
                    "leitstand_site_agents_available",
                    &l,
                    Value::Gauge(f64::from(s.available)),
                );
                if let Some(w) = s.calls_waiting {
                    push(
                        "leitstand_site_calls_waiting",
                        &l,
                        Value::Gauge(f64::from(w)),
                    );
                }
            }
            for (concern, r) in &t.resolutions.by_concern {
                let concern = concern.as_deref().unwrap_or(UNKNOWN_CONCERN);
                for (resolution, n) in by_resolution(r) {
                    push(
                        "leitstand_calls_ended_by_concern_total",
                        &[
                            ("tenant", tn),
                            ("concern", concern),
                            ("resolution", resolution),
                        ],
                        Value::Counter(n as f64),
                    );
                }
                push(
                    "leitstand_calls_handed_on_by_concern_total",
                    &[("tenant", tn), ("concern", concern)],
                    Value::Counter(r.handed_on as f64),
                );
            }
            for (department, r) in &t.resolutions.by_department {
                let department = department.as_deref().unwrap_or(SERVICE_CENTER);
                for (resolution, n) in by_resolution(r) {
                    push(
                        "leitstand_calls_ended_by_department_total",
                        &[
                            ("tenant", tn),
                            ("department", department),
                            ("resolution", resolution),
                        ],
                        Value::Counter(n as f64),
                    );
                }
            }
            if let Some(target) = t.first_contact_target {
                push(
                    "leitstand_first_contact_target",
                    &[("tenant", tn)],
                    Value::Gauge(target),
                );
            }
            for ((site, queue), c) in &t.sites {
                let provider = t.providers.provider_of(site).unwrap_or(NO_PROVIDER);
                let l = [
                    ("tenant", tn),
                    ("queue", queue.as_str()),
                    ("site", site.as_str()),
                    ("provider", provider),
                ];
                let counter = |v: u64| Value::Counter(v as f64);
                push("leitstand_site_calls_offered_total", &l, counter(c.offered));
                push(
                    "leitstand_site_calls_answered_total",
                    &l,
                    counter(c.answered),
                );
                push(
                    "leitstand_site_calls_answered_within_threshold_total",
                    &l,
                    counter(c.answered_within),
                );
                push(
                    "leitstand_site_calls_abandoned_total",
                    &l,
                    counter(c.abandoned),
                );
                push(
                    "leitstand_site_calls_short_abandoned_total",
                    &l,
                    counter(c.short_abandoned),
                );
                push(
                    "leitstand_site_calls_abandoned_within_threshold_total",
                    &l,
                    counter(c.abandoned_within),
                );
                push(
                    "leitstand_site_answered_wait_seconds_total",
                    &l,
                    Value::Counter(c.answered_wait_seconds),
                );
                push("leitstand_site_calls_ended_total", &l, counter(c.ended));
                push(
                    "leitstand_site_calls_resolution_reported_total",
                    &l,
                    counter(c.resolution_known),
                );
                push(
                    "leitstand_site_calls_resolved_total",
                    &l,
                    counter(c.resolved),
                );
            }
            for (id, p) in &t.providers.providers {
                let l = [("tenant", tn), ("provider", id.as_str())];
                for (queue, share) in &p.shares {
                    push(
                        "leitstand_provider_share_target",
                        &[
                            ("tenant", tn),
                            ("provider", id.as_str()),
                            ("queue", queue.as_str()),
                        ],
                        Value::Gauge(*share),
                    );
                }
                let target = p.target.unwrap_or(t.target);
                push(
                    "leitstand_provider_service_level_target",
                    &l,
                    Value::Gauge(target),
                );
                if let Some(cap) = p.daily_cap {
                    push("leitstand_provider_daily_cap", &l, Value::Gauge(cap as f64));
                }
                let today = now.map(|n| n.with_timezone(&t.timezone).date_naive());
                let calls = match (t.today.get(id), today) {
                    (Some((day, n)), Some(today)) if *day == today => *n,
                    _ => 0,
                };
                push(
                    "leitstand_provider_calls_today",
                    &l,
                    Value::Gauge(calls as f64),
                );
            }
            if let (Some(calendars), Some(now)) = (&t.calendars, now) {
                let open = calendars.tenant().is_open(now);
                push(
                    "leitstand_tenant_open",
                    &[("tenant", tn)],
                    Value::Gauge(if open { 1.0 } else { 0.0 }),
                );
            }
        }
        drop(tenants);
        FAMILIES
            .iter()
            .filter_map(|(name, help, ty, _)| {
                let metrics = out.remove(name)?;
                let mut f = MetricFamily::default();
                f.set_name((*name).to_owned());
                f.set_help((*help).to_owned());
                f.set_field_type(*ty);
                f.set_metric(metrics);
                Some(f)
            })
            .collect()
    }
}

/// The calls waiting in one queue at one priority: how many, and since when the oldest.
type WaitingSummary = (u64, Option<DateTime<Utc>>);

enum Value {
    Counter(f64),
    Gauge(f64),
    Histogram(proto::Histogram),
}

impl Collector for SlaMetrics {
    fn desc(&self) -> Vec<&Desc> {
        self.descs.iter().collect()
    }

    fn collect(&self) -> Vec<MetricFamily> {
        self.families()
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    /// 80 % within `t` seconds, short abandons up to `s` seconds, as a bundle's defaults.
    fn settings(t: u32, s: u32) -> SlaSettings {
        SlaSettings {
            threshold_seconds: t,
            target: 0.8,
            short_abandon_seconds: s,
            abandon_policy: AbandonPolicy::ExcludeShort,
            max_occupancy: None,
            shrinkage: 0.0,
            first_contact_target: None,
        }
    }

    /// Tenant `t` (Europe/Berlin, 80/20, S = 5) with these queues and their own T and S.
    fn bundle(queues: &[(&str, u32, u32)]) -> ServiceProfile {
        bundle_with(queues, None)
    }

    /// [`bundle`] with `[calendar]` as a bundle writes it.
    fn bundle_with(queues: &[(&str, u32, u32)], calendar: Option<&str>) -> ServiceProfile {
        ServiceProfile {
            tenant: TenantId::parse("t").expect("valid"),
            display_name: "t".into(),
            timezone: chrono_tz::Europe::Berlin,
            sla: settings(20, 5),
            queues: queues
                .iter()
                .map(|(id, t, s)| {
                    let q = leitstand_sla::QueueSpec {
                        display_name: (*id).to_owned(),
                        sla: settings(*t, *s),
                    };
                    ((*id).to_owned(), q)
                })
                .collect(),
            calendars: calendar.map(|text| {
                let file = toml::from_str(text).expect("a calendar");
                Arc::new(
                    Calendars::from_file(file, chrono_tz::Europe::Berlin).expect("valid calendar"),
                )
            }),
            providers: Default::default(),
        }
    }

    fn event(n: usize, kind: &str, at: &str, data: serde_json::Value) -> Envelope {
        leitstand_contract::envelope::parse_value(
            json!({"specversion": "1.0", "id": format!("e{n}"), "source": "acd/test",
                   "type": kind, "tenant": "t", "time": at, "data": data}),
            leitstand_contract::envelope::IntakeLimits::default(),
            Utc::now(),
        )
        .expect("a valid event")
    }

    fn render(m: &SlaMetrics) -> String {
        prometheus::TextEncoder::new()
            .encode_to_string(&m.collect())
            .expect("encodes")
    }

    fn value(text: &str, series: &str) -> Option<f64> {
        text.lines()
            .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
    }

    /// CONTRACT §5's worked example through the live metrics: the counters, and the
    /// buckets at T = 20 and S = 5 give the within and short counts directly.
    #[test]
    fn the_worked_example_in_counters_and_buckets() {
        let b = bundle(&[("q", 20, 5)]);
        let m = SlaMetrics::new(30, Clock::Event).expect("metrics");
        m.open(&b);
        let mut n = 0;
        let mut left = |kind: &str, wait: f64| {
            n += 1;
            m.observe(
                &b,
                &event(
                    n,
                    kind,
                    "2026-11-19T09:00:00Z",
                    json!({"call_id": format!("c{n}"), "queue": "q", "wait_seconds": wait}),
                ),
            );
        };
        for i in 0..70 {
            left("call.answered", f64::from(i % 21));
        }
        for i in 0..10 {
            left("call.answered", 21.0 + f64::from(i));
        }
        for w in [
            0.0, 1.0, 2.0, 4.0, 5.0, 6.0, 10.0, 15.0, 19.0, 20.0, 21.0, 30.0, 60.0, 90.0, 200.0,
        ] {
            left("call.abandoned", w);
        }
        let text = render(&m);
        let q = "tenant=\"t\",queue=\"q\"";
        let get = |name: &str| value(&text, &format!("{name}{{{q}}}")).expect(name);
        assert_eq!(get("leitstand_calls_answered_total"), 80.0);
        assert_eq!(get("leitstand_calls_answered_within_threshold_total"), 70.0);
        assert_eq!(get("leitstand_calls_abandoned_total"), 15.0);
        assert_eq!(get("leitstand_calls_short_abandoned_total"), 5.0);
        assert_eq!(
            get("leitstand_calls_abandoned_within_threshold_total"),
            10.0
        );
        let bucket = |outcome: &str, le: &str| {
            value(
                &text,
                &format!(
                    "leitstand_call_wait_seconds_bucket{{{q},outcome=\"{outcome}\",le=\"{le}\"}}"
                ),
            )
        };
        assert_eq!(bucket("answered", "20"), Some(70.0));
        assert_eq!(bucket("abandoned", "5"), Some(5.0));
        assert_eq!(bucket("abandoned", "20"), Some(10.0));
        // The rolling window holds them all: 70 / 90.
        assert_eq!(get("leitstand_service_level"), 70.0 / 90.0);
    }

    #[test]
    fn each_queue_has_buckets_at_its_own_threshold_and_limit() {
        let b = bundle(&[("notruf", 10, 3), ("info", 30, 5)]);
        let m = SlaMetrics::new(30, Clock::Event).expect("metrics");
        m.open(&b);
        let text = render(&m);
        for (queue, le) in [
            ("notruf", "10"),
            ("notruf", "3"),
            ("info", "30"),
            ("info", "5"),
        ] {
            let series = format!(
                "leitstand_call_wait_seconds_bucket{{tenant=\"t\",queue=\"{queue}\",outcome=\"answered\",le=\"{le}\"}}"
            );
            assert_eq!(value(&text, &series), Some(0.0), "{series}");
        }
        assert!(!text.contains("queue=\"info\",outcome=\"answered\",le=\"3\""));
        // Without calls the service level is absent, never 0 or NaN.
        assert!(!text.contains("leitstand_service_level{"));
        assert!(!text.contains("NaN"));
    }

    #[test]
    fn waiting_calls_and_the_oldest_wait_follow_the_call_events() {
        let b = bundle(&[("q", 20, 5)]);
        let m = SlaMetrics::new(30, Clock::Event).expect("metrics");
        let offered = |n: usize, at: &str, prio: &str| {
            event(
                n,
                "call.offered",
                at,
                json!({"call_id": format!("c{n}"), "queue": "q", "priority": prio}),
            )
        };
        m.observe(&b, &offered(1, "2026-11-19T09:00:00Z", "emergency"));
        m.observe(&b, &offered(2, "2026-11-19T09:00:30Z", "normal"));
        m.observe(&b, &offered(3, "2026-11-19T09:01:00Z", "emergency"));
        let q = "tenant=\"t\",queue=\"q\"";
        let text = render(&m);
        let get = |text: &str, name: &str, prio: &str| {
            value(text, &format!("{name}{{{q},priority=\"{prio}\"}}")).expect(name)
        };
        assert_eq!(get(&text, "leitstand_calls_waiting", "emergency"), 2.0);
        assert_eq!(get(&text, "leitstand_calls_waiting", "normal"), 1.0);
        assert_eq!(
            get(&text, "leitstand_oldest_wait_seconds", "emergency"),
            60.0
        );
        assert_eq!(get(&text, "leitstand_oldest_wait_seconds", "normal"), 30.0);
        m.observe(
            &b,
            &event(
                4,
                "call.answered",
                "2026-11-19T09:01:10Z",
                json!({"call_id": "c1", "queue": "q", "wait_seconds": 70}),
            ),
        );
        let text = render(&m);
        assert_eq!(get(&text, "leitstand_calls_waiting", "emergency"), 1.0);
        assert_eq!(
            get(&text, "leitstand_oldest_wait_seconds", "emergency"),
            10.0
        );
        m.observe(
            &b,
            &event(
                5,
                "call.abandoned",
                "2026-11-19T09:01:20Z",
                json!({"call_id": "c3", "queue": "q", "wait_seconds": 20}),
            ),
        );
        let text = render(&m);
        assert_eq!(get(&text, "leitstand_calls_waiting", "emergency"), 0.0);
        assert_eq!(
            get(&text, "leitstand_oldest_wait_seconds", "emergency"),
            0.0
        );
    }

    #[test]
    fn the_service_level_covers_only_the_rolling_window() {
        let b = bundle(&[("q", 20, 5)]);
        let m = SlaMetrics::new(30, Clock::Event).expect("metrics");
        let answered = |n: usize, at: &str, wait: u32| {
            event(
                n,
                "call.answered",
                at,
                json!({"call_id": format!("c{n}"), "queue": "q", "wait_seconds": wait}),
            )
        };
        // 09:00: two late answers; 09:45: one in time. At 09:45 the window (30 min)
        // no longer holds 09:00.
        m.observe(&b, &answered(1, "2026-11-19T09:00:00Z", 90));
        m.observe(&b, &answered(2, "2026-11-19T09:00:10Z", 90));
        let series = "leitstand_service_level{tenant=\"t\",queue=\"q\"}";
        assert_eq!(value(&render(&m), series), Some(0.0));
        m.observe(&b, &answered(3, "2026-11-19T09:45:00Z", 5));
        assert_eq!(value(&render(&m), series), Some(1.0));
        // The counters keep everything.
        assert_eq!(
            value(
                &render(&m),
                "leitstand_calls_answered_total{tenant=\"t\",queue=\"q\"}"
            ),
            Some(3.0)
        );
    }

    #[test]
    fn undeclared_queues_and_sites_are_bounded() {
        let b = bundle(&[("q", 20, 5)]);
        let m = SlaMetrics::new(30, Clock::Event).expect("metrics");
        for n in 0..(MAX_UNDECLARED_QUEUES + 5) {
            m.observe(
                &b,
                &event(
                    n,
                    "call.offered",
                    "2026-11-19T09:00:00Z",
                    json!({"call_id": format!("c{n}"), "queue": format!("x{n}")}),
                ),
            );
        }
        for n in 0..(MAX_SITES + 5) {
            m.observe(
                &b,
                &event(
                    1000 + n,
                    "site.status",
                    "2026-11-19T09:00:00Z",
                    json!({"site": format!("s{n}"), "agents_staffed": 3, "agents_available": 1}),
                ),
            );
        }
        let text = render(&m);
        let offered: Vec<&str> = text
            .lines()
            .filter(|l| l.starts_with("leitstand_calls_offered_total{"))
            .collect();
        assert_eq!(
            offered.len(),
            1 + MAX_UNDECLARED_QUEUES + 1,
            "declared, undeclared, _other"
        );
        assert_eq!(
            value(
                &text,
                "leitstand_calls_offered_total{tenant=\"t\",queue=\"_other\"}"
            ),
            Some(5.0)
        );
        let sites = text
            .lines()
            .filter(|l| l.starts_with("leitstand_site_agents_staffed{"))
            .count();
        assert_eq!(sites, MAX_SITES);
        assert_eq!(
            value(
                &text,
                "leitstand_site_agents_available{tenant=\"t\",site=\"s0\"}"
            ),
            Some(1.0)
        );
    }

    #[test]
    fn staffing_is_exported_for_complete_intervals() {
        let b = bundle(&[("q", 20, 5)]);
        let m = SlaMetrics::new(30, Clock::Event).expect("metrics");
        let mut n = 0;
        let mut call = |at: &str| {
            n += 1;
            m.observe(
                &b,
                &event(
                    n,
                    "call.offered",
                    at,
                    json!({"call_id": format!("c{n}"), "queue": "q"}),
                ),
            );
            n += 1;
            m.observe(
                &b,
                &event(
                    n,
                    "call.ended",
                    at,
                    json!({"call_id": format!("c{n}"), "queue": "q", "talk_seconds": 180}),
                ),
            );
        };
        // 100 calls with 180 s talk in 09:00–09:30 local (08:00Z).
        for _ in 0..100 {
            call("2026-11-19T08:10:00Z");
        }
        let series = "leitstand_staffing_agents_required{tenant=\"t\",queue=\"q\"}";
        assert_eq!(
            value(&render(&m), series),
            None,
            "the interval is not complete"
        );
        call("2026-11-19T08:31:00Z");
        // 100 calls, AHT 180 s, 80/20: 13 agents reach 0.796, so 14 (no occupancy cap).
        assert_eq!(value(&render(&m), series), Some(14.0));
    }

    #[test]
    fn a_tenant_with_a_calendar_says_whether_it_is_open() {
        let b = bundle_with(
            &[("q", 20, 5)],
            Some(
                "[calendar]\nhours = { mon = [\"08:00-17:00\"], fri = [\"08:00-17:00\"] }\n\
                 holidays = \"DE-NW\"\n",
            ),
        );
        let m = SlaMetrics::new(30, Clock::Event).expect("metrics");
        m.observe(
            &b,
            &event(
                1,
                "call.offered",
                "2026-11-23T08:30:00+01:00",
                json!({"call_id": "a", "queue": "q"}),
            ),
        );
        assert_eq!(
            value(&render(&m), "leitstand_tenant_open{tenant=\"t\"}"),
            Some(1.0)
        );
        m.observe(
            &b,
            &event(
                2,
                "call.offered",
                "2026-11-23T17:00:00+01:00",
                json!({"call_id": "b", "queue": "q"}),
            ),
        );
        assert_eq!(
            value(&render(&m), "leitstand_tenant_open{tenant=\"t\"}"),
            Some(0.0)
        );
        // Good Friday 2027, a Friday in the hours, is a public holiday in DE-NW.
        m.observe(
            &b,
            &event(
                3,
                "call.offered",
                "2027-03-26T10:00:00+01:00",
                json!({"call_id": "c", "queue": "q"}),
            ),
        );
        assert_eq!(
            value(&render(&m), "leitstand_tenant_open{tenant=\"t\"}"),
            Some(0.0)
        );
        m.observe(
            &b,
            &event(
                4,
                "call.offered",
                "2027-04-02T10:00:00+02:00",
                json!({"call_id": "d", "queue": "q"}),
            ),
        );
        assert_eq!(
            value(&render(&m), "leitstand_tenant_open{tenant=\"t\"}"),
            Some(1.0)
        );
    }

    #[test]
    fn ended_calls_count_by_concern_and_department_beside_the_target() {
        let mut b = bundle(&[("q", 20, 5), ("r", 20, 5)]);
        b.sla.first_contact_target = Some(0.65);
        for (id, target) in [("q", 0.7), ("r", 0.65)] {
            if let Some(q) = b.queues.get_mut(id) {
                q.sla.first_contact_target = Some(target);
            }
        }
        let m = SlaMetrics::new(30, Clock::Event).expect("metrics");
        m.open(&b);
        let mut n = 0;
        let mut call = |concern: Option<&str>, resolved: Option<bool>, to: Option<&str>| {
            n += 2;
            let id = format!("c{n}");
            let mut offer = json!({"call_id": id, "queue": "q"});
            if let Some(c) = concern {
                offer["concern"] = c.into();
            }
            m.observe(&b, &event(n, "call.offered", "2026-11-19T09:00:00Z", offer));
            let mut end = json!({"call_id": id, "queue": "q", "talk_seconds": 60});
            if let Some(r) = resolved {
                end["resolved"] = r.into();
            }
            if let Some(d) = to {
                end["transferred_to"] = d.into();
            }
            m.observe(&b, &event(n + 1, "call.ended", "2026-11-19T09:05:00Z", end));
        };
        call(Some("abfall"), Some(true), None);
        call(Some("abfall"), Some(false), None);
        call(Some("abfall"), None, None);
        call(Some("wohngeld"), Some(false), Some("sozialamt"));
        call(None, Some(true), None);
        let text = render(&m);
        let get = |series: &str| value(&text, series).unwrap_or_else(|| panic!("{series}"));
        let by_concern = |c: &str, r: &str| {
            get(&format!(
                "leitstand_calls_ended_by_concern_total{{tenant=\"t\",concern=\"{c}\",resolution=\"{r}\"}}"
            ))
        };
        assert_eq!(by_concern("abfall", "resolved"), 1.0);
        assert_eq!(by_concern("abfall", "unresolved"), 1.0);
        assert_eq!(by_concern("abfall", "unreported"), 1.0);
        assert_eq!(by_concern("wohngeld", "unresolved"), 1.0);
        assert_eq!(by_concern(UNKNOWN_CONCERN, "resolved"), 1.0);
        assert_eq!(
            get("leitstand_calls_handed_on_by_concern_total{tenant=\"t\",concern=\"wohngeld\"}"),
            1.0
        );
        assert_eq!(
            get("leitstand_calls_handed_on_by_concern_total{tenant=\"t\",concern=\"abfall\"}"),
            0.0
        );
        let by_department = |d: &str, r: &str| {
            get(&format!(
                "leitstand_calls_ended_by_department_total{{tenant=\"t\",department=\"{d}\",resolution=\"{r}\"}}"
            ))
        };
        assert_eq!(by_department(SERVICE_CENTER, "resolved"), 2.0);
        assert_eq!(by_department(SERVICE_CENTER, "unresolved"), 1.0);
        assert_eq!(by_department(SERVICE_CENTER, "unreported"), 1.0);
        assert_eq!(by_department("sozialamt", "unresolved"), 1.0);
        assert_eq!(get("leitstand_first_contact_target{tenant=\"t\"}"), 0.65);
        assert_eq!(
            get("leitstand_queue_first_contact_target{tenant=\"t\",queue=\"q\"}"),
            0.7
        );
        assert_eq!(
            get("leitstand_queue_first_contact_target{tenant=\"t\",queue=\"r\"}"),
            0.65
        );
        // A tenant without a target has no target gauge, never 0.
        let plain = bundle(&[("q", 20, 5)]);
        let m = SlaMetrics::new(30, Clock::Event).expect("metrics");
        m.open(&plain);
        let text = render(&m);
        assert!(!text.contains("first_contact_target{"), "{text}");
    }

    /// A day's worth of calls in two queues and a site: some answered, some abandoned,
    /// some still waiting, over more than the rolling window.
    fn surge() -> Vec<Envelope> {
        let mut out = Vec::new();
        let mut n = 0;
        let mut push = |kind: &str, minute: u32, data: serde_json::Value| {
            n += 1;
            let at = format!("2026-11-19T{:02}:{:02}:00Z", 8 + minute / 60, minute % 60);
            out.push(event(n, kind, &at, data));
        };
        for i in 0..90u32 {
            let queue = if i % 3 == 0 { "notfall" } else { "q" };
            let prio = if i % 7 == 0 { "emergency" } else { "normal" };
            let call = format!("c{i}");
            push(
                "call.offered",
                i,
                json!({"call_id": call, "queue": queue, "priority": prio}),
            );
            if i % 4 == 0 && i >= 4 {
                let earlier = format!("c{}", i - 4);
                let q = if (i - 4) % 3 == 0 { "notfall" } else { "q" };
                push(
                    "call.answered",
                    i,
                    json!({"call_id": earlier, "queue": q, "wait_seconds": 25 + i}),
                );
            }
            if i % 10 == 5 {
                let earlier = format!("c{}", i - 3);
                let q = if (i - 3) % 3 == 0 { "notfall" } else { "q" };
                push(
                    "call.abandoned",
                    i,
                    json!({"call_id": earlier, "queue": q, "wait_seconds": 40}),
                );
            }
        }
        push(
            "site.status",
            91,
            json!({"site": "pirmasens", "agents_staffed": 12, "agents_available": 3}),
        );
        out
    }

    /// The families a restart must continue: calls waiting, the oldest wait, the rolling
    /// service level, the counters and the staffing.
    fn board_lines(text: &str) -> Vec<&str> {
        text.lines()
            .filter(|l| !l.starts_with('#') && !l.starts_with("leitstand_tenant_open"))
            .collect()
    }

    /// What the journal keeps of a board after `change` is committed.
    fn keep(kept: &mut KeptBoard, change: BoardChange) {
        kept.summary = change.summary;
        let mut calls: BTreeMap<String, Vec<u8>> =
            std::mem::take(&mut kept.calls).into_iter().collect();
        for (call, v) in change.calls {
            match v {
                Some(v) => calls.insert(call, v),
                None => calls.remove(&call),
            };
        }
        kept.calls = calls.into_iter().collect();
    }

    /// Runs `events` through `m` as the daemon's pipeline does, batch by batch: the
    /// board's change committed (into `kept`), then the events counted.
    fn run_batches(m: &SlaMetrics, b: &ServiceProfile, events: &[Envelope], kept: &mut KeptBoard) {
        for batch in events.chunks(16) {
            let change = m.board_after(b, batch).expect("the board's change");
            keep(kept, change);
            m.board_committed(&b.tenant);
            for e in batch {
                m.observe(b, e);
            }
        }
    }

    #[test]
    fn a_board_kept_batch_by_batch_continues_where_it_was() {
        let b = bundle(&[("q", 20, 5), ("notfall", 10, 5)]);
        let events = surge();
        let running = SlaMetrics::new(30, Clock::Event).expect("metrics");
        running.open(&b);
        let mut kept = KeptBoard::default();
        run_batches(&running, &b, &events, &mut kept);
        let restarted = SlaMetrics::new(30, Clock::Event).expect("metrics");
        restarted.open(&b);
        assert_eq!(restarted.restore_board(&b, &kept), Ok(0));
        let (before, after) = (render(&running), render(&restarted));
        let waiting = "leitstand_calls_waiting{tenant=\"t\",queue=\"q\",priority=\"normal\"}";
        assert!(value(&before, waiting).expect("waiting") > 10.0, "{before}");
        for series in [
            waiting,
            "leitstand_oldest_wait_seconds{tenant=\"t\",queue=\"q\",priority=\"normal\"}",
            "leitstand_service_level{tenant=\"t\",queue=\"notfall\"}",
        ] {
            assert!(value(&before, series).is_some(), "{series} in {before}");
        }
        assert_eq!(board_lines(&before), board_lines(&after));
        // A batch writes the calls it touches, not the whole queue.
        let later = [event(
            9_999,
            "call.answered",
            "2026-11-19T09:40:00Z",
            json!({"call_id": "c89", "queue": "q", "wait_seconds": 12}),
        )];
        let change = running.board_after(&b, &later).expect("the change");
        assert_eq!(change.calls, BTreeMap::from([("c89".to_owned(), None)]));
        // And the restarted board counts on as the running one does.
        run_batches(&running, &b, &later, &mut kept);
        let mut other = kept.clone();
        run_batches(&restarted, &b, &later, &mut other);
        assert_eq!(
            board_lines(&render(&running)),
            board_lines(&render(&restarted))
        );
        assert_eq!(kept, other);
    }

    #[test]
    fn a_board_that_cannot_be_read_is_refused_and_the_live_one_kept() {
        let b = bundle(&[("q", 20, 5)]);
        let m = SlaMetrics::new(30, Clock::Event).expect("metrics");
        m.open(&b);
        let mut kept = KeptBoard::default();
        let offer = event(
            1,
            "call.offered",
            "2026-11-19T09:00:00Z",
            json!({"call_id": "c1", "queue": "q"}),
        );
        run_batches(&m, &b, std::slice::from_ref(&offer), &mut kept);
        let before = render(&m);
        let broken = KeptBoard {
            summary: b"{".to_vec(),
            calls: Vec::new(),
        };
        let err = m.restore_board(&b, &broken).expect_err("not JSON");
        assert!(err.contains("cannot be read"), "{err}");
        let newer = KeptBoard {
            summary: String::from_utf8(kept.summary.clone())
                .expect("JSON")
                .replacen("\"format\":1", "\"format\":7", 1)
                .into_bytes(),
            calls: Vec::new(),
        };
        let err = m.restore_board(&b, &newer).expect_err("another format");
        assert!(err.contains("format 7"), "{err}");
        assert_eq!(render(&m), before);
        // A call that cannot be continued is dropped, counted, and ended with the next
        // commit.
        let mut odd = kept.clone();
        odd.calls.push(("c2".to_owned(), b"[]".to_vec()));
        assert_eq!(m.restore_board(&b, &odd), Ok(1));
        assert_eq!(render(&m), before);
        let change = m.board_after(&b, []).expect("the change");
        assert_eq!(change.calls, BTreeMap::from([("c2".to_owned(), None)]));
    }

    #[test]
    fn calls_the_board_forgets_end_durably_with_the_next_commit() {
        let b = bundle(&[("q", 20, 5)]);
        let m = SlaMetrics::new(30, Clock::Event).expect("metrics");
        m.open(&b);
        let start = Utc::now() - chrono::Duration::days(3);
        for i in 0..=MAX_WAITING_CALLS {
            let at = start + chrono::Duration::seconds(i as i64);
            let offer = leitstand_contract::envelope::parse_value(
                json!({"specversion": "1.0", "id": format!("e{i}"), "source": "acd/test",
                       "type": "call.offered", "tenant": "t", "time": at.to_rfc3339(),
                       "data": {"call_id": format!("c{i}"), "queue": "q"}}),
                leitstand_contract::envelope::IntakeLimits::default(),
                Utc::now(),
            )
            .expect("a valid event");
            m.observe(&b, &offer);
        }
        let change = m.board_after(&b, []).expect("the change");
        let ended = change.calls.values().filter(|v| v.is_none()).count();
        let waiting = value(
            &render(&m),
            "leitstand_calls_waiting{tenant=\"t\",queue=\"q\",priority=\"normal\"}",
        )
        .expect("calls waiting");
        assert!(ended >= MAX_WAITING_CALLS / 10, "{ended}");
        assert_eq!(ended as f64, (MAX_WAITING_CALLS + 1) as f64 - waiting);
        assert!(
            change.calls.contains_key("c0"),
            "the longest-waiting go first"
        );
        m.board_committed(&b.tenant);
        let change = m.board_after(&b, []).expect("the change");
        assert!(change.calls.is_empty());
    }
}
