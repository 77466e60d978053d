//! # Leitstand provider-pool plugin
//!
//! A national hotline — the federal vaccination line, a disaster information line — is
//! answered by several contracted providers at once, each from one or more sites, each
//! paid for a contracted share of the calls and capped at a number of calls per day. This
//! plugin routes every offered call to one provider's site, deterministically:
//!
//! 1. Providers that reached their `daily_cap` today (the tenant's local day) are out.
//! 2. Among the others, those with a site that has an available agent (after the latest
//!    `site.status`, less the calls this plugin sent there since) are preferred; the call
//!    goes to the one **furthest below its contracted share** of today's calls — the lowest
//!    `(calls today + ½) / share`, the Sainte-Laguë (Webster) rule of seat allocation, so
//!    that over a day the calls split exactly by share among the providers that can take
//!    them; ties go to the provider listed first. Within the provider, the site with the
//!    most available agents takes the call (ties: the site listed first). Reason
//!    `agents-available`.
//! 3. When no site with cap left has an available agent, the same share rule picks among
//!    the providers with cap left, and their site with the most staffed agents takes the
//!    call. Reason `no-agents-available`.
//! 4. When every provider reached its cap, the call goes to `overflow_target`. Reason
//!    `all-capped`.
//!
//! No randomness: replaying the same events gives the same routes.
//!
//! State: `day` — today's local date and calls per provider (reset at the first call of a
//! new local day, so the caps reset at local midnight, daylight saving time included);
//! `sites` — the latest status per configured site.

use std::collections::BTreeMap;

use leitstand_sdk::{
    Command, ConfigError, Context, Error, Event, Kind, Plugin, Time, log, metrics, plugin, state,
};
use serde::{Deserialize, Serialize};

/// The configuration: the bundle's `[plugins.config]` table.
///
/// ```toml
/// [plugins.config]
/// overflow_target = "ansage-ueberlastet"
/// [[plugins.config.providers]]
/// name = "callando"
/// share = 0.6
/// daily_cap = 30000
/// sites = ["callando-berlin", "callando-leipzig"]
/// [[plugins.config.providers]]
/// name = "hoerwerk"
/// share = 0.4
/// daily_cap = 20000
/// sites = ["hoerwerk-kassel"]
/// ```
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The contracted providers; the order breaks ties.
    providers: Vec<Provider>,
    /// Where calls go when every provider reached its cap.
    overflow_target: String,
    /// Route calls of these queues only; empty: every queue.
    #[serde(default)]
    queues: Vec<String>,
    /// A site status older than this counts as unknown (no agents); none: never.
    #[serde(default)]
    status_max_age_seconds: Option<u32>,
}

/// One contracted provider.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Provider {
    /// The provider's name, sent as `provider` on every route.
    name: String,
    /// The contracted share: a fraction or a weight, relative to the other providers'.
    share: f64,
    /// Calls per local day at most; none: no cap.
    #[serde(default)]
    daily_cap: Option<u64>,
    /// The provider's sites (route targets), in order of preference on ties.
    sites: Vec<String>,
}

/// Today's calls per provider.
#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
struct Day {
    /// The tenant's local date, `YYYY-MM-DD`.
    date: String,
    /// Calls routed to each provider on that date.
    routed: BTreeMap<String, u64>,
    /// Calls routed to `overflow_target` on that date.
    #[serde(default)]
    overflow: u64,
}

impl Day {
    /// The record to count into on local date `date`: the stored one, or a fresh one when
    /// the stored one is of an earlier day. A late event from before midnight counts into
    /// the current day rather than reopening the previous one.
    fn for_date(stored: Option<Day>, date: &str) -> Day {
        match stored {
            Some(day) if day.date.as_str() >= date => day,
            _ => Day {
                date: date.to_owned(),
                ..Day::default()
            },
        }
    }

    fn count(&self, provider: &str) -> u64 {
        self.routed.get(provider).copied().unwrap_or(0)
    }
}

/// The latest status of one site.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct SiteSeen {
    /// Agents idle and ready, as reported.
    available: u32,
    /// Agents on shift, as reported.
    staffed: u32,
    /// When it was reported (event time, ms).
    at_ms: i64,
    /// Calls this plugin sent to the site since.
    #[serde(default)]
    sent: u32,
}

/// The latest status per site.
type Sites = BTreeMap<String, SiteSeen>;

