//! The calendar tables of `tenant.toml` exactly as written: strings and tables, no meaning
//! yet. Owns their shape (unknown keys are refused here); every check of their content is
//! `validate`'s, so that one place turns them into a [`Calendars`](crate::Calendars).

use std::collections::BTreeMap;
use std::fmt;
use std::marker::PhantomData;

use serde::de::{self, DeserializeSeed, MapAccess, Visitor};
use serde::{Deserialize, Deserializer};

/// `[calendar]` and `[calendars.<name>]` of `tenant.toml`. The tenant loader reads the two
/// tables among its own keys and hands them over together; a document that holds only
/// them (as in the tests) deserialises into this directly.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CalendarsFile {
    /// The tenant's own calendar, `[calendar]`.
    pub calendar: CalendarFile,
    /// Calendars of departments or sites, `[calendars.<name>]`, by name.
    #[serde(default)]
    pub calendars: BTreeMap<String, NamedCalendarFile>,
}

/// `[calendar]`: the tenant's calendar.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CalendarFile {
    /// An IANA time zone, e.g. `"Europe/Berlin"`; the tenant's time zone when left out.
    #[serde(default)]
    pub timezone: Option<String>,
    /// The weekly hours, or `"24/7"`.
    pub hours: HoursFile,
    /// Whose public holidays close the line; none when left out.
    #[serde(default)]
    pub holidays: Option<HolidaysFile>,
    /// Extra days closed all day.
    #[serde(default)]
    pub closed: Vec<ClosedFile>,
    /// Days with hours of their own, by date (`YYYY-MM-DD`).
    #[serde(default)]
    pub special: BTreeMap<String, SpecialFile>,
}

/// `[calendars.<name>]`: a department's or site's calendar, which inherits another one and
/// changes what it names.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NamedCalendarFile {
    /// The calendar inherited: `"tenant"` (the default) or another named calendar.
    #[serde(default)]
    pub inherit: Option<String>,
    /// Replaces the inherited time zone.
    #[serde(default)]
    pub timezone: Option<String>,
    /// Replaces the inherited weekly hours as a whole (a day left out is closed).
    #[serde(default)]
    pub hours: Option<HoursFile>,
    /// Replaces the inherited holidays; `"none"` keeps none.
    #[serde(default)]
    pub holidays: Option<HolidaysFile>,
    /// Closed days, beside the inherited ones; on a date the inherited calendar also names,
    /// this calendar's entry wins.
    #[serde(default)]
    pub closed: Vec<ClosedFile>,
    /// Special days, beside the inherited ones; on a date the inherited calendar also names,
    /// this calendar's entry wins.
    #[serde(default)]
    pub special: BTreeMap<String, SpecialFile>,
}

/// `hours`: `"24/7"`, or a table of weekdays.
#[derive(Debug, Clone)]
pub enum HoursFile {
    /// A string; only `"24/7"` is valid.
    Text(String),
    /// `{ mon = ["08:00-17:00"], … }`.
    Week(WeekFile),
}

impl Default for HoursFile {
    fn default() -> Self {
        HoursFile::Week(WeekFile::default())
    }
}

/// The open spans of each weekday, `"HH:MM-HH:MM"`; a day left out is closed.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WeekFile {
    /// Monday.
    #[serde(default)]
    pub mon: Vec<String>,
    /// Tuesday.
    #[serde(default)]
    pub tue: Vec<String>,
    /// Wednesday.
    #[serde(default)]
    pub wed: Vec<String>,
    /// Thursday.
    #[serde(default)]
    pub thu: Vec<String>,
    /// Friday.
    #[serde(default)]
    pub fri: Vec<String>,
    /// Saturday.
    #[serde(default)]
    pub sat: Vec<String>,
    /// Sunday.
    #[serde(default)]
    pub sun: Vec<String>,
}

/// `holidays`: a state's code (`"DE-NW"`), `"none"`, or a table naming local holidays too.
#[derive(Debug, Clone)]
pub enum HolidaysFile {
    /// `"DE-NW"` or `"none"`.
    Text(String),
    /// `{ state = "DE-BY", local = ["Mariä Himmelfahrt"] }`.
    Table(HolidayTableFile),
}

/// `holidays = { state = "DE-BY", local = ["Mariä Himmelfahrt"] }`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HolidayTableFile {
    /// The state's ISO 3166-2 code.
    pub state: String,
    /// Holidays the law keeps in the tenant's municipality only, by their German names.
    #[serde(default)]
    pub local: Vec<String>,
}

