//! Opening hours in a plugin's configuration, read in the tenant's **local wall time**.
//!
//! The format, shared by the plugins that route by opening hours (rota, switchboard):
//!
//! ```toml
//! hours = "24/7"                                   # open around the clock, or
//! [hours]                                          # a table of weekdays, Monday first;
//! mon = ["08:00-12:30", "14:00-17:00"]             # a missing weekday is closed
//! fri = ["08:00-13:00"]
//! ```
//!
//! * [`Hours`]: `"24/7"` or a table `mon` … `sun`, each a list of [`Interval`]s;
//! * [`Interval`]: `HH:MM-HH:MM` within one day, half-open `[open, close)`: with
//!   `08:00-17:00` a call at 16:59:59.999 finds the line open and one at 17:00:00 closed.
//!   `24:00` is the end of the day; an interval cannot cross midnight;
//! * [`Day`]: a weekday written `mon` … `sun` ([`DAYS`], [`day_name`]);
//! * [`Date`]: a local calendar date `YYYY-MM-DD`.
//!
//! Every type checks its text while parsing, so a serde error already names the key
//! (`hours.tue[0]: "8-17" is not an interval "HH:MM-HH:MM"`). What serde cannot see —
//! overlapping intervals of one day — [`check_day`] and [`Hours::check`] refuse, naming the
//! key as a path into the table.

use std::fmt;

use chrono::{NaiveDate, Weekday};
use serde::Deserialize;
use serde::de::{self, Deserializer, MapAccess, Unexpected, Visitor};

use crate::config::{ClockTime, ConfigError};

/// Minutes in a day: the `close` of an interval that runs to the end of the day.
const DAY_MINUTES: u16 = 1440;

/// Weekly opening hours: `"24/7"` or a table of weekdays; a missing weekday is closed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hours {
    /// Monday first.
    days: [Vec<Interval>; 7],
}

impl Hours {
    /// Open all day, every day (what `"24/7"` reads as).
    pub fn always() -> Self {
        Self {
            days: std::array::from_fn(|_| ALL_DAY.to_vec()),
        }
    }

    /// The intervals of `day`; empty when closed all day.
    pub fn on(&self, day: Weekday) -> &[Interval] {
        &self.days[day.num_days_from_monday() as usize]
    }

    /// The first moment of the week (weekday, time of day) the hours leave closed; `None`
    /// when they are open around the clock.
    pub fn first_closed(&self) -> Option<(Weekday, ClockTime)> {
        DAYS.iter()
            .find_map(|(_, d)| first_gap(self.on(*d)).map(|t| (*d, t)))
    }

    /// Whether the hours are open around the clock, every day.
    pub fn always_open(&self) -> bool {
        self.first_closed().is_none()
    }

    /// Refuses overlapping intervals on any weekday; `key` names the table (`hours`), an
    /// error names the day's list (`hours.mon[1]`).
    pub fn check(&self, key: &str) -> Result<(), ConfigError> {
        for (name, day) in DAYS {
            check_day(&format!("{key}.{name}"), self.on(day))?;
        }
        Ok(())
    }
}

/// The whole day, `00:00-24:00`: each day of `"24/7"`.
pub const ALL_DAY: [Interval; 1] = [Interval {
    open: ClockTime { minutes: 0 },
    close: ClockTime {
        minutes: DAY_MINUTES,
    },
}];

/// The hours table as written: weekday → intervals.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct WeekHours {
    #[serde(default)]
    mon: Vec<Interval>,
    #[serde(default)]
    tue: Vec<Interval>,
    #[serde(default)]
    wed: Vec<Interval>,
    #[serde(default)]
    thu: Vec<Interval>,
    #[serde(default)]
    fri: Vec<Interval>,
    #[serde(default)]
    sat: Vec<Interval>,
    #[serde(default)]
    sun: Vec<Interval>,
}

impl<'de> Deserialize<'de> for Hours {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct HoursVisitor;
        impl<'de> Visitor<'de> for HoursVisitor {
            type Value = Hours;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str(
                    "\"24/7\" or a table of weekdays (mon … sun), each a list of \"HH:MM-HH:MM\"",
                )
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<Hours, E> {
                if s.trim() == "24/7" {
                    Ok(Hours::always())
                } else {
                    Err(E::invalid_value(Unexpected::Str(s), &self))
                }
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Hours, A::Error> {
                let w = WeekHours::deserialize(de::value::MapAccessDeserializer::new(map))?;
                Ok(Hours {
                    days: [w.mon, w.tue, w.wed, w.thu, w.fri, w.sat, w.sun],
                })
            }
        }
        d.deserialize_any(HoursVisitor)
    }
}