/// Why a call went where it went; sent as `reason`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Reason {
    AgentsAvailable,
    NoAgentsAvailable,
    AllCapped,
}

impl Reason {
    fn as_str(self) -> &'static str {
        match self {
            Reason::AgentsAvailable => "agents-available",
            Reason::NoAgentsAvailable => "no-agents-available",
            Reason::AllCapped => "all-capped",
        }
    }
}

/// Where one call goes.
#[derive(Debug, Clone)]
enum Choice<'a> {
    /// To a provider's site.
    Provider {
        provider: &'a Provider,
        site: &'a str,
        reason: Reason,
    },
    /// To `overflow_target`.
    Overflow,
}

/// The plugin. It has no fields: nothing lasts from one event to the next but [`state`].
pub struct Pool;

impl Plugin for Pool {
    type Config = Config;

    fn check(config: &Config) -> Result<(), ConfigError> {
        check_config(config)
    }

    fn handle(ctx: &mut Context, config: &Config, event: &Event) -> Result<(), Error> {
        match &event.kind {
            Kind::SiteStatus(status) => {
                if !config
                    .providers
                    .iter()
                    .any(|p| p.sites.contains(&status.site))
                {
                    log::debug(&format!("status of unknown site {} ignored", status.site));
                    return Ok(());
                }
                let mut sites: Sites = state::get(SITES)?.unwrap_or_default();
                let now = ctx.now().ms();
                if sites.get(&status.site).is_some_and(|s| s.at_ms > now) {
                    log::debug(&format!("older status of site {} ignored", status.site));
                    return Ok(());
                }
                sites.insert(
                    status.site.clone(),
                    SiteSeen {
                        available: status.agents_available,
                        staffed: status.agents_staffed,
                        at_ms: now,
                        sent: 0,
                    },
                );
                // Forget sites no longer configured.
                sites.retain(|site, _| config.providers.iter().any(|p| p.sites.contains(site)));
                state::put(SITES, &sites)?;
            }
            Kind::CallOffered(call) => {
                if !config.queues.is_empty() && !config.queues.contains(&call.queue) {
                    return Ok(());
                }
                let date = ctx.local_now()?.date_naive().format("%Y-%m-%d").to_string();
                let mut day = Day::for_date(state::get(DAY)?, &date);
                let mut sites: Sites = state::get(SITES)?.unwrap_or_default();
                let choice = choose(config, &day, &sites, ctx.now());
                let command = match &choice {
                    Choice::Provider {
                        provider,
                        site,
                        reason,
                    } => {
                        *day.routed.entry(provider.name.clone()).or_insert(0) += 1;
                        if *reason == Reason::AgentsAvailable
                            && let Some(seen) = sites.get_mut(*site)
                        {
                            seen.sent = seen.sent.saturating_add(1);
                            state::put(SITES, &sites)?;
                        }
                        if *reason == Reason::NoAgentsAvailable {
                            metrics::count("calls_no_agents", 1)?;
                        }
                        if let Some(name) = provider_metric(&provider.name) {
                            metrics::count(&name, 1)?;
                        }
                        Command::route(&call.call_id, site)
                            .queue(&call.queue)
                            .with("provider", &provider.name)
                            .reason(reason.as_str())
                            .build()
                    }
                    Choice::Overflow => {
                        day.overflow += 1;
                        metrics::count("calls_overflow", 1)?;
                        Command::route(&call.call_id, &config.overflow_target)
                            .queue(&call.queue)
                            .reason(Reason::AllCapped.as_str())
                            .build()
                    }
                };
                state::put(DAY, &day)?;
                metrics::count("calls_routed", 1)?;
                log::debug(&format!(
                    "call {} routed to {} ({})",
                    call.call_id,
                    command
                        .data
                        .get("target")
                        .and_then(|t| t.as_str())
                        .unwrap_or_default(),
                    command
                        .data
                        .get("reason")
                        .and_then(|t| t.as_str())
                        .unwrap_or_default(),
                ));
                ctx.emit(command);
            }
            _ => {}
        }
        Ok(())
    }
}

const DAY: &str = "day";
const SITES: &str = "sites";

