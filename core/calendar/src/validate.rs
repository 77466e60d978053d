//! Turns the calendar tables as written ([`CalendarsFile`]) into [`Calendars`]: every time,
//! date, zone and state is read here, overlaps and unknown names are refused here, and
//! inheritance is resolved here, once. Nothing else in the crate reads the raw tables, so
//! every error a tenant can make is reported from this module with the key it sits under.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use chrono_tz::Tz;

use crate::calendar::{Calendar, Calendars, DateRule};
use crate::file::{CalendarsFile, ClosedFile, HolidaysFile, HoursFile, SpecialFile, WeekFile};
use crate::holiday::{LocalHoliday, PublicHolidays};
use crate::span::Span;
use crate::state::State;

/// A calendar declaration refused, with the key it sits under, written as in TOML:
/// `calendar.hours.mon[1]: 11:00-13:00 overlaps 08:00-12:00`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{key}: {reason}")]
pub struct CalendarError {
    key: String,
    reason: String,
}

impl CalendarError {
    fn new(key: impl Into<String>, reason: impl ToString) -> Self {
        CalendarError {
            key: key.into(),
            reason: reason.to_string(),
        }
    }

    /// The key of the refused value, e.g. `calendars.buergerbuero.inherit`.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// Why it was refused, for the person who wrote it.
    pub fn reason(&self) -> &str {
        &self.reason
    }
}

impl Calendars {
    /// Validates a tenant's calendar tables. `timezone` is the tenant's time zone, which a
    /// calendar without a `timezone` of its own (or inherited) reads local times in.
    pub fn from_file(file: CalendarsFile, timezone: Tz) -> Result<Calendars, CalendarError> {
        let c = file.calendar;
        let own = Own::read(
            "calendar",
            Parts {
                timezone: c.timezone,
                hours: Some(c.hours),
                holidays: c.holidays,
                closed: c.closed,
                special: c.special,
            },
        )?;
        let tenant = own.over(Calendar {
            timezone,
            week: Default::default(),
            holidays: None,
            dates: BTreeMap::new(),
        });

        let mut declared = BTreeMap::new();
        for (name, n) in file.calendars {
            let prefix = format!("calendars.{}", key_segment(&name));
            if name == Calendars::TENANT {
                return Err(CalendarError::new(
                    prefix,
                    "\"tenant\" names the tenant's own calendar, [calendar]; choose another name",
                ));
            }
            let parts = Parts {
                timezone: n.timezone,
                hours: n.hours,
                holidays: n.holidays,
                closed: n.closed,
                special: n.special,
            };
            let inherit = n.inherit.unwrap_or_else(|| Calendars::TENANT.to_owned());
            declared.insert(name, (inherit, Own::read(&prefix, parts)?));
        }

        let mut named = BTreeMap::new();
        for name in declared.keys() {
            resolve(name, &declared, &tenant, &mut named, &mut Vec::new())?;
        }
        Ok(Calendars { tenant, named })
    }
}

/// The calendar `name` with what it inherits applied, resolving its ancestors first.
/// `path` holds the calendars being resolved below this one, to catch a cycle.
fn resolve(
    name: &str,
    declared: &BTreeMap<String, (String, Own)>,
    tenant: &Calendar,
    named: &mut BTreeMap<String, Calendar>,
    path: &mut Vec<String>,
) -> Result<Calendar, CalendarError> {
    if let Some(done) = named.get(name) {
        return Ok(done.clone());
    }
    let key = |name: &str| format!("calendars.{}.inherit", key_segment(name));
    if let Some(start) = path.iter().position(|n| n == name) {
        let cycle: Vec<&str> = path[start..]
            .iter()
            .map(String::as_str)
            .chain([name])
            .collect();
        return Err(CalendarError::new(
            key(&path[start]),
            format!("calendars inherit in a cycle: {}", cycle.join(" → ")),
        ));
    }
    let Some((inherit, own)) = declared.get(name) else {
        // Only names taken from `declared` get here.
        return Err(CalendarError::new(key(name), "no such calendar"));
    };
    let parent = if inherit == Calendars::TENANT {
        tenant.clone()
    } else if declared.contains_key(inherit) {
        path.push(name.to_owned());
        let parent = resolve(inherit, declared, tenant, named, path)?;
        path.pop();
        parent
    } else {
        return Err(CalendarError::new(
            key(name),
            format!("no calendar named {inherit:?}"),
        ));
    };
    let calendar = own.clone().over(parent);
    named.insert(name.to_owned(), calendar.clone());
    Ok(calendar)
}

