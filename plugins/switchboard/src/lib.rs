//! # Leitstand plugin: the switchboard and its knowledge base
//!
//! For a service center that answers for several authorities (a city and its district), it
//! decides where each offered call goes by what the caller wants, and tells the agent who
//! takes it what the knowledge base says about that:
//!
//! * **Routing by concern.** The IVR's `concern` (`Kfz-Zulassung`, `kfz zulassung`, `Auto
//!   anmelden`, …) is matched against the directory's concerns and their synonyms; the
//!   concern names the responsible department. While that department is open (its
//!   calendar, as the tenant's bundle declares it), the call goes to its target; while it
//!   is closed, to the center with `callback: true` and a note for the agent
//!   (`Kfz-Zulassungsstelle derzeit geschlossen – Rückruf anbieten (wieder erreichbar heute
//!   ab 14:00)`). An unknown concern goes to the `default` department or the center, a
//!   call without one to the center; while the center itself is closed (its calendar: the
//!   tenant's), every call goes to its out-of-hours destination.
//! * **Assisting the agent.** The plugin remembers each routed call's concern; when the
//!   call is answered, it sends `agent.assist` with the knowledge base's answers for that
//!   concern that are valid at that moment, and the knowledge base's version.
//!
//! Layout: [`config`] parses and checks the configuration; [`concern`] matches concerns;
//! [`route`] decides a call's route from the calendars' answers; [`note`] words the note
//! for a closed department; [`knowledge`] picks the answers valid at a moment. This file
//! connects them to the host: event in, calendars asked, state read and written, commands
//! and timers out.
//!
//! The plugin sees event time only, so a replay decides exactly as the live run did.

pub mod concern;
pub mod config;
pub mod knowledge;
pub mod note;
pub mod route;

use leitstand_sdk::calendar::{Calendar, Change};
use leitstand_sdk::chrono::NaiveDateTime;
use leitstand_sdk::chrono_tz::Tz;
use leitstand_sdk::serde_json::Value;
use leitstand_sdk::{
    CallAnswered, CallOffered, ConfigError, Context, Error, Event, Kind, Plugin, Time, Timer, log,
    metrics, plugin, state,
};
use serde::{Deserialize, Serialize};

use crate::config::Config;
use crate::route::Openness;

/// The command type that hands an agent the knowledge base's answers.
pub const AGENT_ASSIST: &str = "agent.assist";

/// How long a call's concern is kept when neither `call.ended` nor `call.abandoned`
/// arrives for it (a lost event): then a timer forgets it, so state cannot grow without
/// bound.
pub const FORGET_AFTER_SECONDS: i64 = 12 * 3600;

/// The state key of a call's remembered concern.
pub fn call_key(call_id: &str) -> String {
    format!("call/{call_id}")
}

/// The timer that forgets a call's concern: `forget/<call_id>`, carrying the call id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Forget(pub String);

impl Timer for Forget {
    const KIND: &'static str = "forget/";

    fn key(&self) -> &str {
        &self.0
    }
}

/// What the plugin keeps per routed call (under [`call_key`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Remembered {
    /// The concern's id.
    pub concern: String,
}

/// The plugin. Nothing lasts from one event to the next but what it keeps in [`state`].
pub struct Switchboard;

impl Plugin for Switchboard {
    type Config = Config;

    fn check(config: &Config) -> Result<(), ConfigError> {
        config::check(config)?;
        config::check_calendars(config)
    }

    fn handle(ctx: &mut Context, config: &Config, event: &Event) -> Result<(), Error> {
        match &event.kind {
            Kind::CallOffered(call) => offered(ctx, config, call)?,
            Kind::CallAnswered(call) => answered(ctx, config, call)?,
            Kind::CallAbandoned(call) => forget(ctx, &call.call_id)?,
            Kind::CallEnded(call) => forget(ctx, &call.call_id)?,
            Kind::TimerFired(fired) => {
                if let Some(Forget(call_id)) = fired.timer::<Forget>()? {
                    state::delete(&call_key(&call_id))?;
                }
            }
            // Anything else the bundle routes here: nothing to decide.
            _ => {}
        }
        Ok(())
    }
}

plugin!(Switchboard);