/// An opening interval `HH:MM-HH:MM` within one day: open from `open` (inclusive) to
/// `close` (exclusive). A call at 17:00:00 on a `08:00-17:00` day is closed; one at
/// 16:59:59.999 is open.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Interval {
    /// Opening time, inclusive.
    pub open: ClockTime,
    /// Closing time, exclusive, after `open`; `24:00` is the end of the day.
    pub close: ClockTime,
}

impl Interval {
    /// Parses `HH:MM-HH:MM`; an interval cannot cross midnight.
    pub fn parse(text: &str) -> Result<Self, String> {
        let shape = || format!("{text:?} is not an interval \"HH:MM-HH:MM\"");
        let (a, b) = text.split_once('-').ok_or_else(shape)?;
        let open = ClockTime::parse(a.trim()).ok_or_else(shape)?;
        let close = ClockTime::parse(b.trim()).ok_or_else(shape)?;
        if open >= close {
            return Err(format!(
                "{text:?}: the opening must be before the closing; an interval cannot cross \
                 midnight (write \"{open}-24:00\" on this day and \"00:00-{close}\" on the next)"
            ));
        }
        Ok(Self { open, close })
    }

    /// Whether the interval holds the moment `second` (seconds after local midnight).
    pub fn contains(&self, second: u32) -> bool {
        let open = u32::from(self.open.minutes) * 60;
        let close = u32::from(self.close.minutes) * 60;
        open <= second && second < close
    }
}

impl fmt::Display for Interval {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.open, self.close)
    }
}

impl<'de> Deserialize<'de> for Interval {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        Interval::parse(&text).map_err(de::Error::custom)
    }
}

/// The first time of day `intervals` leave closed, if any; `None` when they cover the
/// whole day (in any order, overlapping or adjacent).
pub fn first_gap(intervals: &[Interval]) -> Option<ClockTime> {
    let mut sorted: Vec<&Interval> = intervals.iter().collect();
    sorted.sort_by_key(|i| i.open);
    let mut reached = 0;
    for i in sorted {
        if i.open.minutes > reached {
            break;
        }
        reached = reached.max(i.close.minutes);
    }
    (reached < DAY_MINUTES).then_some(ClockTime { minutes: reached })
}

/// Refuses overlapping intervals of one day; `key` names the list, an error the later of
/// the two (`hours.mon[1]: 11:00-17:00 overlaps hours.mon[0] (08:00-12:00)`).
pub fn check_day(key: &str, intervals: &[Interval]) -> Result<(), ConfigError> {
    for (j, b) in intervals.iter().enumerate() {
        for (i, a) in intervals.iter().enumerate().take(j) {
            if a.open < b.close && b.open < a.close {
                return Err(ConfigError::new(
                    format!("{key}[{j}]"),
                    format!("{b} overlaps {key}[{i}] ({a})"),
                ));
            }
        }
    }
    Ok(())
}

/// A weekday written `mon` … `sun`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Day(pub Weekday);

impl Day {
    /// Every day of the week, Monday first.
    pub fn every() -> Vec<Day> {
        DAYS.iter().map(|(_, d)| Day(*d)).collect()
    }
}

impl<'de> Deserialize<'de> for Day {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        DAYS.iter()
            .find(|(n, _)| *n == text)
            .map(|(_, w)| Day(*w))
            .ok_or_else(|| {
                de::Error::custom(format!(
                    "{text:?} is not a weekday (mon, tue, wed, thu, fri, sat, sun)"
                ))
            })
    }
}

/// The weekday names of an hours table, Monday first.
pub const DAYS: [(&str, Weekday); 7] = [
    ("mon", Weekday::Mon),
    ("tue", Weekday::Tue),
    ("wed", Weekday::Wed),
    ("thu", Weekday::Thu),
    ("fri", Weekday::Fri),
    ("sat", Weekday::Sat),
    ("sun", Weekday::Sun),
];

/// The short name of `day` (`mon` … `sun`).
pub fn day_name(day: Weekday) -> &'static str {
    DAYS[day.num_days_from_monday() as usize].0
}

/// A local calendar date written `YYYY-MM-DD`; displayed the same way.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Date(pub NaiveDate);

impl fmt::Display for Date {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0.format("%Y-%m-%d"))
    }
}