/// The tables one calendar declares, the tenant's or a named one.
struct Parts {
    timezone: Option<String>,
    hours: Option<HoursFile>,
    holidays: Option<HolidaysFile>,
    closed: Vec<ClosedFile>,
    special: BTreeMap<String, SpecialFile>,
}

/// What one calendar declares itself, validated; `None` where it inherits.
#[derive(Clone)]
struct Own {
    timezone: Option<Tz>,
    week: Option<[Vec<Span>; 7]>,
    /// `Some(None)`: `holidays = "none"`.
    holidays: Option<Option<PublicHolidays>>,
    dates: BTreeMap<NaiveDate, DateRule>,
}

impl Own {
    fn read(prefix: &str, parts: Parts) -> Result<Own, CalendarError> {
        let timezone = parts
            .timezone
            .map(|tz| {
                tz.parse::<Tz>().map_err(|_| {
                    CalendarError::new(
                        format!("{prefix}.timezone"),
                        format!("{tz:?} is not an IANA time zone such as \"Europe/Berlin\""),
                    )
                })
            })
            .transpose()?;
        let week = parts
            .hours
            .map(|hours| read_hours(&format!("{prefix}.hours"), hours))
            .transpose()?;
        let holidays = parts
            .holidays
            .map(|holidays| read_holidays(&format!("{prefix}.holidays"), holidays))
            .transpose()?;

        let mut dates = BTreeMap::new();
        let mut closed_at: BTreeMap<NaiveDate, usize> = BTreeMap::new();
        for (j, entry) in parts.closed.into_iter().enumerate() {
            let (text, label, key) = match entry {
                ClosedFile::Date(text) => (text, None, format!("{prefix}.closed[{j}]")),
                ClosedFile::Labelled(day) => {
                    let label = read_label(&format!("{prefix}.closed[{j}].label"), day.label)?;
                    (day.date, label, format!("{prefix}.closed[{j}].date"))
                }
            };
            let date = read_date(&key, &text)?;
            if let Some(first) = closed_at.insert(date, j) {
                return Err(CalendarError::new(
                    key,
                    format!("{date} is closed already by {prefix}.closed[{first}]"),
                ));
            }
            dates.insert(date, DateRule::Closed { label });
        }
        // After the closed days: on the same date, a special day wins.
        for (text, special) in parts.special {
            let key = format!("{prefix}.special.{}", key_segment(&text));
            let date = read_date(&key, &text)?;
            let spans = read_spans(&format!("{key}.hours"), &special.hours)?;
            let label = read_label(&format!("{key}.label"), special.label)?;
            dates.insert(date, DateRule::Special { spans, label });
        }
        Ok(Own {
            timezone,
            week,
            holidays,
            dates,
        })
    }

    /// `parent` with this calendar's own declarations laid over it: what it declares
    /// replaces what it inherits, and its dated entries win on their dates.
    fn over(self, parent: Calendar) -> Calendar {
        let mut dates = parent.dates;
        dates.extend(self.dates);
        Calendar {
            timezone: self.timezone.unwrap_or(parent.timezone),
            week: self.week.unwrap_or(parent.week),
            holidays: self.holidays.unwrap_or(parent.holidays),
            dates,
        }
    }
}

fn read_hours(key: &str, hours: HoursFile) -> Result<[Vec<Span>; 7], CalendarError> {
    let week = match hours {
        HoursFile::Text(text) if text == "24/7" => {
            return Ok(std::array::from_fn(|_| vec![Span::WHOLE_DAY]));
        }
        HoursFile::Text(text) => {
            return Err(CalendarError::new(
                key,
                format!("{text:?} is neither \"24/7\" nor a table of weekdays"),
            ));
        }
        HoursFile::Week(week) => week,
    };
    let WeekFile {
        mon,
        tue,
        wed,
        thu,
        fri,
        sat,
        sun,
    } = week;
    let mut spans: [Vec<Span>; 7] = Default::default();
    for (i, (day, written)) in [
        ("mon", mon),
        ("tue", tue),
        ("wed", wed),
        ("thu", thu),
        ("fri", fri),
        ("sat", sat),
        ("sun", sun),
    ]
    .into_iter()
    .enumerate()
    {
        spans[i] = read_spans(&format!("{key}.{day}"), &written)?;
    }
    if spans.iter().all(Vec::is_empty) {
        return Err(CalendarError::new(
            key,
            "open on no day of the week; name the open days, e.g. mon = [\"08:00-17:00\"], \
             or write \"24/7\"",
        ));
    }
    Ok(spans)
}

