//! The figures the books report: per tenant, queue and interval, under each abandon
//! policy, with first-contact resolution — as JSON (CONTRACT §6) and as a table.

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{DateTime, NaiveDate, SecondsFormat, Utc};
use chrono_tz::Tz;
use serde::Serialize;

use crate::books::interval_staffing;
use crate::counts::{Counts, INTERVAL_MINUTES};
use crate::first_contact::{FirstContactRows, MAX_REMEMBERED_OFFERS, Resolution};
use crate::profile::{AbandonPolicy, SlaSettings};

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
    /// Per declared site (CONTRACT §8), then the calls that count for no site
    /// (`_announcement`, `_unknown`, `_other`); absent for a tenant that declares no sites.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub sites: Vec<crate::site_figures::SiteReport>,
    /// Per declared provider: its scorecard; absent when none is declared.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub providers: Vec<crate::site_figures::ProviderReport>,
    /// The counts behind `sites` and `providers` (not part of the JSON report), so that a
    /// day's scorecard can be made from them.
    #[serde(skip)]
    pub site_books: crate::site_figures::SiteBooks,
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
    pub(crate) fn new(
        start: DateTime<Utc>,
        tz: Tz,
        sla: &SlaSettings,
        c: &Counts,
        running: &Counts,
    ) -> Self {
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
            crate::site_figures::write_sites(f, &t.sites, &t.providers)?;
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