impl<'de> Deserialize<'de> for Date {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        match NaiveDate::parse_from_str(&text, "%Y-%m-%d") {
            Ok(date) if text.len() == 10 => Ok(Date(date)),
            _ => Err(de::Error::custom(format!(
                "{text:?} is not a date YYYY-MM-DD"
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hours(json: &str) -> Result<Hours, String> {
        serde_json::from_str(json).map_err(|e| e.to_string())
    }

    fn day(list: &[&str]) -> Vec<Interval> {
        list.iter()
            .map(|t| Interval::parse(t).expect("valid"))
            .collect()
    }

    #[test]
    fn hours_are_24_7_or_a_table_of_weekdays() {
        let h = hours("\"24/7\"").expect("valid");
        assert_eq!(h, Hours::always());
        assert!(h.always_open());
        assert_eq!(h.first_closed(), None);
        let h = hours(r#"{"mon": ["08:00-17:00"], "fri": ["08:00-13:00"]}"#).expect("valid");
        assert_eq!(h.on(Weekday::Mon).len(), 1);
        assert!(h.on(Weekday::Tue).is_empty());
        assert!(!h.always_open());
        assert_eq!(
            h.first_closed(),
            Some((Weekday::Mon, ClockTime { minutes: 0 }))
        );
        let e = hours("\"werktags\"").expect_err("bad");
        assert!(e.contains("\"24/7\" or a table of weekdays"), "{e}");
        let e = hours(r#"{"thursday": ["08:00-12:00"]}"#).expect_err("bad");
        assert!(e.contains("unknown field `thursday`"), "{e}");
        let e = hours(r#"{"thu": ["14:00-12:00"]}"#).expect_err("bad");
        assert!(e.contains("the opening must be before the closing"), "{e}");
    }

    #[test]
    fn intervals_are_half_open() {
        let i = Interval::parse("08:00-17:00").expect("valid");
        assert!(!i.contains(8 * 3600 - 1));
        assert!(i.contains(8 * 3600));
        assert!(i.contains(17 * 3600 - 1));
        assert!(!i.contains(17 * 3600));
        assert!(ALL_DAY[0].contains(86_399));
        assert_eq!(i.to_string(), "08:00-17:00");
        assert!(Interval::parse("12:00-12:00").is_err());
        assert_eq!(
            Interval::parse("8-17").expect_err("bad"),
            "\"8-17\" is not an interval \"HH:MM-HH:MM\""
        );
    }

    #[test]
    fn the_first_closed_moment_is_found() {
        let at = |m: u16| Some(ClockTime { minutes: m });
        assert_eq!(first_gap(&day(&[])), at(0));
        assert_eq!(first_gap(&day(&["12:00-24:00", "00:00-12:00"])), None);
        assert_eq!(first_gap(&day(&["00:00-08:00", "09:00-24:00"])), at(480));
        assert_eq!(first_gap(&day(&["00:00-23:59"])), at(1439));
    }

    #[test]
    fn overlaps_are_refused_with_both_keys() {
        check_day("hours.mon", &day(&["08:00-12:00", "12:00-17:00"])).expect("adjacent");
        let e = check_day("hours.mon", &day(&["08:00-12:00", "11:00-17:00"])).expect_err("bad");
        assert_eq!(
            e.to_string(),
            "hours.mon[1]: 11:00-17:00 overlaps hours.mon[0] (08:00-12:00)"
        );
        let h = hours(r#"{"wed": ["08:00-12:00", "07:00-09:00"]}"#).expect("parses");
        let e = h.check("center.hours").expect_err("bad");
        assert_eq!(e.key, "center.hours.wed[1]");
    }

    #[test]
    fn days_and_dates_parse_strictly() {
        let d: Day = serde_json::from_str("\"sun\"").expect("valid");
        assert_eq!(d, Day(Weekday::Sun));
        assert_eq!(day_name(Weekday::Sun), "sun");
        assert_eq!(Day::every().len(), 7);
        let e = serde_json::from_str::<Day>("\"mun\"").expect_err("bad");
        assert!(e.to_string().contains("\"mun\" is not a weekday"), "{e}");
        let d: Date = serde_json::from_str("\"2026-12-25\"").expect("valid");
        assert_eq!(d.to_string(), "2026-12-25");
        for bad in ["\"2026-02-30\"", "\"2026-1-05\"", "\"25.12.2026\""] {
            let e = serde_json::from_str::<Date>(bad).expect_err("bad");
            assert!(e.to_string().contains("is not a date YYYY-MM-DD"), "{e}");
        }
    }
}
