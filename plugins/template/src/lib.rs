//! # Leitstand template plugin
//!
//! Copy this crate to write your own plugin (see `plugins/README.md`). It implements a small
//! but real rule so that every part of the plugin contract is used once:
//!
//! * **Routing.** On `call.offered` it sends a `call.route` command: emergencies go to
//!   `emergency_target`, calls of a queue listed in `targets` go to that queue's target,
//!   everything else goes to `default_target`.
//! * **Escalation.** If `escalate_after_seconds` is configured it sets a timer per offered
//!   call; `call.answered` / `call.abandoned` cancel it; if it fires, the plugin sends
//!   `call.escalate`.
//! * **State and metrics.** It counts routed calls per target in its private key-value
//!   state (`routed/<target>`) and in the custom counter `calls_routed`.
//!
//! ## How a plugin runs (for newcomers to the component model)
//!
//! A plugin is a WebAssembly *component*: a `.wasm` file that says, in a typed way, which
//! functions it offers ("exports") and which host functions it needs ("imports"). The
//! contract is written in WIT (`wit/plugin@0.1.0/plugin.wit`). For every event the host
//! creates a fresh instance, calls `handle`, and then carries out the returned
//! [`Decisions`]; the plugin itself never performs I/O. Nothing survives between two calls
//! except what the plugin stores through the `state` interface.
//!
//! The plugin only ever sees *event time* (`clock::now()` is the time of the event being
//! handled), never the wall clock, so replaying the same events yields the same decisions.
//! Keep it that way: do not read the system time or use randomness to make decisions.

// `generate!` reads the WIT package at compile time and writes Rust code for it, right here:
//   * the `Guest` trait with one method per exported function (`check_config`, `handle`),
//   * the shared record/variant types: `Event`, `Decisions` and `Error` (re-exported at the
//     crate root because the world `use`s them) plus `Command` and `Timer` (in
//     `leitstand::plugin::types`),
//   * a Rust module per imported interface (`leitstand::plugin::{state, log, metrics,
//     clock}`) whose functions call into the host,
//   * the `export!` macro that wires a type implementing `Guest` to the component's exports.
// `world` names the world in the WIT file to build; `path` is relative to this crate's
// Cargo.toml (plugins/template/ -> ../../wit/plugin@0.1.0). If you move the crate, fix it.
wit_bindgen::generate!({ world: "plugin", path: "../../wit/plugin@0.1.0" });

// An ordered map: deterministic iteration order, which matters for reproducible output.
use std::collections::BTreeMap;

// The host's functions this plugin calls: `clock` (event time), `log` (structured log),
// `metrics` (custom counters/gauges) and `state` (private key-value store).
use leitstand::plugin::{clock, log, metrics, state};
// The two record types that are not re-exported at the crate root: a command to send and a
// timer to set. (`Event`, `Decisions` and `Error` are already in scope from `generate!`.)
use leitstand::plugin::types::{Command, Timer};
// `Deserialize` turns JSON text into our typed config struct.
use serde::Deserialize;
// `json!` builds JSON values for command data; `Map`/`Value` let us inspect raw JSON.
use serde_json::{Map, Value, json};

/// The plugin type. It has no fields: a plugin keeps no data in memory between calls (every
/// event gets a fresh instance), so all inputs arrive as arguments or via `state`.
struct TemplatePlugin;

// Tells wit-bindgen that `TemplatePlugin` implements the component's exports. This emits the
// low-level glue (`check-config` and `handle` as component exports) that converts between
// the component model's canonical ABI and the Rust types. Exactly one `export!` per crate.
export!(TemplatePlugin);

/// The plugin's configuration: the bundle's `[plugins.config]` table, which the host hands
/// over as JSON text on every call. Example (TOML in the bundle):
///
/// ```toml
/// [plugins.config]
/// default_target = "sip:frontdesk@example.invalid"
/// emergency_target = "sip:oncall@example.invalid"
/// escalate_after_seconds = 90
/// [plugins.config.targets]
/// billing = "sip:billing@example.invalid"
/// ```
// `deny_unknown_fields` turns a misspelt key (e.g. `default_targte`) into an error at bundle
// load instead of a silently ignored setting.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Config {
    /// Where calls go when no other rule applies. Required, non-empty.
    default_target: String,
    /// Per-queue targets: queue name -> target. Optional (`default` = empty map).
    #[serde(default)]
    targets: BTreeMap<String, String>,
    /// Where calls with `priority: "emergency"` go. Optional; without it, emergencies are
    /// routed like any other call.
    #[serde(default)]
    emergency_target: Option<String>,
    /// Escalate an offered call not answered or abandoned within this many seconds.
    /// Optional (no escalation when absent); must be greater than 0 when present.
    #[serde(default)]
    escalate_after_seconds: Option<u32>,
}

