//! The staffing search: the fewest agents per site and 30-minute interval of a window (a
//! surge) with which every interval of every queue meets the tenant's target, the tenant's
//! own plugins routing as they would.
//!
//! Each candidate plan is judged by a batch of runs with the same seed (common random
//! numbers: the same callers arrive with the same patience in every candidate, so two
//! plans differ by their agents only), an interval meeting the target when its mean
//! service level does. First agents are added where the earliest interval falls short — at
//! the site with the most calls not answered in time there, as many as the shortfall's
//! workload needs (at least one) — until every interval meets the target; then each
//! interval's agents are taken away one at a time, latest interval first, as long as every
//! interval still meets it.

use serde::Serialize;

use crate::scenario::Scenario;
use crate::summary::{Summary, clock};

/// What to search.
#[derive(Debug, Clone, PartialEq)]
pub struct Search {
    /// The sites whose agents may change.
    pub sites: Vec<String>,
    /// The window's start, milliseconds since the epoch.
    pub from_ms: i64,
    /// The window's end.
    pub to_ms: i64,
    /// The most agents one site may have in one interval.
    pub max_agents: u32,
    /// The most candidate plans judged.
    pub max_evaluations: usize,
}

/// One site's agents per interval of the window.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SitePlan {
    /// The site.
    pub site: String,
    /// `(start HH:MM, agents)` per interval.
    pub intervals: Vec<(String, u32)>,
}

/// What the search found.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Found {
    /// Whether every interval of the window meets the target with `plan`.
    pub met: bool,
    /// The agents per site and interval.
    pub plan: Vec<SitePlan>,
    /// Candidate plans judged.
    pub evaluations: usize,
    /// The figures of the plan.
    pub summary: Summary,
}

const INTERVAL_MS: i64 = 30 * 60 * 1000;

/// Searches `search`'s window of `base`, judging a candidate scenario by `evaluate`.
pub fn search(
    base: &Scenario,
    search: &Search,
    mut evaluate: impl FnMut(&Scenario) -> anyhow::Result<Summary>,
) -> anyhow::Result<Found> {
    let sites: Vec<usize> = search
        .sites
        .iter()
        .map(|s| {
            base.sites
                .iter()
                .position(|x| x.site == *s)
                .ok_or_else(|| anyhow::anyhow!("--search-sites: {s} is not a site of the scenario"))
        })
        .collect::<anyhow::Result<_>>()?;
    let starts: Vec<i64> = (search.from_ms..search.to_ms)
        .step_by(INTERVAL_MS as usize)
        .collect();
    if starts.is_empty() || sites.is_empty() {
        anyhow::bail!("search: an empty window or no sites");
    }
    let mut grid: Vec<Vec<u32>> = sites
        .iter()
        .map(|&i| {
            starts
                .iter()
                .map(|&t| agents_at(&base.sites[i].agents, t))
                .collect()
        })
        .collect();
    let mut evaluations = 0;
    let mut judge = |grid: &[Vec<u32>]| -> anyhow::Result<(Summary, Option<usize>)> {
        let candidate = with_grid(base, &sites, &starts, search.to_ms, grid);
        let summary = evaluate(&candidate)?;
        let failing = first_failing(&summary, &starts, base);
        Ok((summary, failing))
    };
    let (mut summary, mut failing) = judge(&grid)?;
    evaluations += 1;
    while let Some(k) = failing {
        if evaluations >= search.max_evaluations {
            break;
        }
        let start = rfc_start(&summary, starts[k], base);
        let shortfall = |site: usize| -> f64 {
            summary
                .site(&base.sites[site].site)
                .and_then(|s| {
                    s.intervals
                        .iter()
                        .find(|i| Some(&i.start) == start.as_ref())
                })
                .map_or(0.0, |i| {
                    i.figures.offered.mean.unwrap_or(0.0)
                        - i.figures.answered_within.mean.unwrap_or(0.0)
                })
        };
        let Some((j, _)) = sites
            .iter()
            .enumerate()
            .filter(|(j, _)| grid[*j][k] < search.max_agents)
            .map(|(j, &i)| (j, shortfall(i)))
            .max_by(|a, b| a.1.total_cmp(&b.1).then(b.0.cmp(&a.0)))
        else {
            break;
        };
        let site = &base.sites[sites[j]];
        let workload = shortfall(sites[j]) * site.talk.mean() / (INTERVAL_MS as f64 / 1000.0);
        let add = (workload / 2.0).ceil().max(1.0) as u32;
        grid[j][k] = (grid[j][k] + add).min(search.max_agents);
        (summary, failing) = judge(&grid)?;
        evaluations += 1;
    }
    let met = failing.is_none();
    if met {
        'trim: for k in (0..starts.len()).rev() {
            for j in 0..sites.len() {
                while grid[j][k] > 0 {
                    if evaluations >= search.max_evaluations {
                        break 'trim;
                    }
                    grid[j][k] -= 1;
                    let (s, f) = judge(&grid)?;
                    evaluations += 1;
                    if f.is_some() {
                        grid[j][k] += 1;
                        break;
                    }
                    summary = s;
                }
            }
        }
    }
    let plan = sites
        .iter()
        .zip(&grid)
        .map(|(&i, agents)| SitePlan {
            site: base.sites[i].site.clone(),
            intervals: starts
                .iter()
                .zip(agents)
                .map(|(&t, &a)| (local_clock(base, t), a))
                .collect(),
        })
        .collect();
    Ok(Found {
        met,
        plan,
        evaluations,
        summary,
    })
}

