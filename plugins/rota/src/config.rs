//! The rota's configuration: the bundle's `[plugins.config]` table, parsed into typed values
//! (times, weekdays, dates, non-empty names and positive numbers are checked while parsing,
//! so a serde error already names the key) and then checked as a whole: references between
//! keys and overlapping shifts by [`check`], the calendar it names and the dates it gives
//! sites for by [`check_calendar`], which asks the host. Every error names the key as a
//! path into the table.
//!
//! When the line is open is not the rota's to say: the tenant declares its calendar once, in
//! its bundle (`[calendar]`, or a named calendar under `[calendars.<name>]` that `calendar`
//! names), and the rota asks the host.

use std::collections::BTreeMap;

use leitstand_sdk::ConfigError;
use leitstand_sdk::calendar::{Calendar, DayRule};
pub use leitstand_sdk::config::Destination;
use leitstand_sdk::config::{
    ClockTime, DAYS, Date, Keys, NonEmpty, NonEmptyString, Positive, Weekday, not_empty, unique,
};
use serde::Deserialize;

/// The whole configuration.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Only calls of these queues are routed; absent: every queue.
    #[serde(default)]
    pub queues: Option<NonEmpty<NonEmptyString>>,
    /// The calendar that says when the line is open: a named calendar of the tenant's
    /// bundle; absent: the tenant's own.
    #[serde(default)]
    pub calendar: Option<NonEmptyString>,
    /// Every site the rota may route to, by the name its `site.status` events carry (which
    /// is also the route's `target`).
    pub sites: BTreeMap<String, SiteConfig>,
    /// Who is on duty when the line is open.
    pub duty: Duty,
    /// Where calls go when the weekly hours close the line.
    #[serde(default)]
    pub out_of_hours: Option<Destination>,
    /// Where calls go when a public holiday, a closed day or a special day closes the line;
    /// absent: `out_of_hours`.
    #[serde(default)]
    pub holiday: Option<Destination>,
    /// When and how calls overflow to partner sites.
    #[serde(default)]
    pub overflow: Overflow,
    /// Where emergency calls go; absent: they are routed like any other call.
    #[serde(default)]
    pub emergency: Option<Emergency>,
}

impl Config {
    /// The calendar the rota asks.
    pub fn calendar(&self) -> Calendar<'_> {
        Calendar::of(self.calendar.as_deref())
    }

    /// Whether the rota routes calls of `queue`.
    pub fn routes(&self, queue: &str) -> bool {
        self.queues
            .as_ref()
            .is_none_or(|queues| queues.iter().any(|q| q == queue))
    }
}

/// One site of `sites`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SiteConfig {
    /// Partner sites, in order, that take this site's calls while it is full.
    #[serde(default)]
    pub overflow: Vec<String>,
    /// The site counts as full at this many calls waiting; overrides `overflow.max_waiting`.
    #[serde(default)]
    pub max_waiting: Option<Positive>,
}

/// `duty`: the primary site by shift.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Duty {
    /// The primary site when no shift covers the moment.
    pub default_site: String,
    /// Shifts by weekday and time window; they must not overlap.
    #[serde(default)]
    pub shifts: Vec<Shift>,
    /// The primary site on special days of the calendar, by date, while the day's own
    /// hours are open (instead of the shifts): who staffs the emergency hours of 26
    /// December.
    #[serde(default)]
    pub special_days: BTreeMap<Date, String>,
}

/// One shift: on `days`, from `from` to `to` (local wall time), `site` is primary.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Shift {
    /// Shown in the route's data (`shift`) and in errors.
    pub name: NonEmptyString,
    /// The days the shift starts on; absent: every day.
    #[serde(default = "Weekday::every")]
    pub days: Vec<Weekday>,
    /// Start, inclusive.
    pub from: ClockTime,
    /// End, exclusive; earlier than `from` means the shift ends on the next day.
    pub to: ClockTime,
    /// The primary site during the shift.
    pub site: String,
}

/// `overflow`: capacity rules.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Overflow {
    /// A site status older than this counts as unknown.
    #[serde(default = "default_status_max_age")]
    pub status_max_age_seconds: Positive,
    /// A site counts as full at this many calls waiting (unless the site sets its own).
    #[serde(default)]
    pub max_waiting: Option<Positive>,
    /// How a partner with an unknown (missing or stale) status is treated.
    #[serde(default)]
    pub unknown_partner: UnknownPartner,
    /// Where a call goes when the primary and all its partners are full; absent: the
    /// primary keeps it.
    #[serde(default)]
    pub when_all_full: Option<Destination>,
}