/// The spans of one day, in order of opening; no two may share a minute.
fn read_spans(key: &str, written: &[String]) -> Result<Vec<Span>, CalendarError> {
    let mut spans: Vec<Span> = Vec::with_capacity(written.len());
    for (j, text) in written.iter().enumerate() {
        let span: Span = text
            .parse()
            .map_err(|why| CalendarError::new(format!("{key}[{j}]"), why))?;
        if let Some(earlier) = spans.iter().find(|earlier| earlier.overlaps(span)) {
            return Err(CalendarError::new(
                format!("{key}[{j}]"),
                format!("{span} overlaps {earlier}"),
            ));
        }
        spans.push(span);
    }
    spans.sort();
    Ok(spans)
}

fn read_holidays(
    key: &str,
    holidays: HolidaysFile,
) -> Result<Option<PublicHolidays>, CalendarError> {
    let (state, local) = match holidays {
        HolidaysFile::Text(text) if text == "none" => return Ok(None),
        HolidaysFile::Text(code) => {
            let state = State::parse(&code).map_err(|why| CalendarError::new(key, why))?;
            return Ok(Some(PublicHolidays::new(state)));
        }
        HolidaysFile::Table(table) => {
            let state = State::parse(&table.state)
                .map_err(|why| CalendarError::new(format!("{key}.state"), why))?;
            (state, table.local)
        }
    };
    let mut holidays = PublicHolidays::new(state);
    for (j, label) in local.iter().enumerate() {
        let key = format!("{key}.local[{j}]");
        let local =
            LocalHoliday::parse(state, label).map_err(|why| CalendarError::new(&key, why))?;
        if holidays.local().contains(&local) {
            return Err(CalendarError::new(
                key,
                format!("{label:?} is listed twice"),
            ));
        }
        holidays = holidays
            .with_local(local)
            .map_err(|why| CalendarError::new(key, why))?;
    }
    Ok(Some(holidays))
}

/// Exactly `YYYY-MM-DD`: one spelling per date, so that two entries for one day are seen
/// to be the same day.
fn read_date(key: &str, text: &str) -> Result<NaiveDate, CalendarError> {
    let bytes = text.as_bytes();
    let shaped = bytes.len() == 10
        && bytes.iter().enumerate().all(|(i, b)| match i {
            4 | 7 => *b == b'-',
            _ => b.is_ascii_digit(),
        });
    shaped
        .then(|| NaiveDate::parse_from_str(text, "%Y-%m-%d").ok())
        .flatten()
        .ok_or_else(|| {
            CalendarError::new(
                key,
                format!("{text:?} is not a date; write YYYY-MM-DD, e.g. \"2026-12-24\""),
            )
        })
}

fn read_label(key: &str, label: Option<String>) -> Result<Option<String>, CalendarError> {
    match label {
        Some(label) if label.trim().is_empty() => Err(CalendarError::new(
            key,
            "is empty; say what the day is, or leave the label out",
        )),
        label => Ok(label),
    }
}

