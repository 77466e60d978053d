//! The figures per site and per provider (CONTRACT §8) the books report: the same counting
//! rule as per queue, the actual share of handled calls beside the contracted one, the
//! intervals below target and the daily cap used — as JSON and as a table.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, SecondsFormat, Utc};
use chrono_tz::Tz;
use serde::Serialize;

use crate::counts::{Counts, INTERVAL_MINUTES};
use crate::profile::AbandonPolicy;
use crate::sites::{ANNOUNCEMENT, Providers};

/// The figures of one site, one provider, or the calls that count for no site.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct PlaceFigures {
    /// Calls offered at it: placed there by the route decided on their offer (else their
    /// offer's `site`), or rerouted there later; once per call.
    pub offered: u64,
    /// Calls answered there.
    pub answered: u64,
    /// Answered with wait ≤ T of the call's queue.
    pub answered_within: u64,
    /// Calls abandoned while waiting there.
    pub abandoned: u64,
    /// Abandoned with wait ≤ S of the call's queue.
    pub short_abandoned: u64,
    /// Service level under the tenant's abandon policy.
    pub service_level: Option<f64>,
    /// Mean wait of the answered calls.
    pub asa_seconds: Option<f64>,
    /// Abandon rate (CONTRACT §5).
    pub abandon_rate: Option<f64>,
    /// Calls ended there.
    pub ended: u64,
    /// First-contact resolution of the calls ended there.
    pub first_contact_resolution: Option<f64>,
    /// The raw counts (not part of the JSON report).
    #[serde(skip)]
    pub counts: Counts,
}

impl PlaceFigures {
    /// The figures of `c` under `policy`.
    pub fn of(c: &Counts, policy: AbandonPolicy) -> Self {
        Self {
            offered: c.offered,
            answered: c.answered,
            answered_within: c.answered_within,
            abandoned: c.abandoned,
            short_abandoned: c.short_abandoned,
            service_level: c.service_level(policy),
            asa_seconds: c.asa_seconds(),
            abandon_rate: c.abandon_rate(),
            ended: c.ended,
            first_contact_resolution: c.first_contact_resolution(),
            counts: *c,
        }
    }
}

/// One site's line.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SiteReport {
    /// The site id, or `_announcement`, `_unknown`, `_other` for calls that count for no
    /// declared site.
    pub site: String,
    /// Its readable name.
    pub name: String,
    /// The provider it belongs to.
    pub provider: Option<String>,
    /// Its figures.
    #[serde(flatten)]
    pub figures: PlaceFigures,
}

/// A queue's contracted share beside the actual one.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ShareLine {
    /// The queue.
    pub queue: String,
    /// The contracted share of its handled calls; `None` when the contract names none.
    pub contracted: Option<f64>,
    /// Calls of the queue the provider answered.
    pub answered: u64,
    /// Its actual share: answered by the provider / answered at all declared sites.
    pub actual: Option<f64>,
}

/// One 30-minute interval of a provider.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ProviderInterval {
    /// Start, local time with offset (RFC 3339).
    pub start: String,
    /// End, local time with offset.
    pub end: String,
    /// The interval's figures.
    #[serde(flatten)]
    pub figures: PlaceFigures,
    /// Whether its service level is below the provider's target.
    pub below_target: bool,
}

/// One local day of a provider against its daily cap.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CapDay {
    /// The local date.
    pub date: NaiveDate,
    /// Calls offered at its sites that day (what the cap counts).
    pub offered: u64,
    /// `offered` over the daily cap; `None` without a cap.
    pub cap_used: Option<f64>,
}

/// One provider's scorecard.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ProviderReport {
    /// The provider id.
    pub provider: String,
    /// Its readable name.
    pub name: String,
    /// Its sites.
    pub sites: Vec<String>,
    /// The figures of its sites together.
    #[serde(flatten)]
    pub figures: PlaceFigures,
    /// Its service-level target: its contract's own, else the tenant's.
    pub target: f64,
    /// Whether the day's service level meets the target.
    pub target_met: Option<bool>,
    /// Intervals with a service level below the target.
    pub intervals_below_target: u64,
    /// Contracted and actual share per queue.
    pub shares: Vec<ShareLine>,
    /// Its daily cap, when it has one.
    pub daily_cap: Option<u64>,
    /// Per local day: calls offered and the cap used.
    pub days: Vec<CapDay>,
    /// Per 30-minute interval with calls.
    pub intervals: Vec<ProviderInterval>,
}

/// What the books kept of one site.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SiteCounts {
    /// Per queue.
    pub queues: BTreeMap<String, Counts>,
    /// Per interval start (UTC), all queues.
    pub intervals: BTreeMap<DateTime<Utc>, Counts>,
    /// Per local day, all queues.
    pub days: BTreeMap<NaiveDate, Counts>,
    /// Per local day and queue.
    pub day_queues: BTreeMap<(NaiveDate, String), Counts>,
}

