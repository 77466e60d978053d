//! The routing decision for one offered call, from the configuration, the call's concern
//! and the local wall time. Pure: the unit tests call it directly.
//!
//! The first rule that applies decides:
//!
//! 1. The center is closed (its hours, a closed date, a date's own hours): the center's
//!    out-of-hours destination, reason `out-of-hours` (by the weekly hours) or `holiday`
//!    (by a date).
//! 2. The call names no concern, or one the directory does not know and there is no
//!    `default` department: the center, reason `center`.
//! 3. The responsible department (the concern's, or `default` for an unknown concern) is
//!    open: its target, reason `department`.
//! 4. It is closed: the center, reason `department-closed`, with `callback: true` and a note
//!    for the agent saying the department is closed and when it opens again.

use leitstand_sdk::chrono::NaiveDateTime;
use leitstand_sdk::{CallOffered, Command};

use crate::calendar::{Openness, reopening_de};
use crate::concern::{Directory, Match};
use crate::config::{Config, Department};

/// Why a call goes where it goes; the route's `reason`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    /// To the responsible department, which is open.
    Department,
    /// The responsible department is closed: to the center, with a callback note.
    DepartmentClosed,
    /// No department is responsible (no concern, or an unknown one and no default).
    Center,
    /// The center is closed by its weekly hours.
    OutOfHours,
    /// The center is closed by a date (closed all day, or outside the date's own hours).
    Holiday,
}

impl Reason {
    /// The value of the route's `reason`.
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::Department => "department",
            Reason::DepartmentClosed => "department-closed",
            Reason::Center => "center",
            Reason::OutOfHours => "out-of-hours",
            Reason::Holiday => "holiday",
        }
    }

    /// The plugin's counter for routes of this reason.
    pub fn metric(self) -> &'static str {
        match self {
            Reason::Department => "routes_department",
            Reason::DepartmentClosed => "routes_department_closed",
            Reason::Center => "routes_center",
            Reason::OutOfHours => "routes_out_of_hours",
            Reason::Holiday => "routes_holiday",
        }
    }
}

/// How the call's concern was understood; the route's `concern_match`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConcernMatch {
    /// Found by a concern's id or synonym.
    Found(Match),
    /// Given, but no concern claims it.
    Unknown,
    /// The call carries no concern.
    Missing,
}

impl ConcernMatch {
    /// The value of the route's `concern_match`.
    pub fn as_str(self) -> &'static str {
        match self {
            ConcernMatch::Found(m) => m.as_str(),
            ConcernMatch::Unknown => "unknown",
            ConcernMatch::Missing => "missing",
        }
    }
}

/// The decision about one call.
#[derive(Debug, Clone)]
pub struct Route<'c> {
    /// Where the call goes.
    pub target: &'c str,
    /// Why.
    pub reason: Reason,
    /// Whether `target` is an announcement.
    pub announcement: bool,
    /// The concern: its id when found, else the text as given (trimmed).
    pub concern: Option<String>,
    /// How the concern was understood.
    pub concern_match: ConcernMatch,
    /// The responsible department, when there is one: its id and configuration.
    pub department: Option<(&'c str, &'c Department)>,
    /// Whether the agent should offer the caller a callback.
    pub callback: bool,
    /// A note for the agent (German), with a callback.
    pub note: Option<String>,
    /// When the closed department opens again (local), with a callback.
    pub reopens: Option<NaiveDateTime>,
}

impl Route<'_> {
    /// The concern id to remember for the answer: only a concern the directory knows.
    pub fn known_concern(&self) -> Option<&str> {
        match self.concern_match {
            ConcernMatch::Found(_) => self.concern.as_deref(),
            _ => None,
        }
    }

    /// The `call.route` command: the fields of the field's other routing plugins
    /// (`call_id`, `queue`, `target`, `reason`, `announcement`) and the switchboard's own
    /// (`callback`, `concern_match`, and when they apply `concern`, `department`,
    /// `department_name`, `authority`, `note`, `reopens`).
    pub fn command(&self, call: &CallOffered) -> Command {
        let (department, name, authority) = match self.department {
            Some((id, d)) => (Some(id), Some(d.name.as_str()), d.authority.as_deref()),
            None => (None, None, None),
        };
        Command::route(&call.call_id, self.target)
            .with("queue", &call.queue)
            .with("reason", self.reason.as_str())
            .with("announcement", self.announcement)
            .with("callback", self.callback)
            .with_opt("concern", self.concern.as_deref())
            .with("concern_match", self.concern_match.as_str())
            .with_opt("department", department)
            .with_opt("department_name", name)
            .with_opt("authority", authority)
            .with_opt("note", self.note.as_deref())
            .with_opt(
                "reopens",
                self.reopens.map(|t| t.format("%Y-%m-%dT%H:%M").to_string()),
            )
    }
}