/// The config keys `Config` accepts; used to name the offending key in error messages.
const CONFIG_KEYS: [&str; 4] = [
    "default_target",
    "targets",
    "emergency_target",
    "escalate_after_seconds",
];

/// Prefix of the escalation timers' names; the full name is `escalate/<call_id>`.
/// Timer names are unique per plugin and tenant, so one timer per call.
const ESCALATE_PREFIX: &str = "escalate/";

// The implementation of the WIT exports. The method signatures are dictated by the
// generated `Guest` trait: WIT `string` is Rust `String`, `result<T, error>` is
// `Result<T, Error>`.
impl Guest for TemplatePlugin {
    /// Called once when a bundle loads. Returning `Err(Error::InvalidConfig(..))` refuses the
    /// bundle and shows our message to the operator, so the message names key and reason.
    fn check_config(config: String) -> Result<(), Error> {
        // Parse and validate; discard the result - we only want to know whether it is valid.
        parse_config(&config).map(|_| ())
    }

    /// Called for every event the bundle subscribes this plugin to. The config is passed
    /// again each time (instances are fresh), so we parse it again; that is cheap.
    fn handle(config: String, event: Event) -> Result<Decisions, Error> {
        // Typed, validated configuration (same checks as at load time).
        let config = parse_config(&config)?;
        // Event data is JSON text; we need a JSON object to read fields from.
        let data = parse_data(&event.data)?;
        // Dispatch on the CloudEvent type. `type_` is the WIT field `type` (a Rust keyword,
        // hence the trailing underscore added by wit-bindgen).
        match event.type_.as_str() {
            // A new call is waiting: decide where it goes.
            "call.offered" => on_offered(&config, &data),
            // The call ended its waiting phase: escalation is no longer needed.
            "call.answered" | "call.abandoned" => on_settled(&event, &data),
            // One of *our* timers is due (the host only delivers a plugin's own timers).
            "timer.fired" => on_timer(&config, &event, &data),
            // Anything else the bundle routes to us: nothing to decide. Returning empty
            // decisions (rather than an error) keeps unrelated events from failing.
            _ => Ok(no_decisions()),
        }
    }
}

/// `call.offered`: route the call, count it, and arm the escalation timer.
fn on_offered(config: &Config, data: &Map<String, Value>) -> Result<Decisions, Error> {
    // Required fields; a missing one is the event's fault -> `Error::InvalidEvent`.
    let call_id = required_str(data, "call_id")?;
    let queue = required_str(data, "queue")?;
    // Optional priority: "normal" (the default) or "emergency"; anything else is invalid.
    let emergency = match optional_str(data, "priority")? {
        None | Some("normal") => false,
        Some("emergency") => true,
        Some(other) => {
            return Err(Error::InvalidEvent(format!(
                "priority: expected \"normal\" or \"emergency\", got {other:?}"
            )));
        }
    };
    // `site` is optional and not used by this rule; it is read only to reject a non-string
    // value early. A real plugin might route by site. Other fields (for example
    // `caller_ref`, which is personal data) are ignored on purpose.
    let _site = optional_str(data, "site")?;

    // Pick target and reason, most specific rule first.
    let (target, reason) = match (&config.emergency_target, config.targets.get(queue)) {
        // An emergency with an emergency target configured.
        (Some(emergency_target), _) if emergency => (emergency_target.as_str(), "emergency"),
        // The queue has its own target.
        (_, Some(queue_target)) => (queue_target.as_str(), "queue"),
        // Fallback.
        _ => (config.default_target.as_str(), "default"),
    };

    // The command for the host to send. Its `data` must be a JSON object as text; the host
    // checks that the bundle grants the type `call.route` to this plugin.
    let route = Command {
        type_: "call.route".to_string(),
        subject: Some(call_id.to_string()),
        data: json!({ "call_id": call_id, "queue": queue, "target": target, "reason": reason })
            .to_string(),
    };

    // Count routed calls per target in our private state. The write becomes durable only if
    // this whole `handle` call succeeds, so a failed event never double-counts.
    let count_key = format!("routed/{target}");
    let routed = read_counter(&count_key)?.saturating_add(1);
    // Stored as decimal text so operators can read it when inspecting state.
    state::set(&count_key, routed.to_string().as_bytes())?;
    // The same number as a metric, labelled by the daemon with tenant and plugin. Host errors
    // (e.g. a quota) propagate with `?` because they use the same `Error` type.
    metrics::counter_add("calls_routed", 1)?;

    // Arm the escalation timer, if configured. Time is event time: `clock::now()` is the
    // offered event's time in milliseconds, not the wall clock.
    let mut set_timers = Vec::new();
    if let Some(seconds) = config.escalate_after_seconds {
        set_timers.push(Timer {
            // One timer per call; setting the same name again would replace it.
            name: format!("{ESCALATE_PREFIX}{call_id}"),
            // Due `seconds` after the call was offered (saturating: never overflow).
            at: clock::now().saturating_add(i64::from(seconds) * 1000),
            // Handed back to us in the `timer.fired` event, so we need no state for it.
            payload: json!({ "call_id": call_id, "queue": queue }).to_string(),
        });
    }

    // Log the decision at debug level. Ids, queue and target are fine to log; personal data
    // (caller_ref, phone numbers, names) never belongs in a log message.
    log::log(
        log::Level::Debug,
        &format!(
            "call {call_id} in queue {queue} routed to {target} (reason: {reason}, escalation timer: {})",
            if set_timers.is_empty() { "none" } else { "set" }
        ),
    );

    // Everything we decided; the host carries it out in this order.
    Ok(Decisions {
        commands: vec![route],
        set_timers,
        cancel_timers: Vec::new(),
    })
}

