//! # Leitstand escalation plugin
//!
//! Emergency calls must not wait. When a call is offered with `priority = "emergency"`, or
//! with a concern the tenant lists as an emergency (`concerns`, optionally only in some
//! queues), this plugin starts an **escalation chain**: a list of steps, each due a fixed
//! number of seconds after the offer. A step either hands the call on to a `target` (a
//! second-tier team, a partner's emergency line) or `notify`s a recipient (the supervisor on
//! call). Every step sends `call.escalate`; a notify step can also send a `notify` command.
//! `call.answered`, `call.abandoned` or `call.ended` stops the chain. Optionally the call is
//! routed at once to an `initial_target` (`call.route`, reason `emergency`).
//!
//! How it keeps track:
//!
//! * **One timer per call**, a [`Pending`] (named `escalation/<call_id>`). It carries what
//!   the next step needs (call, queue, step number, offer time, why the chain started), so
//!   a step needs no state read. When a step fires, the timer is set again for the next step; after the
//!   last step it is set once more, one hour later, only to forget the call.
//! * **One state key per escalating call**, `call/<call_id>` (the offer time in ms). It
//!   exists from the offer until the call is answered, abandoned or ended, or one hour after
//!   the last step. While it exists, a second `call.offered` for the same call — as a
//!   receiving ACD reports a call this plugin escalated to it — neither restarts the chain
//!   nor routes again. Calls that start no chain cost no state at all.
//!
//! A plugin decides; the host acts. The plugin sees event time only, so replaying the same
//! events gives the same decisions.

use leitstand_sdk::config::{NonEmpty, NonEmptyString, Positive};
use leitstand_sdk::{
    Command, ConfigError, Context, Error, Event, Kind, Plugin, Priority, Time, Timer, log, metrics,
    plugin, state,
};
use serde::{Deserialize, Serialize};

/// The configuration: the bundle's `[plugins.config]` table.
///
/// ```toml
/// [plugins.config]
/// initial_target = "notruf-team"
/// concerns = ["notfall", "gewalt"]
/// concern_queues = ["buergertelefon"]
/// steps = [
///   { after_seconds = 30, target = "tier2-pirmasens" },
///   { after_seconds = 60, notify = "supervisor-on-call" },
///   { after_seconds = 120, target = "partner-notruf" },
/// ]
/// ```
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The chain, in order of `after_seconds`.
    steps: NonEmpty<Step>,
    /// Concerns (as the IVR classifies them) that start a chain like an emergency priority;
    /// compared without regard to ASCII case.
    #[serde(default)]
    concerns: Vec<NonEmptyString>,
    /// Queues in which `concerns` start a chain; empty: every queue. Emergency priority
    /// starts a chain in every queue.
    #[serde(default)]
    concern_queues: Vec<NonEmptyString>,
    /// Where an escalating call is routed at once when it is offered (`call.route`, reason
    /// `emergency`); none: the call stays where the ACD put it until the first target step.
    #[serde(default)]
    initial_target: Option<NonEmptyString>,
    /// Whether a notify step also sends a `notify` command (needs the grant `notify`).
    #[serde(default = "yes")]
    notify_command: bool,
}

fn yes() -> bool {
    true
}

/// One step of the chain: hand the call on to `target`, or tell `notify`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Step {
    /// Seconds after the offer at which the step is due.
    after_seconds: Positive,
    /// Hand the call on to this target.
    #[serde(default)]
    target: Option<NonEmptyString>,
    /// Tell this recipient (a role such as `supervisor-on-call`).
    #[serde(default)]
    notify: Option<NonEmptyString>,
}

/// The longest chain step: one day after the offer.
const MAX_AFTER_SECONDS: u32 = 86_400;

/// How long a call is remembered after its last step, so that re-offers of it are ignored.
const REMEMBER_SECONDS: i64 = 3_600;

