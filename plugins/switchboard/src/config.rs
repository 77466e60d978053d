//! The switchboard's configuration: the bundle's `[plugins.config]` table, parsed into typed
//! values (hours, dates and validity moments are checked while parsing, so a serde error
//! already names the key) and then checked as a whole by [`check`]: references between
//! concerns, departments, the default and the knowledge base, synonyms claimed twice,
//! overlapping hours, validity windows. Every error names the entry and the key.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use leitstand_sdk::ConfigError;
use leitstand_sdk::chrono::{NaiveDate, NaiveDateTime};
pub use leitstand_sdk::config::Destination;
use leitstand_sdk::config::not_empty;
use serde::Deserialize;
use serde::de::{self, Deserializer};

use leitstand_sdk::hours::{Date, Hours, Interval, check_day};

use crate::calendar::Calendar;
use crate::concern::{Claim, Directory, Match, normalize};

/// The whole configuration.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The service center itself: where calls go that no open department takes.
    pub center: Center,
    /// The departments calls are routed to, by id.
    pub departments: BTreeMap<String, Department>,
    /// What callers call about, by id: the responsible department and other names.
    pub concerns: BTreeMap<String, Concern>,
    /// The department for a concern the directory does not know; absent: the center.
    #[serde(default)]
    pub default: Option<String>,
    /// The version of the knowledge base, passed on with every answer.
    #[serde(default)]
    pub knowledge_version: Option<String>,
    /// The knowledge base: answers agents see when they take a call about a concern.
    #[serde(default)]
    pub knowledge: Vec<Entry>,
}

/// `center`: the service center's own target, hours and out-of-hours destination.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Center {
    /// The center's name, for notes.
    pub name: String,
    /// The center's own queue or transfer target.
    pub target: String,
    /// The center's weekly hours; absent: open around the clock.
    #[serde(default)]
    pub hours: Option<Hours>,
    /// Dates the center is closed all day.
    #[serde(default)]
    pub closed: Vec<Date>,
    /// Dates with hours of their own (replacing the weekday's).
    #[serde(default)]
    pub special_hours: BTreeMap<Date, Vec<Interval>>,
    /// Where calls go while the center is closed.
    #[serde(default)]
    pub out_of_hours: Option<Destination>,
}

impl Center {
    /// The center's opening rules.
    pub fn calendar(&self) -> Calendar<'_> {
        Calendar {
            hours: self.hours.as_ref(),
            closed: &self.closed,
            special_hours: &self.special_hours,
        }
    }
}

/// One department of `departments`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Department {
    /// Its name, as agents and callers know it (`Kfz-Zulassungsstelle`).
    pub name: String,
    /// The authority it belongs to (`stadt`, `kreis`), passed on in routes.
    #[serde(default)]
    pub authority: Option<String>,
    /// Its queue or transfer target.
    pub target: String,
    /// Its weekly hours in the tenant's timezone.
    pub hours: Hours,
    /// Dates it is closed all day.
    #[serde(default)]
    pub closed: Vec<Date>,
    /// Dates with hours of their own (replacing the weekday's).
    #[serde(default)]
    pub special_hours: BTreeMap<Date, Vec<Interval>>,
}

impl Department {
    /// The department's opening rules.
    pub fn calendar(&self) -> Calendar<'_> {
        Calendar {
            hours: Some(&self.hours),
            closed: &self.closed,
            special_hours: &self.special_hours,
        }
    }
}

/// One concern of `concerns`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Concern {
    /// The id of the responsible department.
    pub department: String,
    /// Other names callers and IVRs use for it.
    #[serde(default)]
    pub synonyms: Vec<String>,
}

/// One answer of the knowledge base.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Entry {
    /// Unique within the knowledge base; agents' tools refer to it.
    pub id: String,
    /// The question the answer answers.
    pub question: String,
    /// The answer.
    pub answer: String,
    /// The concerns (ids) the answer belongs to.
    pub concerns: Vec<String>,
    /// Valid from this local moment on (inclusive); absent: always before.
    #[serde(default)]
    pub valid_from: Option<LocalMoment>,
    /// Valid until this local moment (exclusive); absent: for good.
    #[serde(default)]
    pub valid_until: Option<LocalMoment>,
}

impl Entry {
    /// The entry as errors name it: `knowledge[3] (id wohngeld-formular)`.
    pub fn key(&self, index: usize) -> String {
        format!("knowledge[{index}] (id {})", self.id)
    }
}

/// A moment in the tenant's local wall time: a date `YYYY-MM-DD` (the start of that day)
/// or a date and time `YYYY-MM-DDTHH:MM`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct LocalMoment(pub NaiveDateTime);

