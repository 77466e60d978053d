//! Validated calendars and the questions Leitstand asks of them: is the line open at this
//! instant, when does that next change, and what holds on a given local day. Owns the
//! precedence of a day's rules and the reading of local times across daylight saving; how
//! a calendar is declared is `file`'s and `validate`'s.

use std::collections::BTreeMap;

use chrono::offset::LocalResult;
use chrono::{DateTime, Datelike, Days, NaiveDate, NaiveDateTime, TimeZone, Utc, Weekday};
use chrono_tz::Tz;

use crate::holiday::{Holiday, PublicHolidays};
use crate::span::Span;

/// One calendar, validated: a time zone, weekly hours, public holidays, and dated
/// exceptions, with inheritance already resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Calendar {
    pub(crate) timezone: Tz,
    /// Monday first; a `"24/7"` week has the whole day on every weekday.
    pub(crate) week: [Vec<Span>; 7],
    pub(crate) holidays: Option<PublicHolidays>,
    /// Closed and special days by local date; one entry a date, the winner already chosen.
    pub(crate) dates: BTreeMap<NaiveDate, DateRule>,
}

/// What a closed or special day says about its date.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum DateRule {
    Closed {
        label: Option<String>,
    },
    Special {
        spans: Vec<Span>,
        label: Option<String>,
    },
}

/// A local day of a calendar: when it is open and which rule said so.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Day {
    /// The local date.
    pub date: NaiveDate,
    /// The open spans in local time, by opening; empty when closed all day. On the day
    /// clocks spring forward a span may lie in the skipped hour and so never be open (see
    /// the crate docs on daylight saving).
    pub spans: Vec<Span>,
    /// The rule that gave the spans.
    pub kind: DayKind,
}

impl Day {
    /// Whether the day has no open span.
    pub fn is_closed(&self) -> bool {
        self.spans.is_empty()
    }
}

/// Which rule decided a day, in the order they take precedence (first wins).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DayKind {
    /// A special day with hours of its own (empty: closed).
    Special {
        /// The label the calendar gives it, if any.
        label: Option<String>,
    },
    /// An extra closed day of the calendar.
    Closed {
        /// The label the calendar gives it, if any.
        label: Option<String>,
    },
    /// A public holiday: closed.
    Holiday(Holiday),
    /// The weekly hours.
    Regular,
}

/// A moment at which a calendar opens or closes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Change {
    /// Open from this instant on.
    Opens(DateTime<Utc>),
    /// Closed from this instant on.
    Closes(DateTime<Utc>),
}

impl Change {
    /// When the change happens.
    pub fn at(self) -> DateTime<Utc> {
        match self {
            Change::Opens(at) | Change::Closes(at) => at,
        }
    }
}

impl Calendar {
    /// How far [`Calendar::next_change`] looks ahead, in days. A calendar that neither opens
    /// nor closes within this many days (a line open 24/7 without holidays) has no next
    /// change; 400 days see every weekly rule and every yearly holiday at least once.
    pub const HORIZON_DAYS: u64 = 400;

    /// The time zone local times are read in.
    pub fn timezone(&self) -> Tz {
        self.timezone
    }

    /// The public holidays that close the line, if any.
    pub fn holidays(&self) -> Option<&PublicHolidays> {
        self.holidays.as_ref()
    }

    /// Whether the calendar is open at every instant: weekly hours that cover every day
    /// (`"24/7"`, or spans that touch from `00:00` to `24:00`), no public holidays, and no
    /// closed day or special day that leaves part of a day closed. A plugin needs no
    /// destination for closed hours on such a calendar.
    pub fn always_open(&self) -> bool {
        self.week.iter().all(|spans| covers_whole_day(spans))
            && self.holidays.is_none()
            && self.dates.values().all(|rule| match rule {
                DateRule::Closed { .. } => false,
                DateRule::Special { spans, .. } => covers_whole_day(spans),
            })
    }

    /// The weekly hours of `weekday`, before holidays, closed and special days.
    pub fn regular(&self, weekday: Weekday) -> &[Span] {
        &self.week[weekday.num_days_from_monday() as usize]
    }

