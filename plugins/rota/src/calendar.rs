//! The calendar: is the line open at a local wall-clock moment, and who is on duty?
//!
//! Every rule here reads the tenant's **local wall time** (date, weekday, time of day),
//! never a UTC offset. That is what makes daylight saving time come out right:
//!
//! * opening hours `08:00-17:00` open at 08:00 local whatever the offset (07:00Z in winter,
//!   06:00Z in summer);
//! * on the night clocks go forward (02:00 → 03:00) the hour 02:00–03:00 does not happen,
//!   so a night shift 22:00–06:00 is one hour shorter;
//! * on the night clocks go back (03:00 → 02:00) the hour 02:00–03:00 happens twice and both
//!   passes are matched alike: a call at 02:30 (+02:00) and one at 02:30 (+01:00) fall into
//!   the same interval and the same shift. A shift boundary inside that hour (say 02:30) is
//!   crossed twice; keep boundaries out of 02:00–03:00 to avoid that.
//!
//! Opening intervals are half-open, `[open, close)`: with `08:00-17:00` a call at 16:59:59
//! is open and one at 17:00:00 is closed.
//!
//! Precedence, as in the field's schedule groups (holiday before closed before open): a
//! special day replaces the weekday's hours (closed all day, or its own hours and
//! optionally its own duty site); otherwise the weekday's hours apply. Emergency routing is
//! decided before the calendar, in [`crate::route`].

use leitstand_sdk::chrono::{Datelike, NaiveDateTime, Timelike, Weekday};

use crate::config::{Config, Shift, SpecialDay};

/// The line at one moment.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Schedule<'c> {
    /// Open; `primary` is the duty site.
    Open {
        /// The duty site.
        primary: &'c str,
        /// The shift that named it; `None` for a special day's site or the default site.
        shift: Option<&'c str>,
        /// The special day the moment falls on, if any.
        special: Option<&'c SpecialDay>,
    },
    /// Closed: by the weekly hours (`special` is `None`) or by a special day.
    Closed {
        /// The special day that closed the line.
        special: Option<&'c SpecialDay>,
    },
}

/// The schedule at `local`, the tenant's wall-clock time.
pub fn schedule(config: &Config, local: NaiveDateTime) -> Schedule<'_> {
    let date = local.date();
    let weekday = date.weekday();
    let second = local.num_seconds_from_midnight();
    let special = config.special_days.iter().find(|d| d.date.0 == date);
    let intervals = match special {
        Some(day) if day.closed => return Schedule::Closed { special },
        Some(day) => day.hours.as_deref().unwrap_or_default(),
        None => config.hours.on(weekday),
    };
    if !intervals.iter().any(|i| i.contains(second)) {
        return Schedule::Closed { special };
    }
    if let Some(site) = special.and_then(|d| d.site.as_deref()) {
        return Schedule::Open {
            primary: site,
            shift: None,
            special,
        };
    }
    match shift_at(&config.duty.shifts, weekday, second) {
        Some(shift) => Schedule::Open {
            primary: &shift.site,
            shift: Some(&shift.name),
            special,
        },
        None => Schedule::Open {
            primary: &config.duty.default_site,
            shift: None,
            special,
        },
    }
}

