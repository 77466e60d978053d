//! The figures of many runs: each figure of the SLA report (per queue, per 30-minute
//! interval, per site and provider) and of the center itself, as the mean over the runs
//! with its 99 % confidence interval (Student's t over the runs, which are independent:
//! each has its own stream of random numbers).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use chrono::SecondsFormat;
use serde::Serialize;

use leitstand_sla::figures::TenantReport;
use leitstand_sla::profile::AbandonPolicy;
use leitstand_sla::site_figures::PlaceFigures;

use crate::center::RunFigures;
use crate::random::t_quantile_99;

/// What one run gave: the SLA report of its events and the center's own figures.
#[derive(Debug, Clone)]
pub struct RunResult {
    /// The tenant's SLA report, as replay reports it.
    pub report: TenantReport,
    /// The center's figures.
    pub figures: RunFigures,
}

/// A figure over the runs: its mean and the half-width of its 99 % confidence interval.
/// A ratio that is undefined in a run (no calls to divide by) is left out of that run's
/// count; `runs` says how many runs had it.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Estimate {
    /// The mean over the runs that have the figure.
    pub mean: Option<f64>,
    /// Half the width of the 99 % confidence interval; `None` with fewer than two runs.
    pub ci99: Option<f64>,
    /// Runs that have the figure.
    pub runs: usize,
}

impl Estimate {
    /// The estimate of `values` (one per run; `None` where the run has no such figure).
    pub fn of(values: impl IntoIterator<Item = Option<f64>>) -> Self {
        let xs: Vec<f64> = values.into_iter().flatten().collect();
        let n = xs.len();
        if n == 0 {
            return Self {
                mean: None,
                ci99: None,
                runs: 0,
            };
        }
        let mean = xs.iter().sum::<f64>() / n as f64;
        let ci99 = (n > 1).then(|| {
            let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1) as f64;
            t_quantile_99(n - 1) * (var / n as f64).sqrt()
        });
        Self {
            mean: Some(mean),
            ci99,
            runs: n,
        }
    }
}

/// The figures of a queue, a site or an interval over the runs.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Figures {
    /// Calls offered.
    pub offered: Estimate,
    /// Calls answered.
    pub answered: Estimate,
    /// Calls answered within the threshold.
    pub answered_within: Estimate,
    /// Calls abandoned.
    pub abandoned: Estimate,
    /// The service level by the tenant's abandon policy.
    pub service_level: Estimate,
    /// Average speed of answer, seconds.
    pub asa_seconds: Estimate,
    /// Abandons (short ones left out) over calls that reached an end.
    pub abandon_rate: Estimate,
}

impl Figures {
    fn of(places: &[Option<PlaceFigures>]) -> Self {
        let count = |f: fn(&PlaceFigures) -> u64| {
            Estimate::of(places.iter().map(|p| Some(p.as_ref().map_or(0, f) as f64)))
        };
        let ratio = |f: fn(&PlaceFigures) -> Option<f64>| {
            Estimate::of(places.iter().map(|p| p.as_ref().and_then(f)))
        };
        Self {
            offered: count(|p| p.offered),
            answered: count(|p| p.answered),
            answered_within: count(|p| p.answered_within),
            abandoned: count(|p| p.abandoned),
            service_level: ratio(|p| p.service_level),
            asa_seconds: ratio(|p| p.asa_seconds),
            abandon_rate: ratio(|p| p.abandon_rate),
        }
    }
}

/// One 30-minute interval over the runs.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct IntervalSummary {
    /// Start, local time with offset (RFC 3339).
    pub start: String,
    /// End.
    pub end: String,
    /// Its figures.
    #[serde(flatten)]
    pub figures: Figures,
    /// Whether the mean service level is below the target.
    pub below_target: Option<bool>,
}

/// One queue over the runs.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct QueueSummary {
    /// The queue.
    pub queue: String,
    /// Its readable name.
    pub name: String,
    /// The service-level threshold, seconds.
    pub threshold_seconds: u32,
    /// The target.
    pub target: f64,
    /// The day's figures.
    #[serde(flatten)]
    pub figures: Figures,
    /// Per interval with calls in any run.
    pub intervals: Vec<IntervalSummary>,
}

/// One site over the runs.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SiteSummary {
    /// The site (or `_announcement`, `_unknown` for calls that count at no declared site).
    pub site: String,
    /// Its readable name.
    pub name: String,
    /// The provider running it.
    pub provider: Option<String>,
    /// The day's figures.
    #[serde(flatten)]
    pub figures: Figures,
    /// The share of its agents' time on shift spent talking, for a simulated site.
    pub occupancy: Estimate,
    /// Per interval with calls in any run.
    pub intervals: Vec<IntervalSummary>,
}

