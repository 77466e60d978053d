//! Opening hours of the center and the departments: weekly hours in the SDK's format
//! ([`leitstand_sdk::hours`], as the rota plugin uses it: `"24/7"` or `mon` … `sun`, each a
//! list of `"HH:MM-HH:MM"`), closed dates and dates with hours of their own, read in the
//! tenant's **local wall time**.
//!
//! Intervals are half-open, `[open, close)`, as in the rota: with `07:30-12:30` a call at
//! 12:29:59 finds the department open and one at 12:30:00 finds it closed. On the night the
//! clocks go back, the repeated hour is matched alike on both passes; on the night they go
//! forward, the skipped hour never happens.

use std::collections::BTreeMap;

use leitstand_sdk::chrono::{Datelike, Days, NaiveDate, NaiveDateTime, Timelike, Weekday};
use leitstand_sdk::hours::{ALL_DAY, Date, Hours, Interval};

/// How far ahead [`Calendar::next_opening`] looks.
pub const LOOKAHEAD_DAYS: u64 = 14;

/// Whether a place (the center or a department) is open at a moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Openness {
    /// Open.
    Open,
    /// Closed: by the weekly hours (`by_date` false) or by a closed date or a date with
    /// hours of its own (`by_date` true).
    Closed {
        /// The date's own rule closed it, not the weekday's hours.
        by_date: bool,
    },
}

/// The opening rules of one place, borrowed from its configuration.
#[derive(Debug, Clone, Copy)]
pub struct Calendar<'c> {
    /// The weekly hours; `None`: open around the clock.
    pub hours: Option<&'c Hours>,
    /// Dates closed all day.
    pub closed: &'c [Date],
    /// Dates whose hours replace the weekday's.
    pub special_hours: &'c BTreeMap<Date, Vec<Interval>>,
}

impl<'c> Calendar<'c> {
    /// The intervals of `date` and whether they are the date's own (closed or special).
    fn day(&self, date: NaiveDate) -> (&'c [Interval], bool) {
        if self.closed.contains(&Date(date)) {
            return (&[], true);
        }
        if let Some(own) = self.special_hours.get(&Date(date)) {
            return (own, true);
        }
        match self.hours {
            Some(h) => (h.on(date.weekday()), false),
            None => (&ALL_DAY, false),
        }
    }

    /// Whether the place is open at `local`, the tenant's wall-clock time.
    pub fn at(&self, local: NaiveDateTime) -> Openness {
        let (intervals, by_date) = self.day(local.date());
        let second = local.num_seconds_from_midnight();
        if intervals.iter().any(|i| i.contains(second)) {
            Openness::Open
        } else {
            Openness::Closed { by_date }
        }
    }

    /// The first opening after `local` within [`LOOKAHEAD_DAYS`], as local wall time; `None`
    /// when the place stays closed that long. Meant for a moment the place is closed.
    pub fn next_opening(&self, local: NaiveDateTime) -> Option<NaiveDateTime> {
        let now = local.num_seconds_from_midnight();
        for offset in 0..=LOOKAHEAD_DAYS {
            let date = local.date().checked_add_days(Days::new(offset))?;
            let (intervals, _) = self.day(date);
            let open = intervals
                .iter()
                .map(|i| u32::from(i.open.minutes) * 60)
                .filter(|open| offset > 0 || *open > now)
                .min();
            if let Some(open) = open {
                return date.and_hms_opt(open / 3600, open / 60 % 60, 0);
            }
        }
        None
    }
}

/// The German short name of a weekday, for notes to agents.
pub fn weekday_de(day: Weekday) -> &'static str {
    match day {
        Weekday::Mon => "Mo",
        Weekday::Tue => "Di",
        Weekday::Wed => "Mi",
        Weekday::Thu => "Do",
        Weekday::Fri => "Fr",
        Weekday::Sat => "Sa",
        Weekday::Sun => "So",
    }
}