/// The shift covering `second` (after local midnight) of a `weekday`: one that started
/// today, or one that started yesterday and runs past midnight. Shifts do not overlap
/// (checked with the config), so at most one matches.
pub fn shift_at(shifts: &[Shift], weekday: Weekday, second: u32) -> Option<&Shift> {
    let yesterday = weekday.pred();
    shifts.iter().find(|s| {
        let from = u32::from(s.from.minutes) * 60;
        let to = u32::from(s.to.minutes) * 60;
        let on = |day: Weekday| s.days.iter().any(|d| d.0 == day);
        if from < to {
            on(weekday) && from <= second && second < to
        } else {
            (on(weekday) && second >= from) || (on(yesterday) && second < to)
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{self, Config};
    use leitstand_sdk::Time;
    use leitstand_sdk::chrono_tz::Europe::Berlin;

    fn config(json: &str) -> Config {
        let c: Config = leitstand_sdk::config::parse(json).expect("parses");
        config::check(&c).expect("valid");
        c
    }

    /// The wall time in Berlin of an RFC 3339 instant.
    fn berlin(instant: &str) -> NaiveDateTime {
        Time::parse(instant)
            .expect("RFC 3339")
            .in_tz(&Berlin)
            .naive_local()
    }

    fn at<'c>(c: &'c Config, instant: &str) -> Schedule<'c> {
        schedule(c, berlin(instant))
    }

    fn primary<'c>(c: &'c Config, instant: &str) -> (&'c str, Option<&'c str>) {
        match at(c, instant) {
            Schedule::Open { primary, shift, .. } => (primary, shift),
            closed => panic!("{instant}: closed: {closed:?}"),
        }
    }

    fn open(c: &Config, instant: &str) -> bool {
        matches!(at(c, instant), Schedule::Open { .. })
    }

    const OFFICE: &str = r#"{
        "sites": {"kaiserslautern": {}, "pirmasens": {}},
        "hours": {"mon": ["08:00-17:00"], "tue": ["08:00-12:00", "13:00-17:00"],
                  "fri": ["08:00-13:00"]},
        "special_days": [
            {"date": "2026-12-25", "label": "1. Weihnachtstag", "closed": true},
            {"date": "2026-12-26", "label": "2. Weihnachtstag", "hours": ["10:00-14:00"], "site": "pirmasens"},
            {"date": "2026-12-24", "hours": ["08:00-12:00"]}],
        "duty": {"default_site": "kaiserslautern",
                 "shifts": [{"name": "late", "days": ["mon", "tue", "thu"], "from": "12:30", "to": "17:00", "site": "pirmasens"}]},
        "out_of_hours": {"announcement": "closed"}
    }"#;

    const ROUND_THE_CLOCK: &str = r#"{
        "sites": {"kaiserslautern": {}, "pirmasens": {}},
        "hours": "24/7",
        "duty": {"default_site": "kaiserslautern",
                 "shifts": [{"name": "night", "from": "22:00", "to": "06:00", "site": "pirmasens"},
                            {"name": "day", "from": "06:00", "to": "22:00", "site": "kaiserslautern"}]}
    }"#;

    #[test]
    fn closing_minute_is_closed_and_the_second_before_is_open() {
        let c = config(OFFICE);
        // Monday 2026-11-16, winter time.
        assert!(open(&c, "2026-11-16T16:59:59+01:00"));
        assert!(open(&c, "2026-11-16T16:59:59.999+01:00"));
        assert!(!open(&c, "2026-11-16T17:00:00+01:00"));
        assert!(!open(&c, "2026-11-16T07:59:59+01:00"));
        assert!(open(&c, "2026-11-16T08:00:00+01:00"));
        // Friday closes at 13:00.
        assert!(open(&c, "2026-11-20T12:59:59+01:00"));
        assert!(!open(&c, "2026-11-20T13:00:00+01:00"));
        // Tuesday's lunch break.
        assert!(!open(&c, "2026-11-17T12:00:00+01:00"));
        assert!(open(&c, "2026-11-17T13:00:00+01:00"));
        // A missing day is closed.
        assert!(!open(&c, "2026-11-18T10:00:00+01:00"));
        assert!(!open(&c, "2026-11-22T10:00:00+01:00"));
    }

    #[test]
    fn shifts_name_the_duty_site() {
        let c = config(OFFICE);
        assert_eq!(
            primary(&c, "2026-11-16T12:29:59+01:00"),
            ("kaiserslautern", None)
        );
        assert_eq!(
            primary(&c, "2026-11-16T12:30:00+01:00"),
            ("pirmasens", Some("late"))
        );
        // Friday has no late shift: the default site.
        assert_eq!(
            primary(&c, "2026-11-20T12:30:00+01:00"),
            ("kaiserslautern", None)
        );
    }

    #[test]
    fn special_days_replace_the_weekday() {
        let c = config(OFFICE);
        // Friday 25 December: closed although Fridays are open.
        match at(&c, "2026-12-25T10:00:00+01:00") {
            Schedule::Closed { special: Some(d) } => assert_eq!(d.name(), "1. Weihnachtstag"),
            other => panic!("{other:?}"),
        }
        // Saturday 26 December: emergency hours at Pirmasens although Saturdays are closed.
        assert!(!open(&c, "2026-12-26T09:59:59+01:00"));
        assert_eq!(
            primary(&c, "2026-12-26T10:00:00+01:00"),
            ("pirmasens", None)
        );
        assert!(!open(&c, "2026-12-26T14:00:00+01:00"));
        // Thursday 24 December: 08:00-12:00 by the weekday's shifts (no site of its own).
        assert_eq!(
            primary(&c, "2026-12-24T11:59:59+01:00"),
            ("kaiserslautern", None)
        );
        match at(&c, "2026-12-24T12:00:00+01:00") {
            Schedule::Closed { special: Some(d) } => assert_eq!(d.name(), "2026-12-24"),
            other => panic!("{other:?}"),
        }
        // Weekly closing has no special day.
        assert_eq!(
            at(&c, "2026-12-22T18:00:00+01:00"),
            Schedule::Closed { special: None }
        );
    }

    #[test]
    fn spring_forward_night_shift_and_monday_opening() {
        let c = config(ROUND_THE_CLOCK);
        // Saturday evening before: the night shift starts at 22:00 CET.
        assert_eq!(primary(&c, "2026-03-28T20:59:59Z").1, Some("day"));
        assert_eq!(primary(&c, "2026-03-28T21:00:00Z").1, Some("night"));
        // 01:59:59 CET, then the clock jumps to 03:00 CEST: still the night shift.
        assert_eq!(primary(&c, "2026-03-29T00:59:59Z").1, Some("night"));
        assert_eq!(
            berlin("2026-03-29T01:00:00Z").to_string(),
            "2026-03-29 03:00:00"
        );
        assert_eq!(primary(&c, "2026-03-29T01:00:00Z").1, Some("night"));
        // The day shift starts at 06:00 CEST = 04:00Z, not 05:00Z.
        assert_eq!(primary(&c, "2026-03-29T03:59:59Z").1, Some("night"));
        assert_eq!(
            primary(&c, "2026-03-29T04:00:00Z"),
            ("kaiserslautern", Some("day"))
        );

        let office = config(OFFICE);
        // Monday 2026-03-30 opens at 08:00 CEST = 06:00Z …
        assert!(!open(&office, "2026-03-30T05:59:59Z"));
        assert!(open(&office, "2026-03-30T06:00:00Z"));
        // … the Monday before at 08:00 CET = 07:00Z.
        assert!(!open(&office, "2026-03-23T06:59:59Z"));
        assert!(open(&office, "2026-03-23T07:00:00Z"));
    }

    #[test]
    fn fall_back_repeated_hour_is_matched_by_wall_time() {
        let c = config(ROUND_THE_CLOCK);
        // 02:30 CEST and 02:30 CET: both the night shift.
        assert_eq!(
            berlin("2026-10-25T00:30:00Z").to_string(),
            "2026-10-25 02:30:00"
        );
        assert_eq!(
            berlin("2026-10-25T01:30:00Z").to_string(),
            "2026-10-25 02:30:00"
        );
        assert_eq!(primary(&c, "2026-10-25T00:30:00Z").1, Some("night"));
        assert_eq!(primary(&c, "2026-10-25T01:30:00Z").1, Some("night"));
        // The day shift starts at 06:00 CET = 05:00Z.
        assert_eq!(primary(&c, "2026-10-25T04:59:59Z").1, Some("night"));
        assert_eq!(primary(&c, "2026-10-25T05:00:00Z").1, Some("day"));

        // A boundary inside the repeated hour is crossed twice.
        let split = config(
            r#"{"sites": {"kaiserslautern": {}, "pirmasens": {}}, "hours": "24/7",
                "duty": {"default_site": "kaiserslautern",
                         "shifts": [{"name": "a", "from": "22:00", "to": "02:30", "site": "pirmasens"}]}}"#,
        );
        assert_eq!(primary(&split, "2026-10-25T00:15:00Z").1, Some("a"));
        assert_eq!(primary(&split, "2026-10-25T00:45:00Z").1, None);
        assert_eq!(primary(&split, "2026-10-25T01:15:00Z").1, Some("a"));
        assert_eq!(primary(&split, "2026-10-25T01:45:00Z").1, None);

        let office = config(OFFICE);
        // Monday 2026-10-26 opens at 08:00 CET = 07:00Z.
        assert!(!open(&office, "2026-10-26T06:59:59Z"));
        assert!(open(&office, "2026-10-26T07:00:00Z"));
    }

    #[test]
    fn a_night_shift_runs_past_midnight_and_past_the_week() {
        let c = config(
            r#"{"sites": {"kaiserslautern": {}, "pirmasens": {}}, "hours": "24/7",
                "duty": {"default_site": "kaiserslautern",
                         "shifts": [{"name": "weekend-night", "days": ["sun"], "from": "22:00", "to": "06:00", "site": "pirmasens"}]}}"#,
        );
        // Sunday 2026-11-22 22:00 to Monday 06:00.
        assert_eq!(primary(&c, "2026-11-22T21:59:59+01:00").1, None);
        assert_eq!(
            primary(&c, "2026-11-22T22:00:00+01:00").1,
            Some("weekend-night")
        );
        assert_eq!(
            primary(&c, "2026-11-23T05:59:59+01:00").1,
            Some("weekend-night")
        );
        assert_eq!(primary(&c, "2026-11-23T06:00:00+01:00").1, None);
        // Not Monday night.
        assert_eq!(primary(&c, "2026-11-23T23:00:00+01:00").1, None);
    }
}
