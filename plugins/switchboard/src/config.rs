//! The switchboard's configuration: the bundle's `[plugins.config]` table, parsed into typed
//! values (names, targets, answers, validity moments are checked while parsing, so a serde
//! error already names the key) and then checked as a whole: references between concerns,
//! departments, the default and the knowledge base, synonyms claimed twice and validity
//! windows by [`check`]; the calendars it names by [`check_calendars`], which asks the host.
//! Every error names the entry and the key.
//!
//! When the center and the departments are open is not the switchboard's to say: the
//! tenant declares its calendar once in its bundle (`[calendar]`), and each department's
//! as a named calendar that inherits it (`[calendars.<name>]`); the switchboard names them
//! and asks the host.

use std::collections::BTreeMap;
use std::fmt;

use leitstand_sdk::ConfigError;
use leitstand_sdk::calendar::{self, Calendar};
use leitstand_sdk::chrono::{NaiveDate, NaiveDateTime};
pub use leitstand_sdk::config::Destination;
use leitstand_sdk::config::{Keys, NonEmpty, NonEmptyString, not_empty};
use serde::Deserialize;
use serde::de::{self, Deserializer};

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
    pub knowledge_version: Option<NonEmptyString>,
    /// The knowledge base: answers agents see when they take a call about a concern.
    #[serde(default)]
    pub knowledge: Vec<Entry>,
    /// The directory of the concerns, built on first use and kept with the configuration,
    /// which the host prepares once per instance.
    #[serde(skip)]
    directory: std::cell::OnceCell<Directory>,
}

impl Config {
    /// The directory of the concerns and their synonyms by normal form.
    pub fn directory(&self) -> &Directory {
        self.directory.get_or_init(|| Directory::new(self))
    }
}

/// `center`: the service center's own target, calendar and out-of-hours destination.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Center {
    /// The center's name, for notes.
    pub name: NonEmptyString,
    /// The center's own queue or transfer target.
    pub target: NonEmptyString,
    /// The center's calendar, a named calendar of the bundle; absent: the tenant's own.
    #[serde(default)]
    pub calendar: Option<NonEmptyString>,
    /// Where calls go while the center is closed.
    #[serde(default)]
    pub out_of_hours: Option<Destination>,
}

impl Center {
    /// The center's calendar.
    pub fn calendar(&self) -> Calendar<'_> {
        Calendar::of(self.calendar.as_deref())
    }
}

/// One department of `departments`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Department {
    /// Its name, as agents and callers know it (`Kfz-Zulassungsstelle`).
    pub name: NonEmptyString,
    /// The authority it belongs to (`stadt`, `kreis`), passed on in routes.
    #[serde(default)]
    pub authority: Option<NonEmptyString>,
    /// Its queue or transfer target.
    pub target: NonEmptyString,
    /// Its telephone hours: a named calendar of the bundle (`[calendars.<name>]`, which
    /// inherits the tenant's holidays unless it says otherwise); absent: the tenant's own.
    #[serde(default)]
    pub calendar: Option<NonEmptyString>,
}

impl Department {
    /// The department's calendar.
    pub fn calendar(&self) -> Calendar<'_> {
        Calendar::of(self.calendar.as_deref())
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
    pub id: NonEmptyString,
    /// The question the answer answers.
    pub question: NonEmptyString,
    /// The answer.
    pub answer: NonEmptyString,
    /// The concerns (ids) the answer belongs to.
    pub concerns: NonEmpty<String>,
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

/// Checks what serde cannot and the host need not: references between keys, names claimed
/// twice, validity windows, keys required by others.
pub fn check(config: &Config) -> Result<(), ConfigError> {
    if let Some(d) = &config.center.out_of_hours {
        d.check("center.out_of_hours")?;
    }
    if config.departments.is_empty() {
        return Err(ConfigError::new(
            "departments",
            "declare at least one department, e.g. `[departments.buergerbuero]`",
        ));
    }
    for id in config.departments.keys() {
        not_empty("departments", id)?;
    }
    if config.concerns.is_empty() {
        return Err(ConfigError::new(
            "concerns",
            "declare at least one concern, e.g. `[concerns.personalausweis]`",
        ));
    }
    let departments = Keys::of("department", "departments", &config.departments);
    let concerns = Keys::of("concern", "concerns", &config.concerns);
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
        departments.check(&format!("concerns.{id}.department"), &concern.department)?;
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
        departments.check("default", d)?;
    }