impl Default for Overflow {
    fn default() -> Self {
        Self {
            status_max_age_seconds: default_status_max_age(),
            max_waiting: None,
            unknown_partner: UnknownPartner::default(),
            when_all_full: None,
        }
    }
}

/// The default of `overflow.status_max_age_seconds`.
pub const DEFAULT_STATUS_MAX_AGE: u32 = 120;

fn default_status_max_age() -> Positive {
    Positive::new(DEFAULT_STATUS_MAX_AGE).unwrap_or_else(|| unreachable!("120 is positive"))
}

/// `overflow.unknown_partner`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum UnknownPartner {
    /// Pass over a partner whose capacity is not known (the default): overflow only to a
    /// site that has reported free capacity recently.
    #[default]
    Skip,
    /// Treat it as not full, like the primary.
    Use,
}

/// `emergency`: a destination for calls with priority `emergency`, and when it applies.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Emergency {
    /// A routing target for emergencies.
    #[serde(default)]
    pub target: Option<String>,
    /// An announcement for emergencies.
    #[serde(default)]
    pub announcement: Option<String>,
    /// `always` (default) or `closed`: only while the calendar has the line closed.
    #[serde(default)]
    pub when: EmergencyWhen,
}

impl Emergency {
    /// The destination part.
    pub fn destination(&self) -> Destination {
        Destination {
            target: self.target.clone(),
            announcement: self.announcement.clone(),
        }
    }
}

/// `emergency.when`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EmergencyWhen {
    /// Every emergency call goes to the emergency destination, open or closed, full or not.
    #[default]
    Always,
    /// Only when the line is closed; while open, emergencies are routed like other calls.
    Closed,
}

/// Minutes in a week.
const WEEK: u32 = 7 * 1440;

/// The minute-of-week ranges `[start, end)` a shift covers (Monday 00:00 = 0), split at
/// the end of the week.
fn shift_ranges(shift: &Shift) -> Vec<(u32, u32)> {
    let from = u32::from(shift.from.minutes);
    let to = u32::from(shift.to.minutes);
    let mut out = Vec::new();
    for Weekday(day) in &shift.days {
        let start = day.num_days_from_monday() * 1440 + from;
        let end = if from < to {
            start - from + to
        } else {
            start - from + 1440 + to
        };
        if end <= WEEK {
            out.push((start, end));
        } else {
            out.push((start, WEEK));
            out.push((0, end - WEEK));
        }
    }
    out
}

fn minute_of_week_name(minute: u32) -> String {
    let day = DAYS[(minute / 1440) as usize % 7].0;
    let m = minute % 1440;
    format!("{day} {:02}:{:02}", m / 60, m % 60)
}