impl Step {
    /// What the step does, once the configuration is checked.
    fn action(&self) -> Action<'_> {
        match (&self.target, &self.notify) {
            (_, Some(recipient)) => Action::Notify(recipient),
            (Some(target), None) => Action::Target(target),
            (None, None) => Action::Target(""),
        }
    }
}

/// What a step does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Action<'a> {
    Target(&'a str),
    Notify(&'a str),
}

/// Why a chain started; sent as `reason` on every step.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
enum Trigger {
    /// The call came with `priority = "emergency"`.
    Emergency,
    /// The call's concern is listed in `concerns`.
    Concern,
}

impl Trigger {
    fn as_str(self) -> &'static str {
        match self {
            Trigger::Emergency => "emergency",
            Trigger::Concern => "concern",
        }
    }
}

/// A call's timer, `escalation/<call_id>`: everything the next step needs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Pending {
    call_id: String,
    queue: String,
    /// The step due (from 1); 0 when the timer only forgets the call.
    step: u32,
    /// When the call was offered, ms since the epoch.
    offered_ms: i64,
    reason: Trigger,
}

impl Timer for Pending {
    const KIND: &'static str = "escalation/";

    fn key(&self) -> &str {
        &self.call_id
    }
}

/// The plugin. It has no fields: nothing lasts from one event to the next but [`state`].
pub struct Escalation;

impl Plugin for Escalation {
    type Config = Config;

    fn check(config: &Config) -> Result<(), ConfigError> {
        check_config(config)
    }

    fn handle(ctx: &mut Context, config: &Config, event: &Event) -> Result<(), Error> {
        match &event.kind {
            Kind::CallOffered(call) => {
                let Some(reason) =
                    trigger(config, call.priority, call.concern.as_deref(), &call.queue)
                else {
                    return Ok(());
                };
                let key = state_key(&call.call_id);
                if state::get::<i64>(&key)?.is_some() {
                    log::debug(&format!(
                        "call {} offered again while escalating: chain kept",
                        call.call_id
                    ));
                    return Ok(());
                }
                let now = ctx.now();
                state::put(&key, &now.ms())?;
                if let Some(target) = &config.initial_target {
                    ctx.emit(
                        Command::route(&call.call_id, target)
                            .queue(&call.queue)
                            .reason("emergency"),
                    );
                }
                let pending = Pending {
                    call_id: call.call_id.clone(),
                    queue: call.queue.clone(),
                    step: 1,
                    offered_ms: now.ms(),
                    reason,
                };
                if let Some(due) = due_of(config, &pending) {
                    ctx.set_timer(&pending, due)?;
                }
                metrics::count("escalations_started", 1)?;
                log::debug(&format!(
                    "call {} in queue {}: escalation chain started ({})",
                    call.call_id,
                    call.queue,
                    reason.as_str()
                ));
            }
            Kind::CallAnswered(call) => stop(ctx, &call.call_id, "answered")?,
            Kind::CallAbandoned(call) => stop(ctx, &call.call_id, "abandoned")?,
            Kind::CallEnded(call) => stop(ctx, &call.call_id, "ended")?,
            Kind::TimerFired(timer) => {
                let Some(pending) = timer.timer::<Pending>()? else {
                    return Ok(());
                };
                let fired = fire(config, &pending, ctx.now());
                let sent = !fired.commands.is_empty();
                for command in fired.commands {
                    ctx.emit(command);
                }
                match fired.next {
                    Next::Step(due, next) => ctx.set_timer(&next, due)?,
                    Next::Remember(due, next) => ctx.set_timer(&next, due)?,
                    Next::Forget => state::delete(&state_key(&pending.call_id))?,
                }
                if sent {
                    metrics::count("escalation_steps", 1)?;
                    log::debug(&format!(
                        "call {}: escalation step {} sent",
                        pending.call_id, pending.step
                    ));
                }
            }
            _ => {}
        }
        Ok(())
    }
}

