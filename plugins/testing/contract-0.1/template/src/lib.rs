//! # Leitstand template plugin
//!
//! Start a new plugin from this one: `leitstand plugin new NAME` copies it with a passing
//! fixture (see `plugins/README.md`). It implements a small but real rule so that every
//! part of the SDK is used once:
//!
//! * **Routing.** On `call.offered` it sends `call.route`: emergencies go to
//!   `emergency_target`, calls of a queue listed in `targets` go to that queue's target,
//!   everything else goes to `default_target`.
//! * **Escalation.** With `escalate_after_seconds` it sets a timer per offered call;
//!   `call.answered` and `call.abandoned` cancel it; when it fires, it sends `call.escalate`.
//! * **State and metrics.** It counts routed calls per target in its state
//!   (`routed/<target>`) and in the custom counter `calls_routed`.
//!
//! A plugin decides; the host acts. Each event runs in a fresh instance, so nothing
//! survives between two events except what the plugin keeps in [`state`]. The plugin sees
//! event time only (`ctx.now()`), never the wall clock: replaying the same events gives the
//! same decisions.

use std::collections::BTreeMap;

use leitstand_sdk::{
    Command, ConfigError, Context, Error, Event, Kind, Plugin, Priority, log, metrics, plugin,
    state,
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
// `deny_unknown_fields`: a misspelt key refuses the bundle instead of being ignored.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Where calls go when no other rule applies.
    default_target: String,
    /// Per-queue targets: queue → target.
    #[serde(default)]
    targets: BTreeMap<String, String>,
    /// Where emergencies go; without it they are routed like any other call.
    #[serde(default)]
    emergency_target: Option<String>,
    /// Escalate a call not answered or abandoned within this many seconds.
    #[serde(default)]
    escalate_after_seconds: Option<u32>,
}

/// What the escalation timer carries, so the plugin needs no state to escalate.
#[derive(Debug, Serialize, Deserialize)]
struct Waiting {
    call_id: String,
    queue: String,
}

/// The plugin. It has no fields: every event gets a fresh instance.
pub struct Template;

impl Plugin for Template {
    type Config = Config;

    /// What serde cannot check. The key in the error is shown to the operator.
    fn check(config: &Config) -> Result<(), ConfigError> {
        if config.default_target.trim().is_empty() {
            return Err(ConfigError::new("default_target", "must not be empty"));
        }
        if let Some((queue, _)) = config.targets.iter().find(|(_, t)| t.trim().is_empty()) {
            return Err(ConfigError::new(
                format!("targets.{queue}"),
                "must not be empty",
            ));
        }
        if config
            .emergency_target
            .as_deref()
            .is_some_and(|t| t.trim().is_empty())
        {
            return Err(ConfigError::new("emergency_target", "must not be empty"));
        }
        if config.escalate_after_seconds == Some(0) {
            return Err(ConfigError::new(
                "escalate_after_seconds",
                "must be greater than 0",
            ));
        }
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
                        .with("queue", &call.queue)
                        .with("reason", reason),
                );
                // Writes become durable only if the whole event succeeds.
                state::add(&format!("routed/{target}"), 1)?;
                metrics::count("calls_routed", 1)?;
                if let Some(seconds) = config.escalate_after_seconds {
                    let waiting = Waiting {
                        call_id: call.call_id.clone(),
                        queue: call.queue.clone(),
                    };
                    let due = ctx.now().plus_seconds(i64::from(seconds));
                    ctx.set_timer(&timer_name(&call.call_id), due, &waiting)?;
                }
                // Ids and targets may be logged; caller_ref never.
                log::debug(&format!(
                    "call {} routed to {target} ({reason})",
                    call.call_id
                ));
            }
            // Cancel unconditionally: a timer set under an older config may still pend.
            Kind::CallAnswered(call) => ctx.cancel_timer(&timer_name(&call.call_id)),
            Kind::CallAbandoned(call) => ctx.cancel_timer(&timer_name(&call.call_id)),
            Kind::TimerFired(timer) if timer.name.starts_with(TIMER_PREFIX) => {
                // Escalation switched off since the timer was set: let it lapse.
                let Some(waited) = config.escalate_after_seconds else {
                    return Ok(());
                };
                let waiting: Waiting = timer.payload_as()?;
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

/// Prefix of the escalation timers: one per call, `escalate/<call_id>`.
const TIMER_PREFIX: &str = "escalate/";

fn timer_name(call_id: &str) -> String {
    format!("{TIMER_PREFIX}{call_id}")
}

// Makes `Template` the component's exports.
plugin!(Template);
