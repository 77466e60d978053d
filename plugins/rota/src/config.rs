//! The rota's configuration: the bundle's `[plugins.config]` table, parsed into typed values
//! (times, weekdays, dates, intervals are checked while parsing, so a serde error already
//! names the key) and then checked as a whole by [`check`] (references between keys,
//! overlaps, required-when rules). Every error names the key as a path into the table.

use std::collections::{BTreeMap, BTreeSet};

use leitstand_sdk::ConfigError;
use leitstand_sdk::config::ClockTime;
pub use leitstand_sdk::config::Destination;
use leitstand_sdk::config::not_empty;
use leitstand_sdk::hours::{DAYS, Date, Day, Hours, Interval, check_day, day_name};
use serde::Deserialize;

/// The whole configuration.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Only calls of these queues are routed; absent: every queue.
    #[serde(default)]
    pub queues: Option<Vec<String>>,
    /// Every site the rota may route to, by the name its `site.status` events carry (which
    /// is also the route's `target`).
    pub sites: BTreeMap<String, SiteConfig>,
    /// The weekly opening hours in the tenant's timezone.
    pub hours: Hours,
    /// Public holidays and other days with their own hours.
    #[serde(default)]
    pub special_days: Vec<SpecialDay>,
    /// Who is on duty when the line is open.
    pub duty: Duty,
    /// Where calls go when the line is closed by the weekly hours.
    #[serde(default)]
    pub out_of_hours: Option<Destination>,
    /// Where calls go when a special day closes the line; absent: `out_of_hours`.
    #[serde(default)]
    pub holiday: Option<Destination>,
    /// When and how calls overflow to partner sites.
    #[serde(default)]
    pub overflow: Overflow,
    /// Where emergency calls go; absent: they are routed like any other call.
    #[serde(default)]
    pub emergency: Option<Emergency>,
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
    pub max_waiting: Option<u32>,
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
}

/// One shift: on `days`, from `from` to `to` (local wall time), `site` is primary.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Shift {
    /// Shown in the route's data (`shift`) and in errors.
    pub name: String,
    /// The days the shift starts on; absent: every day.
    #[serde(default = "Day::every")]
    pub days: Vec<Day>,
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
    pub status_max_age_seconds: u32,
    /// A site counts as full at this many calls waiting (unless the site sets its own).
    #[serde(default)]
    pub max_waiting: Option<u32>,
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

fn default_status_max_age() -> u32 {
    DEFAULT_STATUS_MAX_AGE
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
    /// `always` (default) or `closed`: only out of hours and on closed special days.
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

/// One entry of `special_days`: a date that is closed or has its own hours.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SpecialDay {
    /// The local date.
    pub date: Date,
    /// A name for the day, shown in the route's data (`special_day`).
    #[serde(default)]
    pub label: Option<String>,
    /// `true`: closed all day.
    #[serde(default)]
    pub closed: bool,
    /// The day's own opening hours (replacing the weekday's).
    #[serde(default)]
    pub hours: Option<Vec<Interval>>,
    /// The primary site while the day's hours are open (replacing the shifts).
    #[serde(default)]
    pub site: Option<String>,
}

impl SpecialDay {
    /// The label, or the date when the day has none.
    pub fn name(&self) -> String {
        match &self.label {
            Some(l) => l.clone(),
            None => self.date.to_string(),
        }
    }
}

/// Minutes in a week.
const WEEK: u32 = 7 * 1440;