/// The checks serde cannot do. Keys are named as the operator wrote them.
fn check_config(config: &Config) -> Result<(), ConfigError> {
    if config.providers.is_empty() {
        return Err(ConfigError::new(
            "providers",
            "must name at least one provider",
        ));
    }
    let mut names = Vec::new();
    let mut all_sites: Vec<&str> = Vec::new();
    for (i, p) in config.providers.iter().enumerate() {
        let at = |key: &str| format!("providers[{i}].{key}");
        if p.name.trim().is_empty() {
            return Err(ConfigError::new(at("name"), "must not be empty"));
        }
        if names.contains(&p.name.as_str()) {
            return Err(ConfigError::new(
                at("name"),
                format!("{:?} is named twice", p.name),
            ));
        }
        names.push(&p.name);
        if !(p.share.is_finite() && p.share > 0.0) {
            return Err(ConfigError::new(
                at("share"),
                format!("must be a number greater than 0, got {}", p.share),
            ));
        }
        if p.sites.is_empty() {
            return Err(ConfigError::new(at("sites"), "must name at least one site"));
        }
        for (j, site) in p.sites.iter().enumerate() {
            if site.trim().is_empty() {
                return Err(ConfigError::new(
                    format!("providers[{i}].sites[{j}]"),
                    "must not be empty",
                ));
            }
            if all_sites.contains(&site.as_str()) {
                return Err(ConfigError::new(
                    format!("providers[{i}].sites[{j}]"),
                    format!("{site:?} is listed twice (a site belongs to one provider)"),
                ));
            }
            all_sites.push(site);
        }
    }
    if config.overflow_target.trim().is_empty() {
        return Err(ConfigError::new("overflow_target", "must not be empty"));
    }
    if let Some(i) = config.queues.iter().position(|q| q.trim().is_empty()) {
        return Err(ConfigError::new(
            format!("queues[{i}]"),
            "must not be empty",
        ));
    }
    if config.status_max_age_seconds == Some(0) {
        return Err(ConfigError::new(
            "status_max_age_seconds",
            "must be greater than 0",
        ));
    }
    Ok(())
}

/// Where the next call goes, given today's counts and the latest statuses. Pure.
fn choose<'a>(config: &'a Config, day: &Day, sites: &Sites, now: Time) -> Choice<'a> {
    let fresh = |site: &str| -> Option<&SiteSeen> {
        let seen = sites.get(site)?;
        match config.status_max_age_seconds {
            Some(max) if now.ms().saturating_sub(seen.at_ms) > i64::from(max) * 1000 => None,
            _ => Some(seen),
        }
    };
    let available = |site: &str| fresh(site).map_or(0, |s| s.available.saturating_sub(s.sent));
    let staffed = |site: &str| fresh(site).map_or(0, |s| s.staffed);

    let open: Vec<&Provider> = config
        .providers
        .iter()
        .filter(|p| p.daily_cap.is_none_or(|cap| day.count(&p.name) < cap))
        .collect();
    let with_agents: Vec<&Provider> = open
        .iter()
        .copied()
        .filter(|p| p.sites.iter().any(|s| available(s) > 0))
        .collect();
    if let Some(provider) = furthest_below_share(&with_agents, day) {
        return Choice::Provider {
            provider,
            site: best_site(provider, available),
            reason: Reason::AgentsAvailable,
        };
    }
    if let Some(provider) = furthest_below_share(&open, day) {
        return Choice::Provider {
            provider,
            site: best_site(provider, staffed),
            reason: Reason::NoAgentsAvailable,
        };
    }
    Choice::Overflow
}

/// The provider with the lowest `(calls today + ½) / share`; ties (within rounding) go to
/// the one listed first.
fn furthest_below_share<'a>(candidates: &[&'a Provider], day: &Day) -> Option<&'a Provider> {
    let mut best: Option<(&Provider, f64)> = None;
    for p in candidates {
        // Counts stay far below 2^53, so the conversion is exact.
        let load = (day.count(&p.name) as f64 + 0.5) / p.share;
        match best {
            Some((_, b)) if load >= b - b.abs() * 1e-9 => {}
            _ => best = Some((p, load)),
        }
    }
    best.map(|(p, _)| p)
}

/// The provider's site with the highest `score`; ties go to the site listed first.
fn best_site(provider: &Provider, score: impl Fn(&str) -> u32) -> &str {
    let mut best: Option<(&str, u32)> = None;
    for site in &provider.sites {
        let s = score(site);
        if best.is_none_or(|(_, b)| s > b) {
            best = Some((site, s));
        }
    }
    best.map_or("", |(site, _)| site)
}

/// The counter `routed_<provider>`, when the provider's name makes a valid metric name.
fn provider_metric(provider: &str) -> Option<String> {
    let valid = !provider.is_empty()
        && provider
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
    valid.then(|| format!("routed_{provider}"))
}