impl fmt::Display for LocalMoment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0.format("%Y-%m-%dT%H:%M"))
    }
}

impl LocalMoment {
    /// Parses `YYYY-MM-DD` or `YYYY-MM-DDTHH:MM`.
    pub fn parse(text: &str) -> Option<Self> {
        match text.len() {
            10 => NaiveDate::parse_from_str(text, "%Y-%m-%d")
                .ok()
                .map(|d| Self(d.and_time(Default::default()))),
            16 => NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M")
                .ok()
                .map(Self),
            _ => None,
        }
    }
}

impl<'de> Deserialize<'de> for LocalMoment {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        Self::parse(&text).ok_or_else(|| {
            de::Error::custom(format!(
                "{text:?} is not a local date \"YYYY-MM-DD\" or date and time \"YYYY-MM-DDTHH:MM\""
            ))
        })
    }
}

/// Checks the opening rules of the center or a department (`key` names it).
fn check_calendar(key: &str, calendar: &Calendar<'_>) -> Result<(), ConfigError> {
    if let Some(hours) = calendar.hours {
        hours.check(&format!("{key}.hours"))?;
    }
    let mut seen = BTreeSet::new();
    for (i, date) in calendar.closed.iter().enumerate() {
        if !seen.insert(date) {
            return Err(ConfigError::new(
                format!("{key}.closed[{i}]"),
                format!("{date} is listed twice"),
            ));
        }
    }
    for (date, intervals) in calendar.special_hours {
        let day_key = format!("{key}.special_hours.{date}");
        if intervals.is_empty() {
            return Err(ConfigError::new(
                day_key,
                "an empty list; list the date in `closed` for a closed day",
            ));
        }
        if calendar.closed.contains(date) {
            return Err(ConfigError::new(
                day_key,
                format!("{date} is also listed in `closed`; give the day either hours or `closed`"),
            ));
        }
        check_day(&day_key, intervals)?;
    }
    Ok(())
}

/// The ids of `map`, for error messages.
fn ids<V>(map: &BTreeMap<String, V>) -> String {
    map.keys()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .join(", ")
}

