//! The note an agent reads when a call's department is closed: that it is, and when it can
//! be reached again, said as an agent would (`heute ab 14:00`, `morgen ab 07:30`,
//! `Mo 23.11. ab 07:30`). When the department opens again is the tenant's calendar's to
//! say; this module only words it.

use leitstand_sdk::chrono::{Datelike, NaiveDateTime, Weekday};

/// How far ahead a reopening is worth telling a caller, in days; a department closed
/// longer gets a note without one.
pub const LOOKAHEAD_DAYS: i64 = 14;

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

/// Whether a reopening at `opens` is near enough to `now` (both local) to tell.
pub fn worth_telling(now: NaiveDateTime, opens: NaiveDateTime) -> bool {
    (opens.date() - now.date()).num_days() <= LOOKAHEAD_DAYS
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

/// The note for a call whose department `name` is closed, reopening at `reopens` (local).
pub fn closed_de(name: &str, now: NaiveDateTime, reopens: Option<NaiveDateTime>) -> String {
    match reopens {
        Some(opens) => format!(
            "{name} derzeit geschlossen – Rückruf anbieten (wieder erreichbar {})",
            reopening_de(now, opens)
        ),
        None => format!("{name} derzeit geschlossen – Rückruf anbieten"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn local(text: &str) -> NaiveDateTime {
        NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S").expect("local time")
    }

    #[test]
    fn the_next_opening_is_said_as_an_agent_would() {
        let lunch = local("2026-11-19T12:30:00");
        assert_eq!(
            reopening_de(lunch, local("2026-11-19T14:00:00")),
            "heute ab 14:00"
        );
        assert_eq!(
            reopening_de(lunch, local("2026-11-20T07:30:00")),
            "morgen ab 07:30"
        );
        assert_eq!(
            reopening_de(local("2026-11-20T12:30:00"), local("2026-11-23T07:30:00")),
            "Mo 23.11. ab 07:30"
        );
        assert_eq!(
            closed_de(
                "Kfz-Zulassungsstelle",
                lunch,
                Some(local("2026-11-19T14:00:00"))
            ),
            "Kfz-Zulassungsstelle derzeit geschlossen – Rückruf anbieten (wieder erreichbar heute ab 14:00)"
        );
        assert_eq!(
            closed_de("Bauordnung", lunch, None),
            "Bauordnung derzeit geschlossen – Rückruf anbieten"
        );
        assert!(worth_telling(lunch, local("2026-12-03T08:00:00")));
        assert!(!worth_telling(lunch, local("2026-12-04T08:00:00")));
    }
}