impl SiteCounts {
    /// All queues together.
    pub fn total(&self) -> Counts {
        let mut c = Counts::default();
        for q in self.queues.values() {
            c.merge(q);
        }
        c
    }

    /// The counts of local day `day` only (`tz` the tenant's timezone).
    pub fn of_day(&self, day: NaiveDate, tz: Tz) -> Self {
        Self {
            queues: self
                .day_queues
                .iter()
                .filter(|((d, _), _)| *d == day)
                .map(|((_, q), c)| (q.clone(), *c))
                .collect(),
            intervals: self
                .intervals
                .iter()
                .filter(|(t, _)| t.with_timezone(&tz).date_naive() == day)
                .map(|(t, c)| (*t, *c))
                .collect(),
            days: self
                .days
                .iter()
                .filter(|(d, _)| **d == day)
                .map(|(d, c)| (*d, *c))
                .collect(),
            day_queues: BTreeMap::new(),
        }
    }
}

/// What the books keep of a tenant's sites, for the report and a day's scorecard.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SiteBooks {
    /// The tenant's sites and providers.
    pub providers: Providers,
    /// The tenant's abandon policy.
    pub policy: Option<AbandonPolicy>,
    /// The tenant's target.
    pub target: f64,
    /// Counts per site label.
    pub sites: BTreeMap<String, SiteCounts>,
}

impl SiteBooks {
    /// The lines of local day `day` only, or of everything counted.
    pub fn lines(&self, tz: Tz, day: Option<NaiveDate>) -> (Vec<SiteReport>, Vec<ProviderReport>) {
        let policy = self.policy.unwrap_or(AbandonPolicy::ExcludeShort);
        match day {
            None => site_and_provider_lines(&self.providers, &self.sites, policy, self.target, tz),
            Some(day) => {
                let sites = self
                    .sites
                    .iter()
                    .map(|(k, s)| (k.clone(), s.of_day(day, tz)))
                    .collect();
                site_and_provider_lines(&self.providers, &sites, policy, self.target, tz)
            }
        }
    }
}

/// The per-site lines and the providers' scorecards from the books' `sites` (by site
/// label), under the tenant's `policy` and `target`.
pub fn site_and_provider_lines(
    providers: &Providers,
    sites: &BTreeMap<String, SiteCounts>,
    policy: AbandonPolicy,
    target: f64,
    tz: Tz,
) -> (Vec<SiteReport>, Vec<ProviderReport>) {
    if providers.is_empty() {
        return (Vec::new(), Vec::new());
    }
    let empty = SiteCounts::default();
    let site_lines = crate::sites::labels(providers)
        .filter_map(|label| {
            let declared = providers.sites.get(label);
            let counts = sites.get(label);
            if declared.is_none() && counts.is_none() {
                return None;
            }
            let c = counts.unwrap_or(&empty).total();
            Some(SiteReport {
                site: label.to_owned(),
                name: declared.map_or_else(|| no_site_name(label), |s| s.display_name.clone()),
                provider: providers.provider_of(label).map(str::to_owned),
                figures: PlaceFigures::of(&c, policy),
            })
        })
        .collect();
    // Handled calls per queue at all declared sites: the denominator of the shares.
    let mut handled: BTreeMap<&str, u64> = BTreeMap::new();
    for (label, s) in sites {
        if providers.sites.contains_key(label) {
            for (q, c) in &s.queues {
                *handled.entry(q.as_str()).or_default() += c.answered;
            }
        }
    }
    let fmt = |t: DateTime<Utc>| {
        t.with_timezone(&tz)
            .to_rfc3339_opts(SecondsFormat::Secs, false)
    };
    let provider_lines = providers
        .providers
        .iter()
        .map(|(id, p)| {
            let target = p.target.unwrap_or(target);
            let mut own = SiteCounts::default();
            for s in p.sites.iter().filter_map(|s| sites.get(s)) {
                for (q, c) in &s.queues {
                    own.queues.entry(q.clone()).or_default().merge(c);
                }
                for (t, c) in &s.intervals {
                    own.intervals.entry(*t).or_default().merge(c);
                }
                for (d, c) in &s.days {
                    own.days.entry(*d).or_default().merge(c);
                }
            }
            let total = own.total();
            let figures = PlaceFigures::of(&total, policy);
            let intervals: Vec<ProviderInterval> = own
                .intervals
                .iter()
                .map(|(start, c)| {
                    let figures = PlaceFigures::of(c, policy);
                    ProviderInterval {
                        start: fmt(*start),
                        end: fmt(*start + chrono::Duration::minutes(INTERVAL_MINUTES)),
                        below_target: figures.service_level.is_some_and(|l| l < target),
                        figures,
                    }
                })
                .collect();
            let mut queues: Vec<&str> = p.shares.keys().map(String::as_str).collect();
            for q in own.queues.keys() {
                if !queues.contains(&q.as_str()) {
                    queues.push(q);
                }
            }
            let shares = queues
                .into_iter()
                .map(|q| {
                    let answered = own.queues.get(q).map_or(0, |c| c.answered);
                    let all = handled.get(q).copied().unwrap_or(0);
                    ShareLine {
                        queue: q.to_owned(),
                        contracted: p.shares.get(q).copied(),
                        answered,
                        actual: (all > 0).then(|| answered as f64 / all as f64),
                    }
                })
                .collect();
            ProviderReport {
                provider: id.clone(),
                name: p.display_name.clone(),
                sites: p.sites.clone(),
                target,
                target_met: figures.service_level.map(|l| l >= target),
                intervals_below_target: intervals.iter().filter(|i| i.below_target).count() as u64,
                shares,
                daily_cap: p.daily_cap,
                days: own
                    .days
                    .iter()
                    .map(|(date, c)| CapDay {
                        date: *date,
                        offered: c.offered,
                        cap_used: p
                            .daily_cap
                            .filter(|cap| *cap > 0)
                            .map(|cap| c.offered as f64 / cap as f64),
                    })
                    .collect(),
                intervals,
                figures,
            }
        })
        .collect();
    (site_lines, provider_lines)
}