plugin!(Pool);

#[cfg(test)]
mod tests {
    use super::*;
    use leitstand_sdk::chrono_tz::Europe::Berlin;

    fn config(text: &str) -> Config {
        leitstand_sdk::config::parse(text).expect("parses")
    }

    fn pool() -> Config {
        config(
            r#"{"overflow_target":"ansage",
                "providers":[
                  {"name":"a","share":0.5,"daily_cap":100,"sites":["a1","a2"]},
                  {"name":"b","share":0.3,"daily_cap":100,"sites":["b1"]},
                  {"name":"c","share":0.2,"daily_cap":100,"sites":["c1"]}]}"#,
        )
    }

    fn seen(available: u32, staffed: u32) -> SiteSeen {
        SiteSeen {
            available,
            staffed,
            at_ms: 0,
            sent: 0,
        }
    }

    fn all_available() -> Sites {
        ["a1", "a2", "b1", "c1"]
            .into_iter()
            .map(|s| (s.to_owned(), seen(1000, 1000)))
            .collect()
    }

    /// Routes `n` calls, counting as the plugin does; returns (provider, site, reason).
    fn run(
        config: &Config,
        day: &mut Day,
        sites: &mut Sites,
        n: usize,
    ) -> Vec<(String, String, Reason)> {
        let mut out = Vec::new();
        for _ in 0..n {
            match choose(config, day, sites, Time::from_ms(0)) {
                Choice::Provider {
                    provider,
                    site,
                    reason,
                } => {
                    *day.routed.entry(provider.name.clone()).or_insert(0) += 1;
                    if reason == Reason::AgentsAvailable
                        && let Some(s) = sites.get_mut(site)
                    {
                        s.sent += 1;
                    }
                    out.push((provider.name.clone(), site.to_owned(), reason));
                }
                Choice::Overflow => {
                    day.overflow += 1;
                    out.push((
                        "-".into(),
                        config.overflow_target.clone(),
                        Reason::AllCapped,
                    ));
                }
            }
        }
        out
    }

    fn providers(routes: &[(String, String, Reason)]) -> String {
        routes
            .iter()
            .map(|r| r.0.as_str())
            .collect::<Vec<_>>()
            .join("")
    }

    #[test]
    fn shares_are_met_exactly_every_ten_calls() {
        let c = pool();
        let mut day = Day::default();
        let routes = run(&c, &mut day, &mut all_available(), 10);
        assert_eq!(providers(&routes), "abcaabacba");
        let routes = run(&c, &mut day, &mut all_available(), 90);
        assert_eq!(day.count("a"), 50);
        assert_eq!(day.count("b"), 30);
        assert_eq!(day.count("c"), 20);
        assert!(routes.iter().all(|r| r.2 == Reason::AgentsAvailable));
    }

    #[test]
    fn weights_work_like_fractions() {
        let c = config(
            r#"{"overflow_target":"x","providers":[
                 {"name":"a","share":5,"sites":["a1"]},{"name":"b","share":3,"sites":["b1"]},
                 {"name":"c","share":2,"sites":["c1"]}]}"#,
        );
        let mut day = Day::default();
        let routes = run(&c, &mut day, &mut Sites::new(), 10);
        assert_eq!(providers(&routes), "abcaabacba");
        assert!(routes.iter().all(|r| r.2 == Reason::NoAgentsAvailable));
    }

    #[test]
    fn sites_without_agents_are_skipped_and_sends_count_against_a_status() {
        let c = pool();
        let mut sites: Sites = [
            ("a1", seen(0, 10)),
            ("a2", seen(2, 5)),
            ("b1", seen(0, 8)),
            ("c1", seen(1, 3)),
        ]
        .into_iter()
        .map(|(s, v)| (s.to_owned(), v))
        .collect();
        let routes = run(&c, &mut Day::default(), &mut sites, 5);
        let got: Vec<_> = routes
            .iter()
            .map(|r| (r.0.as_str(), r.1.as_str(), r.2))
            .collect();
        use Reason::*;
        assert_eq!(
            got,
            [
                ("a", "a2", AgentsAvailable),
                ("c", "c1", AgentsAvailable),
                ("a", "a2", AgentsAvailable),
                // Every available agent has a call now: by share, to the most staffed site.
                ("b", "b1", NoAgentsAvailable),
                ("a", "a1", NoAgentsAvailable),
            ]
        );
    }

    #[test]
    fn caps_then_overflow() {
        let c = config(
            r#"{"overflow_target":"ansage","providers":[
                 {"name":"a","share":0.5,"daily_cap":2,"sites":["a1"]},
                 {"name":"b","share":0.5,"daily_cap":1,"sites":["b1"]}]}"#,
        );
        let routes = run(&c, &mut Day::default(), &mut Sites::new(), 5);
        assert_eq!(providers(&routes), "aba--");
        assert_eq!(routes[4].1, "ansage");
        assert_eq!(routes[4].2, Reason::AllCapped);
    }

    #[test]
    fn stale_statuses_count_as_unknown() {
        let mut c = pool();
        c.status_max_age_seconds = Some(60);
        let sites: Sites = [("c1".to_owned(), seen(5, 5))].into_iter().collect();
        let at = |s: i64| Time::from_ms(s * 1000);
        assert!(matches!(
            choose(&c, &Day::default(), &sites, at(60)),
            Choice::Provider {
                site: "c1",
                reason: Reason::AgentsAvailable,
                ..
            }
        ));
        assert!(matches!(
            choose(&c, &Day::default(), &sites, at(61)),
            Choice::Provider {
                site: "a1",
                reason: Reason::NoAgentsAvailable,
                ..
            }
        ));
    }

    #[test]
    fn the_day_resets_at_local_midnight_across_daylight_saving() {
        let date = |rfc: &str| {
            Time::parse(rfc)
                .expect("time")
                .in_tz(&Berlin)
                .date_naive()
                .format("%Y-%m-%d")
                .to_string()
        };
        // 25 October 2026: summer time ends at 03:00 CEST.
        assert_eq!(date("2026-10-24T21:59:59Z"), "2026-10-24");
        assert_eq!(date("2026-10-24T22:00:00Z"), "2026-10-25"); // 00:00 CEST
        assert_eq!(date("2026-10-25T22:59:59Z"), "2026-10-25"); // 23:59:59 CET
        assert_eq!(date("2026-10-25T23:00:00Z"), "2026-10-26");
        let stored = Day {
            date: "2026-10-24".into(),
            routed: [("a".to_owned(), 7)].into_iter().collect(),
            overflow: 1,
        };
        assert_eq!(Day::for_date(Some(stored.clone()), "2026-10-24"), stored);
        assert_eq!(Day::for_date(Some(stored.clone()), "2026-10-23"), stored);
        let fresh = Day::for_date(Some(stored), "2026-10-25");
        assert_eq!(
            (fresh.date.as_str(), fresh.count("a"), fresh.overflow),
            ("2026-10-25", 0, 0)
        );
    }

    #[test]
    fn bad_configs_name_the_key() {
        let cases = [
            (
                r#"{"overflow_target":"x","providers":[]}"#,
                "providers: must name",
            ),
            (
                r#"{"overflow_target":"x","providers":[{"name":"a","share":0,"sites":["s"]}]}"#,
                "providers[0].share: must be a number greater than 0",
            ),
            (
                r#"{"overflow_target":"x","providers":[{"name":"a","share":1,"sites":["s"]},{"name":"a","share":1,"sites":["t"]}]}"#,
                "providers[1].name: \"a\" is named twice",
            ),
            (
                r#"{"overflow_target":"x","providers":[{"name":"a","share":1,"sites":["s"]},{"name":"b","share":1,"sites":["s"]}]}"#,
                "providers[1].sites[0]: \"s\" is listed twice",
            ),
            (
                r#"{"overflow_target":"x","providers":[{"name":"a","share":1,"sites":[]}]}"#,
                "providers[0].sites: must name at least one site",
            ),
            (
                r#"{"overflow_target":" ","providers":[{"name":"a","share":1,"sites":["s"]}]}"#,
                "overflow_target: must not be empty",
            ),
        ];
        for (text, want) in cases {
            let e = check_config(&config(text)).expect_err(text);
            assert!(e.to_string().starts_with(want), "{text}: {e}");
        }
        check_config(&pool()).expect("valid");
    }

    #[test]
    fn metric_names_only_for_plain_provider_names() {
        assert_eq!(
            provider_metric("callando_2").as_deref(),
            Some("routed_callando_2")
        );
        assert_eq!(provider_metric("Callando"), None);
        assert_eq!(provider_metric("hör-werk"), None);
    }
}