/// The minute-of-week ranges `[start, end)` a shift covers (Monday 00:00 = 0), split at
/// the end of the week.
fn shift_ranges(shift: &Shift) -> Vec<(u32, u32)> {
    let from = u32::from(shift.from.minutes);
    let to = u32::from(shift.to.minutes);
    let mut out = Vec::new();
    for Day(day) in &shift.days {
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

/// Checks what serde cannot: references to sites, overlaps, values out of range and
/// keys required by others.
pub fn check(config: &Config) -> Result<(), ConfigError> {
    if let Some(queues) = &config.queues {
        if queues.is_empty() {
            return Err(ConfigError::new(
                "queues",
                "an empty list routes nothing; leave the key out to route every queue",
            ));
        }
        for (i, q) in queues.iter().enumerate() {
            not_empty(&format!("queues[{i}]"), q)?;
        }
    }

    if config.sites.is_empty() {
        return Err(ConfigError::new(
            "sites",
            "declare at least the duty site, e.g. `[sites.kaiserslautern]`",
        ));
    }
    let site = |key: String, name: &str| -> Result<(), ConfigError> {
        not_empty(&key, name)?;
        if config.sites.contains_key(name) {
            Ok(())
        } else {
            let known: Vec<&str> = config.sites.keys().map(String::as_str).collect();
            Err(ConfigError::new(
                key,
                format!("{name:?} is not a site of `sites` ({})", known.join(", ")),
            ))
        }
    };
    for (name, s) in &config.sites {
        not_empty("sites", name)?;
        let mut seen = BTreeSet::new();
        for (i, partner) in s.overflow.iter().enumerate() {
            let key = format!("sites.{name}.overflow[{i}]");
            site(key.clone(), partner)?;
            if partner == name {
                return Err(ConfigError::new(key, "a site cannot overflow to itself"));
            }
            if !seen.insert(partner) {
                return Err(ConfigError::new(
                    key,
                    format!("{partner:?} is listed twice"),
                ));
            }
        }
        if s.max_waiting == Some(0) {
            return Err(ConfigError::new(
                format!("sites.{name}.max_waiting"),
                "must be at least 1 (0 would make the site always full)",
            ));
        }
    }

    config.hours.check("hours")?;

    let mut dates: BTreeMap<Date, usize> = BTreeMap::new();
    for (i, special) in config.special_days.iter().enumerate() {
        let key = format!("special_days[{i}]");
        if let Some(first) = dates.insert(special.date, i) {
            return Err(ConfigError::new(
                format!("{key}.date"),
                format!(
                    "{} is already listed at special_days[{first}]",
                    special.date
                ),
            ));
        }
        if let Some(label) = &special.label {
            not_empty(&format!("{key}.label"), label)?;
        }
        match (&special.hours, special.closed) {
            (Some(_), true) => {
                return Err(ConfigError::new(
                    key,
                    "give either `closed = true` or `hours`, not both",
                ));
            }
            (None, false) => {
                return Err(ConfigError::new(
                    key,
                    "give `closed = true` or the day's own `hours = [\"HH:MM-HH:MM\", …]`",
                ));
            }
            (Some(hours), false) => {
                if hours.is_empty() {
                    return Err(ConfigError::new(
                        format!("{key}.hours"),
                        "an empty list; write `closed = true` for a closed day",
                    ));
                }
                check_day(&format!("{key}.hours"), hours)?;
            }
            (None, true) => {
                if special.site.is_some() {
                    return Err(ConfigError::new(
                        format!("{key}.site"),
                        "a closed day has no duty site",
                    ));
                }
            }
        }
        if let Some(s) = &special.site {
            site(format!("{key}.site"), s)?;
        }
    }

    site("duty.default_site".to_owned(), &config.duty.default_site)?;
    let mut names = BTreeMap::new();
    for (i, shift) in config.duty.shifts.iter().enumerate() {
        let key = format!("duty.shifts[{i}]");
        not_empty(&format!("{key}.name"), &shift.name)?;
        if let Some(first) = names.insert(shift.name.as_str(), i) {
            return Err(ConfigError::new(
                format!("{key}.name"),
                format!(
                    "{:?} is already the name of duty.shifts[{first}]",
                    shift.name
                ),
            ));
        }
        site(format!("{key}.site"), &shift.site)?;
        if shift.days.is_empty() {
            return Err(ConfigError::new(
                format!("{key}.days"),
                "an empty list; leave the key out for every day",
            ));
        }
        for (j, d) in shift.days.iter().enumerate() {
            if shift.days[..j].contains(d) {
                return Err(ConfigError::new(
                    format!("{key}.days[{j}]"),
                    format!("{} is listed twice", day_name(d.0)),
                ));
            }
        }
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
                                config.duty.shifts[j].name,
                                config.duty.shifts[i].name,
                                minute_of_week_name(a0.max(b0))
                            ),
                        ));
                    }
                }
            }
        }
    }

    match &config.out_of_hours {
        Some(d) => d.check("out_of_hours")?,
        None => {
            if let Some((day, from)) = config.hours.first_closed() {
                return Err(ConfigError::new(
                    "out_of_hours",
                    format!(
                        "required, because the hours leave the line closed at times (first: {} \
                         from {from}); give `{{ target = \"…\" }}` or `{{ announcement = \"…\" }}`",
                        day_name(day)
                    ),
                ));
            }
            if config.holiday.is_none() && !config.special_days.is_empty() {
                return Err(ConfigError::new(
                    "out_of_hours",
                    "required (or `holiday`), because special_days can close the line",
                ));
            }
        }
    }
    if let Some(d) = &config.holiday {
        d.check("holiday")?;
    }

    let o = &config.overflow;
    if o.status_max_age_seconds == 0 {
        return Err(ConfigError::new(
            "overflow.status_max_age_seconds",
            "must be at least 1",
        ));
    }
    if o.max_waiting == Some(0) {
        return Err(ConfigError::new(
            "overflow.max_waiting",
            "must be at least 1 (0 would make every site always full)",
        ));
    }
    if let Some(d) = &o.when_all_full {
        d.check("overflow.when_all_full")?;
    }
    if let Some(e) = &config.emergency {
        e.destination().check("emergency")?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use leitstand_sdk::chrono::Weekday;

    fn parse(text: &str) -> Result<Config, ConfigError> {
        let table: serde_json::Value = toml_like(text);
        let config: Config = leitstand_sdk::config::parse(&table.to_string())?;
        check(&config)?;
        Ok(config)
    }

    /// The tests write configurations as JSON (the host hands TOML over as JSON).
    fn toml_like(json: &str) -> serde_json::Value {
        serde_json::from_str(json).expect("test JSON")
    }

    const BASE: &str = r#"{
        "sites": {"kaiserslautern": {"overflow": ["pirmasens", "saarbruecken"]},
                  "pirmasens": {"max_waiting": 5}, "saarbruecken": {}},
        "hours": {"mon": ["08:00-17:00"], "fri": ["08:00-13:00"]},
        "duty": {"default_site": "kaiserslautern",
                 "shifts": [{"name": "early", "from": "06:00", "to": "14:00", "site": "kaiserslautern"},
                            {"name": "late", "from": "14:00", "to": "22:00", "site": "pirmasens"}]},
        "out_of_hours": {"announcement": "closed"}
    }"#;

    fn with(patch: &str) -> String {
        let mut base = toml_like(BASE);
        let patch = toml_like(patch);
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
        assert_eq!(c.hours.on(Weekday::Mon).len(), 1);
        assert!(c.hours.on(Weekday::Tue).is_empty());
        assert_eq!(c.overflow.status_max_age_seconds, DEFAULT_STATUS_MAX_AGE);
        assert_eq!(c.overflow.unknown_partner, UnknownPartner::Skip);
    }

    #[test]
    fn hours_24_7_is_every_day_all_day() {
        let c = parse(&with(r#"{"hours": "24/7", "out_of_hours": null}"#)).expect("valid");
        for (_, d) in DAYS {
            assert_eq!(c.hours.on(d).len(), 1);
            assert!(c.hours.on(d)[0].contains(0));
            assert!(c.hours.on(d)[0].contains(86_399));
        }
        assert_eq!(c.hours.first_closed(), None);
        let e = refused(r#"{"hours": "24/7x"}"#);
        assert_eq!(e.key, "hours");
        assert!(e.reason.contains("\"24/7\" or a table of weekdays"), "{e}");
    }

    #[test]
    fn bad_keys_are_named() {
        let e = refused(r#"{"hours": {"monday": ["08:00-17:00"]}}"#);
        assert_eq!(e.key, "hours.monday");
        assert!(e.reason.starts_with("unknown field `monday`"), "{e}");

        let e = refused(r#"{"hours": {"mon": ["08:00-17:00", "17:00-08:00"]}}"#);
        assert_eq!(e.key, "hours.mon[1]");
        assert!(e.reason.contains("cannot cross midnight"), "{e}");

        let e = refused(r#"{"hours": {"tue": ["8-17"]}}"#);
        assert_eq!(e.key, "hours.tue[0]");

        let e = refused(r#"{"hours": {"mon": ["08:00-12:00", "11:00-17:00"]}}"#);
        assert_eq!(
            e.to_string(),
            "hours.mon[1]: 11:00-17:00 overlaps hours.mon[0] (08:00-12:00)"
        );

        let e = refused(
            r#"{"sites": {"kaiserslautern": {"overflow": ["pirmasen"]}, "pirmasens": {}}}"#,
        );
        assert_eq!(e.key, "sites.kaiserslautern.overflow[0]");
        assert!(e.reason.contains("\"pirmasen\" is not a site"), "{e}");

        let e = refused(
            r#"{"sites": {"kaiserslautern": {"overflow": ["kaiserslautern"]}, "pirmasens": {}}}"#,
        );
        assert_eq!(
            e.to_string(),
            "sites.kaiserslautern.overflow[0]: a site cannot overflow to itself"
        );

        let e = refused(r#"{"sites": {"kaiserslautern": {"max_waiting": 0}, "pirmasens": {}}}"#);
        assert_eq!(e.key, "sites.kaiserslautern.max_waiting");

        let e = refused(r#"{"out_of_hours": null}"#);
        assert_eq!(e.key, "out_of_hours");
        assert!(e.reason.contains("(first: mon from 00:00)"), "{e}");

        let e = refused(r#"{"out_of_hours": {"target": "x", "announcement": "y"}}"#);
        assert_eq!(e.key, "out_of_hours");

        let e = refused(r#"{"out_of_hours": {"annoucement": "y"}}"#);
        assert_eq!(e.key, "out_of_hours.annoucement");

        let e = refused(r#"{"overflow": {"max_waiting": 0}}"#);
        assert_eq!(e.key, "overflow.max_waiting");

        let e = refused(r#"{"overflow": {"unknown_partner": "maybe"}}"#);
        assert_eq!(e.key, "overflow.unknown_partner");

        let e = refused(r#"{"overflow": {"when_all_full": {}}}"#);
        assert_eq!(e.key, "overflow.when_all_full");

        let e = refused(r#"{"emergency": {"target": "leitstelle", "when": "sometimes"}}"#);
        assert_eq!(e.key, "emergency.when");

        let e = refused(r#"{"queues": []}"#);
        assert_eq!(e.key, "queues");

        let e = refused(r#"{"rota": 1}"#);
        assert_eq!(e.key, "rota");
    }

    #[test]
    fn special_days_are_closed_or_have_hours() {
        let ok = parse(&with(
            r#"{"special_days": [
                {"date": "2026-12-25", "label": "1. Weihnachtstag", "closed": true},
                {"date": "2026-12-24", "hours": ["08:00-12:00"], "site": "pirmasens"}]}"#,
        ))
        .expect("valid");
        assert_eq!(ok.special_days[1].name(), "2026-12-24");

        let e = refused(r#"{"special_days": [{"date": "2026-12-25"}]}"#);
        assert_eq!(e.key, "special_days[0]");
        let e = refused(
            r#"{"special_days": [{"date": "2026-12-25", "closed": true, "hours": ["10:00-12:00"]}]}"#,
        );
        assert_eq!(e.key, "special_days[0]");
        let e = refused(r#"{"special_days": [{"date": "2026-12-25", "hours": []}]}"#);
        assert_eq!(e.key, "special_days[0].hours");
        let e = refused(r#"{"special_days": [{"date": "2026-02-30", "closed": true}]}"#);
        assert_eq!(
            e.to_string(),
            "special_days[0].date: \"2026-02-30\" is not a date YYYY-MM-DD"
        );
        let e = refused(
            r#"{"special_days": [{"date": "2026-12-25", "closed": true}, {"date": "2026-12-25", "closed": true}]}"#,
        );
        assert_eq!(
            e.to_string(),
            "special_days[1].date: 2026-12-25 is already listed at special_days[0]"
        );
        let e = refused(
            r#"{"special_days": [{"date": "2026-12-24", "hours": ["10:00-12:00"], "site": "mainz"}]}"#,
        );
        assert_eq!(e.key, "special_days[0].site");
        let e = refused(
            r#"{"special_days": [{"date": "2026-12-25", "closed": true, "site": "pirmasens"}]}"#,
        );
        assert_eq!(
            e.to_string(),
            "special_days[0].site: a closed day has no duty site"
        );
        let e = refused(
            r#"{"special_days": [{"date": "2026-12-24", "hours": ["08:00-12:00", "11:00-13:00"]}]}"#,
        );
        assert_eq!(e.key, "special_days[0].hours[1]");
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
                {"name": "x", "from": "05:00", "to": "05:00", "site": "kaiserslautern"}]}}"#,
        );
        assert_eq!(e.key, "duty.shifts[0].to");
        let e = refused(
            r#"{"duty": {"default_site": "kaiserslautern", "shifts": [
                {"name": "x", "from": "05:00", "to": "14:00", "site": "mainz"}]}}"#,
        );
        assert_eq!(e.key, "duty.shifts[0].site");
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

    #[test]
    fn the_first_closed_moment_is_found() {
        // The intervals themselves are tested in `leitstand_sdk::hours`.
        let c = parse(BASE).expect("valid");
        assert_eq!(
            c.hours.first_closed(),
            Some((Weekday::Mon, ClockTime { minutes: 0 }))
        );
    }
}