/// An entry of `closed`: a date, or a date with a label.
#[derive(Debug, Clone)]
pub enum ClosedFile {
    /// `"2027-02-15"`.
    Date(String),
    /// `{ date = "2026-11-27", label = "Personalversammlung" }`.
    Labelled(ClosedDayFile),
}

/// `{ date = "2026-11-27", label = "Personalversammlung" }`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClosedDayFile {
    /// The date, `YYYY-MM-DD`.
    #[serde(deserialize_with = "date_text")]
    pub date: String,
    /// Why the line is closed, for people reading the calendar.
    #[serde(default)]
    pub label: Option<String>,
}

/// `[calendar.special.<date>]`: a day with hours of its own.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SpecialFile {
    /// The day's open spans; `[]` closes it.
    pub hours: Vec<String>,
    /// What the day is, for people reading the calendar.
    #[serde(default)]
    pub label: Option<String>,
}

impl<'de> Deserialize<'de> for HoursFile {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(
            match d.deserialize_any(TextOrTable::new("\"24/7\" or a table of weekdays"))? {
                Either::Text(s) => HoursFile::Text(s),
                Either::Table(t) => HoursFile::Week(t),
            },
        )
    }
}

impl<'de> Deserialize<'de> for HolidaysFile {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(
            match d.deserialize_any(TextOrTable::new(
                "a state's code such as \"DE-NW\", \"none\", or a table with `state`",
            ))? {
                Either::Text(s) => HolidaysFile::Text(s),
                Either::Table(t) => HolidaysFile::Table(t),
            },
        )
    }
}

impl<'de> Deserialize<'de> for ClosedFile {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(
            match d.deserialize_any(TextOrTable::new(
                "a date \"YYYY-MM-DD\" or a table with `date` and `label`",
            ))? {
                Either::Text(s) => ClosedFile::Date(s),
                Either::Table(t) => ClosedFile::Labelled(t),
            },
        )
    }
}

/// A date as text, whether written `"2026-12-25"` or as a TOML date, `2026-12-25`.
fn date_text<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    match d.deserialize_any(TextOrTable::<NoTable>::new("a date \"YYYY-MM-DD\""))? {
        Either::Text(s) => Ok(s),
        Either::Table(no) => match no {},
    }
}

/// Where only text will do: a table is refused.
enum NoTable {}

impl<'de> Deserialize<'de> for NoTable {
    fn deserialize<D: Deserializer<'de>>(_: D) -> Result<Self, D::Error> {
        Err(de::Error::custom(
            "expected a date \"YYYY-MM-DD\", found a table",
        ))
    }
}

/// The key under which toml hands a visitor a date written without quotes (`2026-12-25`):
/// a one-entry table. Reading it lets a tenant write a date either way, as TOML allows.
const TOML_DATETIME: &str = "$__toml_private_datetime";

enum Either<T> {
    Text(String),
    Table(T),
}

/// Reads a value that is either a string or a table. Unlike `#[serde(untagged)]`, a table's
/// own errors (an unknown key, a missing one) reach the tenant instead of "did not match
/// any variant".
struct TextOrTable<T> {
    expecting: &'static str,
    table: PhantomData<T>,
}

impl<T> TextOrTable<T> {
    fn new(expecting: &'static str) -> Self {
        TextOrTable {
            expecting,
            table: PhantomData,
        }
    }
}

impl<'de, T: Deserialize<'de>> Visitor<'de> for TextOrTable<T> {
    type Value = Either<T>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.expecting)
    }

    fn visit_str<E: de::Error>(self, s: &str) -> Result<Self::Value, E> {
        Ok(Either::Text(s.to_owned()))
    }

    fn visit_string<E: de::Error>(self, s: String) -> Result<Self::Value, E> {
        Ok(Either::Text(s))
    }

    fn visit_map<M: MapAccess<'de>>(self, mut map: M) -> Result<Self::Value, M::Error> {
        let first = map.next_key::<String>()?;
        if first.as_deref() == Some(TOML_DATETIME) {
            return map.next_value::<String>().map(Either::Text);
        }
        T::deserialize(de::value::MapAccessDeserializer::new(Resume { first, map }))
            .map(Either::Table)
    }
}

/// A table whose first key has been read already, to look for a TOML date.
struct Resume<M> {
    first: Option<String>,
    map: M,
}

impl<'de, M: MapAccess<'de>> MapAccess<'de> for Resume<M> {
    type Error = M::Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, Self::Error> {
        match self.first.take() {
            Some(key) => seed
                .deserialize(de::value::StringDeserializer::new(key))
                .map(Some),
            None => self.map.next_key_seed(seed),
        }
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(
        &mut self,
        seed: V,
    ) -> Result<V::Value, Self::Error> {
        self.map.next_value_seed(seed)
    }
}