/// A TOML key segment: bare where TOML allows it, quoted otherwise.
fn key_segment(name: &str) -> String {
    let bare = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if bare {
        name.to_owned()
    } else {
        format!("{name:?}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(toml_text: &str) -> String {
        let file: CalendarsFile = toml::from_str(toml_text).expect("well-formed TOML");
        match Calendars::from_file(file, chrono_tz::Europe::Berlin) {
            Ok(_) => panic!("accepted: {toml_text}"),
            Err(err) => err.to_string(),
        }
    }

    const WEEK: &str = r#"hours = { mon = ["08:00-17:00"] }"#;

    #[test]
    fn errors_name_the_key_and_the_reason() {
        for (body, expected) in [
            (
                format!("[calendar]\n{WEEK}\nholidays = \"DE-XX\""),
                "calendar.holidays: \"DE-XX\" is not a German state (one of DE-BW, DE-BY, \
                 DE-BE, DE-BB, DE-HB, DE-HH, DE-HE, DE-MV, DE-NI, DE-NW, DE-RP, DE-SL, DE-SN, \
                 DE-ST, DE-SH, DE-TH)",
            ),
            (
                "[calendar]\nhours = { mon = [\"08:00-12:00\", \"11:00-13:00\"] }".to_owned(),
                "calendar.hours.mon[1]: 11:00-13:00 overlaps 08:00-12:00",
            ),
            (
                "[calendar]\nhours = { tue = [\"08:00-12:00\", \"8:00-13:00\"] }".to_owned(),
                "calendar.hours.tue[1]: \"8:00\" is not a time; write HH:MM from 00:00 to 24:00",
            ),
            (
                "[calendar]\nhours = { wed = [\"18:00-08:00\"] }".to_owned(),
                "calendar.hours.wed[0]: 18:00-08:00 does not close after it opens; a span past \
                 midnight is two, one until 24:00 and one from 00:00 on the next day",
            ),
            (
                "[calendar]\nhours = \"24/8\"".to_owned(),
                "calendar.hours: \"24/8\" is neither \"24/7\" nor a table of weekdays",
            ),
            (
                "[calendar]\nhours = {}".to_owned(),
                "calendar.hours: open on no day of the week; name the open days, e.g. \
                 mon = [\"08:00-17:00\"], or write \"24/7\"",
            ),
            (
                format!("[calendar]\n{WEEK}\ntimezone = \"Europe/Soest\""),
                "calendar.timezone: \"Europe/Soest\" is not an IANA time zone such as \
                 \"Europe/Berlin\"",
            ),
            (
                format!("[calendar]\n{WEEK}\nclosed = [\"2026-12-24\", \"24.12.2026\"]"),
                "calendar.closed[1]: \"24.12.2026\" is not a date; write YYYY-MM-DD, \
                 e.g. \"2026-12-24\"",
            ),
            (
                format!("[calendar]\n{WEEK}\nclosed = [{{ date = \"2026-02-30\" }}]"),
                "calendar.closed[0].date: \"2026-02-30\" is not a date; write YYYY-MM-DD, \
                 e.g. \"2026-12-24\"",
            ),
            (
                format!(
                    "[calendar]\n{WEEK}\nclosed = [\"2026-12-24\", {{ date = \"2026-12-24\", label = \"Heiligabend\" }}]"
                ),
                "calendar.closed[1].date: 2026-12-24 is closed already by calendar.closed[0]",
            ),
            (
                format!(
                    "[calendar]\n{WEEK}\nclosed = [{{ date = \"2026-12-24\", label = \" \" }}]"
                ),
                "calendar.closed[0].label: is empty; say what the day is, or leave the label out",
            ),
            (
                format!("[calendar]\n{WEEK}\n[calendar.special.2026-12-32]\nhours = []"),
                "calendar.special.2026-12-32: \"2026-12-32\" is not a date; write YYYY-MM-DD, \
                 e.g. \"2026-12-24\"",
            ),
            (
                format!(
                    "[calendar]\n{WEEK}\n[calendar.special.2026-12-24]\n\
                     hours = [\"08:00-12:00\", \"09:00-10:00\"]"
                ),
                "calendar.special.2026-12-24.hours[1]: 09:00-10:00 overlaps 08:00-12:00",
            ),
            (
                format!(
                    "[calendar]\n{WEEK}\nholidays = {{ state = \"DE-NW\", local = [\"Fronleichnam\"] }}"
                ),
                "calendar.holidays.local[0]: \"Fronleichnam\" is not a local public holiday \
                 in DE-NW (it has none)",
            ),
            (
                format!(
                    "[calendar]\n{WEEK}\nholidays = {{ state = \"DE-BY\", local = \
                     [\"Mariä Himmelfahrt\", \"Mariä Himmelfahrt\"] }}"
                ),
                "calendar.holidays.local[1]: \"Mariä Himmelfahrt\" is listed twice",
            ),
            (
                format!("[calendar]\n{WEEK}\n[calendars.buergerbuero]\ninherit = \"rathaus\""),
                "calendars.buergerbuero.inherit: no calendar named \"rathaus\"",
            ),
            (
                format!(
                    "[calendar]\n{WEEK}\n[calendars.a]\ninherit = \"b\"\n\
                     [calendars.b]\ninherit = \"c\"\n[calendars.c]\ninherit = \"a\""
                ),
                "calendars.a.inherit: calendars inherit in a cycle: a → b → c → a",
            ),
            (
                format!("[calendar]\n{WEEK}\n[calendars.a]\ninherit = \"a\""),
                "calendars.a.inherit: calendars inherit in a cycle: a → a",
            ),
            (
                format!(
                    "[calendar]\n{WEEK}\n[calendars.a]\ninherit = \"x\"\n\
                     [calendars.x]\ninherit = \"y\"\n[calendars.y]\ninherit = \"x\""
                ),
                "calendars.x.inherit: calendars inherit in a cycle: x → y → x",
            ),
            (
                format!("[calendar]\n{WEEK}\n[calendars.tenant]\nholidays = \"DE-NW\""),
                "calendars.tenant: \"tenant\" names the tenant's own calendar, [calendar]; \
                 choose another name",
            ),
            (
                format!(
                    "[calendar]\n{WEEK}\n[calendars.\"Bürgerbüro\"]\nhours = {{ mon = [\"07:30-16:00\", \"07:00-08:00\"] }}"
                ),
                "calendars.\"Bürgerbüro\".hours.mon[1]: 07:00-08:00 overlaps 07:30-16:00",
            ),
        ] {
            assert_eq!(refused(&body), expected, "{body}");
        }
    }

    #[test]
    fn the_error_carries_key_and_reason_apart() {
        let file: CalendarsFile =
            toml::from_str("[calendar]\nhours = { mon = [\"08:00-12:00\", \"11:00-13:00\"] }")
                .expect("TOML");
        let err = Calendars::from_file(file, chrono_tz::UTC).expect_err("overlap");
        assert_eq!(err.key(), "calendar.hours.mon[1]");
        assert_eq!(err.reason(), "11:00-13:00 overlaps 08:00-12:00");
    }

    #[test]
    fn unknown_keys_are_refused_when_read() {
        for (body, unknown) in [
            (
                "[calendar]\nhours = { monday = [\"08:00-17:00\"] }",
                "monday",
            ),
            (
                "[calendar]\nhours = \"24/7\"\nholiday = \"DE-NW\"",
                "holiday",
            ),
            (
                "[calendar]\nhours = \"24/7\"\nclosed = [{ date = \"2026-12-24\", why = \"x\" }]",
                "why",
            ),
            (
                "[calendar]\nhours = \"24/7\"\n[calendar.special.2026-12-24]\nopen = []",
                "open",
            ),
            (
                "[calendar]\nhours = \"24/7\"\n[calendars.a]\ninherits = \"tenant\"",
                "inherits",
            ),
        ] {
            let err = toml::from_str::<CalendarsFile>(body).expect_err("unknown key");
            assert!(
                err.to_string()
                    .contains(&format!("unknown field `{unknown}`")),
                "{err}"
            );
        }
    }

    #[test]
    fn dates_may_be_written_as_toml_dates() {
        let file: CalendarsFile = toml::from_str(
            "[calendar]\nhours = \"24/7\"\nclosed = [2026-12-24, { date = 2026-12-31, label = \"Silvester\" }]",
        )
        .expect("TOML dates");
        let cals = Calendars::from_file(file, chrono_tz::Europe::Berlin).expect("valid");
        let day = |d| NaiveDate::from_ymd_opt(2026, 12, d).expect("date");
        assert!(cals.tenant().day(day(24)).is_closed());
        assert!(cals.tenant().day(day(31)).is_closed());
    }

    #[test]
    fn the_tenants_time_zone_applies_unless_a_calendar_names_its_own() {
        let file: CalendarsFile = toml::from_str(
            "[calendar]\nhours = \"24/7\"\n[calendars.lisboa]\ntimezone = \"Europe/Lisbon\"\n\
             [calendars.filiale]\ninherit = \"lisboa\"",
        )
        .expect("TOML");
        let cals = Calendars::from_file(file, chrono_tz::Europe::Berlin).expect("valid");
        assert_eq!(cals.tenant().timezone(), chrono_tz::Europe::Berlin);
        assert_eq!(
            cals.get("filiale").map(Calendar::timezone),
            Some(chrono_tz::Europe::Lisbon)
        );
    }
}
