//! The routing decision for one offered call, from the configuration, what the calendar
//! says at the call's time, the local wall time and the sites' last statuses. Pure: the
//! plugin hands in the calendar's answers and how to read a site's status, the unit tests
//! hand in their own.
//!
//! Order of the rules (the first that applies decides):
//!
//! 1. `queues` set and the call's queue not in it: no route from this plugin.
//! 2. Emergency call and `emergency` configured (with `when = "always"`, or `"closed"` and
//!    the line closed): the emergency destination, reason `emergency`.
//! 3. Closed on a public holiday, a closed day or a special day: `holiday` (or
//!    `out_of_hours`), reason `holiday`.
//! 4. Closed by the weekly hours: `out_of_hours`, reason `out-of-hours`.
//! 5. Open: the duty site (the special day's site, else the shift's, else
//!    `duty.default_site`), reason `primary`, unless its capacity says full; then the first
//!    usable partner, reason `overflow`; if none, `overflow.when_all_full` or the primary,
//!    reason `all-full`.

use leitstand_sdk::calendar::Day;
use leitstand_sdk::chrono::NaiveDateTime;
use leitstand_sdk::{CallOffered, Command, Priority, Route as RouteCommand};

use crate::capacity::{self, Choice, SiteRecord, Skipped};
use crate::config::{Config, Destination, EmergencyWhen};
use crate::duty;

/// What the calendar says at a call's time: open or not, and the local day with the rule
/// that decided it (a holiday's name, a special day's label).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    /// Whether the calendar has the line open.
    pub open: bool,
    /// The local day the call falls on.
    pub day: Day,
}

/// Why a call goes where it goes; the route's `reason`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    /// To the duty site.
    Primary,
    /// The duty site is full: to a partner.
    Overflow,
    /// The duty site and every partner are full.
    AllFull,
    /// Closed by the weekly hours.
    OutOfHours,
    /// Closed by a special day (all day, or outside its own hours).
    Holiday,
    /// An emergency call to the emergency destination.
    Emergency,
}

impl Reason {
    /// The value of the route's `reason`.
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::Primary => "primary",
            Reason::Overflow => "overflow",
            Reason::AllFull => "all-full",
            Reason::OutOfHours => "out-of-hours",
            Reason::Holiday => "holiday",
            Reason::Emergency => "emergency",
        }
    }

    /// The plugin's counter for routes of this reason.
    pub fn metric(self) -> &'static str {
        match self {
            Reason::Primary => "routes_primary",
            Reason::Overflow => "routes_overflow",
            Reason::AllFull => "routes_all_full",
            Reason::OutOfHours => "routes_out_of_hours",
            Reason::Holiday => "routes_holiday",
            Reason::Emergency => "routes_emergency",
        }
    }
}

/// The decision about one call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    /// Where the call goes: a site, a provider, an announcement.
    pub target: String,
    /// Why.
    pub reason: Reason,
    /// Whether `target` is an announcement.
    pub announcement: bool,
    /// The shift that named the duty site.
    pub shift: Option<String>,
    /// The label (or date) of the holiday, closed or special day the call falls on.
    pub special_day: Option<String>,
    /// The duty site, when the call did not go there for capacity (`overflow`, `all-full`).
    pub primary: Option<String>,
    /// The sites passed over for capacity, in order, with why.
    pub skipped: Vec<Skipped>,
}

impl Route {
    fn to(target: &str, reason: Reason) -> Self {
        Self {
            target: target.to_owned(),
            reason,
            announcement: false,
            shift: None,
            special_day: None,
            primary: None,
            skipped: Vec::new(),
        }
    }

    fn to_destination(destination: &Destination, reason: Reason) -> Self {
        let (target, announcement) = destination.resolve();
        Self {
            announcement,
            ..Self::to(target, reason)
        }
    }

    /// The `call.route` command: `{call_id, queue, target, reason, announcement}` and, when
    /// they apply, `shift`, `special_day`, `primary`, `skipped`.
    pub fn command(&self, call: &CallOffered) -> RouteCommand {
        let skipped = (!self.skipped.is_empty()).then_some(&self.skipped);
        Command::route(&call.call_id, &self.target)
            .queue(&call.queue)
            .reason(self.reason.as_str())
            .announcement(self.announcement)
            .with_opt("shift", self.shift.as_deref())
            .with_opt("special_day", self.special_day.as_deref())
            .with_opt("primary", self.primary.as_deref())
            .with_opt("skipped", skipped)
    }
}