/// Checks what serde cannot: references between keys, names claimed twice, overlaps,
/// values out of range and keys required by others.
pub fn check(config: &Config) -> Result<(), ConfigError> {
    let center = &config.center;
    not_empty("center.name", &center.name)?;
    not_empty("center.target", &center.target)?;
    let calendar = center.calendar();
    check_calendar("center", &calendar)?;
    let can_close = center.hours.as_ref().is_some_and(|h| !h.always_open())
        || !center.closed.is_empty()
        || !center.special_hours.is_empty();
    match &center.out_of_hours {
        Some(d) => d.check("center.out_of_hours")?,
        None if can_close => {
            return Err(ConfigError::new(
                "center.out_of_hours",
                "required, because the center's hours or dates close it at times; give \
                 `{ target = \"…\" }` or `{ announcement = \"…\" }`",
            ));
        }
        None => {}
    }

    if config.departments.is_empty() {
        return Err(ConfigError::new(
            "departments",
            "declare at least one department, e.g. `[departments.buergerbuero]`",
        ));
    }
    for (id, d) in &config.departments {
        let key = format!("departments.{id}");
        not_empty(&key, id)?;
        not_empty(&format!("{key}.name"), &d.name)?;
        not_empty(&format!("{key}.target"), &d.target)?;
        if let Some(a) = &d.authority {
            not_empty(&format!("{key}.authority"), a)?;
        }
        check_calendar(&key, &d.calendar())?;
    }

    if config.concerns.is_empty() {
        return Err(ConfigError::new(
            "concerns",
            "declare at least one concern, e.g. `[concerns.personalausweis]`",
        ));
    }
    let department = |key: String, id: &str| -> Result<(), ConfigError> {
        if config.departments.contains_key(id) {
            Ok(())
        } else {
            Err(ConfigError::new(
                key,
                format!(
                    "no department {id:?} (departments: {})",
                    ids(&config.departments)
                ),
            ))
        }
    };
    let mut directory = Directory::default();
    for id in config.concerns.keys() {
        if normalize(id).is_empty() {
            return Err(ConfigError::new(
                format!("concerns.{id}"),
                "the id must have a letter or digit",
            ));
        }
        let claim = Claim {
            concern: id,
            by: Match::Id,
            text: id,
        };
        if let Some(earlier) = directory.claim(id, claim) {
            return Err(ConfigError::new(
                format!("concerns.{id}"),
                format!(
                    "matches concern {:?}: ids are compared without case, spaces and hyphens",
                    earlier.concern
                ),
            ));
        }
    }
    for (id, concern) in &config.concerns {
        department(format!("concerns.{id}.department"), &concern.department)?;
        for (i, synonym) in concern.synonyms.iter().enumerate() {
            let key = format!("concerns.{id}.synonyms[{i}]");
            if normalize(synonym).is_empty() {
                return Err(ConfigError::new(key, "must have a letter or digit"));
            }
            let claim = Claim {
                concern: id,
                by: Match::Synonym,
                text: synonym,
            };
            if let Some(earlier) = directory.claim(synonym, claim) {
                let whose = if earlier.concern == id {
                    "this concern".to_owned()
                } else {
                    format!("concern {:?}", earlier.concern)
                };
                let how = match earlier.by {
                    Match::Id => "as its id".to_owned(),
                    Match::Synonym => format!("as synonym {:?}", earlier.text),
                };
                return Err(ConfigError::new(
                    key,
                    format!(
                        "{synonym:?} is already claimed by {whose} ({how}); synonyms are \
                         compared without case, spaces and hyphens"
                    ),
                ));
            }
        }
    }

    if let Some(d) = &config.default {
        department("default".to_owned(), d)?;
    }

    if let Some(v) = &config.knowledge_version {
        not_empty("knowledge_version", v)?;
    } else if !config.knowledge.is_empty() {
        return Err(ConfigError::new(
            "knowledge_version",
            "required with a knowledge base, e.g. `knowledge_version = \"2026-11-19.1\"`; \
             agents see it with every answer",
        ));
    }
    let mut entries: BTreeMap<&str, usize> = BTreeMap::new();
    for (i, entry) in config.knowledge.iter().enumerate() {
        if entry.id.trim().is_empty() {
            return Err(ConfigError::new(
                format!("knowledge[{i}].id"),
                "must not be empty",
            ));
        }
        let key = entry.key(i);
        if let Some(first) = entries.insert(&entry.id, i) {
            return Err(ConfigError::new(
                key,
                format!("the id is already used by knowledge[{first}]"),
            ));
        }
        if entry.question.trim().is_empty() {
            return Err(ConfigError::new(key, "question must not be empty"));
        }
        if entry.answer.trim().is_empty() {
            return Err(ConfigError::new(key, "answer must not be empty"));
        }
        if entry.concerns.is_empty() {
            return Err(ConfigError::new(
                key,
                "concerns: name at least one concern the answer belongs to",
            ));
        }
        for (j, c) in entry.concerns.iter().enumerate() {
            if !config.concerns.contains_key(c) {
                return Err(ConfigError::new(
                    key,
                    format!(
                        "unknown concern {c:?} (concerns: {})",
                        ids(&config.concerns)
                    ),
                ));
            }
            if entry.concerns[..j].contains(c) {
                return Err(ConfigError::new(
                    key,
                    format!("concern {c:?} is listed twice"),
                ));
            }
        }
        if let (Some(from), Some(until)) = (entry.valid_from, entry.valid_until)
            && until <= from
        {
            return Err(ConfigError::new(
                key,
                format!("valid_until {until} is not after valid_from {from}"),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A small, valid configuration (the host hands TOML over as JSON).
    pub(crate) const BASE: &str = r#"{
        "center": {"name": "Servicecenter", "target": "sc",
                   "hours": {"mon": ["08:00-17:00"], "thu": ["08:00-18:00"]},
                   "closed": ["2026-12-25"],
                   "out_of_hours": {"announcement": "geschlossen"}},
        "departments": {
            "kfz-stelle": {"name": "Kfz-Zulassungsstelle", "authority": "kreis", "target": "kreis-kfz",
                           "hours": {"thu": ["07:30-12:30", "14:00-17:30"]}},
            "sozialamt": {"name": "Sozialamt", "authority": "stadt", "target": "stadt-soziales",
                          "hours": {"thu": ["08:30-12:00"]}}},
        "concerns": {
            "kfz-zulassung": {"department": "kfz-stelle", "synonyms": ["Auto anmelden"]},
            "wohngeld": {"department": "sozialamt", "synonyms": ["Mietzuschuss"]}},
        "knowledge_version": "2026-11-19.1",
        "knowledge": [
            {"id": "wg-alt", "question": "Formular?", "answer": "WG-1", "concerns": ["wohngeld"],
             "valid_until": "2026-11-19T12:00"},
            {"id": "wg-neu", "question": "Formular?", "answer": "WG-2", "concerns": ["wohngeld"],
             "valid_from": "2026-11-19T12:00"}]
    }"#;

    fn parse(json: &str) -> Result<Config, ConfigError> {
        let config: Config = leitstand_sdk::config::parse(json)?;
        check(&config)?;
        Ok(config)
    }

    /// `BASE` with the JSON pointer `path` set to `value` (`null` removes the key).
    fn with(path: &str, value: serde_json::Value) -> String {
        let mut base: serde_json::Value = serde_json::from_str(BASE).expect("base");
        let (parent, last) = path.rsplit_once('/').expect("a pointer");
        let target = base.pointer_mut(parent).expect("parent exists");
        match (target, value) {
            (serde_json::Value::Object(m), serde_json::Value::Null) => {
                m.remove(last);
            }
            (serde_json::Value::Object(m), v) => {
                m.insert(last.to_owned(), v);
            }
            (serde_json::Value::Array(a), v) => {
                let i: usize = last.parse().expect("index");
                if i < a.len() {
                    a[i] = v;
                } else {
                    a.push(v);
                }
            }
            _ => panic!("{path}: not a container"),
        }
        base.to_string()
    }

    fn refused(path: &str, value: serde_json::Value) -> String {
        match parse(&with(path, value)) {
            Ok(_) => panic!("accepted: {path}"),
            Err(e) => e.to_string(),
        }
    }

    use serde_json::json;

    #[test]
    fn the_base_config_is_accepted() {
        let c = parse(BASE).expect("valid");
        assert_eq!(c.departments.len(), 2);
        assert_eq!(
            c.knowledge[0].valid_until.map(|m| m.to_string()).as_deref(),
            Some("2026-11-19T12:00")
        );
        // Without hours and dates the center needs no out-of-hours destination.
        parse(&with(
            "/center",
            json!({"name": "Servicecenter", "target": "sc"}),
        ))
        .expect("always open");
    }

    #[test]
    fn broken_references_name_the_entry() {
        assert_eq!(
            refused(
                "/concerns/kfz-zulassung",
                json!({"department": "kfz", "synonyms": []})
            ),
            "concerns.kfz-zulassung.department: no department \"kfz\" (departments: kfz-stelle, sozialamt)"
        );
        assert_eq!(
            refused("/knowledge/1/concerns", json!(["wohngld"])),
            "knowledge[1] (id wg-neu): unknown concern \"wohngld\" (concerns: kfz-zulassung, wohngeld)"
        );
        assert_eq!(
            refused("/default", json!("buergerbuero")),
            "default: no department \"buergerbuero\" (departments: kfz-stelle, sozialamt)"
        );
        parse(&with("/default", json!("sozialamt"))).expect("a known default");
    }

    #[test]
    fn a_synonym_claimed_twice_is_refused() {
        assert_eq!(
            refused(
                "/concerns/wohngeld/synonyms",
                json!(["Mietzuschuss", "auto-anmelden"])
            ),
            "concerns.wohngeld.synonyms[1]: \"auto-anmelden\" is already claimed by concern \
             \"kfz-zulassung\" (as synonym \"Auto anmelden\"); synonyms are compared without \
             case, spaces and hyphens"
        );
        let e = refused("/concerns/wohngeld/synonyms", json!(["KFZ Zulassung"]));
        assert!(
            e.starts_with("concerns.wohngeld.synonyms[0]: \"KFZ Zulassung\" is already claimed by concern \"kfz-zulassung\" (as its id)"),
            "{e}"
        );
        let e = refused("/concerns/wohngeld/synonyms", json!(["Wohn-Geld"]));
        assert!(
            e.contains("already claimed by this concern (as its id)"),
            "{e}"
        );
        let e = refused("/concerns/Wohn Geld", json!({"department": "sozialamt"}));
        assert!(
            e.starts_with("concerns.wohngeld: matches concern \"Wohn Geld\""),
            "{e}"
        );
        let e = refused("/concerns/wohngeld/synonyms", json!([" - "]));
        assert_eq!(
            e,
            "concerns.wohngeld.synonyms[0]: must have a letter or digit"
        );
    }

    #[test]
    fn knowledge_entries_are_checked() {
        let e = refused(
            "/knowledge/1",
            json!({"id": "wg-alt", "question": "Q", "answer": "A", "concerns": ["wohngeld"]}),
        );
        assert_eq!(
            e,
            "knowledge[1] (id wg-alt): the id is already used by knowledge[0]"
        );
        let e = refused(
            "/knowledge/1",
            json!({"id": "x", "question": "Q", "answer": "A", "concerns": ["wohngeld"],
                   "valid_from": "2026-11-20", "valid_until": "2026-11-19T23:59"}),
        );
        assert_eq!(
            e,
            "knowledge[1] (id x): valid_until 2026-11-19T23:59 is not after valid_from 2026-11-20T00:00"
        );
        let e = refused(
            "/knowledge/1",
            json!({"id": "x", "question": "Q", "answer": "A", "concerns": ["wohngeld"],
                   "valid_from": "2026-11-20", "valid_until": "2026-11-20"}),
        );
        assert!(e.contains("is not after valid_from"), "{e}");
        let e = refused(
            "/knowledge/1",
            json!({"id": "x", "question": "Q", "answer": "A", "concerns": [],}),
        );
        assert!(
            e.starts_with("knowledge[1] (id x): concerns: name at least one"),
            "{e}"
        );
        let e = refused(
            "/knowledge/1",
            json!({"id": "x", "question": "Q", "answer": " ", "concerns": ["wohngeld"]}),
        );
        assert_eq!(e, "knowledge[1] (id x): answer must not be empty");
        let e = refused(
            "/knowledge/1",
            json!({"id": "x", "question": "Q", "answer": "A", "concerns": ["wohngeld"],
                   "valid_from": "19.11.2026"}),
        );
        assert!(
            e.starts_with("knowledge[1].valid_from: \"19.11.2026\" is not a local date"),
            "{e}"
        );
        let e = refused("/knowledge_version", serde_json::Value::Null);
        assert!(e.starts_with("knowledge_version: required"), "{e}");
        let e = refused("/knowledge/1/anwser", json!("typo"));
        assert!(
            e.starts_with("knowledge[1].anwser: unknown field `anwser`"),
            "{e}"
        );
    }

    #[test]
    fn hours_and_dates_are_checked() {
        let e = refused(
            "/departments/kfz-stelle/hours",
            json!({"thu": ["07:30-12:30", "12:00-17:30"]}),
        );
        assert_eq!(
            e,
            "departments.kfz-stelle.hours.thu[1]: 12:00-17:30 overlaps departments.kfz-stelle.hours.thu[0] (07:30-12:30)"
        );
        let e = refused(
            "/departments/kfz-stelle/hours",
            json!({"thu": ["17:30-07:30"]}),
        );
        assert!(
            e.starts_with("departments.kfz-stelle.hours.thu[0]: \"17:30-07:30\": the opening must be before the closing"),
            "{e}"
        );
        let e = refused("/departments/kfz-stelle/hours", serde_json::Value::Null);
        assert_eq!(e, "departments.kfz-stelle: missing field `hours`");
        let e = refused(
            "/departments/kfz-stelle/closed",
            json!(["2026-12-24", "2026-12-24"]),
        );
        assert_eq!(
            e,
            "departments.kfz-stelle.closed[1]: 2026-12-24 is listed twice"
        );
        let e = refused(
            "/center/special_hours",
            json!({"2026-12-25": ["08:00-12:00"]}),
        );
        assert!(
            e.starts_with("center.special_hours.2026-12-25: 2026-12-25 is also listed in `closed`"),
            "{e}"
        );
        let e = refused(
            "/center/special_hours",
            json!({"2026-12-32": ["08:00-12:00"]}),
        );
        assert!(e.starts_with("center.special_hours"), "{e}");
        assert!(e.contains("\"2026-12-32\" is not a date YYYY-MM-DD"), "{e}");
        let e = refused("/center/special_hours", json!({"2026-12-24": []}));
        assert!(
            e.starts_with("center.special_hours.2026-12-24: an empty list"),
            "{e}"
        );
        let e = refused("/center/out_of_hours", serde_json::Value::Null);
        assert!(e.starts_with("center.out_of_hours: required"), "{e}");
        let e = refused(
            "/center/out_of_hours",
            json!({"target": "a", "announcement": "b"}),
        );
        assert_eq!(
            e,
            "center.out_of_hours: give either `target` or `announcement`, not both"
        );
    }

    #[test]
    fn unknown_keys_and_empty_tables_are_refused() {
        let e = refused("/departmens", json!({}));
        assert!(
            e.starts_with("departmens: unknown field `departmens`"),
            "{e}"
        );
        let e = refused("/departments/kfz-stelle/opening", json!("24/7"));
        assert!(
            e.starts_with("departments.kfz-stelle.opening: unknown field `opening`"),
            "{e}"
        );
        let e = refused("/departments", json!({}));
        assert!(
            e.starts_with("departments: declare at least one department"),
            "{e}"
        );
        let e = refused("/concerns", json!({}));
        assert!(
            e.starts_with("concerns: declare at least one concern"),
            "{e}"
        );
        let e = refused("/center/target", json!(""));
        assert_eq!(e, "center.target: must not be empty");
    }
}