/// Checks what serde cannot and the host need not: references to sites, overlapping
/// shifts, destinations.
pub fn check(config: &Config) -> Result<(), ConfigError> {
    if config.sites.is_empty() {
        return Err(ConfigError::new(
            "sites",
            "declare at least the duty site, e.g. `[sites.kaiserslautern]`",
        ));
    }
    let sites = Keys::of("site", "sites", &config.sites);
    for (name, s) in &config.sites {
        not_empty("sites", name)?;
        let key = format!("sites.{name}.overflow");
        sites.check_each(&key, &s.overflow)?;
        if let Some(i) = s.overflow.iter().position(|p| p == name) {
            return Err(ConfigError::new(
                format!("{key}[{i}]"),
                "a site cannot overflow to itself",
            ));
        }
    }

    sites.check("duty.default_site", &config.duty.default_site)?;
    for (date, site) in &config.duty.special_days {
        sites.check(&format!("duty.special_days.{date}"), site)?;
    }
    let names: Vec<&str> = config.duty.shifts.iter().map(|s| s.name.as_str()).collect();
    for (i, shift) in config.duty.shifts.iter().enumerate() {
        let key = format!("duty.shifts[{i}]");
        if let Some(first) = names[..i].iter().position(|n| *n == shift.name.as_str()) {
            return Err(ConfigError::new(
                format!("{key}.name"),
                format!(
                    "{:?} is already the name of duty.shifts[{first}]",
                    shift.name.as_str()
                ),
            ));
        }
        sites.check(&format!("{key}.site"), &shift.site)?;
        if shift.days.is_empty() {
            return Err(ConfigError::new(
                format!("{key}.days"),
                "an empty list; leave the key out for every day",
            ));
        }
        unique(&format!("{key}.days"), &shift.days)?;
        if shift.from.minutes == 1440 {
            return Err(ConfigError::new(
                format!("{key}.from"),
                "a shift cannot start at 24:00; write 00:00 on the next day",
            ));
        }
        // Equal times are ambiguous (nothing or 24 hours).
        if shift.from == shift.to {
            return Err(ConfigError::new(
                format!("{key}.to"),
                format!(
                    "equals `from` ({}); for a whole day write from = \"00:00\", to = \"24:00\"",
                    shift.from
                ),
            ));
        }
    }
    let ranges: Vec<Vec<(u32, u32)>> = config.duty.shifts.iter().map(shift_ranges).collect();
    for (j, rb) in ranges.iter().enumerate() {
        for (i, ra) in ranges.iter().enumerate().take(j) {
            for &(a0, a1) in ra {
                for &(b0, b1) in rb {
                    if a0 < b1 && b0 < a1 {
                        return Err(ConfigError::new(
                            format!("duty.shifts[{j}]"),
                            format!(
                                "{:?} overlaps duty.shifts[{i}] ({:?}) from {}",
                                names[j],
                                names[i],
                                minute_of_week_name(a0.max(b0))
                            ),
                        ));
                    }
                }
            }
        }
    }

    for (key, destination) in [
        ("out_of_hours", &config.out_of_hours),
        ("holiday", &config.holiday),
        ("overflow.when_all_full", &config.overflow.when_all_full),
    ] {
        if let Some(d) = destination {
            d.check(key)?;
        }
    }
    if let Some(e) = &config.emergency {
        e.destination().check("emergency")?;
    }
    Ok(())
}

