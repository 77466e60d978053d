//! The plugin's configuration: the bundle's `[plugins.config]` table, handed over as JSON
//! text, parsed into the plugin's own serde struct.
//!
//! Most of what a plugin once checked by hand, the types here check while parsing, so that
//! the error names the key (`steps[1].target: must not be empty`):
//!
//! * [`NonEmptyString`]: a string that is not empty or blank;
//! * [`NonEmpty`]: a list with at least one entry;
//! * [`Positive`]: a whole number of at least 1;
//! * [`ClockTime`], [`Weekday`], [`Date`]: `HH:MM`, `mon` … `sun`, `YYYY-MM-DD`;
//! * [`Destination`]: a routing target or an announcement.
//!
//! What needs the whole configuration — a name that must be a key of another table (the
//! site an overflow list names must be declared under `sites`) — [`Keys`] checks in a line
//! per reference, and [`unique`] refuses an entry listed twice. A calendar the
//! configuration names is checked against the tenant's bundle with
//! [`calendar::check_name`](crate::calendar::check_name).

use std::collections::BTreeMap;
use std::fmt;
use std::ops::Deref;

use chrono::NaiveDate;
use serde::de::{self, DeserializeOwned, Deserializer};
use serde::{Deserialize, Serialize};

use crate::Error;

/// A configuration the plugin cannot use; shown to the operator as `<key>: <reason>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// The key, as a path into the table (`sites[1].name`), or `config` for the whole.
    pub key: String,
    /// What is wrong with it.
    pub reason: String,
}

impl ConfigError {
    /// A configuration error at `key`.
    pub fn new(key: impl Into<String>, reason: impl Into<String>) -> Self {
        Self {
            key: key.into(),
            reason: reason.into(),
        }
    }
}

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.key, self.reason)
    }
}

impl From<ConfigError> for Error {
    fn from(e: ConfigError) -> Self {
        Error::InvalidConfig(e.to_string())
    }
}

/// Parses the configuration JSON into `T`. A serde error names the path of the offending
/// key (`rules[2].from: invalid type: …`) rather than a position in JSON text the operator
/// never wrote.
pub fn parse<T: DeserializeOwned>(text: &str) -> Result<T, ConfigError> {
    let mut de = serde_json::Deserializer::from_str(text);
    serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        let key = if path == "." {
            "config".to_owned()
        } else {
            path
        };
        ConfigError::new(key, strip_position(&e.into_inner().to_string()))
    })
}

/// serde_json appends ` at line L column C`; in the host's one-line JSON that only
/// confuses.
fn strip_position(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(i) => message[..i].to_owned(),
        None => message.to_owned(),
    }
}

/// A time of day `HH:MM` in a configuration, e.g. opening hours.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ClockTime {
    /// Minutes after midnight, 0..=1440 (`24:00` is the end of the day).
    pub minutes: u16,
}

impl ClockTime {
    /// Parses `HH:MM` (`00:00` to `24:00`).
    pub fn parse(text: &str) -> Option<Self> {
        let (h, m) = text.split_once(':')?;
        if h.len() != 2 || m.len() != 2 {
            return None;
        }
        let h: u16 = h.parse().ok()?;
        let m: u16 = m.parse().ok()?;
        if m >= 60 || h > 24 || (h == 24 && m != 0) {
            return None;
        }
        Some(Self {
            minutes: h * 60 + m,
        })
    }
}

impl std::fmt::Display for ClockTime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:02}:{:02}", self.minutes / 60, self.minutes % 60)
    }
}

impl<'de> serde::Deserialize<'de> for ClockTime {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        Self::parse(&text)
            .ok_or_else(|| serde::de::Error::custom(format!("{text:?} is not a time of day HH:MM")))
    }
}

/// Checks that `value` at `key` is not empty or blank (a string that serde reads as
/// [`NonEmptyString`] needs no such check).
pub fn not_empty(key: &str, value: &str) -> Result<(), ConfigError> {
    if value.trim().is_empty() {
        Err(ConfigError::new(key, "must not be empty"))
    } else {
        Ok(())
    }
}

/// A string of a configuration that is not empty or blank; an empty one is refused while
/// parsing (`initial_target: must not be empty`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct NonEmptyString(String);

impl NonEmptyString {
    /// `text`, unless it is empty or blank.
    pub fn new(text: impl Into<String>) -> Option<Self> {
        let text = text.into();
        (!text.trim().is_empty()).then_some(Self(text))
    }

    /// The text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Deref for NonEmptyString {
    type Target = str;

