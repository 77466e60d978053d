//! # Leitstand template plugin
//!
//! Start a new plugin from this one: `leitstand plugin new NAME` copies it with a passing
//! fixture (see `plugins/README.md`). It implements a small but real rule so that every
//! part of the SDK is used once:
//!
//! * **Routing.** On `call.offered` it sends `call.route`: emergencies go to
//!   `emergency_target`, calls of a queue listed in `targets` go to that queue's target,
//!   everything else goes to `default_target`.
//! * **Escalation.** With `escalate_after_seconds` it sets a timer per offered call (a
//!   [`Waiting`], a typed timer); `call.answered` and `call.abandoned` cancel it; when it
//!   fires, it sends `call.escalate`.
//! * **State and metrics.** It counts routed calls per target in its state
//!   (`routed/<target>`) and in the custom counter `calls_routed`.
//!
//! A plugin decides; the host acts. The host prepares an instance with the configuration
//! and may hand it many events, or each event a fresh one; nothing the plugin decides may
//! depend on an earlier event except through what it keeps in [`state`]. The plugin sees
//! event time only (`ctx.now()`), never the wall clock: replaying the same events gives the
//! same decisions.

use std::collections::BTreeMap;

use leitstand_sdk::config::{NonEmptyString, Positive};
use leitstand_sdk::{
    Command, ConfigError, Context, Error, Event, Kind, Plugin, Priority, Timer, log, metrics,
    plugin, state,
};
use serde::{Deserialize, Serialize};

/// The configuration: the bundle's `[plugins.config]` table.
///
/// ```toml
/// [plugins.config]
/// default_target = "kaiserslautern"
/// emergency_target = "oncall"
/// escalate_after_seconds = 90
/// [plugins.config.targets]
/// kreis = "team-kreis"
/// ```
// `deny_unknown_fields`: a misspelt key refuses the bundle instead of being ignored. The
// SDK's config types refuse an empty target (`NonEmptyString`) and 0 (`Positive`) while
// parsing, naming the key, so `check` has nothing left to do here.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Where calls go when no other rule applies.
    default_target: NonEmptyString,
    /// Per-queue targets: queue → target.
    #[serde(default)]
    targets: BTreeMap<String, NonEmptyString>,
    /// Where emergencies go; without it they are routed like any other call.
    #[serde(default)]
    emergency_target: Option<NonEmptyString>,
    /// Escalate a call not answered or abandoned within this many seconds.
    #[serde(default)]
    escalate_after_seconds: Option<Positive>,
}

/// The escalation timer of one call (`escalate/<call_id>`): what it carries, the plugin
/// needs no state to escalate.
#[derive(Debug, Serialize, Deserialize)]
pub struct Waiting {
    call_id: String,
    queue: String,
}

impl Timer for Waiting {
    const KIND: &'static str = "escalate/";

    fn key(&self) -> &str {
        &self.call_id
    }
}

/// The plugin. It has no fields: nothing lasts from one event to the next but [`state`].
pub struct Template;

impl Plugin for Template {
    type Config = Config;

    /// What the types cannot check (rules across keys, references between them); the key
    /// in the error is shown to the operator. This plugin has none.
    fn check(_config: &Config) -> Result<(), ConfigError> {
        Ok(())
    }

    fn handle(ctx: &mut Context, config: &Config, event: &Event) -> Result<(), Error> {
        match &event.kind {
            Kind::CallOffered(call) => {
                let (target, reason) =
                    match (&config.emergency_target, config.targets.get(&call.queue)) {
                        (Some(t), _) if call.priority == Priority::Emergency => (t, "emergency"),
                        (_, Some(t)) => (t, "queue"),
                        _ => (&config.default_target, "default"),
                    };
                ctx.emit(
                    Command::route(&call.call_id, target)
                        .queue(&call.queue)
                        .reason(reason),
                );
                // Writes become durable only if the whole event succeeds.
                state::add(&format!("routed/{target}"), 1)?;
                metrics::count("calls_routed", 1)?;
                if let Some(seconds) = config.escalate_after_seconds {
                    let waiting = Waiting {
                        call_id: call.call_id.clone(),
                        queue: call.queue.clone(),
                    };
                    let due = ctx.now().plus_seconds(i64::from(seconds.get()));
                    ctx.set_timer(&waiting, due)?;
                }
                // Ids and targets may be logged; caller_ref never.
                log::debug(&format!(
                    "call {} routed to {target} ({reason})",
                    call.call_id
                ));
            }
            // Cancel unconditionally: a timer set under an older config may still pend.
            Kind::CallAnswered(call) => ctx.cancel_timer::<Waiting>(&call.call_id),
            Kind::CallAbandoned(call) => ctx.cancel_timer::<Waiting>(&call.call_id),
            Kind::TimerFired(timer) => {
                // Another kind of timer, or escalation switched off since the timer was
                // set: let it lapse.
                let (Some(waiting), Some(waited)) =
                    (timer.timer::<Waiting>()?, config.escalate_after_seconds)
                else {
                    return Ok(());
                };
                ctx.emit(
                    Command::new("call.escalate")
                        .subject(&waiting.call_id)
                        .with("call_id", &waiting.call_id)
                        .with("queue", &waiting.queue)
                        .with("waited_seconds", waited),
                );
            }
            // Anything else the bundle routes here: nothing to decide.
            _ => {}
        }
        Ok(())
    }
}

// Makes `Template` the component's exports.
plugin!(Template);
