//! A Leitstand tenant's calendar: when its hotline is open. A tenant declares it once in
//! `tenant.toml` — weekly hours in its time zone, the public holidays of its German state,
//! extra closed days, special days with hours of their own, and named calendars for
//! departments and sites — and the host answers every question about it: whether the line
//! is open at an instant, when that next changes, and what holds on a given day. Plugins
//! ask the host through the contract; they do not read hours themselves.
//!
//! # Layout
//!
//! - `state`: the sixteen German states by ISO 3166-2 code ([`State`]).
//! - `holiday`: each state's public holidays for any year, Easter and the feasts that move
//!   with it included ([`holidays`], [`holiday`], [`PublicHolidays`]).
//! - `span`: open spans of a local day as written, `08:00-17:00` ([`Span`], [`ClockTime`]).
//! - `file`: the calendar tables of `tenant.toml` as written, read with serde; unknown keys
//!   are refused ([`CalendarsFile`]).
//! - `validate`: the one place that turns those tables into [`Calendars`], or refuses them
//!   with the key at fault ([`CalendarError`]).
//! - `calendar`: validated calendars and their queries ([`Calendar::is_open`],
//!   [`Calendar::next_change`], [`Calendar::day`]).
//!
//! # Declaring a calendar
//!
//! ```
// The TOML comments below start with `##`, rustdoc's escape for a line starting with `#`.
//! # use leitstand_calendar::{Calendars, CalendarsFile};
//! let tenant_toml = r#"
//! [calendar]
//! ## Optional: the tenant's own time zone (its top-level `timezone`) applies otherwise.
//! timezone = "Europe/Berlin"
//! ## Open spans per weekday, [open, close) in local time; a day left out is closed.
//! ## Or: hours = "24/7".
//! hours = { mon = ["08:00-17:00"], tue = ["08:00-17:00"], wed = ["08:00-17:00"], thu = ["08:00-18:00"], fri = ["08:00-13:00"] }
//! ## Optional: the public holidays of a German state, every year, close the line.
//! holidays = "DE-NW"
//! ## Optional: extra days closed all day, with a label or without.
//! closed = ["2027-02-15", { date = "2026-11-27", label = "Personalversammlung" }]
//!
//! ## Optional: a day with hours of its own (`hours = []` closes it).
//! [calendar.special.2026-12-24]
//! hours = ["08:00-12:00"]
//! label = "Heiligabend"
//!
//! ## Optional: a department's or site's calendar.
//! [calendars.buergerbuero]
//! inherit = "tenant"
//! hours = { mon = ["07:30-16:00"], tue = ["07:30-16:00"], wed = ["07:30-13:00"], thu = ["07:30-18:00"], fri = ["07:30-12:30"] }
//! closed = ["2026-12-24", "2026-12-31"]
//! "#;
//! let file: CalendarsFile = toml::from_str(tenant_toml)?;
//! let calendars = Calendars::from_file(file, chrono_tz::Europe::Berlin)?;
//! let buergerbuero = calendars.get("buergerbuero").ok_or("declared above")?;
//! let christmas_eve = "2026-12-24T09:00:00+01:00".parse()?;
//! assert!(calendars.tenant().is_open(christmas_eve));
//! assert!(!buergerbuero.is_open(christmas_eve));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! The keys, all optional unless marked:
//!
//! - `hours` (required in `[calendar]`): `"24/7"`, or a table with `mon` … `sun`, each a
//!   list of `"HH:MM-HH:MM"` spans that do not overlap. A span opens at its first time and
//!   closes at its second, `[open, close)`; `24:00` ends a day, and a line open overnight
//!   has `"20:00-24:00"` on one day and `"00:00-06:00"` on the next (one stretch, with no
//!   closing at midnight). A week with no open span is refused.
//! - `holidays`: a state's code, `"DE-BW"`, `"DE-BY"`, `"DE-BE"`, `"DE-BB"`, `"DE-HB"`,
//!   `"DE-HH"`, `"DE-HE"`, `"DE-MV"`, `"DE-NI"`, `"DE-NW"`, `"DE-RP"`, `"DE-SL"`,
//!   `"DE-SN"`, `"DE-ST"`, `"DE-SH"` or `"DE-TH"`; or `"none"`; or, where the law keeps a
//!   holiday in some municipalities only, `{ state = "DE-BY", local = ["Mariä
//!   Himmelfahrt"] }` (see [`LocalHoliday`]: Mariä Himmelfahrt and the Augsburger Hohes
//!   Friedensfest in Bayern, Fronleichnam in Sachsen and Thüringen).
//! - `closed`: dates (`"YYYY-MM-DD"`, quoted or as TOML dates), or tables `{ date, label }`.
//! - `special.<date>`: `hours` (required; a list of spans, `[]` for closed) and `label`.
//! - `timezone`: an IANA time zone.
//! - `[calendars.<name>]` also takes `inherit`: `"tenant"` (the default) or another named
//!   calendar; inheriting in a cycle is refused, and no calendar may be called `tenant`.
//!
//! # What holds on a day
//!
//! On a local date, the first of these that applies decides: a special day (its hours), a
//! closed day (closed), a public holiday (closed), the weekly hours. So a special day can
//! open a holiday, and a line open `"24/7"` is closed the whole local day of a closed day or
//! holiday, unless a special day gives it hours.
//!
//! A named calendar starts from the one it inherits. Its `timezone`, `hours` and `holidays`
//! replace the inherited ones whole (so `hours` lists every open day, and `holidays =
//! "none"` drops the holidays); its `closed` and `special` days add to the inherited ones,
//! and on a date both name, its own entry wins — a department closed on 24 December stays
//! closed even though the tenant has special hours that day.
//!
//! # Daylight saving
//!
//! A local time on a day stands for the first instant at which the local clock shows that
//! time or a later one. In Europe/Berlin:
//!
//! - Spring forward (last Sunday of March, 02:00 becomes 03:00): a time from 02:00 to 02:59
//!   does not exist and stands for the switch, 03:00 CEST. An opening or a closing there
//!   happens at 03:00; a span wholly inside the skipped hour is never open.
//! - Fall back (last Sunday of October, 03:00 becomes 02:00): a time from 02:00 to 02:59
//!   happens twice and stands for its first showing, in CEST. An opening there opens at the
//!   first showing and stays open through the repeat; a closing there closes at the first
//!   showing, and the repeated hour does not open the line again.
//!
//! A closed day or holiday closes its whole local day, which lasts 23 or 25 hours on those
//! Sundays.
//!
//! # Asking
//!
//! [`Calendar::next_change`] looks [`Calendar::HORIZON_DAYS`] (400) days ahead and returns
//! `None` if the line neither opens nor closes in that time.

#![forbid(unsafe_code)]

mod calendar;
mod file;
mod holiday;
mod span;
mod state;
mod validate;

pub use calendar::{Calendar, Calendars, Change, Day, DayKind};
pub use file::{
    CalendarFile, CalendarsFile, ClosedDayFile, ClosedFile, HolidayTableFile, HolidaysFile,
    HoursFile, NamedCalendarFile, SpecialFile, WeekFile,
};
pub use holiday::{
    Holiday, LocalHoliday, LocalHolidayError, PublicHolidays, easter_sunday, holiday, holidays,
};
pub use span::{ClockTime, Span, SpanError};
pub use state::{ParseStateError, State};
pub use validate::CalendarError;