/// One provider over the runs.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ProviderSummary {
    /// The provider.
    pub provider: String,
    /// Its readable name.
    pub name: String,
    /// Its target.
    pub target: f64,
    /// The day's figures at its sites.
    #[serde(flatten)]
    pub figures: Figures,
    /// Intervals below its target.
    pub intervals_below_target: Estimate,
}

/// The center's own figures over the runs.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CenterSummary {
    /// Calls offered.
    pub calls: Estimate,
    /// The share of calls (announcements left out) that found no free agent.
    pub probability_of_waiting: Estimate,
    /// Calls sent to an announcement.
    pub announcements: Estimate,
    /// Waiting calls moved to another site.
    pub moved: Estimate,
    /// Routes to targets the center does not know.
    pub unknown_targets: Estimate,
    /// `call.route` per target.
    pub routes: BTreeMap<String, Estimate>,
    /// `call.escalate` per target.
    pub escalations: BTreeMap<String, Estimate>,
    /// Bookings requested.
    pub bookings: Estimate,
    /// Events per run.
    pub events: Estimate,
}

/// A scenario's figures over its runs.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Summary {
    /// The scenario.
    pub scenario: String,
    /// The tenant.
    pub tenant: String,
    /// The seed.
    pub seed: u64,
    /// Runs.
    pub runs: usize,
    /// Per queue.
    pub queues: Vec<QueueSummary>,
    /// Per site.
    pub sites: Vec<SiteSummary>,
    /// Per provider.
    pub providers: Vec<ProviderSummary>,
    /// The center.
    pub center: CenterSummary,
}

impl Summary {
    /// The summary of `results` (in run order) of `scenario` with `seed`.
    pub fn of(scenario: &str, seed: u64, results: &[RunResult]) -> Self {
        let tenant = results
            .first()
            .map(|r| r.report.tenant.clone())
            .unwrap_or_default();
        let mut queue_names: BTreeSet<String> = BTreeSet::new();
        for r in results {
            queue_names.extend(r.report.queues.iter().map(|q| q.queue.clone()));
        }
        let queues = queue_names
            .into_iter()
            .map(|name| queue_summary(&name, results))
            .collect();
        Self {
            scenario: scenario.to_owned(),
            tenant,
            seed,
            runs: results.len(),
            queues,
            sites: site_summaries(results),
            providers: provider_summaries(results),
            center: center_summary(results),
        }
    }

    /// The queue `name`.
    pub fn queue(&self, name: &str) -> Option<&QueueSummary> {
        self.queues.iter().find(|q| q.queue == name)
    }

    /// The site `name`.
    pub fn site(&self, name: &str) -> Option<&SiteSummary> {
        self.sites.iter().find(|s| s.site == name)
    }
}

fn place(q: &leitstand_sla::figures::QueueReport) -> PlaceFigures {
    PlaceFigures {
        offered: q.offered,
        answered: q.answered,
        answered_within: q.answered_within,
        abandoned: q.abandoned,
        short_abandoned: q.short_abandoned,
        service_level: q.service_level,
        asa_seconds: q.asa_seconds,
        abandon_rate: q.abandon_rate,
        ended: q.ended,
        first_contact_resolution: q.first_contact_resolution,
        counts: Default::default(),
    }
}

fn interval_place(i: &leitstand_sla::figures::IntervalReport) -> PlaceFigures {
    PlaceFigures {
        offered: i.offered,
        answered: i.answered,
        answered_within: i.answered_within,
        abandoned: i.abandoned,
        short_abandoned: i.short_abandoned,
        service_level: i.service_level,
        asa_seconds: i.asa_seconds,
        abandon_rate: i.abandon_rate,
        ended: 0,
        first_contact_resolution: None,
        counts: i.counts,
    }
}

/// Interval lines from per-run maps `start → (end, figures)`, over every start any run has.
fn intervals(
    runs: &[BTreeMap<String, (String, PlaceFigures)>],
    target: f64,
) -> Vec<IntervalSummary> {
    let starts: BTreeSet<(String, String)> = runs
        .iter()
        .flat_map(|m| m.iter().map(|(s, (e, _))| (s.clone(), e.clone())))
        .collect();
    starts
        .into_iter()
        .map(|(start, end)| {
            let places: Vec<Option<PlaceFigures>> = runs
                .iter()
                .map(|m| m.get(&start).map(|(_, p)| *p))
                .collect();
            let figures = Figures::of(&places);
            let below_target = figures.service_level.mean.map(|m| m < target);
            IntervalSummary {
                start,
                end,
                figures,
                below_target,
            }
        })
        .collect()
}