/// `call.answered` / `call.abandoned`: cancel the call's escalation timer.
fn on_settled(event: &Event, data: &Map<String, Value>) -> Result<Decisions, Error> {
    // Prefer `data.call_id`; fall back to the event's subject, which is the call id too.
    let call_id = match optional_str(data, "call_id")? {
        Some(call_id) => call_id,
        None => event
            .subject
            .as_deref()
            .filter(|subject| !subject.is_empty())
            .ok_or_else(|| Error::InvalidEvent("call_id missing".to_string()))?,
    };
    // Cancel unconditionally: even if escalation is switched off now, a timer set under an
    // older config may still be pending. Cancelling an unknown name is not an error.
    let name = format!("{ESCALATE_PREFIX}{call_id}");
    log::log(
        log::Level::Debug,
        &format!("call {call_id} {}: cancelling timer {name}", event.type_),
    );
    // No commands, just the cancellation.
    Ok(Decisions {
        commands: Vec::new(),
        set_timers: Vec::new(),
        cancel_timers: vec![name],
    })
}

/// `timer.fired`: if it is an escalation timer, send `call.escalate`.
fn on_timer(config: &Config, event: &Event, data: &Map<String, Value>) -> Result<Decisions, Error> {
    // The timer's name is in `data.name` (and in the subject); prefer data.
    let name = match optional_str(data, "name")? {
        Some(name) => name,
        None => event
            .subject
            .as_deref()
            .ok_or_else(|| Error::InvalidEvent("name missing".to_string()))?,
    };
    // Only our escalation timers interest us; a plugin may own other kinds of timers.
    if !name.starts_with(ESCALATE_PREFIX) {
        return Ok(no_decisions());
    }
    // If escalation was switched off since the timer was set, let pending timers lapse.
    let Some(waited_seconds) = config.escalate_after_seconds else {
        log::log(
            log::Level::Debug,
            &format!("timer {name} fired but escalation is disabled; ignoring"),
        );
        return Ok(no_decisions());
    };
    // The payload we stored when setting the timer. The host embeds it as JSON; accept it
    // also as a JSON string containing the object, to be lenient.
    let payload = match data.get("payload") {
        Some(Value::String(text)) => parse_data(text)?,
        Some(Value::Object(object)) => object.clone(),
        _ => return Err(Error::InvalidEvent("payload missing".to_string())),
    };
    let call_id = required_str(&payload, "call_id")?;
    let queue = required_str(&payload, "queue")?;
    log::log(
        log::Level::Debug,
        &format!("call {call_id} in queue {queue} unanswered after {waited_seconds}s: escalating"),
    );
    // The escalation command; the timer itself is spent, nothing to cancel.
    Ok(Decisions {
        commands: vec![Command {
            type_: "call.escalate".to_string(),
            subject: Some(call_id.to_string()),
            data: json!({ "call_id": call_id, "queue": queue, "waited_seconds": waited_seconds })
                .to_string(),
        }],
        set_timers: Vec::new(),
        cancel_timers: Vec::new(),
    })
}