/// Decides where a call with `concern` goes at `local`, the tenant's wall-clock time.
pub fn decide<'c>(
    config: &'c Config,
    directory: &Directory<'c>,
    concern: Option<&str>,
    local: NaiveDateTime,
) -> Route<'c> {
    let given = concern.map(str::trim).filter(|c| !c.is_empty());
    let (concern, concern_match, department_id) = match given {
        None => (None, ConcernMatch::Missing, None),
        Some(text) => match directory.find(text) {
            Some(claim) => (
                Some(claim.concern.to_owned()),
                ConcernMatch::Found(claim.by),
                config
                    .concerns
                    .get(claim.concern)
                    .map(|c| c.department.as_str()),
            ),
            None => (
                Some(text.to_owned()),
                ConcernMatch::Unknown,
                config.default.as_deref(),
            ),
        },
    };
    let department = department_id.and_then(|id| {
        config
            .departments
            .get_key_value(id)
            .map(|(id, d)| (id.as_str(), d))
    });
    let center = &config.center;
    let mut route = Route {
        target: &center.target,
        reason: Reason::Center,
        announcement: false,
        concern,
        concern_match,
        department,
        callback: false,
        note: None,
        reopens: None,
    };

    if let Openness::Closed { by_date } = center.calendar().at(local) {
        let (target, announcement) = center
            .out_of_hours
            .as_ref()
            .map_or((center.target.as_str(), false), |d| d.resolve());
        route.target = target;
        route.announcement = announcement;
        route.reason = if by_date {
            Reason::Holiday
        } else {
            Reason::OutOfHours
        };
        return route;
    }
    let Some((_, dept)) = department else {
        return route;
    };
    let calendar = dept.calendar();
    if calendar.at(local) == Openness::Open {
        route.target = &dept.target;
        route.reason = Reason::Department;
        return route;
    }
    route.reason = Reason::DepartmentClosed;
    route.callback = true;
    route.reopens = calendar.next_opening(local);
    route.note = Some(match route.reopens {
        Some(opens) => format!(
            "{} derzeit geschlossen – Rückruf anbieten (wieder erreichbar {})",
            dept.name,
            reopening_de(local, opens)
        ),
        None => format!("{} derzeit geschlossen – Rückruf anbieten", dept.name),
    });
    route
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    fn config(default: Option<&str>) -> Config {
        let mut v = json!({
            "center": {"name": "Servicecenter Soest", "target": "soest",
                       "hours": {"mon": ["08:00-17:00"], "thu": ["08:00-18:00"], "fri": ["08:00-13:00"]},
                       "closed": ["2026-12-25"],
                       "out_of_hours": {"announcement": "servicecenter-geschlossen"}},
            "departments": {
                "kfz-stelle": {"name": "Kfz-Zulassungsstelle", "authority": "kreis", "target": "kreis-kfz",
                               "hours": {"mon": ["07:30-12:30"], "thu": ["07:30-12:30", "14:00-17:30"],
                                         "fri": ["07:30-12:30"]}},
                "buergerbuero": {"name": "Bürgerbüro", "authority": "stadt", "target": "stadt-buergerbuero",
                                 "hours": {"thu": ["08:00-18:00"]}}},
            "concerns": {
                "kfz-zulassung": {"department": "kfz-stelle", "synonyms": ["Auto anmelden"]},
                "personalausweis": {"department": "buergerbuero"}}
        });
        if let Some(d) = default {
            v["default"] = Value::String(d.to_owned());
        }
        let c: Config = leitstand_sdk::config::parse(&v.to_string()).expect("config");
        crate::config::check(&c).expect("valid");
        c
    }

    fn local(text: &str) -> NaiveDateTime {
        NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S").expect("local time")
    }

    fn route<'c>(c: &'c Config, concern: Option<&str>, at: &str) -> Route<'c> {
        decide(c, &Directory::new(c), concern, local(at))
    }

    #[test]
    fn a_synonym_routes_to_the_open_department() {
        let c = config(None);
        for text in ["Auto anmelden", "kfz zulassung", " Kfz-Zulassung "] {
            let r = route(&c, Some(text), "2026-11-19T10:00:00");
            assert_eq!(r.target, "kreis-kfz", "{text}");
            assert_eq!(r.reason, Reason::Department);
            assert_eq!(r.concern.as_deref(), Some("kfz-zulassung"));
            assert!(!r.callback);
        }
        assert_eq!(
            route(&c, Some("Auto anmelden"), "2026-11-19T10:00:00").concern_match,
            ConcernMatch::Found(Match::Synonym)
        );
    }

    #[test]
    fn a_closed_department_sends_the_call_to_the_center_with_a_callback_note() {
        let c = config(None);
        let open = route(&c, Some("kfz-zulassung"), "2026-11-19T12:29:00");
        assert_eq!(open.target, "kreis-kfz");
        let closed = route(&c, Some("kfz-zulassung"), "2026-11-19T12:30:00");
        assert_eq!(closed.target, "soest");
        assert_eq!(closed.reason, Reason::DepartmentClosed);
        assert!(closed.callback);
        assert_eq!(
            closed.note.as_deref(),
            Some(
                "Kfz-Zulassungsstelle derzeit geschlossen – Rückruf anbieten (wieder erreichbar heute ab 14:00)"
            )
        );
        assert_eq!(closed.reopens, Some(local("2026-11-19T14:00:00")));
        let evening = route(&c, Some("kfz-zulassung"), "2026-11-19T17:30:00");
        assert_eq!(
            evening.note.as_deref(),
            Some(
                "Kfz-Zulassungsstelle derzeit geschlossen – Rückruf anbieten (wieder erreichbar morgen ab 07:30)"
            )
        );
    }

    #[test]
    fn unknown_and_missing_concerns() {
        let c = config(None);
        let r = route(&c, Some("Hundesteuer"), "2026-11-19T10:00:00");
        assert_eq!((r.target, r.reason), ("soest", Reason::Center));
        assert_eq!(r.concern_match, ConcernMatch::Unknown);
        assert_eq!(r.concern.as_deref(), Some("Hundesteuer"));
        assert_eq!(r.known_concern(), None);
        let c = config(Some("buergerbuero"));
        let r = route(&c, Some("Hundesteuer"), "2026-11-19T10:00:00");
        assert_eq!(
            (r.target, r.reason),
            ("stadt-buergerbuero", Reason::Department)
        );
        let r = route(&c, None, "2026-11-19T10:00:00");
        assert_eq!((r.target, r.reason), ("soest", Reason::Center));
        assert_eq!(r.concern_match, ConcernMatch::Missing);
        let r = route(&c, Some("  "), "2026-11-19T10:00:00");
        assert_eq!(r.concern_match, ConcernMatch::Missing);
    }

    #[test]
    fn a_closed_center_plays_its_announcement() {
        let c = config(None);
        let r = route(&c, Some("kfz-zulassung"), "2026-11-19T18:00:00");
        assert_eq!(
            (r.target, r.reason, r.announcement),
            ("servicecenter-geschlossen", Reason::OutOfHours, true)
        );
        assert_eq!(r.known_concern(), Some("kfz-zulassung"));
        let r = route(&c, Some("kfz-zulassung"), "2026-12-25T10:00:00");
        assert_eq!(r.reason, Reason::Holiday);
    }

    #[test]
    fn the_command_keeps_the_routing_plugins_shape() {
        let c = config(None);
        let call = CallOffered {
            call_id: "c1".into(),
            queue: "kreis".into(),
            site: None,
            priority: Default::default(),
            concern: Some("Auto anmelden".into()),
            caller_ref: Some("p-1".into()),
        };
        let r = route(&c, call.concern.as_deref(), "2026-11-19T13:00:00");
        assert_eq!(
            Value::Object(r.command(&call).data),
            json!({"call_id": "c1", "queue": "kreis", "target": "soest",
                   "reason": "department-closed", "announcement": false, "callback": true,
                   "concern": "kfz-zulassung", "concern_match": "synonym",
                   "department": "kfz-stelle", "department_name": "Kfz-Zulassungsstelle",
                   "authority": "kreis",
                   "note": "Kfz-Zulassungsstelle derzeit geschlossen – Rückruf anbieten (wieder erreichbar heute ab 14:00)",
                   "reopens": "2026-11-19T14:00"})
        );
    }
}
