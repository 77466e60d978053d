//! Open spans of a local day as a tenant writes them, `"08:00-17:00"`: times to the minute,
//! from `00:00` to `24:00`. Owns their text form; how a local time becomes an instant is
//! `calendar`'s.

use std::fmt;
use std::str::FromStr;

use chrono::{Days, NaiveDate, NaiveDateTime, NaiveTime};

/// A wall-clock time of a local day, to the minute, from `00:00` to `24:00`.
///
/// `24:00` exists because a span that runs to midnight ends at the end of its own day, not
/// at the start of it; chrono's [`NaiveTime`] has no such value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ClockTime(u16);

impl ClockTime {
    /// `00:00`, the start of a day.
    pub const MIDNIGHT: ClockTime = ClockTime(0);
    /// `24:00`, the end of a day.
    pub const END_OF_DAY: ClockTime = ClockTime(24 * 60);

    /// The time `hour:minute`; `None` past `24:00` or with a minute past 59.
    pub fn new(hour: u32, minute: u32) -> Option<ClockTime> {
        if minute > 59 || hour > 24 || (hour == 24 && minute > 0) {
            return None;
        }
        u16::try_from(hour * 60 + minute).ok().map(ClockTime)
    }

    /// The hour, 0 to 24.
    pub fn hour(self) -> u32 {
        u32::from(self.0) / 60
    }

    /// The minute of the hour, 0 to 59.
    pub fn minute(self) -> u32 {
        u32::from(self.0) % 60
    }

    /// Minutes since the start of the day, 0 to 1440.
    pub fn minutes(self) -> u32 {
        u32::from(self.0)
    }

    /// This time on `date` as a local date and time; `24:00` is `00:00` of the next day.
    pub fn on(self, date: NaiveDate) -> Option<NaiveDateTime> {
        if self == ClockTime::END_OF_DAY {
            return date.checked_add_days(Days::new(1))?.and_hms_opt(0, 0, 0);
        }
        Some(date.and_time(NaiveTime::from_hms_opt(self.hour(), self.minute(), 0)?))
    }
}

impl fmt::Display for ClockTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:02}:{:02}", self.hour(), self.minute())
    }
}

impl FromStr for ClockTime {
    type Err = SpanError;

    /// Exactly `HH:MM`: a calendar is read by people, and one spelling keeps it legible.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || SpanError::Time(s.to_owned());
        let &[h1, h2, b':', m1, m2] = s.as_bytes() else {
            return Err(bad());
        };
        if ![h1, h2, m1, m2].iter().all(u8::is_ascii_digit) {
            return Err(bad());
        }
        let digit = |b: u8| u32::from(b - b'0');
        ClockTime::new(digit(h1) * 10 + digit(h2), digit(m1) * 10 + digit(m2)).ok_or_else(bad)
    }
}

/// An open span of a local day, `[open, close)`: open from `open` on, closed again at
/// `close`. It never crosses midnight; a line open overnight has one span on each day.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Span {
    open: ClockTime,
    close: ClockTime,
}

impl Span {
    /// The whole day, `00:00-24:00`.
    pub const WHOLE_DAY: Span = Span {
        open: ClockTime::MIDNIGHT,
        close: ClockTime::END_OF_DAY,
    };

    /// The span from `open` to `close`; `None` unless `open` is before `close`.
    pub fn new(open: ClockTime, close: ClockTime) -> Option<Span> {
        (open < close).then_some(Span { open, close })
    }

    /// When the span opens.
    pub fn open(self) -> ClockTime {
        self.open
    }

    /// When the span closes again (not itself open).
    pub fn close(self) -> ClockTime {
        self.close
    }

    /// Whether the two spans share a minute; spans that only touch (`08:00-12:00` and
    /// `12:00-13:00`) do not.
    pub fn overlaps(self, other: Span) -> bool {
        self.open < other.close && other.open < self.close
    }
}

impl fmt::Display for Span {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.open, self.close)
    }
}

impl FromStr for Span {
    type Err = SpanError;

    /// `HH:MM-HH:MM`, e.g. `08:00-17:00`; spaces around the times are allowed.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (open, close) = s
            .split_once('-')
            .ok_or_else(|| SpanError::Form(s.to_owned()))?;
        let open: ClockTime = open.trim().parse()?;
        let close: ClockTime = close.trim().parse()?;
        Span::new(open, close).ok_or(SpanError::Order { open, close })
    }
}

/// Why a written span was refused; the message is meant for the person who wrote it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SpanError {
    /// Not of the form `HH:MM-HH:MM`.
    #[error("{0:?} is not a span; write HH:MM-HH:MM, e.g. \"08:00-17:00\"")]
    Form(String),
    /// A time that is not `HH:MM` between `00:00` and `24:00`.
    #[error("{0:?} is not a time; write HH:MM from 00:00 to 24:00")]
    Time(String),
    /// Closes before or when it opens.
    #[error(
        "{open}-{close} does not close after it opens; a span past midnight is two, \
         one until 24:00 and one from 00:00 on the next day"
    )]
    Order {
        /// The opening time as written.
        open: ClockTime,
        /// The closing time as written.
        close: ClockTime,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    fn span(s: &str) -> Result<Span, String> {
        s.parse::<Span>().map_err(|e| e.to_string())
    }

    #[test]
    fn spans_read_and_print_as_written() {
        for s in ["08:00-17:00", "00:00-24:00", "20:00-24:00", "07:30-12:30"] {
            assert_eq!(span(s).map(|s| s.to_string()), Ok(s.to_owned()));
        }
        assert_eq!(
            span(" 08:00 - 12:00 ").map(|s| s.to_string()).as_deref(),
            Ok("08:00-12:00")
        );
        assert_eq!(span("00:00-24:00"), Ok(Span::WHOLE_DAY));
    }

    #[test]
    fn bad_spans_say_what_is_wrong() {
        assert_eq!(
            span("8-17"),
            Err("\"8\" is not a time; write HH:MM from 00:00 to 24:00".to_owned())
        );
        assert_eq!(
            span("08:00"),
            Err("\"08:00\" is not a span; write HH:MM-HH:MM, e.g. \"08:00-17:00\"".to_owned())
        );
        assert!(span("8:00-17:00").is_err());
        assert!(span("08:60-17:00").is_err());
        assert!(span("08:00-24:01").is_err());
        assert!(span("08:00-25:00").is_err());
        assert!(span("+8:00-17:00").is_err());
        assert_eq!(
            span("22:00-06:00"),
            Err(
                "22:00-06:00 does not close after it opens; a span past midnight is two, \
                 one until 24:00 and one from 00:00 on the next day"
                    .to_owned()
            )
        );
        assert!(span("08:00-08:00").is_err());
        assert!(span("24:00-24:00").is_err());
    }

    #[test]
    fn touching_spans_do_not_overlap() {
        let a = span("08:00-12:00").expect("span");
        assert!(!a.overlaps(span("12:00-13:00").expect("span")));
        assert!(a.overlaps(span("11:00-13:00").expect("span")));
        assert!(a.overlaps(span("09:00-10:00").expect("span")));
    }

    #[test]
    fn the_end_of_a_day_is_the_start_of_the_next() {
        let date = NaiveDate::from_ymd_opt(2026, 12, 31).expect("date");
        let next = NaiveDate::from_ymd_opt(2027, 1, 1).expect("date");
        assert_eq!(ClockTime::END_OF_DAY.on(date), next.and_hms_opt(0, 0, 0));
        assert_eq!(ClockTime::END_OF_DAY.to_string(), "24:00");
    }
}