    /// What holds on the local day `date`: a special day, else a closed day, else a public
    /// holiday, else the weekly hours.
    pub fn day(&self, date: NaiveDate) -> Day {
        let (spans, kind) = match self.dates.get(&date) {
            Some(DateRule::Special { spans, label }) => (
                spans.clone(),
                DayKind::Special {
                    label: label.clone(),
                },
            ),
            Some(DateRule::Closed { label }) => (
                Vec::new(),
                DayKind::Closed {
                    label: label.clone(),
                },
            ),
            None => match self.holidays.as_ref().and_then(|h| h.on(date)) {
                Some(holiday) => (Vec::new(), DayKind::Holiday(holiday)),
                None => (self.regular(date.weekday()).to_vec(), DayKind::Regular),
            },
        };
        Day { date, spans, kind }
    }

    /// Whether the calendar is open at `at`.
    pub fn is_open(&self, at: DateTime<Utc>) -> bool {
        let date = at.with_timezone(&self.timezone).date_naive();
        // A day's spans stay within its own local day; the neighbours are asked too (after
        // the day itself, which nearly always answers) so that a zone whose clocks jump
        // across midnight cannot hide a span.
        [Some(date), date.pred_opt(), date.succ_opt()]
            .into_iter()
            .flatten()
            .flat_map(|date| self.open_intervals(date))
            .any(|(open, close)| open <= at && at < close)
    }

    /// The first instant after `after` (strictly) at which the calendar opens or closes,
    /// looking [`Calendar::HORIZON_DAYS`] ahead; `None` if nothing changes in that time.
    /// Spans that touch, also across midnight (`20:00-24:00` and `00:00-06:00` the next
    /// day), are one stretch: no change where one ends and the next begins.
    pub fn next_change(&self, after: DateTime<Utc>) -> Option<Change> {
        let horizon = after.checked_add_days(Days::new(Calendar::HORIZON_DAYS))?;
        let start = after
            .with_timezone(&self.timezone)
            .date_naive()
            .pred_opt()?;
        // Two days past the horizon, so a stretch still open at the horizon is known to go
        // on rather than taken to close there.
        let days =
            (0..=Calendar::HORIZON_DAYS + 2).map_while(|i| start.checked_add_days(Days::new(i)));
        let mut stretch: Option<(DateTime<Utc>, DateTime<Utc>)> = None;
        for (open, close) in days.flat_map(|date| self.open_intervals(date)) {
            stretch = match stretch {
                Some((from, until)) if open <= until => Some((from, until.max(close))),
                Some(done) => {
                    if let Some(change) = change_after(done, after) {
                        return (change.at() <= horizon).then_some(change);
                    }
                    Some((open, close))
                }
                None => Some((open, close)),
            };
        }
        let change = change_after(stretch?, after)?;
        (change.at() <= horizon).then_some(change)
    }

    /// The open spans of the local day `date` as instants, skipping those that daylight
    /// saving leaves empty.
    fn open_intervals(&self, date: NaiveDate) -> Vec<(DateTime<Utc>, DateTime<Utc>)> {
        self.day(date)
            .spans
            .into_iter()
            .filter_map(|span| {
                let open = instant(self.timezone, span.open().on(date)?)?;
                let close = instant(self.timezone, span.close().on(date)?)?;
                (open < close).then_some((open, close))
            })
            .collect()
    }
}

/// Whether `spans` (sorted, not overlapping, as validated) leave no minute of the day
/// closed.
fn covers_whole_day(spans: &[Span]) -> bool {
    let mut reached = crate::span::ClockTime::MIDNIGHT;
    for span in spans {
        if span.open() > reached {
            return false;
        }
        reached = reached.max(span.close());
    }
    reached == crate::span::ClockTime::END_OF_DAY
}

/// The first change of the stretch `(open, close)` that lies after `after`.
fn change_after(
    (open, close): (DateTime<Utc>, DateTime<Utc>),
    after: DateTime<Utc>,
) -> Option<Change> {
    if open > after {
        Some(Change::Opens(open))
    } else if close > after {
        Some(Change::Closes(close))
    } else {
        None
    }
}

/// The instant a local time stands for: the first instant at which the local clock shows
/// `local` or a later time. A time the clock skips (spring forward) is thus the instant of
/// the switch, and a time it shows twice (fall back) is its first showing.
fn instant(tz: Tz, local: NaiveDateTime) -> Option<DateTime<Utc>> {
    match tz.from_local_datetime(&local) {
        LocalResult::Single(at) => Some(at.to_utc()),
        LocalResult::Ambiguous(first, second) => Some(first.min(second).to_utc()),
        LocalResult::None => end_of_gap(tz, local),
    }
}