fn queue_summary(name: &str, results: &[RunResult]) -> QueueSummary {
    let reports: Vec<Option<&leitstand_sla::figures::QueueReport>> = results
        .iter()
        .map(|r| r.report.queues.iter().find(|q| q.queue == name))
        .collect();
    let first = reports.iter().flatten().next();
    let target = first.map_or(0.0, |q| q.target);
    let per_run: Vec<BTreeMap<String, (String, PlaceFigures)>> = reports
        .iter()
        .map(|q| {
            q.iter()
                .flat_map(|q| &q.intervals)
                .map(|i| (i.start.clone(), (i.end.clone(), interval_place(i))))
                .collect()
        })
        .collect();
    QueueSummary {
        queue: name.to_owned(),
        name: first.map_or_else(String::new, |q| q.name.clone()),
        threshold_seconds: first.map_or(0, |q| q.threshold_seconds),
        target,
        figures: Figures::of(&reports.iter().map(|q| q.map(place)).collect::<Vec<_>>()),
        intervals: intervals(&per_run, target),
    }
}

fn site_summaries(results: &[RunResult]) -> Vec<SiteSummary> {
    let mut names: Vec<(String, String, Option<String>)> = Vec::new();
    for r in results {
        for s in &r.report.sites {
            if !names.iter().any(|(n, _, _)| *n == s.site) {
                names.push((s.site.clone(), s.name.clone(), s.provider.clone()));
            }
        }
    }
    names
        .into_iter()
        .map(|(site, name, provider)| {
            let places: Vec<Option<PlaceFigures>> = results
                .iter()
                .map(|r| {
                    r.report
                        .sites
                        .iter()
                        .find(|s| s.site == site)
                        .map(|s| s.figures)
                })
                .collect();
            let books = |r: &RunResult| -> BTreeMap<String, (String, PlaceFigures)> {
                let policy = r
                    .report
                    .site_books
                    .policy
                    .unwrap_or(AbandonPolicy::ExcludeShort);
                let tz: chrono_tz::Tz = r.report.timezone.parse().unwrap_or(chrono_tz::UTC);
                let fmt = |t: chrono::DateTime<chrono::Utc>| {
                    t.with_timezone(&tz)
                        .to_rfc3339_opts(SecondsFormat::Secs, false)
                };
                r.report
                    .site_books
                    .sites
                    .get(&site)
                    .map(|c| {
                        c.intervals
                            .iter()
                            .map(|(t, counts)| {
                                (
                                    fmt(*t),
                                    (
                                        fmt(*t + chrono::Duration::minutes(30)),
                                        PlaceFigures::of(counts, policy),
                                    ),
                                )
                            })
                            .collect()
                    })
                    .unwrap_or_default()
            };
            let per_run: Vec<_> = results.iter().map(books).collect();
            let target = results.first().map_or(0.0, |r| r.report.site_books.target);
            let occupancy = Estimate::of(results.iter().map(|r| {
                r.figures
                    .sites
                    .get(&site)
                    .filter(|s| s.staffed_hours > 0.0)
                    .map(|s| s.busy_hours / s.staffed_hours)
            }));
            SiteSummary {
                site,
                name,
                provider,
                figures: Figures::of(&places),
                occupancy,
                intervals: intervals(&per_run, target),
            }
        })
        .collect()
}

fn provider_summaries(results: &[RunResult]) -> Vec<ProviderSummary> {
    let Some(first) = results.first() else {
        return Vec::new();
    };
    first
        .report
        .providers
        .iter()
        .map(|p| {
            let of_run = |r: &RunResult| {
                r.report
                    .providers
                    .iter()
                    .find(|x| x.provider == p.provider)
                    .cloned()
            };
            let places: Vec<Option<PlaceFigures>> = results
                .iter()
                .map(|r| of_run(r).map(|x| x.figures))
                .collect();
            ProviderSummary {
                provider: p.provider.clone(),
                name: p.name.clone(),
                target: p.target,
                figures: Figures::of(&places),
                intervals_below_target: Estimate::of(
                    results
                        .iter()
                        .map(|r| of_run(r).map(|x| x.intervals_below_target as f64)),
                ),
            }
        })
        .collect()
}

