//! A tenant's opening hours (`[hours]` of `tenant.toml`): when its lines are staffed and
//! events are expected, in the tenant's local time.
//!
//! Leitstand uses them to say whether a tenant is open now (`leitstand_tenant_open`), so
//! that operators are alerted when an open tenant goes quiet. Routing by opening hours is a
//! plugin's business (the rota plugin carries its own table).

use std::collections::BTreeSet;

use chrono::{DateTime, Datelike, NaiveDate, NaiveTime, Utc};
use chrono_tz::Tz;
use serde::Deserialize;

/// `[hours]` as written: `mon = ["08:00-17:00"]`, …, `closed = ["2026-12-25"]`; fields are
/// read by [`Hours::from_file`] only.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HoursFile {
    #[serde(default)]
    mon: Vec<String>,
    #[serde(default)]
    tue: Vec<String>,
    #[serde(default)]
    wed: Vec<String>,
    #[serde(default)]
    thu: Vec<String>,
    #[serde(default)]
    fri: Vec<String>,
    #[serde(default)]
    sat: Vec<String>,
    #[serde(default)]
    sun: Vec<String>,
    /// Dates (local) on which the tenant is closed all day, e.g. public holidays.
    #[serde(default)]
    closed: Vec<String>,
}

/// A tenant's validated opening hours.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hours {
    /// Per weekday from Monday, the open spans as [start, end) in local time.
    week: [Vec<(NaiveTime, NaiveTime)>; 7],
    /// Local dates on which the tenant is closed.
    closed: BTreeSet<NaiveDate>,
}

impl Hours {
    /// Whether the tenant is open at `t`, read in `tz`. A span's start is open, its end
    /// closed: with `08:00-17:00`, 16:59:59 is open and 17:00:00 is not. `24:00` ends a
    /// span at midnight.
    pub fn is_open(&self, t: DateTime<Utc>, tz: Tz) -> bool {
        let local = t.with_timezone(&tz);
        if self.closed.contains(&local.date_naive()) {
            return false;
        }
        let now = local.time();
        let day = local.weekday().num_days_from_monday() as usize;
        self.week[day]
            .iter()
            .any(|(start, end)| *start <= now && (now < *end || *end == NaiveTime::MIN))
    }

    /// Validates `[hours]` as written; an error is the key (`hours.mon[1]`) and the reason.
    pub fn from_file(f: HoursFile) -> Result<Self, (String, String)> {
        let days = [
            ("mon", f.mon),
            ("tue", f.tue),
            ("wed", f.wed),
            ("thu", f.thu),
            ("fri", f.fri),
            ("sat", f.sat),
            ("sun", f.sun),
        ];
        let mut week: [Vec<(NaiveTime, NaiveTime)>; 7] = Default::default();
        for (i, (name, spans)) in days.into_iter().enumerate() {
            for (j, span) in spans.iter().enumerate() {
                let parsed = parse_span(span)
                    .map_err(|why| (format!("hours.{name}[{j}]"), format!("{span:?}: {why}")))?;
                week[i].push(parsed);
            }
        }
        let mut closed = BTreeSet::new();
        for (j, d) in f.closed.iter().enumerate() {
            let date = NaiveDate::parse_from_str(d, "%Y-%m-%d").map_err(|_| {
                (
                    format!("hours.closed[{j}]"),
                    format!("{d:?} is not a date (YYYY-MM-DD)"),
                )
            })?;
            closed.insert(date);
        }
        if week.iter().all(Vec::is_empty) {
            return Err((
                "hours".to_owned(),
                "no open span on any day; leave [hours] out for a tenant without hours".to_owned(),
            ));
        }
        Ok(Self { week, closed })
    }
}

/// `HH:MM-HH:MM` with start before end; `24:00` as an end means midnight.
fn parse_span(s: &str) -> Result<(NaiveTime, NaiveTime), &'static str> {
    let (a, b) = s
        .split_once('-')
        .ok_or("an open span is HH:MM-HH:MM, e.g. 08:00-17:00")?;
    let start = NaiveTime::parse_from_str(a.trim(), "%H:%M").map_err(|_| "bad start time")?;
    let end = match b.trim() {
        "24:00" => NaiveTime::MIN,
        e => NaiveTime::parse_from_str(e, "%H:%M").map_err(|_| "bad end time")?,
    };
    if end != NaiveTime::MIN && end <= start {
        return Err("the span ends before it starts");
    }
    Ok((start, end))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn soest() -> Hours {
        let spans = |s: &str| vec![s.to_owned()];
        Hours::from_file(HoursFile {
            mon: spans("08:00-17:00"),
            tue: spans("08:00-17:00"),
            wed: spans("08:00-17:00"),
            thu: spans("08:00-18:00"),
            fri: spans("08:00-13:00"),
            closed: vec!["2026-12-25".into()],
            ..HoursFile::default()
        })
        .expect("valid hours")
    }

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).expect("time").to_utc()
    }

    #[test]
    fn open_from_the_first_minute_to_before_the_closing_minute() {
        let h = soest();
        let tz = chrono_tz::Europe::Berlin;
        assert!(!h.is_open(at("2026-11-23T07:59:59+01:00"), tz));
        assert!(h.is_open(at("2026-11-23T08:00:00+01:00"), tz));
        assert!(h.is_open(at("2026-11-23T16:59:59+01:00"), tz));
        assert!(!h.is_open(at("2026-11-23T17:00:00+01:00"), tz));
        // Thursday until 18, Friday until 13, Saturday closed.
        assert!(h.is_open(at("2026-11-26T17:30:00+01:00"), tz));
        assert!(!h.is_open(at("2026-11-27T13:00:00+01:00"), tz));
        assert!(!h.is_open(at("2026-11-28T10:00:00+01:00"), tz));
        // Local time: 07:30Z is 08:30 in Berlin.
        assert!(h.is_open(at("2026-11-23T07:30:00Z"), tz));
        // A closed date (a Friday).
        assert!(!h.is_open(at("2026-12-25T10:00:00+01:00"), tz));
    }

    #[test]
    fn a_span_may_end_at_midnight() {
        let h = Hours::from_file(HoursFile {
            sat: vec!["20:00-24:00".into()],
            ..HoursFile::default()
        })
        .expect("valid");
        let tz = chrono_tz::UTC;
        assert!(h.is_open(at("2026-11-28T23:59:59Z"), tz));
        assert!(!h.is_open(at("2026-11-29T00:00:00Z"), tz));
    }

    #[test]
    fn bad_spans_are_named_with_their_key() {
        for (file, key) in [
            (
                HoursFile {
                    mon: vec!["8-17".into()],
                    ..HoursFile::default()
                },
                "hours.mon[0]",
            ),
            (
                HoursFile {
                    tue: vec!["08:00-17:00".into(), "18:00-09:00".into()],
                    ..HoursFile::default()
                },
                "hours.tue[1]",
            ),
            (
                HoursFile {
                    wed: vec!["08:00-17:00".into()],
                    closed: vec!["25.12.2026".into()],
                    ..HoursFile::default()
                },
                "hours.closed[0]",
            ),
            (HoursFile::default(), "hours"),
        ] {
            let (k, _) = Hours::from_file(file).expect_err("refused");
            assert_eq!(k, key);
        }
    }
}