    if config.knowledge_version.is_none() && !config.knowledge.is_empty() {
        return Err(ConfigError::new(
            "knowledge_version",
            "required with a knowledge base, e.g. `knowledge_version = \"2026-11-19.1\"`; \
             agents see it with every answer",
        ));
    }
    let mut ids: BTreeMap<&str, usize> = BTreeMap::new();
    for (i, entry) in config.knowledge.iter().enumerate() {
        let key = entry.key(i);
        if let Some(first) = ids.insert(entry.id.as_str(), i) {
            return Err(ConfigError::new(
                key,
                format!("the id is already used by knowledge[{first}]"),
            ));
        }
        concerns.check_each(&format!("{key}.concerns"), &entry.concerns)?;
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

/// Checks what only the tenant's bundle can say, asking the host: the calendars the center
/// and the departments name exist, and the center has a destination for its closed hours
/// unless its calendar never closes.
pub fn check_calendars(config: &Config) -> Result<(), ConfigError> {
    let center = &config.center;
    calendar::check_name("center.calendar", center.calendar.as_deref())?;
    for (id, d) in &config.departments {
        calendar::check_name(&format!("departments.{id}.calendar"), d.calendar.as_deref())?;
    }
    let always_open = center
        .calendar()
        .always_open()
        .map_err(|e| ConfigError::new("center.calendar", leitstand_sdk::message(&e)))?;
    if center.out_of_hours.is_none() && !always_open {
        return Err(ConfigError::new(
            "center.out_of_hours",
            format!(
                "required, because the calendar {:?} closes the center at times; give \
                 `{{ target = \"…\" }}` or `{{ announcement = \"…\" }}`",
                center.calendar().name()
            ),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A small, valid configuration (the host hands TOML over as JSON).
    pub(crate) const BASE: &str = r#"{
        "center": {"name": "Servicecenter", "target": "sc",
                   "out_of_hours": {"announcement": "geschlossen"}},
        "departments": {
            "kfz-stelle": {"name": "Kfz-Zulassungsstelle", "authority": "kreis", "target": "kreis-kfz",
                           "calendar": "kfz-stelle"},
            "sozialamt": {"name": "Sozialamt", "authority": "stadt", "target": "stadt-soziales",
                          "calendar": "stadt"}},
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
        assert_eq!(c.center.calendar().name(), "tenant");
        assert_eq!(c.departments["sozialamt"].calendar().name(), "stadt");
        // The destination for closed hours is the host's to require (the calendar knows
        // whether the center closes); without a calendar named, the tenant's applies.
        parse(&with(
            "/center",
            json!({"name": "Servicecenter", "target": "sc"}),
        ))
        .expect("checked against the calendar later");
    }

    #[test]
    fn broken_references_name_the_entry() {
        assert_eq!(
            refused(
                "/concerns/kfz-zulassung",
                json!({"department": "kfz", "synonyms": []})
            ),
            "concerns.kfz-zulassung.department: \"kfz\" is not a department of `departments` \
             (kfz-stelle, sozialamt)"
        );
        assert_eq!(
            refused("/knowledge/1/concerns", json!(["wohngld"])),
            "knowledge[1] (id wg-neu).concerns[0]: \"wohngld\" is not a concern of `concerns` \
             (kfz-zulassung, wohngeld)"
        );
        assert_eq!(
            refused("/default", json!("buergerbuero")),
            "default: \"buergerbuero\" is not a department of `departments` (kfz-stelle, sozialamt)"
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
            json!({"id": "x", "question": "Q", "answer": "A", "concerns": []}),
        );
        assert_eq!(
            e,
            "knowledge[1].concerns: must not be empty; name at least one"
        );
        let e = refused(
            "/knowledge/1",
            json!({"id": "x", "question": "Q", "answer": "A", "concerns": ["wohngeld", "wohngeld"]}),
        );
        assert_eq!(
            e,
            "knowledge[1] (id x).concerns[1]: \"wohngeld\" is listed twice"
        );
        let e = refused(
            "/knowledge/1",
            json!({"id": "x", "question": "Q", "answer": " ", "concerns": ["wohngeld"]}),
        );
        assert_eq!(e, "knowledge[1].answer: must not be empty");
        let e = refused(
            "/knowledge/1",
            json!({"id": "", "question": "Q", "answer": "A", "concerns": ["wohngeld"]}),
        );
        assert_eq!(e, "knowledge[1].id: must not be empty");
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
        let e = refused("/knowledge_version", json!(""));
        assert_eq!(e, "knowledge_version: must not be empty");
        let e = refused("/knowledge/1/anwser", json!("typo"));
        assert!(
            e.starts_with("knowledge[1].anwser: unknown field `anwser`"),
            "{e}"
        );
    }

    #[test]
    fn opening_hours_are_the_calendars_not_the_switchboards() {
        let e = refused(
            "/departments/kfz-stelle/hours",
            json!({"thu": ["07:30-12:30"]}),
        );
        assert!(
            e.starts_with("departments.kfz-stelle.hours: unknown field `hours`"),
            "{e}"
        );
        let e = refused("/center/closed", json!(["2026-12-25"]));
        assert!(
            e.starts_with("center.closed: unknown field `closed`"),
            "{e}"
        );
        let e = refused("/departments/kfz-stelle/calendar", json!(""));
        assert_eq!(e, "departments.kfz-stelle.calendar: must not be empty");
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
        let e = refused("/departments/sozialamt/name", json!(" "));
        assert_eq!(e, "departments.sozialamt.name: must not be empty");
    }
}
