//! The routing decision for one offered call, from the configuration, the call's concern,
//! the local wall time and what the calendars say of the center and the department. Pure:
//! the plugin hands in the host's answers, the unit tests their own.
//!
//! The first rule that applies decides:
//!
//! 1. The center's calendar has it closed: the center's out-of-hours destination, reason
//!    `out-of-hours` (by the weekly hours) or `holiday` (on a public holiday, a closed day
//!    or a special day).
//! 2. The call names no concern, or one the directory does not know and there is no
//!    `default` department: the center, reason `center`.
//! 3. The responsible department (the concern's, or `default` for an unknown concern) is
//!    open: its target, reason `department`.
//! 4. It is closed: the center, reason `department-closed`, with `callback: true` and a note
//!    for the agent saying the department is closed and when it opens again.

use leitstand_sdk::chrono::NaiveDateTime;
use leitstand_sdk::{CallOffered, Command, Route as RouteCommand};

use crate::concern::{Directory, Match};
use crate::config::{Config, Department};
use crate::note;

/// What a place's calendar says at the call's time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Openness {
    /// Open.
    Open,
    /// Closed.
    Closed {
        /// Closed by a public holiday, a closed day or a special day, not by the weekly
        /// hours.
        by_date: bool,
        /// When it opens again (local wall time), if within [`note::LOOKAHEAD_DAYS`].
        reopens: Option<NaiveDateTime>,
    },
}

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
    pub fn command(&self, call: &CallOffered) -> RouteCommand {
        let (department, name, authority) = match self.department {
            Some((id, d)) => (Some(id), Some(d.name.as_str()), d.authority.as_deref()),
            None => (None, None, None),
        };
        Command::route(&call.call_id, self.target)
            .queue(&call.queue)
            .reason(self.reason.as_str())
            .announcement(self.announcement)
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

/// Decides where a call with `concern` goes at `local`, the tenant's wall-clock time, with
/// the center as its calendar has it (`center_hours`); `department_hours(d)` asks the
/// calendar of the responsible department, when there is one and the center is open.
pub fn decide<'c, E>(
    config: &'c Config,
    directory: &Directory,
    concern: Option<&str>,
    local: NaiveDateTime,
    center_hours: Openness,
    department_hours: impl FnOnce(&'c Department) -> Result<Openness, E>,
) -> Result<Route<'c>, E> {
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

    if let Openness::Closed { by_date, .. } = center_hours {
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
        return Ok(route);
    }
    let Some((_, dept)) = department else {
        return Ok(route);
    };
    let Openness::Closed { reopens, .. } = department_hours(dept)? else {
        route.target = &dept.target;
        route.reason = Reason::Department;
        return Ok(route);
    };
    route.reason = Reason::DepartmentClosed;
    route.callback = true;
    route.reopens = reopens;
    route.note = Some(note::closed_de(&dept.name, local, reopens));
    Ok(route)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};
    use std::convert::Infallible;

    fn config(default: Option<&str>) -> Config {
        let mut v = json!({
            "center": {"name": "Servicecenter Soest", "target": "soest",
                       "out_of_hours": {"announcement": "servicecenter-geschlossen"}},
            "departments": {
                "kfz-stelle": {"name": "Kfz-Zulassungsstelle", "authority": "kreis", "target": "kreis-kfz",
                               "calendar": "kfz-stelle"},
                "buergerbuero": {"name": "Bürgerbüro", "authority": "stadt", "target": "stadt-buergerbuero"}},
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

    const OPEN: Openness = Openness::Open;

    fn closed(by_date: bool, reopens: Option<&str>) -> Openness {
        Openness::Closed {
            by_date,
            reopens: reopens.map(local),
        }
    }

    /// The route at `at` with the center `center` and every department `department`.
    fn route<'c>(
        c: &'c Config,
        concern: Option<&str>,
        at: &str,
        center: Openness,
        department: Openness,
    ) -> Route<'c> {
        decide::<Infallible>(c, &Directory::new(c), concern, local(at), center, |_| {
            Ok(department)
        })
        .expect("infallible")
    }

    #[test]
    fn a_synonym_routes_to_the_open_department() {
        let c = config(None);
        for text in ["Auto anmelden", "kfz zulassung", " Kfz-Zulassung "] {
            let r = route(&c, Some(text), "2026-11-19T10:00:00", OPEN, OPEN);
            assert_eq!(r.target, "kreis-kfz", "{text}");
            assert_eq!(r.reason, Reason::Department);
            assert_eq!(r.concern.as_deref(), Some("kfz-zulassung"));
            assert!(!r.callback);
        }
        assert_eq!(
            route(&c, Some("Auto anmelden"), "2026-11-19T10:00:00", OPEN, OPEN).concern_match,
            ConcernMatch::Found(Match::Synonym)
        );
    }

    #[test]
    fn a_closed_department_sends_the_call_to_the_center_with_a_callback_note() {
        let c = config(None);
        let at = "2026-11-19T12:30:00";
        let lunch = closed(false, Some("2026-11-19T14:00:00"));
        let r = route(&c, Some("kfz-zulassung"), at, OPEN, lunch);
        assert_eq!(r.target, "soest");
        assert_eq!(r.reason, Reason::DepartmentClosed);
        assert!(r.callback);
        assert_eq!(
            r.note.as_deref(),
            Some(
                "Kfz-Zulassungsstelle derzeit geschlossen – Rückruf anbieten (wieder erreichbar heute ab 14:00)"
            )
        );
        assert_eq!(r.reopens, Some(local("2026-11-19T14:00:00")));
        let long = route(&c, Some("kfz-zulassung"), at, OPEN, closed(true, None));
        assert_eq!(
            long.note.as_deref(),
            Some("Kfz-Zulassungsstelle derzeit geschlossen – Rückruf anbieten")
        );
        assert_eq!(long.reopens, None);
    }

    #[test]
    fn the_departments_calendar_is_asked_only_when_the_center_is_open() {
        let c = config(None);
        let mut asked = Vec::new();
        let _ = decide::<Infallible>(
            &c,
            &Directory::new(&c),
            Some("kfz-zulassung"),
            local("2026-11-19T10:00:00"),
            OPEN,
            |d| {
                asked.push(d.calendar().name().to_owned());
                Ok(OPEN)
            },
        );
        assert_eq!(asked, ["kfz-stelle"]);
        let r = decide::<&str>(
            &c,
            &Directory::new(&c),
            Some("kfz-zulassung"),
            local("2026-11-19T19:00:00"),
            closed(false, None),
            |_| Err("not asked"),
        )
        .expect("not asked");
        assert_eq!(r.reason, Reason::OutOfHours);
    }

    #[test]
    fn unknown_and_missing_concerns() {
        let c = config(None);
        let at = "2026-11-19T10:00:00";
        let r = route(&c, Some("Hundesteuer"), at, OPEN, OPEN);
        assert_eq!((r.target, r.reason), ("soest", Reason::Center));
        assert_eq!(r.concern_match, ConcernMatch::Unknown);
        assert_eq!(r.concern.as_deref(), Some("Hundesteuer"));
        assert_eq!(r.known_concern(), None);
        let c = config(Some("buergerbuero"));
        let r = route(&c, Some("Hundesteuer"), at, OPEN, OPEN);
        assert_eq!(
            (r.target, r.reason),
            ("stadt-buergerbuero", Reason::Department)
        );
        let r = route(&c, None, at, OPEN, OPEN);
        assert_eq!((r.target, r.reason), ("soest", Reason::Center));
        assert_eq!(r.concern_match, ConcernMatch::Missing);
        let r = route(&c, Some("  "), at, OPEN, OPEN);
        assert_eq!(r.concern_match, ConcernMatch::Missing);
    }

    #[test]
    fn a_closed_center_plays_its_announcement() {
        let c = config(None);
        let r = route(
            &c,
            Some("kfz-zulassung"),
            "2026-11-19T18:00:00",
            closed(false, None),
            OPEN,
        );
        assert_eq!(
            (r.target, r.reason, r.announcement),
            ("servicecenter-geschlossen", Reason::OutOfHours, true)
        );
        assert_eq!(r.known_concern(), Some("kfz-zulassung"));
        let r = route(
            &c,
            Some("kfz-zulassung"),
            "2026-12-25T10:00:00",
            closed(true, None),
            OPEN,
        );
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
        let r = route(
            &c,
            call.concern.as_deref(),
            "2026-11-19T13:00:00",
            OPEN,
            closed(false, Some("2026-11-19T14:00:00")),
        );
        assert_eq!(
            Value::Object(r.command(&call).build().data),
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