/// When a closed place opens again, as an agent says it: `heute ab 14:00`, `morgen ab
/// 07:30`, `Mo 23.11. ab 07:30`.
pub fn reopening_de(now: NaiveDateTime, opens: NaiveDateTime) -> String {
    let time = opens.format("%H:%M");
    let days = (opens.date() - now.date()).num_days();
    match days {
        0 => format!("heute ab {time}"),
        1 => format!("morgen ab {time}"),
        _ => format!(
            "{} {} ab {time}",
            weekday_de(opens.weekday()),
            opens.format("%d.%m.")
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hours(json: &str) -> Hours {
        serde_json::from_str(json).expect("hours")
    }

    fn local(text: &str) -> NaiveDateTime {
        NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S").expect("local time")
    }

    fn date(text: &str) -> Date {
        serde_json::from_value(serde_json::Value::String(text.into())).expect("date")
    }

    const KFZ: &str = r#"{"mon": ["07:30-12:30"], "tue": ["07:30-12:30"], "wed": ["07:30-12:30"],
        "thu": ["07:30-12:30", "14:00-17:30"], "fri": ["07:30-12:30"]}"#;

    #[test]
    fn the_closing_minute_is_closed_and_the_minute_before_open() {
        let h = hours(KFZ);
        let none = BTreeMap::new();
        let c = Calendar {
            hours: Some(&h),
            closed: &[],
            special_hours: &none,
        };
        // Thursday 2026-11-19.
        assert_eq!(
            c.at(local("2026-11-19T07:29:59")),
            Openness::Closed { by_date: false }
        );
        assert_eq!(c.at(local("2026-11-19T07:30:00")), Openness::Open);
        assert_eq!(c.at(local("2026-11-19T12:29:00")), Openness::Open);
        assert_eq!(c.at(local("2026-11-19T12:29:59")), Openness::Open);
        assert_eq!(
            c.at(local("2026-11-19T12:30:00")),
            Openness::Closed { by_date: false }
        );
        assert_eq!(c.at(local("2026-11-19T14:00:00")), Openness::Open);
        // Saturday: no hours at all.
        assert_eq!(
            c.at(local("2026-11-21T10:00:00")),
            Openness::Closed { by_date: false }
        );
    }

    #[test]
    fn closed_dates_and_own_hours_replace_the_weekday() {
        let h = hours(KFZ);
        let closed = [date("2026-12-25")];
        let mut special = BTreeMap::new();
        special.insert(
            date("2026-12-24"),
            vec![Interval::parse("08:00-11:00").expect("interval")],
        );
        let c = Calendar {
            hours: Some(&h),
            closed: &closed,
            special_hours: &special,
        };
        assert_eq!(
            c.at(local("2026-12-25T10:00:00")),
            Openness::Closed { by_date: true }
        );
        assert_eq!(
            c.at(local("2026-12-24T07:45:00")),
            Openness::Closed { by_date: true }
        );
        assert_eq!(c.at(local("2026-12-24T10:59:59")), Openness::Open);
        assert_eq!(
            c.at(local("2026-12-24T11:00:00")),
            Openness::Closed { by_date: true }
        );
        // After 24 December the next opening skips the closed 25th and the weekend.
        assert_eq!(
            c.next_opening(local("2026-12-24T11:00:00")),
            Some(local("2026-12-28T07:30:00"))
        );
    }

    #[test]
    fn without_hours_a_place_is_always_open() {
        let none = BTreeMap::new();
        let c = Calendar {
            hours: None,
            closed: &[],
            special_hours: &none,
        };
        assert_eq!(c.at(local("2026-11-22T03:00:00")), Openness::Open);
        assert!(hours("\"24/7\"").always_open());
        assert!(!hours(KFZ).always_open());
        assert!(
            hours(
                r#"{"mon": ["12:00-24:00", "00:00-12:00"], "tue": ["00:00-24:00"],
            "wed": ["00:00-24:00"], "thu": ["00:00-24:00"], "fri": ["00:00-24:00"],
            "sat": ["00:00-24:00"], "sun": ["00:00-24:00"]}"#
            )
            .always_open()
        );
    }

    #[test]
    fn the_next_opening_is_said_as_an_agent_would() {
        let h = hours(KFZ);
        let none = BTreeMap::new();
        let c = Calendar {
            hours: Some(&h),
            closed: &[],
            special_hours: &none,
        };
        let lunch = local("2026-11-19T12:30:00");
        let opens = c.next_opening(lunch).expect("opens");
        assert_eq!(opens, local("2026-11-19T14:00:00"));
        assert_eq!(reopening_de(lunch, opens), "heute ab 14:00");
        let evening = local("2026-11-19T17:30:00");
        let opens = c.next_opening(evening).expect("opens");
        assert_eq!(reopening_de(evening, opens), "morgen ab 07:30");
        let friday = local("2026-11-20T12:30:00");
        let opens = c.next_opening(friday).expect("opens");
        assert_eq!(reopening_de(friday, opens), "Mo 23.11. ab 07:30");
        // Never open: nothing to say.
        let never = hours("{}");
        let c = Calendar {
            hours: Some(&never),
            closed: &[],
            special_hours: &none,
        };
        assert_eq!(c.next_opening(friday), None);
    }
}