/// Checks what only the tenant's bundle can say, asking the host: the calendar the rota
/// names exists; a destination for closed hours is given unless that calendar never
/// closes; each date of `duty.special_days` is a special day with hours of its own there.
pub fn check_calendar(config: &Config) -> Result<(), ConfigError> {
    let key = "calendar";
    leitstand_sdk::calendar::check_name(key, config.calendar.as_deref())?;
    let calendar = config.calendar();
    let asked = |e: leitstand_sdk::Error| ConfigError::new(key, leitstand_sdk::message(&e));
    if config.out_of_hours.is_none() && !calendar.always_open().map_err(asked)? {
        return Err(ConfigError::new(
            "out_of_hours",
            format!(
                "required, because the calendar {:?} closes the line at times; give \
                 `{{ target = \"…\" }}` or `{{ announcement = \"…\" }}`",
                calendar.name()
            ),
        ));
    }
    for date in config.duty.special_days.keys() {
        let day = calendar.day(date.0).map_err(asked)?;
        let what = match (&day.rule, day.spans.is_empty()) {
            (DayRule::Special(_), false) => continue,
            (DayRule::Special(_), true) => "a special day closed all day".to_owned(),
            (DayRule::Closed(_), _) => "a closed day".to_owned(),
            (DayRule::Holiday(name), _) => format!("{name}, a public holiday"),
            (DayRule::Regular, _) => "a day of the weekly hours".to_owned(),
        };
        return Err(ConfigError::new(
            format!("duty.special_days.{date}"),
            format!(
                "the calendar {:?} has no special day with hours of its own on {date} (it is \
                 {what}); declare it under `[calendar.special.{date}]` of the bundle",
                calendar.name()
            ),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Config, ConfigError> {
        let config: Config = leitstand_sdk::config::parse(text)?;
        check(&config)?;
        Ok(config)
    }

    /// The tests write configurations as JSON (the host hands TOML over as JSON).
    fn json(text: &str) -> serde_json::Value {
        serde_json::from_str(text).expect("test JSON")
    }

    const BASE: &str = r#"{
        "sites": {"kaiserslautern": {"overflow": ["pirmasens", "saarbruecken"]},
                  "pirmasens": {"max_waiting": 5}, "saarbruecken": {}},
        "duty": {"default_site": "kaiserslautern",
                 "shifts": [{"name": "early", "from": "06:00", "to": "14:00", "site": "kaiserslautern"},
                            {"name": "late", "from": "14:00", "to": "22:00", "site": "pirmasens"}]},
        "out_of_hours": {"announcement": "closed"}
    }"#;

    fn with(patch: &str) -> String {
        let mut base = json(BASE);
        let patch = json(patch);
        if let (Some(b), Some(p)) = (base.as_object_mut(), patch.as_object()) {
            for (k, v) in p {
                if v.is_null() {
                    b.remove(k);
                } else {
                    b.insert(k.clone(), v.clone());
                }
            }
        }
        base.to_string()
    }

    fn refused(patch: &str) -> ConfigError {
        match parse(&with(patch)) {
            Ok(_) => panic!("accepted: {patch}"),
            Err(e) => e,
        }
    }

    #[test]
    fn the_base_config_is_accepted() {
        let c = parse(BASE).expect("valid");
        assert_eq!(
            c.overflow.status_max_age_seconds.get(),
            DEFAULT_STATUS_MAX_AGE
        );
        assert_eq!(c.overflow.unknown_partner, UnknownPartner::Skip);
        assert!(c.routes("any"));
        assert_eq!(c.calendar().name(), "tenant");
        let c = parse(&with(r#"{"queues": ["impf"], "calendar": "standort-ps"}"#)).expect("valid");
        assert!(c.routes("impf"));
        assert!(!c.routes("other"));
        assert_eq!(c.calendar().name(), "standort-ps");
    }

    #[test]
    fn bad_keys_are_named() {
        let e = refused(
            r#"{"sites": {"kaiserslautern": {"overflow": ["pirmasen"]}, "pirmasens": {}}}"#,
        );
        assert_eq!(
            e.to_string(),
            "sites.kaiserslautern.overflow[0]: \"pirmasen\" is not a site of `sites` \
             (kaiserslautern, pirmasens)"
        );

        let e = refused(
            r#"{"sites": {"kaiserslautern": {"overflow": ["kaiserslautern"]}, "pirmasens": {}}}"#,
        );
        assert_eq!(
            e.to_string(),
            "sites.kaiserslautern.overflow[0]: a site cannot overflow to itself"
        );

        let e = refused(
            r#"{"sites": {"kaiserslautern": {"overflow": ["pirmasens", "pirmasens"]}, "pirmasens": {}}}"#,
        );
        assert_eq!(
            e.to_string(),
            "sites.kaiserslautern.overflow[1]: \"pirmasens\" is listed twice"
        );

        let e = refused(r#"{"sites": {"kaiserslautern": {"max_waiting": 0}, "pirmasens": {}}}"#);
        assert_eq!(
            e.to_string(),
            "sites.kaiserslautern.max_waiting: must be at least 1, got 0"
        );

        let e = refused(r#"{"out_of_hours": {"target": "x", "announcement": "y"}}"#);
        assert_eq!(e.key, "out_of_hours");

        let e = refused(r#"{"out_of_hours": {"annoucement": "y"}}"#);
        assert_eq!(e.key, "out_of_hours.annoucement");

        let e = refused(r#"{"overflow": {"max_waiting": 0}}"#);
        assert_eq!(e.key, "overflow.max_waiting");

        let e = refused(r#"{"overflow": {"status_max_age_seconds": 0}}"#);
        assert_eq!(e.key, "overflow.status_max_age_seconds");

        let e = refused(r#"{"overflow": {"unknown_partner": "maybe"}}"#);
        assert_eq!(e.key, "overflow.unknown_partner");

        let e = refused(r#"{"overflow": {"when_all_full": {}}}"#);
        assert_eq!(e.key, "overflow.when_all_full");

        let e = refused(r#"{"emergency": {"target": "leitstelle", "when": "sometimes"}}"#);
        assert_eq!(e.key, "emergency.when");

        let e = refused(r#"{"queues": []}"#);
        assert_eq!(
            e.to_string(),
            "queues: must not be empty; name at least one"
        );

        let e = refused(r#"{"queues": ["impf", " "]}"#);
        assert_eq!(e.to_string(), "queues[1]: must not be empty");

        let e = refused(r#"{"calendar": ""}"#);
        assert_eq!(e.to_string(), "calendar: must not be empty");

        // The opening hours are the calendar's now, not the rota's.
        let e = refused(r#"{"hours": "24/7"}"#);
        assert_eq!(e.key, "hours");

        let e = refused(r#"{"rota": 1}"#);
        assert_eq!(e.key, "rota");
    }

    #[test]
    fn special_day_sites_are_sites() {
        parse(&with(
            r#"{"duty": {"default_site": "kaiserslautern", "special_days": {"2026-12-26": "pirmasens"}}}"#,
        ))
        .expect("valid");
        let e = refused(
            r#"{"duty": {"default_site": "kaiserslautern", "special_days": {"2026-12-26": "mainz"}}}"#,
        );
        assert_eq!(e.key, "duty.special_days.2026-12-26");
        let e = refused(
            r#"{"duty": {"default_site": "kaiserslautern", "special_days": {"26.12.2026": "pirmasens"}}}"#,
        );
        assert!(e.reason.contains("is not a date YYYY-MM-DD"), "{e}");
    }

    #[test]
    fn shifts_are_checked() {
        let e = refused(
            r#"{"duty": {"default_site": "kaiserslautern", "shifts": [
                {"name": "early", "days": ["mon"], "from": "06:00", "to": "14:00", "site": "kaiserslautern"},
                {"name": "late", "days": ["mon"], "from": "13:00", "to": "22:00", "site": "pirmasens"}]}}"#,
        );
        assert_eq!(
            e.to_string(),
            "duty.shifts[1]: \"late\" overlaps duty.shifts[0] (\"early\") from mon 13:00"
        );
        // A Sunday night shift reaches into Monday morning.
        let e = refused(
            r#"{"duty": {"default_site": "kaiserslautern", "shifts": [
                {"name": "early", "days": ["mon"], "from": "05:00", "to": "14:00", "site": "kaiserslautern"},
                {"name": "night", "days": ["sun"], "from": "22:00", "to": "06:00", "site": "pirmasens"}]}}"#,
        );
        assert!(e.to_string().contains("from mon 05:00"), "{e}");
        let e = refused(
            r#"{"duty": {"default_site": "kaiserslautern", "shifts": [
                {"name": "x", "days": ["mon", "mun"], "from": "05:00", "to": "14:00", "site": "kaiserslautern"}]}}"#,
        );
        assert_eq!(e.key, "duty.shifts[0].days[1]");
        let e = refused(
            r#"{"duty": {"default_site": "kaiserslautern", "shifts": [
                {"name": "x", "days": ["mon", "mon"], "from": "05:00", "to": "14:00", "site": "kaiserslautern"}]}}"#,
        );
        assert_eq!(
            e.to_string(),
            "duty.shifts[0].days[1]: \"mon\" is listed twice"
        );
        let e = refused(
            r#"{"duty": {"default_site": "kaiserslautern", "shifts": [
                {"name": "x", "from": "05:00", "to": "05:00", "site": "kaiserslautern"}]}}"#,
        );
        assert_eq!(e.key, "duty.shifts[0].to");
        let e = refused(
            r#"{"duty": {"default_site": "kaiserslautern", "shifts": [
                {"name": "x", "from": "05:00", "to": "14:00", "site": "mainz"}]}}"#,
        );
        assert_eq!(e.key, "duty.shifts[0].site");
        let e = refused(
            r#"{"duty": {"default_site": "kaiserslautern", "shifts": [
                {"name": "x", "from": "05:00", "to": "06:00", "site": "pirmasens"},
                {"name": "x", "from": "07:00", "to": "08:00", "site": "pirmasens"}]}}"#,
        );
        assert_eq!(
            e.to_string(),
            "duty.shifts[1].name: \"x\" is already the name of duty.shifts[0]"
        );
        let e = refused(r#"{"duty": {"default_site": "mainz"}}"#);
        assert_eq!(e.key, "duty.default_site");
        let e =
            refused(r#"{"duty": {"default_site": "kaiserslautern", "shifts": [{"name": "x"}]}}"#);
        assert_eq!(e.key, "duty.shifts[0]");
        // Adjacent night and day shifts every day: no overlap.
        parse(&with(
            r#"{"duty": {"default_site": "kaiserslautern", "shifts": [
                {"name": "night", "from": "22:00", "to": "06:00", "site": "pirmasens"},
                {"name": "day", "from": "06:00", "to": "22:00", "site": "kaiserslautern"}]}}"#,
        ))
        .expect("valid");
    }
}