    fn deref(&self) -> &str {
        &self.0
    }
}

impl AsRef<str> for NonEmptyString {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for NonEmptyString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl PartialEq<str> for NonEmptyString {
    fn eq(&self, other: &str) -> bool {
        self.0 == other
    }
}

impl PartialEq<String> for NonEmptyString {
    fn eq(&self, other: &String) -> bool {
        &self.0 == other
    }
}

impl<'de> Deserialize<'de> for NonEmptyString {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        Self::new(text).ok_or_else(|| de::Error::custom("must not be empty"))
    }
}

/// A list of a configuration with at least one entry; an empty one is refused while
/// parsing (`steps: must not be empty; name at least one`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct NonEmpty<T>(Vec<T>);

impl<T> NonEmpty<T> {
    /// `items`, unless there are none.
    pub fn new(items: Vec<T>) -> Option<Self> {
        (!items.is_empty()).then_some(Self(items))
    }

    /// The first entry (there is one).
    pub fn first(&self) -> &T {
        // Never empty: `new` and `deserialize` refuse an empty list.
        &self.0[0]
    }
}

impl<T> Deref for NonEmpty<T> {
    type Target = [T];

    fn deref(&self) -> &[T] {
        &self.0
    }
}

impl<'a, T> IntoIterator for &'a NonEmpty<T> {
    type Item = &'a T;
    type IntoIter = std::slice::Iter<'a, T>;

    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for NonEmpty<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let items = Vec::<T>::deserialize(d)?;
        Self::new(items).ok_or_else(|| de::Error::custom("must not be empty; name at least one"))
    }
}

/// A whole number of a configuration that is at least 1; 0 is refused while parsing
/// (`max_waiting: must be at least 1, got 0`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct Positive(u32);

impl Positive {
    /// `n`, unless it is 0.
    pub fn new(n: u32) -> Option<Self> {
        (n > 0).then_some(Self(n))
    }

    /// The number.
    pub fn get(self) -> u32 {
        self.0
    }
}

impl fmt::Display for Positive {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl<'de> Deserialize<'de> for Positive {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let n = u32::deserialize(d)?;
        Self::new(n).ok_or_else(|| de::Error::custom("must be at least 1, got 0"))
    }
}

/// The keys of a table that other keys of the configuration refer to by name — the sites
/// under `sites` that an overflow list or a shift names — to check those references.
#[derive(Debug, Clone)]
pub struct Keys<'a> {
    /// What one key is, for messages (`site`).
    noun: &'a str,
    /// The table's key (`sites`).
    table: &'a str,
    keys: Vec<&'a str>,
}

impl<'a> Keys<'a> {
    /// The keys of `map`, the table at `table`, each a `noun`.
    pub fn of<V>(noun: &'a str, table: &'a str, map: &'a BTreeMap<String, V>) -> Self {
        Self {
            noun,
            table,
            keys: map.keys().map(String::as_str).collect(),
        }
    }

    /// Whether `name` is a key of the table.
    pub fn contains(&self, name: &str) -> bool {
        self.keys.contains(&name)
    }

    /// Checks that `name`, given at `key`, is a key of the table:
    /// `duty.default_site: "mainz" is not a site of `sites` (kaiserslautern, pirmasens)`.
    pub fn check(&self, key: &str, name: &str) -> Result<(), ConfigError> {
        if self.contains(name) {
            return Ok(());
        }
        Err(ConfigError::new(
            key,
            format!(
                "{name:?} is not a {} of `{}` ({})",
                self.noun,
                self.table,
                self.keys.join(", ")
            ),
        ))
    }

    /// Checks each entry of the list at `key` (`key[i]` in the error) and that none is
    /// listed twice.
    pub fn check_each<S: AsRef<str>>(&self, key: &str, names: &[S]) -> Result<(), ConfigError> {
        for (i, name) in names.iter().enumerate() {
            self.check(&format!("{key}[{i}]"), name.as_ref())?;
        }
        unique(key, names)
    }
}

/// Refuses an entry of the list at `key` that is listed twice: `key[i]: "x" is listed
/// twice`.
pub fn unique<S: AsRef<str>>(key: &str, list: &[S]) -> Result<(), ConfigError> {
    for (j, item) in list.iter().enumerate() {
        if list[..j]
            .iter()
            .any(|earlier| earlier.as_ref() == item.as_ref())
        {
            return Err(ConfigError::new(
                format!("{key}[{j}]"),
                format!("{:?} is listed twice", item.as_ref()),
            ));
        }
    }
    Ok(())
}

