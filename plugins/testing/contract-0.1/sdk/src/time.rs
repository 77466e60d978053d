//! Event time.

use chrono::{DateTime, SecondsFormat, TimeZone, Utc};

/// A point in event time: milliseconds since 1970-01-01T00:00:00Z.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Time(i64);

impl Time {
    /// The time `ms` milliseconds after the epoch.
    pub const fn from_ms(ms: i64) -> Self {
        Self(ms)
    }

    /// Milliseconds since the epoch.
    pub const fn ms(self) -> i64 {
        self.0
    }

    /// This time plus `seconds` (saturating).
    pub fn plus_seconds(self, seconds: i64) -> Self {
        Self(self.0.saturating_add(seconds.saturating_mul(1000)))
    }

    /// Parses an RFC 3339 timestamp (`2026-11-19T11:04:37+01:00`).
    pub fn parse(text: &str) -> Option<Self> {
        DateTime::parse_from_rfc3339(text)
            .ok()
            .map(|t| Self(t.timestamp_millis()))
    }

    /// The same instant in `tz`.
    pub fn in_tz<Tz: TimeZone>(self, tz: &Tz) -> DateTime<Tz> {
        self.utc().with_timezone(tz)
    }

    /// The same instant in UTC.
    pub fn utc(self) -> DateTime<Utc> {
        DateTime::<Utc>::from_timestamp_millis(self.0).unwrap_or_default()
    }

    /// RFC 3339 in UTC, whole seconds when the time has no milliseconds.
    pub fn rfc3339(self) -> String {
        self.utc().to_rfc3339_opts(SecondsFormat::AutoSi, true)
    }
}

impl std::fmt::Display for Time {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.rfc3339())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_prints_rfc3339() {
        let t = Time::parse("2026-11-19T11:04:37+01:00").expect("valid");
        assert_eq!(t.rfc3339(), "2026-11-19T10:04:37Z");
        assert_eq!(t.plus_seconds(30).rfc3339(), "2026-11-19T10:05:07Z");
        assert!(Time::parse("yesterday").is_none());
    }
}