fn no_site_name(label: &str) -> String {
    match label {
        ANNOUNCEMENT => "announcement (no site)".into(),
        crate::sites::UNKNOWN_SITE => "site not known".into(),
        _ => "sites not declared".into(),
    }
}

fn pct(v: Option<f64>) -> String {
    v.map_or_else(|| "—".into(), |v| format!("{:.1} %", v * 100.0))
}

fn secs(v: Option<f64>) -> String {
    v.map_or_else(|| "—".into(), |v| format!("{v:.1} s"))
}

/// The table of sites and the providers' scorecards of one tenant; nothing when it
/// declares no sites.
pub fn write_sites(
    f: &mut std::fmt::Formatter<'_>,
    sites: &[SiteReport],
    providers: &[ProviderReport],
) -> std::fmt::Result {
    if sites.is_empty() {
        return Ok(());
    }
    writeln!(f)?;
    writeln!(
        f,
        "  {:<16} {:<14} {:>8} {:>8} {:>8} {:>9} {:>6} {:>9} {:>8} {:>9} {:>7}",
        "site",
        "provider",
        "offered",
        "answered",
        "within",
        "abandoned",
        "short",
        "SL",
        "ASA",
        "abandon",
        "FCR"
    )?;
    for s in sites {
        let p = &s.figures;
        writeln!(
            f,
            "  {:<16} {:<14} {:>8} {:>8} {:>8} {:>9} {:>6} {:>9} {:>8} {:>9} {:>7}",
            s.site,
            s.provider.as_deref().unwrap_or("—"),
            p.offered,
            p.answered,
            p.answered_within,
            p.abandoned,
            p.short_abandoned,
            pct(p.service_level),
            secs(p.asa_seconds),
            pct(p.abandon_rate),
            pct(p.first_contact_resolution),
        )?;
    }
    for p in providers {
        let fig = &p.figures;
        writeln!(f)?;
        writeln!(
            f,
            "  provider {} — {} ({})",
            p.provider,
            p.name,
            p.sites.join(", ")
        )?;
        writeln!(
            f,
            "    offered {}, answered {} ({} within), abandoned {} ({} short); SL {} against {}{}; ASA {}; abandon {}; FCR {}",
            fig.offered,
            fig.answered,
            fig.answered_within,
            fig.abandoned,
            fig.short_abandoned,
            pct(fig.service_level),
            pct(Some(p.target)),
            match p.target_met {
                Some(true) => " (met)",
                Some(false) => " (missed)",
                None => "",
            },
            secs(fig.asa_seconds),
            pct(fig.abandon_rate),
            pct(fig.first_contact_resolution),
        )?;
        writeln!(
            f,
            "    intervals below target: {} of {}",
            p.intervals_below_target,
            p.intervals.len()
        )?;
        for s in &p.shares {
            writeln!(
                f,
                "    share of {}: {} contracted, {} actual ({} answered)",
                s.queue,
                pct(s.contracted),
                pct(s.actual),
                s.answered
            )?;
        }
        if let Some(cap) = p.daily_cap {
            for d in &p.days {
                writeln!(
                    f,
                    "    {}: {} of the daily cap of {} used ({})",
                    d.date,
                    d.offered,
                    cap,
                    pct(d.cap_used)
                )?;
            }
        }
    }
    Ok(())
}