/// What `calendar` says at `now`; the reopening (local wall time in `tz`) only when
/// `reopening` is asked for and it lies within the note's look-ahead.
fn hours(calendar: Calendar<'_>, now: Time, tz: Tz, reopening: bool) -> Result<Openness, Error> {
    if calendar.is_open(now)? {
        return Ok(Openness::Open);
    }
    let by_date = !calendar.day_at(now)?.rule.is_regular();
    let reopens = if reopening {
        let local = now.in_tz(&tz).naive_local();
        match calendar.next_change(now)? {
            Some(Change::Opens(at)) => {
                Some(at.in_tz(&tz).naive_local()).filter(|opens| note::worth_telling(local, *opens))
            }
            _ => None,
        }
    } else {
        None
    };
    Ok(Openness::Closed { by_date, reopens })
}

/// Event time in the tenant's timezone, as wall-clock time.
fn local_now(ctx: &mut Context) -> Result<NaiveDateTime, Error> {
    Ok(ctx.local_now()?.naive_local())
}

/// Routes an offered call and remembers its concern.
fn offered(ctx: &mut Context, config: &Config, call: &CallOffered) -> Result<(), Error> {
    let now = ctx.now();
    let tz = ctx.timezone()?;
    let local = now.in_tz(&tz).naive_local();
    let directory = config.directory();
    let center = hours(config.center.calendar(), now, tz, false)?;
    let route = route::decide(
        config,
        directory,
        call.concern.as_deref(),
        local,
        center,
        |department| hours(department.calendar(), now, tz, true),
    )?;
    metrics::count(route.reason.metric(), 1)?;
    // Ids, targets and concerns may be logged; caller_ref never.
    log::debug(&format!(
        "call {} routed to {} ({}; concern {})",
        call.call_id,
        route.target,
        route.reason.as_str(),
        route.concern_match.as_str()
    ));
    ctx.emit(route.command(call));
    // A call offered again without a concern the directory knows keeps what it had.
    if let Some(concern) = route.known_concern() {
        state::put(
            &call_key(&call.call_id),
            &Remembered {
                concern: concern.to_owned(),
            },
        )?;
        let due = now.plus_seconds(FORGET_AFTER_SECONDS);
        ctx.set_timer(&Forget(call.call_id.clone()), due)?;
    }
    Ok(())
}

/// Hands the agent who answered the call the answers for its concern: the one the answer
/// reports, if the directory knows it, else the one remembered from the offer.
fn answered(ctx: &mut Context, config: &Config, call: &CallAnswered) -> Result<(), Error> {
    let directory = config.directory();
    let reported = call
        .concern
        .as_deref()
        .map(str::trim)
        .filter(|c| !c.is_empty());
    let from_event = reported.and_then(|c| directory.find(c));
    if reported.is_some() && from_event.is_none() {
        log::debug(&format!(
            "call {} answered with a concern the directory does not know; the remembered one applies",
            call.call_id
        ));
    }
    let claim = match from_event {
        Some(claim) => Some(claim),
        None => state::get::<Remembered>(&call_key(&call.call_id))?
            .and_then(|r| directory.find(&r.concern)),
    };
    let Some(claim) = claim else {
        log::debug(&format!(
            "call {} answered: no known concern, no assistance",
            call.call_id
        ));
        return Ok(());
    };
    let local = local_now(ctx)?;
    match knowledge::assist(config, call, claim.concern, local) {
        Some(command) => {
            metrics::count("assists", 1)?;
            ctx.emit(command);
        }
        None => {
            metrics::count("assists_without_answers", 1)?;
            log::debug(&format!(
                "call {} answered: no answer for concern {} is valid now",
                call.call_id, claim.concern
            ));
        }
    }
    Ok(())
}

/// The call is over: forget its concern and the timer that would have.
fn forget(ctx: &mut Context, call_id: &str) -> Result<(), Error> {
    let key = call_key(call_id);
    if state::get::<Value>(&key)?.is_some() {
        state::delete(&key)?;
        ctx.cancel_timer::<Forget>(call_id);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_and_timers_are_per_call() {
        assert_eq!(call_key("soest-c00001"), "call/soest-c00001");
        let forget = Forget("soest-c00001".into());
        assert_eq!(forget.name(), "forget/soest-c00001");
        // On the wire the payload is the call id, as the switchboard of contract 0.1.0 set
        // it: a timer pending from before an upgrade fires into this one.
        assert_eq!(
            leitstand_sdk::serde_json::to_string(&forget).expect("json"),
            "\"soest-c00001\""
        );
    }
}