/// Parses and validates the config JSON. Every error is `InvalidConfig("<key>: <reason>")`.
fn parse_config(text: &str) -> Result<Config, Error> {
    // Small helper to build the error variant.
    let invalid = |key: &str, reason: &dyn std::fmt::Display| {
        Error::InvalidConfig(format!("{key}: {reason}"))
    };
    // First as a generic JSON object, so that on a typed error we can tell which key is bad
    // (serde's own message does not always name it).
    let map: Map<String, Value> = serde_json::from_str(text).map_err(|e| invalid("config", &e))?;
    // Then into the typed struct; serde checks presence, types and unknown keys.
    let config: Config = serde_json::from_value(Value::Object(map.clone()))
        .map_err(|e| invalid(offending_key(&map), &e))?;
    // Finally the rules serde cannot express.
    if config.default_target.trim().is_empty() {
        return Err(invalid("default_target", &"must not be empty"));
    }
    if let Some((queue, _)) = config.targets.iter().find(|(_, t)| t.trim().is_empty()) {
        return Err(invalid(&format!("targets.{queue}"), &"must not be empty"));
    }
    if config
        .emergency_target
        .as_deref()
        .is_some_and(|t| t.trim().is_empty())
    {
        return Err(invalid("emergency_target", &"must not be empty"));
    }
    if config.escalate_after_seconds == Some(0) {
        return Err(invalid("escalate_after_seconds", &"must be greater than 0"));
    }
    Ok(config)
}

/// Names the config key responsible for a serde error: an unknown key, else a missing
/// required key, else the first known key whose value does not have the expected type.
fn offending_key(map: &Map<String, Value>) -> &str {
    // Checks whether a JSON value deserialises as `T` (the field's type in `Config`).
    fn fits<T: serde::de::DeserializeOwned>(value: &Value) -> bool {
        T::deserialize(value).is_ok()
    }
    if let Some(unknown) = map.keys().find(|k| !CONFIG_KEYS.contains(&k.as_str())) {
        return unknown;
    }
    if !map.contains_key("default_target") {
        return "default_target";
    }
    // Each key with a check matching its field type above.
    type Check = (&'static str, fn(&Value) -> bool);
    let checks: [Check; 4] = [
        ("default_target", fits::<String>),
        ("targets", fits::<BTreeMap<String, String>>),
        ("emergency_target", fits::<Option<String>>),
        ("escalate_after_seconds", fits::<Option<u32>>),
    ];
    checks
        .iter()
        .find(|(key, fits)| map.get(*key).is_some_and(|value| !fits(value)))
        .map_or("config", |(key, _)| key)
}

/// Parses event data (JSON text) into an object; anything else is an invalid event.
fn parse_data(text: &str) -> Result<Map<String, Value>, Error> {
    serde_json::from_str(text).map_err(|e| Error::InvalidEvent(format!("data: {e}")))
}

/// A required, non-empty string field; missing (or null/empty) -> `"<field> missing"`.
fn required_str<'a>(data: &'a Map<String, Value>, field: &str) -> Result<&'a str, Error> {
    optional_str(data, field)?.ok_or_else(|| Error::InvalidEvent(format!("{field} missing")))
}

/// An optional string field: `None` if absent, null or empty; an error if not a string.
fn optional_str<'a>(data: &'a Map<String, Value>, field: &str) -> Result<Option<&'a str>, Error> {
    match data.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.is_empty() => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(Error::InvalidEvent(format!("{field}: expected a string"))),
    }
}

/// Reads a decimal counter from state; a missing key counts as 0.
fn read_counter(key: &str) -> Result<u64, Error> {
    // `state::get` returns `Ok(None)` for a missing key, `Err` if the host refuses access.
    match state::get(key)? {
        None => Ok(0),
        Some(bytes) => std::str::from_utf8(&bytes)
            .ok()
            .and_then(|text| text.trim().parse().ok())
            .ok_or_else(|| Error::Other(format!("state {key}: not a decimal number"))),
    }
}

/// Empty decisions: "nothing to do". (`Decisions` has no `Default`, so spelled out once.)
fn no_decisions() -> Decisions {
    Decisions {
        commands: Vec::new(),
        set_timers: Vec::new(),
        cancel_timers: Vec::new(),
    }
}
