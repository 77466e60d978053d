//! The tenant's calendars, asked of the host (contract 0.2.0, `leitstand:plugin/calendar`).
//!
//! A tenant declares its calendar once, in its bundle (`[calendar]` of `tenant.toml`:
//! weekly hours in its time zone or `"24/7"`, `holidays = "DE-NW"`, closed days, special
//! days) and, for departments and sites, named calendars that inherit it
//! (`[calendars.<name>]`). A plugin does not read hours itself: it names a calendar — the
//! tenant's own by default — and asks.
//!
//! ```ignore
//! use leitstand_sdk::calendar::Calendar;
//!
//! let center = Calendar::tenant();
//! if !center.is_open(ctx.now())? {
//!     let day = center.day_at(ctx.now())?;          // why: a holiday? a closed day?
//!     let label = day.rule.label();                 // "Karfreitag"
//! }
//! let kfz = Calendar::named("kfz-stelle");
//! let reopens = kfz.next_change(ctx.now())?;         // Some(Change::Opens(..))
//! ```
//!
//! In a configuration, a field naming a calendar is checked with
//! [`check_name`]: a calendar the bundle does not declare refuses the bundle at load,
//! naming the key. Every answer depends on the tenant's bundle and the instant asked about
//! only, so a replay gets the same answers.
//!
//! Plugins' native unit tests have no host: there every query fails with an `other` error,
//! so test a plugin's rule on the answers ([`Day`], [`DayRule`], open or not) instead.

use chrono::NaiveDate;

use crate::bindings::leitstand::plugin::calendar as host;
use crate::config::{ClockTime, ConfigError};
use crate::{Error, Time, other_error};

/// The name of the tenant's own calendar, `[calendar]`.
pub const TENANT: &str = "tenant";

/// A calendar of the tenant, by name: its own or a named one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Calendar<'a> {
    name: Option<&'a str>,
}

/// One open span of a local day, `[open, close)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Span {
    /// When it opens.
    pub open: ClockTime,
    /// When it closes again (not itself open); `24:00` is the end of the day.
    pub close: ClockTime,
}

/// Which rule decided a day, in the order they take precedence (first wins).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DayRule {
    /// A special day with hours of its own (none: closed all day), with its label.
    Special(Option<String>),
    /// A closed day of the calendar, with its label.
    Closed(Option<String>),
    /// A public holiday of the calendar's state, with its German name (`Karfreitag`).
    Holiday(String),
    /// The weekly hours.
    Regular,
}

impl DayRule {
    /// The day's label, if the rule gives one: a holiday's name, a special or closed
    /// day's label.
    pub fn label(&self) -> Option<&str> {
        match self {
            DayRule::Special(label) | DayRule::Closed(label) => label.as_deref(),
            DayRule::Holiday(name) => Some(name),
            DayRule::Regular => None,
        }
    }

    /// Whether the weekly hours decided the day (no holiday, closed or special day).
    pub fn is_regular(&self) -> bool {
        matches!(self, DayRule::Regular)
    }
}

/// What holds on one local day of a calendar.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Day {
    /// The local date.
    pub date: NaiveDate,
    /// The open spans, by opening; empty when closed all day.
    pub spans: Vec<Span>,
    /// The rule that gave the spans.
    pub rule: DayRule,
}

impl Day {
    /// The label of a holiday, closed or special day, else its date (`2026-12-24`); `None`
    /// for a day of the weekly hours.
    pub fn name(&self) -> Option<String> {
        if self.rule.is_regular() {
            return None;
        }
        Some(match self.rule.label() {
            Some(label) => label.to_owned(),
            None => self.date.format("%Y-%m-%d").to_string(),
        })
    }
}

/// When a calendar next opens or closes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// Open from then on.
    Opens(Time),
    /// Closed from then on.
    Closes(Time),
}

impl Change {
    /// When the change happens.
    pub fn at(self) -> Time {
        match self {
            Change::Opens(at) | Change::Closes(at) => at,
        }
    }
}

impl<'a> Calendar<'a> {
    /// The tenant's own calendar, `[calendar]`.
    pub fn tenant() -> Self {
        Self { name: None }
    }

    /// The calendar `name` declares: `[calendars.<name>]`, or the tenant's for `"tenant"`.
    pub fn named(name: &'a str) -> Self {
        Self { name: Some(name) }
    }

    /// The calendar `name` names, the tenant's when `None`: what a configuration's
    /// optional `calendar` key gives.
    pub fn of(name: Option<&'a str>) -> Self {
        Self { name }
    }

    /// The calendar's name, `tenant` for the tenant's own.
    pub fn name(&self) -> &str {
        self.name.unwrap_or(TENANT)
    }