/// The first instant whose local time is past `local`, a time inside a gap. The gap's end
/// is the switch itself; searching for it by the second works for any zone's rules,
/// whatever the size of its jumps.
fn end_of_gap(tz: Tz, local: NaiveDateTime) -> Option<DateTime<Utc>> {
    let reads = |second: i64| {
        DateTime::from_timestamp(second, 0).map(|at| at.with_timezone(&tz).naive_local())
    };
    // No zone is a day away from UTC: a day before, the clock showed an earlier time, and a
    // day after, a later one.
    let naive = local.and_utc().timestamp();
    let (mut before, mut after) = (naive - 86_400, naive + 86_400);
    while after - before > 1 {
        let middle = before + (after - before) / 2;
        if reads(middle)? < local {
            before = middle;
        } else {
            after = middle;
        }
    }
    DateTime::from_timestamp(after, 0)
}

/// A tenant's calendars: its own and the named ones of its departments and sites, each with
/// what it inherits already applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Calendars {
    pub(crate) tenant: Calendar,
    pub(crate) named: BTreeMap<String, Calendar>,
}

impl Calendars {
    /// The name by which the tenant's own calendar is inherited and looked up.
    pub const TENANT: &'static str = "tenant";

    /// The tenant's own calendar, `[calendar]`.
    pub fn tenant(&self) -> &Calendar {
        &self.tenant
    }

    /// The calendar called `name`: a named calendar, or the tenant's for
    /// [`Calendars::TENANT`].
    pub fn get(&self, name: &str) -> Option<&Calendar> {
        if name == Calendars::TENANT {
            Some(&self.tenant)
        } else {
            self.named.get(name)
        }
    }

    /// The names of the named calendars, in order.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.named.keys().map(String::as_str)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::file::CalendarsFile;

    fn calendars(toml_text: &str) -> Calendars {
        let file: CalendarsFile = toml::from_str(toml_text).expect("well-formed TOML");
        Calendars::from_file(file, chrono_tz::Europe::Berlin).expect("a valid calendar")
    }