/// `base` with the agents of `sites` in the window's intervals from `grid`; the plan
/// before and after the window stays.
pub fn with_grid(
    base: &Scenario,
    sites: &[usize],
    starts: &[i64],
    to_ms: i64,
    grid: &[Vec<u32>],
) -> Scenario {
    let mut s = base.clone();
    for (&i, agents) in sites.iter().zip(grid) {
        let old = &base.sites[i].agents;
        let after = agents_at(old, to_ms);
        let from = starts.first().copied().unwrap_or(to_ms);
        let mut plan: Vec<(i64, u32)> = old.iter().copied().filter(|(t, _)| *t < from).collect();
        plan.extend(starts.iter().copied().zip(agents.iter().copied()));
        plan.push((to_ms, after));
        plan.extend(old.iter().copied().filter(|(t, _)| *t > to_ms));
        s.sites[i].agents = plan;
    }
    s
}

fn agents_at(plan: &[(i64, u32)], t: i64) -> u32 {
    plan.iter()
        .take_while(|(from, _)| *from <= t)
        .last()
        .map_or(0, |(_, a)| *a)
}

fn local_clock(base: &Scenario, t: i64) -> String {
    chrono::DateTime::<chrono::Utc>::from_timestamp_millis(t)
        .map(|t| t.with_timezone(&base.timezone).format("%H:%M").to_string())
        .unwrap_or_default()
}

/// The report's interval start string for the window interval starting at `t`.
fn rfc_start(summary: &Summary, t: i64, base: &Scenario) -> Option<String> {
    let hhmm = local_clock(base, t);
    summary
        .queues
        .iter()
        .flat_map(|q| &q.intervals)
        .find(|i| clock(&i.start) == hhmm)
        .map(|i| i.start.clone())
}

/// The first window interval in which some queue's mean service level is below its target.
fn first_failing(summary: &Summary, starts: &[i64], base: &Scenario) -> Option<usize> {
    starts.iter().position(|&t| {
        let hhmm = local_clock(base, t);
        summary.queues.iter().any(|q| {
            q.intervals
                .iter()
                .any(|i| clock(&i.start) == hhmm && i.below_target == Some(true))
        })
    })
}