/// The checks serde cannot do (it refuses an empty chain, a step due at 0 s, an empty
/// target, concern or queue already). Keys are named as the operator wrote them.
fn check_config(config: &Config) -> Result<(), ConfigError> {
    let mut previous: Option<u32> = None;
    for (i, step) in config.steps.iter().enumerate() {
        let after = step.after_seconds.get();
        let key = format!("steps[{i}].after_seconds");
        if after > MAX_AFTER_SECONDS {
            return Err(ConfigError::new(
                key,
                format!("must be at most {MAX_AFTER_SECONDS} (one day)"),
            ));
        }
        if let Some(p) = previous.filter(|p| after <= *p) {
            return Err(ConfigError::new(
                key,
                format!("must be greater than the previous step's {p} (counted from the offer)"),
            ));
        }
        previous = Some(after);
        let reason = match (&step.target, &step.notify) {
            (Some(_), Some(_)) => "give either target or notify, not both",
            (None, None) => "give target (hand the call on) or notify (tell a recipient)",
            _ => continue,
        };
        return Err(ConfigError::new(format!("steps[{i}]"), reason));
    }
    if !config.concern_queues.is_empty() && config.concerns.is_empty() {
        return Err(ConfigError::new(
            "concern_queues",
            "has no effect without concerns",
        ));
    }
    Ok(())
}

/// Whether an offered call starts a chain, and why.
fn trigger(
    config: &Config,
    priority: Priority,
    concern: Option<&str>,
    queue: &str,
) -> Option<Trigger> {
    if priority == Priority::Emergency {
        return Some(Trigger::Emergency);
    }
    let concern = concern?;
    let listed = config
        .concerns
        .iter()
        .any(|c| c.trim().eq_ignore_ascii_case(concern.trim()));
    let in_queue =
        config.concern_queues.is_empty() || config.concern_queues.iter().any(|q| q == queue);
    (listed && in_queue).then_some(Trigger::Concern)
}

/// When the step `pending.step` is due, if the chain has it.
fn due_of(config: &Config, pending: &Pending) -> Option<Time> {
    let index = usize::try_from(pending.step.checked_sub(1)?).ok()?;
    let step = config.steps.get(index)?;
    Some(Time::from_ms(pending.offered_ms).plus_seconds(i64::from(step.after_seconds.get())))
}

/// What happens to a call's timer after it fired.
#[derive(Debug, PartialEq)]
enum Next {
    /// Set it for the next step.
    Step(Time, Pending),
    /// Set it to forget the call later.
    Remember(Time, Pending),
    /// Forget the call now.
    Forget,
}

/// The decisions of a fired timer.
#[derive(Debug, PartialEq)]
struct Fired {
    commands: Vec<Command>,
    next: Next,
}

/// Runs step `pending.step` at `now`. Pure: no host calls.
fn fire(config: &Config, pending: &Pending, now: Time) -> Fired {
    let index = pending
        .step
        .checked_sub(1)
        .and_then(|i| usize::try_from(i).ok());
    // A forget timer, or a step the configuration no longer has.
    let Some(step) = index.and_then(|i| config.steps.get(i)) else {
        return Fired {
            commands: Vec::new(),
            next: Next::Forget,
        };
    };
    let waited = (now.ms().saturating_sub(pending.offered_ms) / 1000).max(0);
    let mut commands = Vec::new();
    match step.action() {
        Action::Target(target) => commands.push(
            Command::escalate(&pending.call_id, pending.step)
                .target(target)
                .queue(&pending.queue)
                .waited_seconds(waited)
                .reason(pending.reason.as_str())
                .build(),
        ),
        Action::Notify(recipient) => {
            // `target` is where the call stands: the last target before this step.
            let at = index.and_then(|i| current_target(config, i));
            commands.push(
                Command::escalate(&pending.call_id, pending.step)
                    .with_opt("target", at)
                    .notify(recipient)
                    .queue(&pending.queue)
                    .waited_seconds(waited)
                    .reason(pending.reason.as_str())
                    .build(),
            );
            if config.notify_command {
                let message = format!(
                    "{} call {} in queue {} unanswered after {waited} s (escalation step {})",
                    if pending.reason == Trigger::Emergency {
                        "Emergency"
                    } else {
                        "Escalating"
                    },
                    pending.call_id,
                    pending.queue,
                    pending.step
                );
                commands.push(
                    Command::notify(recipient, &message)
                        .about_call(&pending.call_id)
                        .with("queue", &pending.queue)
                        .with("step", pending.step)
                        .build(),
                );
            }
        }
    }
    let mut next = Pending {
        step: pending.step.saturating_add(1),
        ..pending.clone()
    };
    let next = match due_of(config, &next) {
        Some(due) => Next::Step(due, next),
        None => {
            next.step = 0;
            Next::Remember(now.plus_seconds(REMEMBER_SECONDS), next)
        }
    };
    Fired { commands, next }
}

