//! Who is on duty: the primary site at a local wall-clock moment while the line is open.
//!
//! Whether the line is open is the tenant's calendar's to say (the host answers); the duty
//! plan is the rota's own. It reads the tenant's **local wall time** (weekday, time of
//! day), never a UTC offset, so daylight saving time comes out right:
//!
//! * on the night clocks go forward (02:00 → 03:00) the hour 02:00–03:00 does not happen,
//!   so a night shift 22:00–06:00 is one hour shorter;
//! * on the night clocks go back (03:00 → 02:00) the hour 02:00–03:00 happens twice and both
//!   passes are matched alike: a call at 02:30 (+02:00) and one at 02:30 (+01:00) fall into
//!   the same shift. A shift boundary inside that hour (say 02:30) is crossed twice; keep
//!   boundaries out of 02:00–03:00 to avoid that.
//!
//! The first that applies names the duty site: the site `duty.special_days` gives the
//! calendar's special day, the shift covering the moment, `duty.default_site`.

use leitstand_sdk::calendar::{Day, DayRule};
use leitstand_sdk::chrono::{Datelike, NaiveDateTime, Timelike, Weekday};
use leitstand_sdk::config::Date;

use crate::config::{Config, Shift};

/// The duty site at `local` on `day` (the calendar's, open at that moment), and the shift
/// that named it.
pub fn primary<'c>(
    config: &'c Config,
    day: &Day,
    local: NaiveDateTime,
) -> (&'c str, Option<&'c str>) {
    if matches!(day.rule, DayRule::Special(_))
        && let Some(site) = config.duty.special_days.get(&Date(day.date))
    {
        return (site, None);
    }
    let second = local.num_seconds_from_midnight();
    match shift_at(&config.duty.shifts, local.date().weekday(), second) {
        Some(shift) => (&shift.site, Some(shift.name.as_str())),
        None => (&config.duty.default_site, None),
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
    use leitstand_sdk::chrono::NaiveDate;
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

    fn regular(local: NaiveDateTime) -> Day {
        Day {
            date: local.date(),
            spans: Vec::new(),
            rule: DayRule::Regular,
        }
    }

    fn on_duty<'c>(c: &'c Config, instant: &str) -> (&'c str, Option<&'c str>) {
        let local = berlin(instant);
        primary(c, &regular(local), local)
    }

    const ROUND_THE_CLOCK: &str = r#"{
        "sites": {"kaiserslautern": {}, "pirmasens": {}},
        "duty": {"default_site": "kaiserslautern",
                 "shifts": [{"name": "night", "from": "22:00", "to": "06:00", "site": "pirmasens"},
                            {"name": "day", "from": "06:00", "to": "22:00", "site": "kaiserslautern"}],
                 "special_days": {"2026-12-26": "pirmasens"}}
    }"#;

    const OFFICE: &str = r#"{
        "sites": {"kaiserslautern": {}, "pirmasens": {}},
        "duty": {"default_site": "kaiserslautern",
                 "shifts": [{"name": "late", "days": ["mon", "tue", "thu"], "from": "12:30", "to": "17:00", "site": "pirmasens"}]},
        "out_of_hours": {"announcement": "closed"}
    }"#;

    #[test]
    fn shifts_name_the_duty_site() {
        let c = config(OFFICE);
        assert_eq!(
            on_duty(&c, "2026-11-16T12:29:59+01:00"),
            ("kaiserslautern", None)
        );
        assert_eq!(
            on_duty(&c, "2026-11-16T12:30:00+01:00"),
            ("pirmasens", Some("late"))
        );
        // Friday has no late shift: the default site.
        assert_eq!(
            on_duty(&c, "2026-11-20T12:30:00+01:00"),
            ("kaiserslautern", None)
        );
    }

    #[test]
    fn a_special_day_of_the_calendar_may_have_a_site_of_its_own() {
        let c = config(ROUND_THE_CLOCK);
        let local = berlin("2026-12-26T11:00:00+01:00");
        let special = Day {
            date: NaiveDate::from_ymd_opt(2026, 12, 26).expect("date"),
            spans: Vec::new(),
            rule: DayRule::Special(Some("2. Weihnachtstag".into())),
        };
        assert_eq!(primary(&c, &special, local), ("pirmasens", None));
        // The same date read as a regular day: the shifts decide.
        assert_eq!(
            primary(&c, &regular(local), local),
            ("kaiserslautern", Some("day"))
        );
    }

    #[test]
    fn spring_forward_night_shift() {
        let c = config(ROUND_THE_CLOCK);
        assert_eq!(on_duty(&c, "2026-03-28T20:59:59Z").1, Some("day"));
        assert_eq!(on_duty(&c, "2026-03-28T21:00:00Z").1, Some("night"));
        // 01:59:59 CET, then the clock jumps to 03:00 CEST: still the night shift.
        assert_eq!(on_duty(&c, "2026-03-29T00:59:59Z").1, Some("night"));
        assert_eq!(on_duty(&c, "2026-03-29T01:00:00Z").1, Some("night"));
        // The day shift starts at 06:00 CEST = 04:00Z, not 05:00Z.
        assert_eq!(on_duty(&c, "2026-03-29T03:59:59Z").1, Some("night"));
        assert_eq!(
            on_duty(&c, "2026-03-29T04:00:00Z"),
            ("kaiserslautern", Some("day"))
        );
    }

    #[test]
    fn fall_back_repeated_hour_is_matched_by_wall_time() {
        let c = config(ROUND_THE_CLOCK);
        // 02:30 CEST and 02:30 CET: both the night shift.
        assert_eq!(on_duty(&c, "2026-10-25T00:30:00Z").1, Some("night"));
        assert_eq!(on_duty(&c, "2026-10-25T01:30:00Z").1, Some("night"));
        // The day shift starts at 06:00 CET = 05:00Z.
        assert_eq!(on_duty(&c, "2026-10-25T04:59:59Z").1, Some("night"));
        assert_eq!(on_duty(&c, "2026-10-25T05:00:00Z").1, Some("day"));

        // A boundary inside the repeated hour is crossed twice.
        let split = config(
            r#"{"sites": {"kaiserslautern": {}, "pirmasens": {}},
                "duty": {"default_site": "kaiserslautern",
                         "shifts": [{"name": "a", "from": "22:00", "to": "02:30", "site": "pirmasens"}]}}"#,
        );
        assert_eq!(on_duty(&split, "2026-10-25T00:15:00Z").1, Some("a"));
        assert_eq!(on_duty(&split, "2026-10-25T00:45:00Z").1, None);
        assert_eq!(on_duty(&split, "2026-10-25T01:15:00Z").1, Some("a"));
        assert_eq!(on_duty(&split, "2026-10-25T01:45:00Z").1, None);
    }

    #[test]
    fn a_night_shift_runs_past_midnight_and_past_the_week() {
        let c = config(
            r#"{"sites": {"kaiserslautern": {}, "pirmasens": {}},
                "duty": {"default_site": "kaiserslautern",
                         "shifts": [{"name": "weekend-night", "days": ["sun"], "from": "22:00", "to": "06:00", "site": "pirmasens"}]}}"#,
        );
        assert_eq!(on_duty(&c, "2026-11-22T21:59:59+01:00").1, None);
        assert_eq!(
            on_duty(&c, "2026-11-22T22:00:00+01:00").1,
            Some("weekend-night")
        );
        assert_eq!(
            on_duty(&c, "2026-11-23T05:59:59+01:00").1,
            Some("weekend-night")
        );
        assert_eq!(on_duty(&c, "2026-11-23T06:00:00+01:00").1, None);
        assert_eq!(on_duty(&c, "2026-11-23T23:00:00+01:00").1, None);
    }
}