/// Decides where `call` goes when the calendar says `line`, at local wall time `local`
/// (event time `now_ms`); `status_of(site)` reads a site's last status. `None`: the call is
/// not this plugin's (`queues`).
pub fn decide<E>(
    config: &Config,
    call: &CallOffered,
    line: &Line,
    local: NaiveDateTime,
    now_ms: i64,
    mut status_of: impl FnMut(&str) -> Result<Option<SiteRecord>, E>,
) -> Result<Option<Route>, E> {
    if !config.routes(&call.queue) {
        return Ok(None);
    }
    let closed = !line.open;
    let special_day = line.day.name();

    if let Some(emergency) = &config.emergency
        && call.priority == Priority::Emergency
        && (emergency.when == EmergencyWhen::Always || closed)
    {
        return Ok(Some(Route {
            special_day,
            ..Route::to_destination(&emergency.destination(), Reason::Emergency)
        }));
    }

    if closed {
        if line.day.rule.is_regular() {
            return Ok(Some(closed_route(
                config.out_of_hours.as_ref(),
                Reason::OutOfHours,
            )));
        }
        let destination = config.holiday.as_ref().or(config.out_of_hours.as_ref());
        return Ok(Some(Route {
            special_day,
            ..closed_route(destination, Reason::Holiday)
        }));
    }
    let (primary, shift) = duty::primary(config, &line.day, local);

    let overflow = &config.overflow;
    let partners = config
        .sites
        .get(primary)
        .map(|s| s.overflow.as_slice())
        .unwrap_or_default();
    let choice = capacity::choose(primary, partners, overflow.unknown_partner, |site| {
        let max_waiting = config
            .sites
            .get(site)
            .and_then(|s| s.max_waiting)
            .or(overflow.max_waiting)
            .map(|m| m.get());
        let record = status_of(site)?;
        Ok(capacity::condition(
            record.as_ref(),
            now_ms,
            overflow.status_max_age_seconds.get(),
            max_waiting,
        ))
    })?;
    let base = Route {
        shift: shift.map(str::to_owned),
        special_day,
        ..Route::to(primary, Reason::Primary)
    };
    Ok(Some(match choice {
        Choice::Primary => base,
        Choice::Overflow { site, skipped } => Route {
            target: site,
            reason: Reason::Overflow,
            primary: Some(primary.to_owned()),
            skipped,
            ..base
        },
        Choice::AllFull { skipped } => {
            let (target, announcement) = match &overflow.when_all_full {
                Some(d) => {
                    let (t, a) = d.resolve();
                    (t.to_owned(), a)
                }
                None => (primary.to_owned(), false),
            };
            Route {
                target,
                announcement,
                reason: Reason::AllFull,
                primary: Some(primary.to_owned()),
                skipped,
                ..base
            }
        }
    }))
}