fn center_summary(results: &[RunResult]) -> CenterSummary {
    let est = |f: fn(&RunFigures) -> f64| Estimate::of(results.iter().map(|r| Some(f(&r.figures))));
    let keyed = |f: fn(&RunFigures) -> &BTreeMap<String, u64>| -> BTreeMap<String, Estimate> {
        let keys: BTreeSet<&String> = results.iter().flat_map(|r| f(&r.figures).keys()).collect();
        keys.into_iter()
            .map(|k| {
                let e = Estimate::of(
                    results
                        .iter()
                        .map(|r| Some(f(&r.figures).get(k).copied().unwrap_or(0) as f64)),
                );
                (k.clone(), e)
            })
            .collect()
    };
    CenterSummary {
        calls: est(|f| f.calls as f64),
        probability_of_waiting: Estimate::of(results.iter().map(|r| {
            let f = &r.figures;
            let queued = f.calls.saturating_sub(f.announcements);
            (queued > 0).then(|| f.waited as f64 / queued as f64)
        })),
        announcements: est(|f| f.announcements as f64),
        moved: est(|f| f.moved as f64),
        unknown_targets: est(|f| f.unknown_targets as f64),
        routes: keyed(|f| &f.routes),
        escalations: keyed(|f| &f.escalations),
        bookings: est(|f| f.bookings as f64),
        events: est(|f| f.events as f64),
    }
}

/// `0.812 ± 0.013`, a percentage for a `fraction`.
pub fn show(e: &Estimate, fraction: bool) -> String {
    let scale = if fraction { 100.0 } else { 1.0 };
    match (e.mean, e.ci99) {
        (None, _) => "–".to_owned(),
        (Some(m), None) => format!("{:.1}{}", m * scale, if fraction { " %" } else { "" }),
        (Some(m), Some(h)) => format!(
            "{:.1} ± {:.1}{}",
            m * scale,
            h * scale,
            if fraction { " %" } else { "" }
        ),
    }
}

/// The local time of day `HH:MM` of an RFC 3339 timestamp.
pub fn clock(rfc3339: &str) -> &str {
    rfc3339.get(11..16).unwrap_or(rfc3339)
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "scenario {} · tenant {} · {} run(s), seed {} · mean ± 99 % confidence interval",
            self.scenario, self.tenant, self.runs, self.seed
        )?;
        for q in &self.queues {
            writeln!(f)?;
            writeln!(
                f,
                "queue {} ({}), target {:.0} % within {} s",
                q.queue,
                q.name,
                q.target * 100.0,
                q.threshold_seconds
            )?;
            line(f, "day", &q.figures, None)?;
            for i in &q.intervals {
                let label = format!("{}–{}", clock(&i.start), clock(&i.end));
                line(f, &label, &i.figures, i.below_target)?;
            }
        }
        if !self.sites.is_empty() {
            writeln!(f)?;
            writeln!(f, "sites")?;
            for s in &self.sites {
                line(f, &s.site, &s.figures, None)?;
                if s.occupancy.mean.is_some() {
                    writeln!(f, "  {:<14} occupancy {}", "", show(&s.occupancy, true))?;
                }
            }
        }
        if !self.providers.is_empty() {
            writeln!(f)?;
            writeln!(f, "providers")?;
            for p in &self.providers {
                line(f, &p.provider, &p.figures, None)?;
                writeln!(
                    f,
                    "  {:<14} target {:.0} %, intervals below it {}",
                    "",
                    p.target * 100.0,
                    show(&p.intervals_below_target, false)
                )?;
            }
        }
        writeln!(f)?;
        let c = &self.center;
        writeln!(
            f,
            "center: {} calls, waited {}, {} announcements, {} moved, {} events per run",
            show(&c.calls, false),
            show(&c.probability_of_waiting, true),
            show(&c.announcements, false),
            show(&c.moved, false),
            show(&c.events, false),
        )?;
        for (target, e) in &c.routes {
            writeln!(f, "  routed to {target}: {}", show(e, false))?;
        }
        for (target, e) in &c.escalations {
            writeln!(f, "  escalated to {target}: {}", show(e, false))?;
        }
        Ok(())
    }
}

fn line(f: &mut fmt::Formatter<'_>, label: &str, x: &Figures, below: Option<bool>) -> fmt::Result {
    writeln!(
        f,
        "  {:<14} offered {:>14}  SL {:>16}  ASA {:>14} s  abandoned {:>14}{}",
        label,
        show(&x.offered, false),
        show(&x.service_level, true),
        show(&x.asa_seconds, false),
        show(&x.abandon_rate, true),
        if below == Some(true) {
            "  below target"
        } else {
            ""
        }
    )
}