/// A weekday written `mon` … `sun`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Weekday(pub chrono::Weekday);

impl Weekday {
    /// Every day of the week, Monday first.
    pub fn every() -> Vec<Weekday> {
        DAYS.iter().map(|(_, d)| Weekday(*d)).collect()
    }

    /// The short name, `mon` … `sun`.
    pub fn name(self) -> &'static str {
        day_name(self.0)
    }
}

impl AsRef<str> for Weekday {
    fn as_ref(&self) -> &str {
        self.name()
    }
}

impl<'de> Deserialize<'de> for Weekday {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        DAYS.iter()
            .find(|(n, _)| *n == text)
            .map(|(_, w)| Weekday(*w))
            .ok_or_else(|| {
                de::Error::custom(format!(
                    "{text:?} is not a weekday (mon, tue, wed, thu, fri, sat, sun)"
                ))
            })
    }
}

/// The weekday names, Monday first.
pub const DAYS: [(&str, chrono::Weekday); 7] = [
    ("mon", chrono::Weekday::Mon),
    ("tue", chrono::Weekday::Tue),
    ("wed", chrono::Weekday::Wed),
    ("thu", chrono::Weekday::Thu),
    ("fri", chrono::Weekday::Fri),
    ("sat", chrono::Weekday::Sat),
    ("sun", chrono::Weekday::Sun),
];

/// The short name of `day` (`mon` … `sun`).
pub fn day_name(day: chrono::Weekday) -> &'static str {
    DAYS[day.num_days_from_monday() as usize].0
}

/// A local calendar date written `YYYY-MM-DD`; displayed the same way. Usable as a key of
/// a table (`{ "2026-12-26" = "pirmasens" }`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Date(pub NaiveDate);

impl fmt::Display for Date {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0.format("%Y-%m-%d"))
    }
}

impl<'de> Deserialize<'de> for Date {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        match NaiveDate::parse_from_str(&text, "%Y-%m-%d") {
            Ok(date) if text.len() == 10 => Ok(Date(date)),
            _ => Err(de::Error::custom(format!(
                "{text:?} is not a date YYYY-MM-DD"
            ))),
        }
    }
}

/// Where calls go that a plugin does not route to one of its own targets (out of hours,
/// on a holiday, when every site is full): a routing target (a provider, a team, another
/// hotline) or an announcement to play. Exactly one of the two keys, not empty;
/// [`check`](Self::check) says so.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Destination {
    /// A routing target.
    #[serde(default)]
    pub target: Option<String>,
    /// An announcement to play.
    #[serde(default)]
    pub announcement: Option<String>,
}

impl Destination {
    /// The route's target and whether it is an announcement.
    pub fn resolve(&self) -> (&str, bool) {
        match (&self.target, &self.announcement) {
            (Some(t), _) => (t, false),
            (None, Some(a)) => (a, true),
            // Refused by `check`.
            (None, None) => ("", false),
        }
    }