/// The route of a closed line. The config check makes sure a destination exists whenever
/// the line can be closed.
fn closed_route(destination: Option<&Destination>, reason: Reason) -> Route {
    match destination {
        Some(d) => Route::to_destination(d, reason),
        None => Route::to("", reason),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config;
    use leitstand_sdk::Time;
    use leitstand_sdk::calendar::DayRule;
    use leitstand_sdk::chrono_tz::Europe::Berlin;
    use serde_json::json;
    use std::collections::BTreeMap;
    use std::convert::Infallible;

    const CONFIG: &str = r#"{
        "queues": ["impf"],
        "sites": {"kaiserslautern": {"overflow": ["pirmasens", "saarbruecken"]},
                  "pirmasens": {"max_waiting": 3}, "saarbruecken": {}},
        "duty": {"default_site": "kaiserslautern"},
        "out_of_hours": {"announcement": "closed"},
        "holiday": {"announcement": "closed-holiday"},
        "overflow": {"status_max_age_seconds": 60, "max_waiting": 10},
        "emergency": {"target": "leitstelle", "when": "closed"}
    }"#;

    fn call(priority: &str, queue: &str) -> CallOffered {
        serde_json::from_value(json!({"call_id": "c1", "queue": queue, "priority": priority}))
            .expect("call")
    }

    /// What the calendar would say: open or not, on a day of `rule`.
    fn line(open: bool, rule: DayRule, instant: &str) -> Line {
        let date = Time::parse(instant)
            .expect("time")
            .in_tz(&Berlin)
            .date_naive();
        Line {
            open,
            day: Day {
                date,
                spans: Vec::new(),
                rule,
            },
        }
    }

    fn decide_at(
        config: &Config,
        call: &CallOffered,
        line: &Line,
        instant: &str,
        statuses: &BTreeMap<&str, SiteRecord>,
    ) -> Option<serde_json::Value> {
        let t = Time::parse(instant).expect("time");
        let local = t.in_tz(&Berlin).naive_local();
        decide::<Infallible>(config, call, line, local, t.ms(), |s| {
            Ok(statuses.get(s).cloned())
        })
        .expect("infallible")
        .map(|r| serde_json::Value::Object(r.command(call).build().data))
    }

    fn status(available: u32, waiting: u32, instant: &str) -> SiteRecord {
        SiteRecord {
            agents_staffed: 4,
            agents_available: available,
            calls_waiting: Some(waiting),
            time_ms: Time::parse(instant).expect("time").ms(),
            event_id: "s".into(),
        }
    }

    #[test]
    fn routes_by_rule_order() {
        let c: Config = leitstand_sdk::config::parse(CONFIG).expect("parses");
        config::check(&c).expect("valid");
        let none = BTreeMap::new();
        let normal = call("normal", "impf");
        let monday = "2026-11-16T10:00:00+01:00";
        let open = line(true, DayRule::Regular, monday);

        assert_eq!(
            decide_at(&c, &call("normal", "other"), &open, monday, &none),
            None
        );
        assert_eq!(
            decide_at(&c, &normal, &open, monday, &none),
            Some(
                json!({"call_id": "c1", "queue": "impf", "target": "kaiserslautern",
                        "reason": "primary", "announcement": false})
            )
        );
        // Emergencies only when closed: open, they route normally.
        assert_eq!(
            decide_at(&c, &call("emergency", "impf"), &open, monday, &none)
                .map(|d| d["reason"].clone()),
            Some(json!("primary"))
        );
        let evening = "2026-11-18T19:00:00+01:00";
        let after_hours = line(false, DayRule::Regular, evening);
        assert_eq!(
            decide_at(&c, &call("emergency", "impf"), &after_hours, evening, &none),
            Some(
                json!({"call_id": "c1", "queue": "impf", "target": "leitstelle",
                        "reason": "emergency", "announcement": false})
            )
        );
        assert_eq!(
            decide_at(&c, &normal, &after_hours, evening, &none),
            Some(json!({"call_id": "c1", "queue": "impf", "target": "closed",
                        "reason": "out-of-hours", "announcement": true}))
        );
        let christmas = "2026-12-25T10:00:00+01:00";
        let holiday = line(
            false,
            DayRule::Holiday("Erster Weihnachtstag".into()),
            christmas,
        );
        assert_eq!(
            decide_at(&c, &normal, &holiday, christmas, &none),
            Some(
                json!({"call_id": "c1", "queue": "impf", "target": "closed-holiday",
                        "reason": "holiday", "announcement": true,
                        "special_day": "Erster Weihnachtstag"})
            )
        );
        // A closed day without a label is named by its date.
        let closed = line(false, DayRule::Closed(None), christmas);
        assert_eq!(
            decide_at(&c, &normal, &closed, christmas, &none).map(|d| d["special_day"].clone()),
            Some(json!("2026-12-25"))
        );
        // Open on a special day: the route says which.
        let special = line(
            true,
            DayRule::Special(Some("Heiligabend".into())),
            christmas,
        );
        assert_eq!(
            decide_at(&c, &normal, &special, christmas, &none),
            Some(
                json!({"call_id": "c1", "queue": "impf", "target": "kaiserslautern",
                        "reason": "primary", "announcement": false, "special_day": "Heiligabend"})
            )
        );
    }

    #[test]
    fn overflow_and_all_full() {
        let c: Config = leitstand_sdk::config::parse(CONFIG).expect("parses");
        let normal = call("normal", "impf");
        let t = "2026-11-16T10:00:00+01:00";
        let open = line(true, DayRule::Regular, t);
        let mut s = BTreeMap::new();
        s.insert("kaiserslautern", status(0, 2, "2026-11-16T09:59:30+01:00"));
        s.insert("pirmasens", status(1, 3, "2026-11-16T09:59:30+01:00"));
        s.insert("saarbruecken", status(2, 0, "2026-11-16T09:59:30+01:00"));
        assert_eq!(
            decide_at(&c, &normal, &open, t, &s),
            Some(
                json!({"call_id": "c1", "queue": "impf", "target": "saarbruecken",
                        "reason": "overflow", "announcement": false, "primary": "kaiserslautern",
                        "skipped": [{"site": "kaiserslautern", "because": "no-agents-available"},
                                    {"site": "pirmasens", "because": "queue-full"}]})
            )
        );
        // Saarbrücken's status is 61 s old at the call: stale, skipped; the primary keeps it.
        s.insert("saarbruecken", status(2, 0, "2026-11-16T09:58:59+01:00"));
        assert_eq!(
            decide_at(&c, &normal, &open, t, &s),
            Some(
                json!({"call_id": "c1", "queue": "impf", "target": "kaiserslautern",
                        "reason": "all-full", "announcement": false, "primary": "kaiserslautern",
                        "skipped": [{"site": "kaiserslautern", "because": "no-agents-available"},
                                    {"site": "pirmasens", "because": "queue-full"},
                                    {"site": "saarbruecken", "because": "stale-status"}]})
            )
        );
    }
}
