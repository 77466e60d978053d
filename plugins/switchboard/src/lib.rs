//! # Leitstand plugin: the switchboard and its knowledge base
//!
//! For a service center that answers for several authorities (a city and its district), it
//! decides where each offered call goes by what the caller wants, and tells the agent who
//! takes it what the knowledge base says about that:
//!
//! * **Routing by concern.** The IVR's `concern` (`Kfz-Zulassung`, `kfz zulassung`, `Auto
//!   anmelden`, …) is matched against the directory's concerns and their synonyms; the
//!   concern names the responsible department. While that department is open (its own
//!   hours in the tenant's timezone, closed dates), the call goes to its target; while it
//!   is closed, to the center with `callback: true` and a note for the agent
//!   (`Kfz-Zulassungsstelle derzeit geschlossen – Rückruf anbieten (wieder erreichbar heute
//!   ab 14:00)`). An unknown concern goes to the `default` department or the center, a
//!   call without one to the center; while the center itself is closed, every call goes to
//!   its out-of-hours destination.
//! * **Assisting the agent.** The plugin remembers each routed call's concern; when the
//!   call is answered, it sends `agent.assist` with the knowledge base's answers for that
//!   concern that are valid at that moment, and the knowledge base's version.
//!
//! Layout: [`config`] parses and checks the configuration; [`calendar`] says whether the
//! center or a department is open; [`concern`] matches concerns; [`route`] decides a
//! call's route; [`knowledge`] picks the answers valid at a moment. This file connects
//! them to the host: event in, state read and written, commands and timers out.
//!
//! The plugin implements the contract's exports itself rather than through the SDK's
//! `plugin!` macro, because it reads one field the SDK's typed `call.answered` does not
//! carry: the `concern` an agent or ACD may report with the answer. Everything else goes
//! through the SDK's types.
//!
//! The plugin sees event time only, so a replay decides exactly as the live run did.

pub mod calendar;
pub mod concern;
pub mod config;
pub mod knowledge;
pub mod route;

use leitstand_sdk::bindings;
use leitstand_sdk::chrono::NaiveDateTime;
use leitstand_sdk::serde_json::Value;
use leitstand_sdk::{
    CallAnswered, CallOffered, Context, Error, Kind, Time, invalid_event, log, metrics, state,
};
use serde::{Deserialize, Serialize};

use crate::concern::Directory;
use crate::config::Config;

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

/// The name of the timer that forgets a call's concern.
pub fn forget_timer(call_id: &str) -> String {
    format!("{FORGET_PREFIX}{call_id}")
}

const FORGET_PREFIX: &str = "forget/";

/// What the plugin keeps per routed call (under [`call_key`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Remembered {
    /// The concern's id.
    pub concern: String,
}

/// Parses and checks the configuration.
fn parse_config(text: &str) -> Result<Config, Error> {
    let config: Config = leitstand_sdk::config::parse(text)?;
    config::check(&config)?;
    Ok(config)
}

/// The `concern` of a `call.answered`'s data, when it carries one.
fn answered_concern(data: &str) -> Result<Option<String>, Error> {
    let data: Value = leitstand_sdk::serde_json::from_str(data)
        .map_err(|e| invalid_event(format!("call.answered: data: {e}")))?;
    match data.get("concern") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(other) => Err(invalid_event(format!(
            "call.answered: data.concern: must be a string, got {other}"
        ))),
    }
}

/// Event time in the tenant's timezone, as wall-clock time.
fn local_now(ctx: &mut Context) -> Result<NaiveDateTime, Error> {
    Ok(ctx.local_now()?.naive_local())
}

/// The component's exports: `check-config` and `handle` of the contract.
struct Switchboard;

impl bindings::Guest for Switchboard {
    fn check_config(config: String) -> Result<(), Error> {
        parse_config(&config).map(|_| ())
    }

    fn handle(config: String, event: bindings::Event) -> Result<bindings::Decisions, Error> {
        let config = parse_config(&config)?;
        let kind = Kind::parse(&event.type_, &event.data)?;
        let mut ctx = Context::at(Time::from_ms(event.time));
        match &kind {
            Kind::CallOffered(call) => offered(&mut ctx, &config, call)?,
            Kind::CallAnswered(call) => {
                let concern = answered_concern(&event.data)?;
                answered(&mut ctx, &config, call, concern.as_deref())?;
            }
            Kind::CallAbandoned(call) => forget(&mut ctx, &call.call_id)?,
            Kind::CallEnded(call) => forget(&mut ctx, &call.call_id)?,
            Kind::TimerFired(timer) => {
                if let Some(call_id) = timer.name.strip_prefix(FORGET_PREFIX) {
                    state::delete(&call_key(call_id))?;
                }
            }
            // Anything else the bundle routes here: nothing to decide.
            _ => {}
        }
        Ok(ctx.into_decisions())
    }
}

bindings::export_guest!(Switchboard with_types_in leitstand_sdk::bindings);

/// Routes an offered call and remembers its concern.
fn offered(ctx: &mut Context, config: &Config, call: &CallOffered) -> Result<(), Error> {
    let local = local_now(ctx)?;
    let directory = Directory::new(config);
    let route = route::decide(config, &directory, call.concern.as_deref(), local);
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
        let due = ctx.now().plus_seconds(FORGET_AFTER_SECONDS);
        ctx.set_timer(&forget_timer(&call.call_id), due, &call.call_id)?;
    }
    Ok(())
}

/// Hands the agent who answered the call the answers for its concern.
fn answered(
    ctx: &mut Context,
    config: &Config,
    call: &CallAnswered,
    reported: Option<&str>,
) -> Result<(), Error> {
    let directory = Directory::new(config);
    let reported = reported.map(str::trim).filter(|c| !c.is_empty());
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
        ctx.cancel_timer(&forget_timer(call_id));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_concern_reported_with_the_answer_is_read() {
        assert_eq!(
            answered_concern(
                r#"{"call_id":"c1","queue":"q","wait_seconds":3,"concern":"Wohngeld"}"#
            )
            .expect("valid"),
            Some("Wohngeld".to_owned())
        );
        assert_eq!(
            answered_concern(r#"{"call_id":"c1","queue":"q","wait_seconds":3}"#).expect("valid"),
            None
        );
        assert_eq!(
            answered_concern(r#"{"concern":null}"#).expect("valid"),
            None
        );
        let e = answered_concern(r#"{"concern":7}"#).expect_err("not a string");
        assert!(
            matches!(&e, Error::InvalidEvent(m) if m == "call.answered: data.concern: must be a string, got 7"),
            "{e:?}"
        );
    }

    #[test]
    fn keys_and_timers_are_per_call() {
        assert_eq!(call_key("soest-c00001"), "call/soest-c00001");
        assert_eq!(forget_timer("soest-c00001"), "forget/soest-c00001");
    }
}