    /// Whether the calendar is open at `at`.
    pub fn is_open(&self, at: Time) -> Result<bool, Error> {
        no_host()?;
        host::is_open(self.name, at.ms())
    }

    /// The first instant after `at` (strictly) at which the calendar opens or closes,
    /// looking 400 days ahead; `None` when it neither opens nor closes in that time.
    pub fn next_change(&self, at: Time) -> Result<Option<Change>, Error> {
        no_host()?;
        Ok(host::next_change(self.name, at.ms())?.map(|c| {
            let at = Time::from_ms(c.at);
            if c.opens {
                Change::Opens(at)
            } else {
                Change::Closes(at)
            }
        }))
    }

    /// What holds on the local date `date`: its spans and the rule that set them.
    pub fn day(&self, date: NaiveDate) -> Result<Day, Error> {
        no_host()?;
        let text = date.format("%Y-%m-%d").to_string();
        day(host::day(self.name, &text)?)
    }

    /// What holds on the local day (in the calendar's time zone) that `at` falls on.
    pub fn day_at(&self, at: Time) -> Result<Day, Error> {
        no_host()?;
        day(host::day_at(self.name, at.ms())?)
    }

    /// Whether the calendar is open at every instant: hours around the clock, no public
    /// holidays, no closed day, no special day that closes part of a day. A plugin needs
    /// no destination for closed hours then.
    pub fn always_open(&self) -> Result<bool, Error> {
        no_host()?;
        host::always_open(self.name)
    }
}

/// The calendars the tenant declares: `tenant` first when it declares `[calendar]`, then
/// its named calendars in order; empty when it declares none.
pub fn declared() -> Result<Vec<String>, Error> {
    no_host()?;
    Ok(host::calendars())
}

/// Checks that the calendar `name`, given at `key` of the configuration, is one the
/// tenant's bundle declares (`None`: the tenant's own, which it must declare then).
/// Meant for [`Plugin::check`](crate::Plugin::check): the host answers while the
/// configuration is checked.
pub fn check_name(key: &str, name: Option<&str>) -> Result<(), ConfigError> {
    let declared = declared().map_err(|e| ConfigError::new(key, crate::message(&e)))?;
    let wanted = name.unwrap_or(TENANT);
    if declared.iter().any(|d| d == wanted) {
        return Ok(());
    }
    let reason = if declared.is_empty() {
        "the tenant declares no calendar; add `[calendar]` to its tenant.toml".to_owned()
    } else {
        format!(
            "the tenant declares no calendar {wanted:?} (it declares: {})",
            declared.join(", ")
        )
    };
    Err(ConfigError::new(key, reason))
}

fn day(d: host::LocalDay) -> Result<Day, Error> {
    let date = NaiveDate::parse_from_str(&d.date, "%Y-%m-%d")
        .map_err(|_| other_error(format!("the host's date {:?} is not YYYY-MM-DD", d.date)))?;
    let minutes = |m: u16| ClockTime {
        minutes: m.min(1440),
    };
    Ok(Day {
        date,
        spans: d
            .spans
            .iter()
            .map(|s| Span {
                open: minutes(s.open),
                close: minutes(s.close),
            })
            .collect(),
        rule: match d.rule {
            host::DayRule::Special(label) => DayRule::Special(label),
            host::DayRule::Closed(label) => DayRule::Closed(label),
            host::DayRule::Holiday(name) => DayRule::Holiday(name),
            host::DayRule::Regular => DayRule::Regular,
        },
    })
}

/// Native builds (a plugin's unit tests) have no host to ask.
fn no_host() -> Result<(), Error> {
    if cfg!(target_family = "wasm") {
        Ok(())
    } else {
        Err(other_error(
            "the tenant's calendars are the host's; a native unit test has none",
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_days_name_is_its_label_or_its_date() {
        let date = NaiveDate::from_ymd_opt(2027, 3, 26).expect("date");
        let day = |rule| Day {
            date,
            spans: Vec::new(),
            rule,
        };
        assert_eq!(
            day(DayRule::Holiday("Karfreitag".into())).name().as_deref(),
            Some("Karfreitag")
        );
        assert_eq!(
            day(DayRule::Closed(None)).name().as_deref(),
            Some("2027-03-26")
        );
        assert_eq!(day(DayRule::Regular).name(), None);
        assert_eq!(Calendar::tenant().name(), "tenant");
        assert_eq!(Calendar::of(Some("kfz")).name(), "kfz");
        assert!(Calendar::tenant().is_open(Time::from_ms(0)).is_err());
    }
}