    /// Checks that exactly one of the keys is given and not empty; `key` names the
    /// destination in the configuration.
    pub fn check(&self, key: &str) -> Result<(), ConfigError> {
        match (&self.target, &self.announcement) {
            (Some(_), Some(_)) => Err(ConfigError::new(
                key,
                "give either `target` or `announcement`, not both",
            )),
            (None, None) => Err(ConfigError::new(
                key,
                "give `target = \"…\"` (a provider, team or hotline) or `announcement = \"…\"`",
            )),
            (Some(t), None) => not_empty(&format!("{key}.target"), t),
            (None, Some(a)) => not_empty(&format!("{key}.announcement"), a),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Sample {
        target: String,
        #[serde(default)]
        sites: Vec<Site>,
    }

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Site {
        name: String,
        opens: ClockTime,
    }

    #[test]
    fn errors_name_the_path_of_the_key() {
        let e = parse::<Sample>(r#"{"target":"kl","sites":[{"name":"a","opens":"08:00"},{"name":"b","opens":"25:00"}]}"#)
            .expect_err("bad time");
        assert_eq!(e.key, "sites[1].opens");
        assert!(e.reason.contains("\"25:00\" is not a time of day"), "{e}");
        let e = parse::<Sample>(r#"{"targte":"kl"}"#).expect_err("unknown key");
        assert_eq!(e.key, "targte");
        assert!(e.reason.starts_with("unknown field `targte`"), "{e}");
        let e = parse::<Sample>("{}").expect_err("missing");
        assert_eq!(e.to_string(), "config: missing field `target`");
    }

    #[test]
    fn a_destination_is_a_target_or_an_announcement() {
        let d = |json: &str| parse::<Destination>(json).expect("parses");
        let target = d(r#"{"target": "provider-24-7"}"#);
        assert_eq!(target.check("holiday"), Ok(()));
        assert_eq!(target.resolve(), ("provider-24-7", false));
        let announcement = d(r#"{"announcement": "closed"}"#);
        assert_eq!(announcement.resolve(), ("closed", true));
        let both = d(r#"{"target": "a", "announcement": "b"}"#);
        assert!(
            both.check("holiday")
                .expect_err("both")
                .reason
                .contains("not both")
        );
        let neither = d("{}").check("holiday").expect_err("neither");
        assert_eq!(neither.key, "holiday");
        let blank = d(r#"{"target": " "}"#).check("holiday").expect_err("blank");
        assert_eq!(blank.to_string(), "holiday.target: must not be empty");
        assert!(parse::<Destination>(r#"{"queue": "q"}"#).is_err());
    }

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Typed {
        target: NonEmptyString,
        steps: NonEmpty<NonEmptyString>,
        #[serde(default)]
        max_waiting: Option<Positive>,
        #[serde(default)]
        days: Vec<Weekday>,
        #[serde(default)]
        dates: BTreeMap<Date, NonEmptyString>,
    }

    #[test]
    fn typed_values_are_refused_while_parsing_with_their_key() {
        let ok = parse::<Typed>(
            r#"{"target": "kl", "steps": ["a", "b"], "max_waiting": 3, "days": ["mon"],
                "dates": {"2026-12-26": "pirmasens"}}"#,
        )
        .expect("valid");
        assert_eq!(ok.target.as_str(), "kl");
        assert_eq!(ok.steps.first().as_str(), "a");
        assert_eq!(ok.max_waiting.map(Positive::get), Some(3));
        assert_eq!(ok.days[0].name(), "mon");
        for (json, expected) in [
            (
                r#"{"target": " ", "steps": ["a"]}"#,
                "target: must not be empty",
            ),
            (
                r#"{"target": "kl", "steps": []}"#,
                "steps: must not be empty; name at least one",
            ),
            (
                r#"{"target": "kl", "steps": ["a", ""]}"#,
                "steps[1]: must not be empty",
            ),
            (
                r#"{"target": "kl", "steps": ["a"], "max_waiting": 0}"#,
                "max_waiting: must be at least 1, got 0",
            ),
            (
                r#"{"target": "kl", "steps": ["a"], "days": ["mun"]}"#,
                "days[0]: \"mun\" is not a weekday (mon, tue, wed, thu, fri, sat, sun)",
            ),
            (
                r#"{"target": "kl", "steps": ["a"], "dates": {"26.12.2026": "x"}}"#,
                "dates.26.12.2026: \"26.12.2026\" is not a date YYYY-MM-DD",
            ),
        ] {
            let e = parse::<Typed>(json).expect_err(json);
            assert_eq!(e.to_string(), expected, "{json}");
        }
    }

    #[test]
    fn references_name_the_table_and_its_keys() {
        let sites: BTreeMap<String, ()> = [
            ("kaiserslautern".to_owned(), ()),
            ("pirmasens".to_owned(), ()),
        ]
        .into();
        let keys = Keys::of("site", "sites", &sites);
        assert!(keys.check("duty.default_site", "pirmasens").is_ok());
        assert_eq!(
            keys.check("duty.default_site", "mainz")
                .expect_err("unknown")
                .to_string(),
            "duty.default_site: \"mainz\" is not a site of `sites` (kaiserslautern, pirmasens)"
        );
        let e = keys
            .check_each("sites.kl.overflow", &["pirmasens", "mainz"])
            .expect_err("unknown");
        assert_eq!(e.key, "sites.kl.overflow[1]");
        let e = keys
            .check_each("sites.kl.overflow", &["pirmasens", "pirmasens"])
            .expect_err("twice");
        assert_eq!(
            e.to_string(),
            "sites.kl.overflow[1]: \"pirmasens\" is listed twice"
        );
        assert!(unique("queues", &["a", "b"]).is_ok());
    }

    #[test]
    fn clock_times_parse_strictly() {
        assert_eq!(ClockTime::parse("08:30").map(|t| t.minutes), Some(510));
        assert_eq!(ClockTime::parse("24:00").map(|t| t.minutes), Some(1440));
        for bad in ["8:30", "24:01", "12:60", "noon", "12-00"] {
            assert!(ClockTime::parse(bad).is_none(), "{bad}");
        }
    }
}