    fn calendar(toml_text: &str) -> Calendar {
        calendars(toml_text).tenant().clone()
    }

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s)
            .expect("an RFC 3339 time")
            .to_utc()
    }

    fn date(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").expect("a date")
    }

    const SOEST: &str = r#"
        [calendar]
        hours = { mon = ["08:00-17:00"], tue = ["08:00-17:00"], wed = ["08:00-17:00"], thu = ["08:00-18:00"], fri = ["08:00-13:00"] }
        holidays = "DE-NW"
        closed = [{ date = "2026-11-27", label = "Personalversammlung" }, "2026-12-31"]

        [calendar.special.2026-12-24]
        hours = ["08:00-12:00"]
        label = "Heiligabend"
    "#;

    #[test]
    fn open_from_the_opening_minute_until_before_the_closing_one() {
        let c = calendar(SOEST);
        assert!(!c.is_open(at("2026-11-23T07:59:59+01:00")));
        assert!(c.is_open(at("2026-11-23T08:00:00+01:00")));
        assert!(c.is_open(at("2026-11-23T16:59:59+01:00")));
        assert!(!c.is_open(at("2026-11-23T17:00:00+01:00")));
        assert!(c.is_open(at("2026-11-26T17:30:00+01:00")));
        assert!(!c.is_open(at("2026-11-28T10:00:00+01:00")));
        // Local time: 07:30Z is 08:30 in Berlin.
        assert!(c.is_open(at("2026-11-23T07:30:00Z")));
    }

    #[test]
    fn a_special_day_beats_a_closed_day_beats_a_holiday_beats_the_week() {
        let c = calendar(
            r#"
            [calendar]
            hours = { mon = ["08:00-17:00"], tue = ["08:00-17:00"], wed = ["08:00-17:00"], thu = ["08:00-17:00"], fri = ["08:00-17:00"] }
            holidays = "DE-NW"
            closed = [
                { date = "2026-12-23", label = "Umzug" },
                { date = "2026-12-25", label = "Betriebsruhe" },
            ]
            [calendar.special.2026-12-23]
            hours = ["10:00-12:00"]
            label = "Notdienst"
            [calendar.special.2026-06-04]
            hours = ["09:00-11:00"]
            label = "Wahlhelferschulung"
        "#,
        );
        // Special over closed.
        let d = c.day(date("2026-12-23"));
        assert_eq!(d.spans, ["10:00-12:00".parse::<Span>().expect("span")]);
        assert_eq!(
            d.kind,
            DayKind::Special {
                label: Some("Notdienst".into())
            }
        );
        assert!(c.is_open(at("2026-12-23T10:30:00+01:00")));
        assert!(!c.is_open(at("2026-12-23T09:00:00+01:00")));
        // Closed over holiday.
        let d = c.day(date("2026-12-25"));
        assert!(d.is_closed());
        assert_eq!(
            d.kind,
            DayKind::Closed {
                label: Some("Betriebsruhe".into())
            }
        );
        // Holiday over the week: Fronleichnam and Allerheiligen in NRW...
        let d = c.day(date("2026-06-05"));
        assert_eq!(d.kind, DayKind::Regular);
        let d = c.day(date("2026-12-26"));
        assert!(matches!(d.kind, DayKind::Holiday(h) if h.label == "Zweiter Weihnachtstag"));
        // ...and a special day opens a holiday.
        let d = c.day(date("2026-06-04"));
        assert_eq!(
            d.kind,
            DayKind::Special {
                label: Some("Wahlhelferschulung".into())
            }
        );
        assert!(c.is_open(at("2026-06-04T09:30:00+02:00")));
        assert!(!c.is_open(at("2026-06-04T12:00:00+02:00")));
        // A holiday on a weekday closes it.
        let d = c.day(date("2026-05-14"));
        assert!(d.is_closed());
        assert!(matches!(d.kind, DayKind::Holiday(h) if h.label == "Christi Himmelfahrt"));
        assert!(!c.is_open(at("2026-05-14T10:00:00+02:00")));
    }

    #[test]
    fn a_line_open_24_7_closes_for_whole_local_days() {
        let c = calendar(
            r#"
            [calendar]
            hours = "24/7"
            holidays = "DE-BE"
            closed = ["2026-07-01"]
            [calendar.special.2026-12-24]
            hours = ["06:00-14:00"]
        "#,
        );
        assert!(c.is_open(at("2026-03-07T23:59:59+01:00")));
        assert!(!c.is_open(at("2026-03-08T00:00:00+01:00"))); // Frauentag
        assert!(!c.is_open(at("2026-03-08T23:59:59+01:00")));
        assert!(c.is_open(at("2026-03-09T00:00:00+01:00")));
        assert_eq!(
            c.next_change(at("2026-03-01T12:00:00+01:00")),
            Some(Change::Closes(at("2026-03-08T00:00:00+01:00")))
        );
        assert_eq!(
            c.next_change(at("2026-03-08T00:00:00+01:00")),
            Some(Change::Opens(at("2026-03-09T00:00:00+01:00")))
        );
        // Good Friday and Easter Monday around an open weekend.
        assert_eq!(
            c.next_change(at("2026-04-03T12:00:00+02:00")),
            Some(Change::Opens(at("2026-04-04T00:00:00+02:00")))
        );
        assert_eq!(
            c.next_change(at("2026-04-04T00:00:00+02:00")),
            Some(Change::Closes(at("2026-04-06T00:00:00+02:00")))
        );
        assert!(!c.is_open(at("2026-07-01T12:00:00+02:00")));
        // The special day: open only in its own hours.
        assert!(!c.is_open(at("2026-12-24T05:00:00+01:00")));
        assert!(c.is_open(at("2026-12-24T13:59:59+01:00")));
        assert!(!c.is_open(at("2026-12-24T14:00:00+01:00")));
    }

    #[test]
    fn always_open_only_without_a_closed_minute() {
        assert!(calendar("[calendar]\nhours = \"24/7\"").always_open());
        let touching = r#"
            [calendar]
            hours = { mon = ["00:00-12:00", "12:00-24:00"], tue = ["00:00-24:00"], wed = ["00:00-24:00"], thu = ["00:00-24:00"], fri = ["00:00-24:00"], sat = ["00:00-24:00"], sun = ["00:00-24:00"] }
            [calendar.special.2026-12-24]
            hours = ["00:00-24:00"]
        "#;
        assert!(calendar(touching).always_open());
        for closing in [
            "[calendar]\nhours = \"24/7\"\nholidays = \"DE-NW\"",
            "[calendar]\nhours = \"24/7\"\nclosed = [\"2026-12-24\"]",
            "[calendar]\nhours = \"24/7\"\n[calendar.special.2026-12-24]\nhours = [\"00:00-23:00\"]",
            "[calendar]\nhours = { mon = [\"00:00-24:00\"] }",
            SOEST,
        ] {
            assert!(!calendar(closing).always_open(), "{closing}");
        }
    }

    #[test]
    fn no_change_where_spans_touch_even_across_midnight() {
        let c = calendar(
            r#"
            [calendar]
            hours = { fri = ["08:00-12:00", "12:00-24:00"], sat = ["00:00-06:00"] }
        "#,
        );
        assert_eq!(
            c.next_change(at("2026-11-27T09:00:00+01:00")),
            Some(Change::Closes(at("2026-11-28T06:00:00+01:00")))
        );
        assert_eq!(
            c.next_change(at("2026-11-28T06:00:00+01:00")),
            Some(Change::Opens(at("2026-12-04T08:00:00+01:00")))
        );
        assert!(c.is_open(at("2026-11-28T00:00:00+01:00")));
    }

    #[test]
    fn next_change_looks_no_further_than_its_horizon() {
        let c = calendar(
            r#"
            [calendar]
            hours = "24/7"
            closed = ["2028-01-10"]
        "#,
        );
        assert_eq!(c.next_change(at("2026-11-01T00:00:00Z")), None);
        assert_eq!(
            c.next_change(at("2027-01-01T00:00:00Z")),
            Some(Change::Closes(at("2028-01-10T00:00:00+01:00")))
        );
        let always = calendar("[calendar]\nhours = \"24/7\"");
        assert!(always.is_open(at("2026-11-01T00:00:00Z")));
        assert_eq!(always.next_change(at("2026-11-01T00:00:00Z")), None);
    }

    /// Berlin springs forward on 29 March 2026 at 01:00 UTC: 02:00 CET becomes 03:00 CEST,
    /// and 02:00–03:00 does not exist that night.
    #[test]
    fn spring_forward_opens_and_closes_at_the_switch() {
        // An opening at a skipped time: open from the switch.
        let c = calendar(
            r#"
            [calendar]
            hours = { sun = ["02:30-10:00"] }
        "#,
        );
        assert!(!c.is_open(at("2026-03-29T00:59:59Z")));
        assert!(c.is_open(at("2026-03-29T01:00:00Z")));
        assert_eq!(
            c.next_change(at("2026-03-28T12:00:00Z")),
            Some(Change::Opens(at("2026-03-29T03:00:00+02:00")))
        );
        // A closing at a skipped time: closed from the switch.
        let c = calendar(
            r#"
            [calendar]
            hours = { sun = ["01:00-02:30"] }
        "#,
        );
        assert!(c.is_open(at("2026-03-29T01:59:59+01:00")));
        assert!(!c.is_open(at("2026-03-29T03:00:00+02:00")));
        assert_eq!(
            c.next_change(at("2026-03-29T00:30:00Z")),
            Some(Change::Closes(at("2026-03-29T01:00:00Z")))
        );
        // A span wholly in the skipped hour is never open.
        let c = calendar(
            r#"
            [calendar]
            hours = { sun = ["02:10-02:50"], mon = ["08:00-09:00"] }
        "#,
        );
        assert_eq!(
            c.next_change(at("2026-03-28T12:00:00Z")),
            Some(Change::Opens(at("2026-03-30T08:00:00+02:00")))
        );
    }

    /// Berlin falls back on 25 October 2026 at 01:00 UTC: 03:00 CEST becomes 02:00 CET, and
    /// 02:00–03:00 happens twice that night.
    #[test]
    fn fall_back_opens_and_closes_at_the_first_showing() {
        // An opening at a repeated time: open from its first showing, through the repeat.
        let c = calendar(
            r#"
            [calendar]
            hours = { sun = ["02:30-10:00"] }
        "#,
        );
        assert!(!c.is_open(at("2026-10-25T02:29:59+02:00")));
        assert!(c.is_open(at("2026-10-25T02:30:00+02:00")));
        assert!(c.is_open(at("2026-10-25T02:15:00+01:00"))); // the second 02:15
        assert_eq!(
            c.next_change(at("2026-10-24T12:00:00Z")),
            Some(Change::Opens(at("2026-10-25T00:30:00Z")))
        );
        // A closing at a repeated time: closed from its first showing; the repeated hour
        // does not open the line again.
        let c = calendar(
            r#"
            [calendar]
            hours = { sun = ["00:00-02:30"] }
        "#,
        );
        assert!(c.is_open(at("2026-10-25T02:29:59+02:00")));
        assert!(!c.is_open(at("2026-10-25T02:30:00+02:00")));
        assert!(!c.is_open(at("2026-10-25T02:15:00+01:00"))); // the second 02:15
        assert_eq!(
            c.next_change(at("2026-10-25T00:00:00Z")),
            Some(Change::Closes(at("2026-10-25T00:30:00Z")))
        );
        assert_eq!(
            c.next_change(at("2026-10-25T00:30:00Z")),
            Some(Change::Opens(at("2026-11-01T00:00:00+01:00")))
        );
    }

    #[test]
    fn a_holiday_on_the_long_night_is_closed_for_all_25_hours() {
        let c = calendar(
            r#"
            [calendar]
            hours = "24/7"
            closed = ["2026-10-25"]
        "#,
        );
        let closes = at("2026-10-25T00:00:00+02:00");
        let opens = at("2026-10-26T00:00:00+01:00");
        assert_eq!(
            c.next_change(at("2026-10-20T00:00:00Z")),
            Some(Change::Closes(closes))
        );
        assert_eq!(c.next_change(closes), Some(Change::Opens(opens)));
        assert_eq!((opens - closes).num_hours(), 25);
    }

    #[test]
    fn named_calendars_inherit_and_override() {
        let cals = calendars(
            r#"
            [calendar]
            timezone = "Europe/Berlin"
            hours = { mon = ["08:00-17:00"], tue = ["08:00-17:00"], wed = ["08:00-17:00"], thu = ["08:00-18:00"], fri = ["08:00-13:00"] }
            holidays = "DE-NW"
            closed = ["2026-12-31"]
            [calendar.special.2026-12-24]
            hours = ["08:00-12:00"]
            label = "Heiligabend"

            [calendars.buergerbuero]
            hours = { mon = ["07:30-16:00"], thu = ["07:30-18:00"] }
            closed = [{ date = "2026-12-24", label = "Heiligabend" }]

            [calendars.kfz-stelle]
            inherit = "buergerbuero"
            closed = ["2026-11-27"]

            [calendars.bereitschaft]
            hours = "24/7"
            holidays = "none"
        "#,
        );
        assert_eq!(
            cals.names().collect::<Vec<_>>(),
            ["bereitschaft", "buergerbuero", "kfz-stelle"]
        );
        let tenant = cals.get(Calendars::TENANT).expect("tenant");
        let buero = cals.get("buergerbuero").expect("named");
        let kfz = cals.get("kfz-stelle").expect("named");
        // The tenant's special hours on the 24th; the Bürgerbüro's own closed day wins there.
        assert!(tenant.is_open(at("2026-12-24T09:00:00+01:00")));
        assert!(!buero.is_open(at("2026-12-24T09:00:00+01:00")));
        assert!(!kfz.is_open(at("2026-12-24T09:00:00+01:00")));
        // Weekly hours replaced as a whole: Tuesday is closed for the Bürgerbüro.
        assert!(buero.is_open(at("2026-11-23T07:30:00+01:00")));
        assert!(!buero.is_open(at("2026-11-24T09:00:00+01:00")));
        // Inherited closed days and holidays, and the Kfz-Stelle's own closed day.
        assert!(buero.day(date("2026-12-31")).is_closed());
        assert!(matches!(
            buero.day(date("2026-06-04")).kind,
            DayKind::Holiday(_)
        ));
        assert_eq!(
            kfz.day(date("2026-11-27")).kind,
            DayKind::Closed { label: None }
        );
        assert_eq!(buero.day(date("2026-11-27")).kind, DayKind::Regular);
        assert!(!buero.day(date("2026-11-26")).is_closed());
        // The on-call line keeps no holidays but inherits the closed and special days.
        let on_call = cals.get("bereitschaft").expect("named");
        assert!(on_call.is_open(at("2026-06-04T03:00:00+02:00")));
        assert!(!on_call.is_open(at("2026-12-31T03:00:00+01:00")));
        assert!(!on_call.is_open(at("2026-12-24T13:00:00+01:00")));
        assert_eq!(cals.get("rathaus"), None);
    }
}