/// The target of the last target step before step index `index`, else `initial_target`.
fn current_target(config: &Config, index: usize) -> Option<&str> {
    config
        .steps
        .iter()
        .take(index)
        .rev()
        .find_map(|s| match s.action() {
            Action::Target(t) => Some(t),
            Action::Notify(_) => None,
        })
        .or(config.initial_target.as_deref())
}

/// Stops the call's chain: cancels its timer and forgets it. Harmless for a call that has
/// none (a normal call, or a second `call.answered`).
fn stop(ctx: &mut Context, call_id: &str, why: &str) -> Result<(), Error> {
    ctx.cancel_timer::<Pending>(call_id);
    let key = state_key(call_id);
    if state::get::<i64>(&key)?.is_some() {
        state::delete(&key)?;
        metrics::count("escalations_stopped", 1)?;
        log::debug(&format!("call {call_id} {why}: escalation chain stopped"));
    }
    Ok(())
}

fn state_key(call_id: &str) -> String {
    format!("call/{call_id}")
}

plugin!(Escalation);

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    fn config(text: &str) -> Config {
        leitstand_sdk::config::parse(text).expect("parses")
    }

    fn chain() -> Config {
        config(
            r#"{"steps":[{"after_seconds":30,"target":"tier2"},
                         {"after_seconds":60,"notify":"supervisor-on-call"},
                         {"after_seconds":120,"target":"partner-notruf"}],
                "concerns":["Notfall"],"concern_queues":["buerger"]}"#,
        )
    }

    fn pending(step: u32) -> Pending {
        Pending {
            call_id: "c1".into(),
            queue: "impf".into(),
            step,
            offered_ms: 1_000_000,
            reason: Trigger::Emergency,
        }
    }

    fn data(c: &Command) -> Value {
        Value::Object(c.data.clone())
    }

    #[test]
    fn bad_configs_name_the_key() {
        let cases = [
            (
                r#"{"steps":[{"after_seconds":86401,"target":"a"}]}"#,
                "steps[0].after_seconds: must be at most 86400",
            ),
            (
                r#"{"steps":[{"after_seconds":30,"target":"a"},{"after_seconds":30,"target":"b"}]}"#,
                "steps[1].after_seconds: must be greater than the previous step's 30",
            ),
            (
                r#"{"steps":[{"after_seconds":30,"target":"a","notify":"b"}]}"#,
                "steps[0]: give either target or notify",
            ),
            (
                r#"{"steps":[{"after_seconds":30}]}"#,
                "steps[0]: give target",
            ),
            (
                r#"{"steps":[{"after_seconds":30,"target":"a"}],"concern_queues":["q"]}"#,
                "concern_queues: has no effect without concerns",
            ),
        ];
        for (text, want) in cases {
            let e = check_config(&config(text)).expect_err(text);
            assert!(e.to_string().starts_with(want), "{text}: {e}");
        }
        // What the configuration's types refuse while parsing, before any check.
        for (text, want) in [
            (
                r#"{"steps":[]}"#,
                "steps: must not be empty; name at least one",
            ),
            (
                r#"{"steps":[{"after_seconds":0,"target":"a"}]}"#,
                "steps[0].after_seconds: must be at least 1, got 0",
            ),
            (
                r#"{"steps":[{"after_seconds":30,"notify":" "}]}"#,
                "steps[0].notify: must not be empty",
            ),
            (
                r#"{"steps":[{"after_seconds":30,"target":"a"}],"initial_target":""}"#,
                "initial_target: must not be empty",
            ),
            (
                r#"{"steps":[{"after_seconds":30,"target":"a"}],"concerns":["x",""]}"#,
                "concerns[1]: must not be empty",
            ),
        ] {
            let e = leitstand_sdk::config::parse::<Config>(text).expect_err(text);
            assert_eq!(e.to_string(), want, "{text}");
        }
        check_config(&chain()).expect("valid");
        let e = leitstand_sdk::config::parse::<Config>(
            r#"{"steps":[{"after_seconds":30,"taget":"a"}]}"#,
        )
        .expect_err("typo");
        assert_eq!(e.key, "steps[0].taget");
    }

    #[test]
    fn emergencies_and_listed_concerns_trigger() {
        let c = chain();
        assert_eq!(
            trigger(&c, Priority::Emergency, None, "any"),
            Some(Trigger::Emergency)
        );
        assert_eq!(
            trigger(&c, Priority::Normal, Some("notfall"), "buerger"),
            Some(Trigger::Concern)
        );
        assert_eq!(trigger(&c, Priority::Normal, Some("notfall"), "impf"), None);
        assert_eq!(
            trigger(&c, Priority::Normal, Some("termin"), "buerger"),
            None
        );
        assert_eq!(trigger(&c, Priority::Normal, None, "buerger"), None);
    }

    #[test]
    fn steps_fire_in_order_then_the_call_is_forgotten() {
        let c = chain();
        let offered = Time::from_ms(1_000_000);
        assert_eq!(due_of(&c, &pending(1)), Some(offered.plus_seconds(30)));

        let f = fire(&c, &pending(1), offered.plus_seconds(30));
        assert_eq!(f.commands.len(), 1);
        assert_eq!(
            data(&f.commands[0]),
            json!({"call_id":"c1","step":1,"target":"tier2","queue":"impf",
                   "waited_seconds":30,"reason":"emergency"})
        );
        assert_eq!(f.next, Next::Step(offered.plus_seconds(60), pending(2)));

        let f = fire(&c, &pending(2), offered.plus_seconds(61));
        assert_eq!(f.commands.len(), 2);
        assert_eq!(f.commands[0].command_type, "call.escalate");
        assert_eq!(
            data(&f.commands[0]),
            json!({"call_id":"c1","step":2,"target":"tier2","notify":"supervisor-on-call",
                   "queue":"impf","waited_seconds":61,"reason":"emergency"})
        );
        assert_eq!(f.commands[1].command_type, "notify");
        assert_eq!(f.commands[1].subject.as_deref(), Some("c1"));
        assert_eq!(f.next, Next::Step(offered.plus_seconds(120), pending(3)));

        let f = fire(&c, &pending(3), offered.plus_seconds(120));
        assert_eq!(data(&f.commands[0])["target"], "partner-notruf");
        assert_eq!(
            f.next,
            Next::Remember(offered.plus_seconds(120 + 3600), pending(0))
        );

        let f = fire(&c, &pending(0), offered.plus_seconds(3720));
        assert_eq!(
            f,
            Fired {
                commands: Vec::new(),
                next: Next::Forget
            }
        );
        // A step removed from the configuration since the timer was set.
        assert_eq!(fire(&c, &pending(9), offered).next, Next::Forget);
    }

    #[test]
    fn notify_first_has_no_target_unless_initial_target() {
        let mut c =
            config(r#"{"steps":[{"after_seconds":10,"notify":"lead"}],"notify_command":false}"#);
        let f = fire(&c, &pending(1), Time::from_ms(1_010_000));
        assert_eq!(f.commands.len(), 1);
        assert!(data(&f.commands[0]).get("target").is_none());
        c.initial_target = NonEmptyString::new("notruf");
        assert_eq!(current_target(&c, 0), Some("notruf"));
    }
}
