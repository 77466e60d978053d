//! A scenario: what the simulated contact center looks like on one day — when calls
//! arrive in each queue, at which site the ACD offers them, the sites with their agents
//! per interval, how long calls take and how long callers wait before they hang up.
//!
//! Read from TOML (unknown keys refused) and checked against the tenant's bundle: its
//! queues, its declared sites and providers, its timezone and service-level target. Every
//! refusal names the key.

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;

use chrono::{NaiveDate, NaiveTime, TimeZone};
use chrono_tz::Tz;
use figment::Figment;
use figment::providers::{Format, Toml};
use serde::Deserialize;

use leitstand_sla::profile::ServiceProfile;
use leitstand_sla::staffing::{self, Goal, Load};

use crate::random::Distribution;

/// A scenario refused, naming the key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{key}: {message}")]
pub struct ScenarioError {
    /// The key, dotted (`sites.pirmasens.talk.sd_seconds`); empty for the file as a whole.
    pub key: String,
    /// What is wrong.
    pub message: String,
}

impl ScenarioError {
    fn new(key: impl Into<String>, message: impl fmt::Display) -> Self {
        Self {
            key: key.into(),
            message: message.to_string(),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ScenarioFile {
    name: Option<String>,
    day: NaiveDate,
    #[serde(default = "default_start")]
    start: String,
    #[serde(default = "default_end")]
    end: String,
    #[serde(default = "default_status_every")]
    status_every_seconds: u32,
    #[serde(default = "default_announcement")]
    announcement_seconds: f64,
    queues: BTreeMap<String, QueueFile>,
    #[serde(default)]
    handling: HandlingFile,
    sites: BTreeMap<String, SiteFile>,
    bookings: Option<BookingsFile>,
}

fn default_start() -> String {
    "00:00".into()
}
fn default_end() -> String {
    "24:00".into()
}
fn default_status_every() -> u32 {
    60
}
fn default_announcement() -> f64 {
    8.0
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct QueueFile {
    site: Option<String>,
    per_hour: Option<f64>,
    profile: Option<Vec<StepFile>>,
    surge: Option<SurgeFile>,
    scale: Option<f64>,
    #[serde(default)]
    concerns: BTreeMap<String, f64>,
    #[serde(default)]
    emergency_share: f64,
    patience: Option<DistFile>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct StepFile {
    from: String,
    per_hour: f64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SurgeFile {
    at: String,
    calls: f64,
    #[serde(default)]
    ramp_minutes: f64,
    half_life_minutes: f64,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct HandlingFile {
    talk: Option<DistFile>,
    patience: Option<DistFile>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct DistFile {
    distribution: String,
    mean_seconds: Option<f64>,
    sd_seconds: Option<f64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SiteFile {
    agents: AgentsFile,
    #[serde(default = "one")]
    erlang_c_share: f64,
    talk: Option<DistFile>,
}

fn one() -> f64 {
    1.0
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum AgentsFile {
    Count(u32),
    Plan(Vec<PlanStepFile>),
    Rule(String),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PlanStepFile {
    from: String,
    agents: u32,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct BookingsFile {
    share: f64,
    centers: Vec<String>,
    #[serde(default = "fourteen")]
    days_ahead: u32,
}

fn fourteen() -> u32 {
    14
}

/// What a recorded day (`--from EVENTS.jsonl`) gives a scenario: the offers per queue, and
/// the handling times and patience fitted from its answers, abandons and talk times.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Recorded {
    /// Offer times per queue, milliseconds since the epoch, in order.
    pub offers: BTreeMap<String, Vec<i64>>,
    /// Talk times of ended calls, seconds.
    pub talk_seconds: Vec<f64>,
    /// Waits of answered calls, seconds.
    pub answered_waits: Vec<f64>,
    /// Waits of abandoned calls, seconds.
    pub abandoned_waits: Vec<f64>,
}

impl Recorded {
    /// Reads the offers, answers, abandons and ends of `tenant` from JSON Lines of
    /// CloudEvents (structured mode); other lines are passed over. A line that is not
    /// JSON is refused with its number.
    pub fn read(text: &str, tenant: &str) -> Result<Self, ScenarioError> {
        let mut r = Self::default();
        for (i, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() {
                continue;
            }
            let v: serde_json::Value = serde_json::from_str(line).map_err(|e| {
                ScenarioError::new("--from", format!("line {}: not JSON: {e}", i + 1))
            })?;
            if v["tenant"].as_str() != Some(tenant) {
                continue;
            }
            let data = &v["data"];
            match v["type"].as_str() {
                Some("call.offered") => {
                    let (Some(queue), Some(time)) = (data["queue"].as_str(), v["time"].as_str())
                    else {
                        continue;
                    };
                    let t = chrono::DateTime::parse_from_rfc3339(time).map_err(|e| {
                        ScenarioError::new("--from", format!("line {}: time: {e}", i + 1))
                    })?;
                    r.offers
                        .entry(queue.to_owned())
                        .or_default()
                        .push(t.timestamp_millis());
                }
                Some("call.answered") => r.answered_waits.extend(data["wait_seconds"].as_f64()),
                Some("call.abandoned") => r.abandoned_waits.extend(data["wait_seconds"].as_f64()),
                Some("call.ended") => r.talk_seconds.extend(data["talk_seconds"].as_f64()),
                _ => {}
            }
        }
        for offers in r.offers.values_mut() {
            offers.sort_unstable();
        }
        Ok(r)
    }

    /// Talk times as a log-normal with the recorded mean and standard deviation.
    fn talk(&self) -> Option<Distribution> {
        let n = self.talk_seconds.len();
        if n < 2 {
            return None;
        }
        let mean = self.talk_seconds.iter().sum::<f64>() / n as f64;
        let var = self
            .talk_seconds
            .iter()
            .map(|x| (x - mean).powi(2))
            .sum::<f64>()
            / (n - 1) as f64;
        (mean > 0.0 && var > 0.0).then(|| Distribution::LogNormal {
            mean,
            sd: var.sqrt(),
        })
    }

    /// Patience as an exponential by its maximum-likelihood estimate under censoring: the
    /// time all callers waited (answered ones are censored) over the abandons.
    fn patience(&self) -> Option<Distribution> {
        let abandons = self.abandoned_waits.len();
        let total: f64 = self
            .answered_waits
            .iter()
            .chain(&self.abandoned_waits)
            .sum();
        (abandons > 0 && total > 0.0).then(|| Distribution::Exponential {
            mean: total / abandons as f64,
        })
    }
}

/// Calls arriving in one queue.
#[derive(Debug, Clone, PartialEq)]
pub struct QueueModel {
    /// The queue.
    pub queue: String,
    /// Where the ACD offers its calls (the `site` of `call.offered`), before any plugin
    /// routes them.
    pub site: String,
    /// When calls arrive.
    pub arrivals: Arrivals,
    /// Concerns and their cumulative shares (for one uniform draw).
    pub concerns: Vec<(String, f64)>,
    /// The share of calls offered with `priority: "emergency"`.
    pub emergency_share: f64,
    /// How long its callers wait before they hang up.
    pub patience: Distribution,
}

/// When a queue's calls arrive.
#[derive(Debug, Clone, PartialEq)]
pub enum Arrivals {
    /// A Poisson process with a rate that changes with the time of day.
    Rate(Rate),
    /// The offers of a recorded day, scaled: each recorded offer gives `scale` calls on
    /// average at its time.
    Recorded {
        /// The offer times, milliseconds since the epoch.
        times: Vec<i64>,
        /// Calls per recorded offer.
        scale: f64,
    },
}

/// A rate profile: piecewise constant steps plus an optional surge.
#[derive(Debug, Clone, PartialEq)]
pub struct Rate {
    /// From each instant (milliseconds since the epoch) on, calls per hour, until the next.
    pub steps: Vec<(i64, f64)>,
    /// A surge on top.
    pub surge: Option<Surge>,
    /// Arrivals stop here.
    pub end_ms: i64,
}

/// A surge: `calls` more calls, rising linearly over `ramp_ms` from `at_ms`, then decaying
/// with half-life `half_life_ms`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Surge {
    /// Start, milliseconds since the epoch.
    pub at_ms: i64,
    /// Calls in all (over unbounded time).
    pub calls: f64,
    /// Rise, milliseconds.
    pub ramp_ms: f64,
    /// Half-life of the decay, milliseconds.
    pub half_life_ms: f64,
}

impl Surge {
    /// Calls per hour at the peak.
    pub fn peak_per_hour(&self) -> f64 {
        let mass_ms = self.ramp_ms / 2.0 + self.half_life_ms / std::f64::consts::LN_2;
        self.calls / mass_ms * 3_600_000.0
    }

    /// Calls per hour at `t_ms`.
    pub fn per_hour(&self, t_ms: i64) -> f64 {
        let dt = (t_ms - self.at_ms) as f64;
        if dt < 0.0 {
            0.0
        } else if dt < self.ramp_ms {
            self.peak_per_hour() * dt / self.ramp_ms
        } else {
            self.peak_per_hour() * (-(dt - self.ramp_ms) / self.half_life_ms).exp2()
        }
    }
}

impl Rate {
    /// Calls per hour at `t_ms` (0 after the end).
    pub fn per_hour(&self, t_ms: i64) -> f64 {
        if t_ms >= self.end_ms {
            return 0.0;
        }
        let base = self
            .steps
            .iter()
            .take_while(|(from, _)| *from <= t_ms)
            .last()
            .map_or(0.0, |(_, r)| *r);
        base + self.surge.map_or(0.0, |s| s.per_hour(t_ms))
    }

    /// An upper bound of the rate, calls per hour.
    pub fn max_per_hour(&self) -> f64 {
        let base = self.steps.iter().map(|(_, r)| *r).fold(0.0, f64::max);
        base + self.surge.map_or(0.0, |s| s.peak_per_hour())
    }

    /// Expected calls in `[from_ms, to_ms)` (a sum over one-second steps).
    pub fn expected(&self, from_ms: i64, to_ms: i64) -> f64 {
        (from_ms..to_ms)
            .step_by(1000)
            .map(|t| self.per_hour(t + 500) / 3600.0)
            .sum()
    }
}

/// One site of the simulated center.
#[derive(Debug, Clone, PartialEq)]
pub struct SiteModel {
    /// The site id (as the bundle declares it).
    pub site: String,
    /// Agents on shift from each instant on (milliseconds since the epoch), in order; none
    /// before the first.
    pub agents: Vec<(i64, u32)>,
    /// Talk times at this site.
    pub talk: Distribution,
}

/// Bookings made by answered callers.
#[derive(Debug, Clone, PartialEq)]
pub struct Bookings {
    /// The share of answered calls that book.
    pub share: f64,
    /// The centers a booking goes to (one drawn per booking).
    pub centers: Vec<String>,
    /// Slots are drawn from the next this many days.
    pub days_ahead: u32,
}

/// A checked scenario.
#[derive(Debug, Clone, PartialEq)]
pub struct Scenario {
    /// Its name (the file's stem when it names none).
    pub name: String,
    /// The tenant's timezone.
    pub timezone: Tz,
    /// The simulated day, local.
    pub day: NaiveDate,
    /// Arrivals start, milliseconds since the epoch.
    pub start_ms: i64,
    /// Arrivals stop.
    pub end_ms: i64,
    /// Every site reports `site.status` this often, milliseconds (0: never).
    pub status_every_ms: i64,
    /// How long a caller sent to an announcement listens before the call ends.
    pub announcement_ms: i64,
    /// The queues, by name.
    pub queues: Vec<QueueModel>,
    /// The sites, by name.
    pub sites: Vec<SiteModel>,
    /// Bookings, when the scenario has them.
    pub bookings: Option<Bookings>,
}

impl Scenario {
    /// Reads the scenario in `path` for the tenant of `profile`.
    pub fn load(
        path: &Path,
        profile: &ServiceProfile,
        recorded: Option<&Recorded>,
    ) -> Result<Self, ScenarioError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| ScenarioError::new("", format!("cannot read {}: {e}", path.display())))?;
        let stem = path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        Self::parse(&text, &stem, profile, recorded)
    }

    /// `HH:MM` (or `24:00`) on the scenario's day, as milliseconds since the epoch.
    pub fn at(&self, text: &str) -> Result<i64, String> {
        local_ms(self.timezone, self.day, text)
    }

    /// Reads a scenario from TOML text; `name` when it names none.
    pub fn parse(
        text: &str,
        name: &str,
        profile: &ServiceProfile,
        recorded: Option<&Recorded>,
    ) -> Result<Self, ScenarioError> {
        let file: ScenarioFile = Figment::from(Toml::string(text))
            .extract()
            .map_err(|e| ScenarioError::new(e.path.join("."), e.kind))?;
        build(file, name, profile, recorded)
    }
}

fn build(
    file: ScenarioFile,
    name: &str,
    profile: &ServiceProfile,
    recorded: Option<&Recorded>,
) -> Result<Scenario, ScenarioError> {
    let tz = profile.timezone;
    let at = |key: &str, text: &str| {
        local_ms(tz, file.day, text).map_err(|m| ScenarioError::new(key, m))
    };
    let start_ms = at("start", &file.start)?;
    let end_ms = at("end", &file.end)?;
    if end_ms <= start_ms {
        return Err(ScenarioError::new(
            "end",
            format!("{} is not after start {}", file.end, file.start),
        ));
    }
    if !(file.announcement_seconds.is_finite() && file.announcement_seconds >= 0.0) {
        return Err(ScenarioError::new(
            "announcement_seconds",
            format!(
                "{} is not a duration of at least 0 seconds",
                file.announcement_seconds
            ),
        ));
    }
    if file.sites.is_empty() {
        return Err(ScenarioError::new(
            "sites",
            "a scenario needs at least one site",
        ));
    }
    if file.queues.is_empty() {
        return Err(ScenarioError::new(
            "queues",
            "a scenario needs at least one queue",
        ));
    }
    let declared = &profile.providers.sites;
    for site in file.sites.keys() {
        if !declared.is_empty() && !declared.contains_key(site) {
            return Err(ScenarioError::new(
                format!("sites.{site}"),
                format!(
                    "unknown site: the bundle of {} declares {}",
                    profile.tenant,
                    declared.keys().cloned().collect::<Vec<_>>().join(", ")
                ),
            ));
        }
    }
    let talk_default = match &file.handling.talk {
        Some(d) => distribution("handling.talk", d, recorded.and_then(Recorded::talk), false)?,
        None => Distribution::Exponential { mean: 180.0 },
    };
    let patience_default = match &file.handling.patience {
        Some(d) => distribution(
            "handling.patience",
            d,
            recorded.and_then(Recorded::patience),
            true,
        )?,
        None => Distribution::Never,
    };
    let mut queues = Vec::new();
    for (queue, q) in &file.queues {
        let key = format!("queues.{queue}");
        if !profile.queues.is_empty() && !profile.queues.contains_key(queue) {
            return Err(ScenarioError::new(
                key,
                format!(
                    "unknown queue: the bundle of {} declares {}",
                    profile.tenant,
                    profile
                        .queues
                        .keys()
                        .cloned()
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            ));
        }
        let site = match &q.site {
            Some(site) if file.sites.contains_key(site) => site.clone(),
            Some(site) => {
                return Err(ScenarioError::new(
                    format!("{key}.site"),
                    format!("unknown site {site}: not one of the scenario's [sites]"),
                ));
            }
            None if file.sites.len() == 1 => file.sites.keys().next().cloned().unwrap_or_default(),
            None => {
                return Err(ScenarioError::new(
                    format!("{key}.site"),
                    "missing: with several sites, say where the ACD offers the queue's calls",
                ));
            }
        };
        let arrivals = arrivals(
            &key,
            q,
            &file,
            tz,
            start_ms,
            end_ms,
            recorded.and_then(|r| r.offers.get(queue)),
        )?;
        let mut concerns = Vec::new();
        let total: f64 = q.concerns.values().sum();
        for (concern, share) in &q.concerns {
            if !(share.is_finite() && *share >= 0.0) {
                return Err(ScenarioError::new(
                    format!("{key}.concerns.{concern}"),
                    format!("{share} is not a share of at least 0"),
                ));
            }
        }
        if !q.concerns.is_empty() && total <= 0.0 {
            return Err(ScenarioError::new(
                format!("{key}.concerns"),
                "the shares add up to 0",
            ));
        }
        let mut acc = 0.0;
        for (concern, share) in &q.concerns {
            acc += share / total;
            concerns.push((concern.clone(), acc));
        }
        if !(0.0..=1.0).contains(&q.emergency_share) {
            return Err(ScenarioError::new(
                format!("{key}.emergency_share"),
                format!("{} is not a fraction in [0, 1]", q.emergency_share),
            ));
        }
        let patience = match &q.patience {
            Some(d) => distribution(
                &format!("{key}.patience"),
                d,
                recorded.and_then(Recorded::patience),
                true,
            )?,
            None => patience_default,
        };
        queues.push(QueueModel {
            queue: queue.clone(),
            site,
            arrivals,
            concerns,
            emergency_share: q.emergency_share,
            patience,
        });
    }
    let mut sites = Vec::new();
    for (site, s) in &file.sites {
        let key = format!("sites.{site}");
        let talk = match &s.talk {
            Some(d) => distribution(
                &format!("{key}.talk"),
                d,
                recorded.and_then(Recorded::talk),
                false,
            )?,
            None => talk_default,
        };
        let agents = match &s.agents {
            AgentsFile::Count(n) => vec![(start_ms, *n)],
            AgentsFile::Plan(steps) => {
                let mut plan: Vec<(i64, u32)> = Vec::new();
                for (i, step) in steps.iter().enumerate() {
                    let k = format!("{key}.agents.{i}.from");
                    let from = local_ms(tz, file.day, &step.from)
                        .map_err(|m| ScenarioError::new(&k, m))?;
                    if plan.last().is_some_and(|(t, _)| *t >= from) {
                        return Err(ScenarioError::new(
                            k,
                            format!("{} is not after the step before", step.from),
                        ));
                    }
                    plan.push((from, step.agents));
                }
                if plan.is_empty() {
                    return Err(ScenarioError::new(format!("{key}.agents"), "an empty plan"));
                }
                plan
            }
            AgentsFile::Rule(rule) if rule == "erlang-c" => {
                if !(s.erlang_c_share.is_finite()
                    && s.erlang_c_share > 0.0
                    && s.erlang_c_share <= 1.0)
                {
                    return Err(ScenarioError::new(
                        format!("{key}.erlang_c_share"),
                        format!("{} is not a fraction in (0, 1]", s.erlang_c_share),
                    ));
                }
                erlang_c_plan(
                    profile,
                    &queues,
                    talk.mean(),
                    s.erlang_c_share,
                    start_ms,
                    end_ms,
                )
            }
            AgentsFile::Rule(other) => {
                return Err(ScenarioError::new(
                    format!("{key}.agents"),
                    format!(
                        "{other:?}: give a number, a plan [{{from, agents}}, …] or \"erlang-c\""
                    ),
                ));
            }
        };
        sites.push(SiteModel {
            site: site.clone(),
            agents,
            talk,
        });
    }
    let bookings = match file.bookings {
        None => None,
        Some(b) => {
            if !(0.0..=1.0).contains(&b.share) {
                return Err(ScenarioError::new(
                    "bookings.share",
                    format!("{} is not a fraction in [0, 1]", b.share),
                ));
            }
            if b.centers.is_empty() {
                return Err(ScenarioError::new(
                    "bookings.centers",
                    "name at least one center",
                ));
            }
            if b.days_ahead == 0 {
                return Err(ScenarioError::new(
                    "bookings.days_ahead",
                    "must be at least 1",
                ));
            }
            Some(Bookings {
                share: b.share,
                centers: b.centers,
                days_ahead: b.days_ahead,
            })
        }
    };
    Ok(Scenario {
        name: file.name.unwrap_or_else(|| name.to_owned()),
        timezone: tz,
        day: file.day,
        start_ms,
        end_ms,
        status_every_ms: i64::from(file.status_every_seconds) * 1000,
        announcement_ms: (file.announcement_seconds * 1000.0).round() as i64,
        queues,
        sites,
        bookings,
    })
}

fn arrivals(
    key: &str,
    q: &QueueFile,
    file: &ScenarioFile,
    tz: Tz,
    start_ms: i64,
    end_ms: i64,
    recorded: Option<&Vec<i64>>,
) -> Result<Arrivals, ScenarioError> {
    let rated = q.per_hour.is_some() || q.profile.is_some() || q.surge.is_some();
    if q.per_hour.is_some() && q.profile.is_some() {
        return Err(ScenarioError::new(
            format!("{key}.profile"),
            "give either per_hour or a profile, not both",
        ));
    }
    if !rated {
        let Some(times) = recorded else {
            return Err(ScenarioError::new(
                key,
                "no arrivals: give per_hour, a profile or a surge, or a recorded day (--from) with offers of this queue",
            ));
        };
        let scale = q.scale.unwrap_or(1.0);
        if !(scale.is_finite() && scale >= 0.0) {
            return Err(ScenarioError::new(
                format!("{key}.scale"),
                format!("{scale} is not a factor of at least 0"),
            ));
        }
        return Ok(Arrivals::Recorded {
            times: times.clone(),
            scale,
        });
    }
    if q.scale.is_some() {
        return Err(ScenarioError::new(
            format!("{key}.scale"),
            "scales a recorded day's offers only (--from, no rate)",
        ));
    }
    let check_rate = |k: String, r: f64| {
        if r.is_finite() && r >= 0.0 {
            Ok(r)
        } else {
            Err(ScenarioError::new(
                k,
                format!("{r} is not a rate of at least 0 calls an hour"),
            ))
        }
    };
    let mut steps = Vec::new();
    if let Some(r) = q.per_hour {
        steps.push((start_ms, check_rate(format!("{key}.per_hour"), r)?));
    }
    for (i, step) in q.profile.iter().flatten().enumerate() {
        let k = format!("{key}.profile.{i}");
        let from = local_ms(tz, file.day, &step.from)
            .map_err(|m| ScenarioError::new(format!("{k}.from"), m))?;
        if steps.last().is_some_and(|(t, _)| *t >= from) {
            return Err(ScenarioError::new(
                format!("{k}.from"),
                format!("{} is not after the step before", step.from),
            ));
        }
        steps.push((
            from.max(start_ms),
            check_rate(format!("{k}.per_hour"), step.per_hour)?,
        ));
    }
    let surge = match &q.surge {
        None => None,
        Some(s) => {
            let k = format!("{key}.surge");
            let at_ms = local_ms(tz, file.day, &s.at)
                .map_err(|m| ScenarioError::new(format!("{k}.at"), m))?;
            if !(s.calls.is_finite() && s.calls >= 0.0) {
                return Err(ScenarioError::new(
                    format!("{k}.calls"),
                    format!("{} is not a number of calls", s.calls),
                ));
            }
            if !(s.ramp_minutes.is_finite() && s.ramp_minutes >= 0.0) {
                return Err(ScenarioError::new(
                    format!("{k}.ramp_minutes"),
                    format!("{} is not a duration of at least 0", s.ramp_minutes),
                ));
            }
            if !(s.half_life_minutes.is_finite() && s.half_life_minutes > 0.0) {
                return Err(ScenarioError::new(
                    format!("{k}.half_life_minutes"),
                    format!("{} is not a duration above 0", s.half_life_minutes),
                ));
            }
            Some(Surge {
                at_ms: at_ms.max(start_ms),
                calls: s.calls,
                ramp_ms: s.ramp_minutes * 60_000.0,
                half_life_ms: s.half_life_minutes * 60_000.0,
            })
        }
    };
    Ok(Arrivals::Rate(Rate {
        steps,
        surge,
        end_ms,
    }))
}

/// A distribution from its table; `fitted` is what a recorded day gives, if any.
fn distribution(
    key: &str,
    d: &DistFile,
    fitted: Option<Distribution>,
    patience: bool,
) -> Result<Distribution, ScenarioError> {
    let mean = |d: &DistFile| match d.mean_seconds {
        Some(m) if m.is_finite() && m > 0.0 => Ok(m),
        Some(m) => Err(ScenarioError::new(
            format!("{key}.mean_seconds"),
            format!("{m} is not a duration above 0"),
        )),
        None => Err(ScenarioError::new(format!("{key}.mean_seconds"), "missing")),
    };
    let no_sd = |d: &DistFile| match d.sd_seconds {
        Some(_) => Err(ScenarioError::new(
            format!("{key}.sd_seconds"),
            format!(
                "a {} distribution has no standard deviation",
                d.distribution
            ),
        )),
        None => Ok(()),
    };
    match d.distribution.as_str() {
        "exponential" => {
            no_sd(d)?;
            Ok(Distribution::Exponential { mean: mean(d)? })
        }
        "fixed" => {
            no_sd(d)?;
            Ok(Distribution::Fixed { seconds: mean(d)? })
        }
        "lognormal" => {
            let m = mean(d)?;
            match d.sd_seconds {
                Some(sd) if sd.is_finite() && sd > 0.0 => Ok(Distribution::LogNormal { mean: m, sd }),
                Some(sd) => Err(ScenarioError::new(format!("{key}.sd_seconds"), format!("{sd} is not a duration above 0"))),
                None => Err(ScenarioError::new(format!("{key}.sd_seconds"), "missing: a log-normal needs its standard deviation")),
            }
        }
        "none" if patience => {
            if d.mean_seconds.is_some() {
                return Err(ScenarioError::new(format!("{key}.mean_seconds"), "callers who never hang up have no mean"));
            }
            no_sd(d)?;
            Ok(Distribution::Never)
        }
        "fitted" => fitted.ok_or_else(|| {
            ScenarioError::new(
                format!("{key}.distribution"),
                "\"fitted\" needs a recorded day (--from) with enough answers, abandons and talk times",
            )
        }),
        other => Err(ScenarioError::new(
            format!("{key}.distribution"),
            format!(
                "unknown distribution {other:?}: exponential, lognormal, fixed, fitted{}",
                if patience { " or none" } else { "" }
            ),
        )),
    }
}

/// Agents per 30-minute interval from `start_ms` to `end_ms`: what Erlang C recommends for
/// the tenant's target and threshold, for `share` of the expected calls of every queue.
fn erlang_c_plan(
    profile: &ServiceProfile,
    queues: &[QueueModel],
    aht_seconds: f64,
    share: f64,
    start_ms: i64,
    end_ms: i64,
) -> Vec<(i64, u32)> {
    const INTERVAL_MS: i64 = 30 * 60 * 1000;
    let goal = Goal {
        level: profile.sla.target,
        within_seconds: f64::from(profile.sla.threshold_seconds),
        max_occupancy: profile.sla.max_occupancy,
    };
    let mut plan = Vec::new();
    let mut t = start_ms;
    while t < end_ms {
        let to = (t + INTERVAL_MS).min(end_ms);
        let calls: f64 = queues
            .iter()
            .map(|q| match &q.arrivals {
                Arrivals::Rate(rate) => rate.expected(t, to),
                Arrivals::Recorded { times, scale } => {
                    times.iter().filter(|x| (t..to).contains(*x)).count() as f64 * scale
                }
            })
            .sum::<f64>()
            * share;
        let load = Load {
            calls,
            interval_seconds: (to - t) as f64 / 1000.0,
            aht_seconds,
        };
        let agents = staffing::recommend(&load, &goal).map_or(0, |r| r.agents);
        plan.push((t, agents));
        t = to;
    }
    plan
}

/// `HH:MM` (or `24:00`) on `day` in `tz`, as milliseconds since the epoch.
fn local_ms(tz: Tz, day: NaiveDate, text: &str) -> Result<i64, String> {
    let (date, time) = if text == "24:00" {
        (
            day.succ_opt().ok_or("the day after is out of range")?,
            NaiveTime::MIN,
        )
    } else {
        let time = NaiveTime::parse_from_str(text, "%H:%M")
            .map_err(|_| format!("{text:?} is not a time of day HH:MM"))?;
        (day, time)
    };
    tz.from_local_datetime(&date.and_time(time))
        .earliest()
        .map(|t| t.timestamp_millis())
        .ok_or_else(|| format!("{text} does not exist on {day} in {tz}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::profile;

    const BASE: &str = r#"
day = "2026-11-19"
start = "07:00"
end = "20:00"
[queues.impf]
site = "kl"
per_hour = 150
[queues.impf.surge]
at = "11:00"
calls = 1000
ramp_minutes = 10
half_life_minutes = 60
[handling]
talk = { distribution = "lognormal", mean_seconds = 150, sd_seconds = 90 }
patience = { distribution = "exponential", mean_seconds = 180 }
[sites.kl]
agents = "erlang-c"
[sites.ps]
agents = [{ from = "11:00", agents = 20 }, { from = "16:00", agents = 0 }]
"#;

    fn parse(text: &str) -> Result<Scenario, ScenarioError> {
        Scenario::parse(text, "base", &profile(), None)
    }

    #[test]
    fn the_base_scenario_is_read_in_the_tenants_time() {
        let s = parse(BASE).expect("valid");
        assert_eq!(s.name, "base");
        // 07:00 in Berlin in November is 06:00 UTC.
        assert_eq!(s.start_ms, 1_795_068_000_000);
        assert_eq!(s.end_ms - s.start_ms, 13 * 3_600_000);
        let Arrivals::Rate(rate) = &s.queues[0].arrivals else {
            panic!("a rate")
        };
        // The surge adds its calls: about 1,000 over the day besides 150 an hour.
        let total = rate.expected(s.start_ms, s.end_ms);
        assert!((total - (13.0 * 150.0 + 1000.0)).abs() < 20.0, "{total}");
        // Erlang C staffs each half hour; more during the surge.
        let kl = &s.sites[0];
        assert_eq!(kl.agents.len(), 26);
        let at = |hhmm: &str| {
            let t = s.at(hhmm).expect("time");
            kl.agents
                .iter()
                .find(|(from, _)| *from == t)
                .map(|(_, a)| *a)
                .expect("a step")
        };
        assert!(
            at("11:30") > 2 * at("09:00"),
            "{} vs {}",
            at("11:30"),
            at("09:00")
        );
        assert_eq!(s.sites[1].agents.len(), 2);
    }

    #[test]
    fn refusals_name_the_key() {
        for (from, to, key) in [
            (
                "per_hour = 150",
                "per_hour = 150\nspeed = 2",
                "queues.impf.speed",
            ),
            ("[sites.ps]", "[sites.xx]", "sites.xx"),
            ("site = \"kl\"", "site = \"ps2\"", "queues.impf.site"),
            ("[queues.impf]", "[queues.corona]", "queues.corona"),
            (
                "sd_seconds = 90",
                "sd_seconds = 0",
                "handling.talk.sd_seconds",
            ),
            (
                "mean_seconds = 180",
                "mean_seconds = -1",
                "handling.patience.mean_seconds",
            ),
            (
                "\"exponential\"",
                "\"fitted\"",
                "handling.patience.distribution",
            ),
            (
                "half_life_minutes = 60",
                "half_life_minutes = 0",
                "queues.impf.surge.half_life_minutes",
            ),
            ("calls = 1000", "calls = -1", "queues.impf.surge.calls"),
            ("end = \"20:00\"", "end = \"06:00\"", "end"),
            ("start = \"07:00\"", "start = \"7 Uhr\"", "start"),
            (
                "agents = \"erlang-c\"",
                "agents = \"many\"",
                "sites.kl.agents",
            ),
            (
                "{ from = \"16:00\", agents = 0 }",
                "{ from = \"10:00\", agents = 0 }",
                "sites.ps.agents.1.from",
            ),
        ] {
            let text = BASE.replace(from, to);
            assert_ne!(text, BASE, "{key}: the patch applies");
            let e = parse(&text).expect_err(key);
            assert_eq!(e.key, key, "{e}");
        }
    }

    #[test]
    fn a_recorded_day_gives_arrivals_and_fitted_distributions() {
        let day = [
            r#"{"type":"call.offered","tenant":"t","time":"2026-11-19T08:00:00+01:00","data":{"call_id":"a","queue":"impf"}}"#,
            r#"{"type":"call.offered","tenant":"t","time":"2026-11-19T08:00:10+01:00","data":{"call_id":"b","queue":"impf"}}"#,
            r#"{"type":"call.offered","tenant":"other","time":"2026-11-19T08:00:10+01:00","data":{"call_id":"c","queue":"impf"}}"#,
            r#"{"type":"call.answered","tenant":"t","time":"2026-11-19T08:00:30+01:00","data":{"call_id":"a","queue":"impf","wait_seconds":30}}"#,
            r#"{"type":"call.abandoned","tenant":"t","time":"2026-11-19T08:01:10+01:00","data":{"call_id":"b","queue":"impf","wait_seconds":60}}"#,
            r#"{"type":"call.ended","tenant":"t","time":"2026-11-19T08:03:30+01:00","data":{"call_id":"a","queue":"impf","talk_seconds":180}}"#,
            r#"{"type":"call.ended","tenant":"t","time":"2026-11-19T08:03:30+01:00","data":{"call_id":"x","queue":"impf","talk_seconds":120}}"#,
        ]
        .join("\n");
        let recorded = Recorded::read(&day, "t").expect("readable");
        assert_eq!(recorded.offers["impf"].len(), 2);
        let text = r#"
day = "2026-11-19"
[queues.impf]
site = "kl"
scale = 2.5
[handling]
talk = { distribution = "fitted" }
patience = { distribution = "fitted" }
[sites.kl]
agents = 3
"#;
        let s = Scenario::parse(text, "x", &profile(), Some(&recorded)).expect("valid");
        assert_eq!(
            s.queues[0].arrivals,
            Arrivals::Recorded {
                times: recorded.offers["impf"].clone(),
                scale: 2.5
            }
        );
        // Patience: 90 s waited in all over one abandon.
        assert_eq!(
            s.queues[0].patience,
            Distribution::Exponential { mean: 90.0 }
        );
        assert_eq!(s.sites[0].talk.mean(), 150.0);
        let e = Scenario::parse(text, "x", &profile(), None).expect_err("no recorded day");
        assert_eq!(e.key, "handling.talk.distribution", "{e}");
        let rated = text
            .replace("scale = 2.5", "per_hour = 10")
            .replace("\"fitted\"", "\"exponential\", mean_seconds = 60");
        Scenario::parse(&rated, "x", &profile(), None).expect("a rate needs no recorded day");
        let e = Scenario::parse(
            &text.replace("\"fitted\"", "\"exponential\", mean_seconds = 60"),
            "x",
            &profile(),
            None,
        )
        .expect_err("no arrivals");
        assert_eq!(e.key, "queues.impf", "{e}");
    }
}
