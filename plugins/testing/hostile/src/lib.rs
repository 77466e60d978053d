//! TEST FIXTURE - a deliberately hostile Leitstand plugin. Do not copy; see `template/`.
//!
//! The host's tests load this guest to prove that the sandbox holds: CPU and memory limits,
//! stack limits, panics, malformed or ungranted output, command floods, stdout/stderr
//! floods, state, timers and the deterministic clock/randomness. The behaviour is chosen by
//! the config `{"mode": "<mode>", "refuse": "<optional message>"}`; see the table in
//! `plugins/README.md`.

// Bindings for the plugin world; this crate sits one level deeper than `template/`.
wit_bindgen::generate!({ world: "plugin", path: "../../../wit/plugin@0.1.0" });

use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;
use std::hint::black_box;

use leitstand::plugin::types::{Command, Timer};
use leitstand::plugin::{clock, log, metrics, state};
use serde::Deserialize;
use serde_json::{Value, json};

/// The fixture's exports.
struct Hostile;

export!(Hostile);

/// `{"mode": ..., "refuse": ...}`; other keys are ignored.
#[derive(Deserialize)]
struct Config {
    /// Which misbehaviour `handle` shows.
    mode: Option<String>,
    /// If present, `check_config` refuses the config with exactly this message.
    refuse: Option<String>,
    /// "busy": how many rounds of work each event costs.
    iterations: Option<u64>,
}

/// All modes `handle` understands.
const MODES: [&str; 17] = [
    "busy",
    "foreign",
    "state-flood",
    "loop",
    "alloc",
    "panic",
    "stack",
    "garbage",
    "ungranted",
    "flood",
    "chatty",
    "counter",
    "echo",
    "timer",
    "sleep",
    "rearm",
    "scripted",
];

impl Guest for Hostile {
    fn check_config(config: String) -> Result<(), Error> {
        let config = parse_config(&config)?;
        if let Some(message) = config.refuse {
            return Err(Error::InvalidConfig(message));
        }
        mode(&config).map(|_| ())
    }

    fn handle(config: String, event: Event) -> Result<Decisions, Error> {
        let config = parse_config(&config)?;
        match mode(&config)? {
            // Spins forever; `black_box` keeps the optimiser from removing the loop.
            // Sleeps for an hour: the host must stop it instead of blocking a thread.
            "sleep" => {
                std::thread::sleep(std::time::Duration::from_secs(3600));
                Ok(commands(Vec::new()))
            }
            "loop" => {
                let mut counter = 0u64;
                loop {
                    counter = black_box(counter.wrapping_add(1));
                }
            }
            // Allocates 1 MiB chunks filled with data and never frees them.
            "alloc" => {
                let mut hoard: Vec<Vec<u8>> = Vec::new();
                loop {
                    hoard.push(vec![0xA5; 1 << 20]);
                    black_box(&hoard);
                }
            }
            // Traps: on wasm32-wasip2 a panic prints its message to stderr, then aborts.
            "panic" => panic!("hostile guest panics on purpose"),
            // Recurses until the wasm stack limit traps (`Trap::StackOverflow` with the host's
            // 1 MiB `max_wasm_stack`); the command is never returned.
            "stack" => Ok(commands(vec![command(
                "test.unreachable",
                json!({ "depth": recurse(0) }),
            )])),
            // Malformed command data (not JSON).
            "garbage" => Ok(commands(vec![Command {
                type_: "call.route".to_string(),
                subject: None,
                data: "{not json".to_string(),
            }])),
            // A command type no bundle should grant.
            "ungranted" => Ok(commands(vec![command("secret.exfiltrate", json!({}))])),
            "flood" => Ok(commands(
                (0..10_000)
                    .map(|_| command("call.route", json!({})))
                    .collect(),
            )),
            // 1 MiB to stdout and to stderr (1024 lines of 1023 chars + newline each).
            "chatty" => {
                let line = "x".repeat(1023);
                for _ in 0..1024 {
                    println!("{line}");
                    eprintln!("{line}");
                }
                Ok(commands(vec![command("call.route", json!({ "ok": true }))]))
            }
            // Increments state "count" (decimal text) and reports the new value.
            "counter" => {
                let count = match state::get("count")? {
                    Some(bytes) => String::from_utf8_lossy(&bytes)
                        .trim()
                        .parse::<u64>()
                        .unwrap_or(0),
                    None => 0,
                } + 1;
                state::set("count", count.to_string().as_bytes())?;
                Ok(commands(vec![command(
                    "test.counted",
                    json!({ "count": count, "event_id": event.id }),
                )]))
            }
            // Reflects what the guest can observe: event, clock, and std's seeded randomness.
            "echo" => {
                let random = RandomState::new().hash_one(&event.id);
                Ok(commands(vec![command(
                    "test.echo",
                    json!({
                        "id": event.id, "type": event.type_, "time": event.time,
                        "subject": event.subject, "timezone": clock::timezone(),
                        "now": clock::now(), "random": random,
                    }),
                )]))
            }
            "timer" => timer(&event),
            // Like "timer", but every firing sets the same timer again for the instant it
            // fired at: a re-arm that would fire without end in event time.
            "rearm" if event.type_ == "timer.fired" => {
                let mut decisions = commands(Vec::new());
                decisions.set_timers.push(Timer {
                    name: event.subject.clone().unwrap_or_default(),
                    at: event.time,
                    payload: "{}".to_string(),
                });
                Ok(decisions)
            }
            "rearm" => timer(&event),
            // Makes the host calls and returns the decisions its event spells out, whatever
            // they are: the boundary's property test and fuzz target drive the host with it.
            "scripted" => scripted(&event),
            // Burns CPU for `iterations` rounds, then routes the call like a good plugin: a
            // tenant that is expensive but within its limits.
            "busy" => {
                let mut x = 0u64;
                for i in 0..config.iterations.unwrap_or(1_000_000) {
                    x = black_box(x.wrapping_mul(6364136223846793005).wrapping_add(i));
                }
                Ok(commands(vec![command(
                    "call.route",
                    json!({ "target": "busy", "work": x & 0xff }),
                )]))
            }
            // A command that claims to speak for another tenant.
            "foreign" => Ok(commands(vec![command(
                "call.route",
                json!({ "tenant": "someone-else", "target": "their-queue" }),
            )])),
            // Writes 4 KiB values under new keys until the host refuses one, then fails
            // with the host's error.
            "state-flood" => {
                let value = vec![0x5A; 4096];
                for i in 0u64.. {
                    state::set(&format!("flood/{}/{i}", event.id), &value)?;
                }
                Ok(commands(Vec::new()))
            }
            _ => unreachable!("mode() only returns known modes"),
        }
    }
}

/// "timer": sets (`{"name", "after_ms"}`) or cancels (`{"cancel": name}`) a timer; reports
/// a fired timer as `test.fired`.
fn timer(event: &Event) -> Result<Decisions, Error> {
    if event.type_ == "timer.fired" {
        let name = event.subject.clone().unwrap_or_default();
        return Ok(commands(vec![command(
            "test.fired",
            json!({ "name": name, "at": event.time }),
        )]));
    }
    let data: Value =
        serde_json::from_str(&event.data).map_err(|e| Error::InvalidEvent(format!("data: {e}")))?;
    let mut decisions = commands(Vec::new());
    if let Some(name) = data.get("cancel").and_then(Value::as_str) {
        decisions.cancel_timers.push(name.to_string());
        return Ok(decisions);
    }
    let name = data
        .get("name")
        .and_then(Value::as_str)
        .ok_or_else(|| Error::InvalidEvent("name missing".to_string()))?;
    let after_ms = data
        .get("after_ms")
        .and_then(Value::as_i64)
        .ok_or_else(|| Error::InvalidEvent("after_ms missing".to_string()))?;
    decisions.set_timers.push(Timer {
        name: name.to_string(),
        at: event.time.saturating_add(after_ms),
        payload: json!({ "set_by": event.id }).to_string(),
    });
    Ok(decisions)
}

/// Unbounded, non-tail recursion: the result is used after the call, so it cannot become a
/// loop, and `black_box` hides that the exit condition is never met.
/// One host call of a script: `{"get": key}`, `{"set": [key, text]}`, `{"delete": key}`,
/// `{"log": [level, message]}`, `{"count": [name, n]}`, `{"gauge": [name, value]}` (a
/// number, or `"nan"`, `"inf"`, `"-inf"`).
fn call(c: &Value) {
    let text = |v: &Value| v.as_str().unwrap_or_default().to_string();
    if let Some(key) = c.get("get") {
        let _ = state::get(&text(key));
    } else if let Some([key, value]) = c.get("set").and_then(Value::as_array).map(Vec::as_slice) {
        let _ = state::set(&text(key), text(value).as_bytes());
    } else if let Some(key) = c.get("delete") {
        let _ = state::delete(&text(key));
    } else if let Some([level, message]) = c.get("log").and_then(Value::as_array).map(Vec::as_slice)
    {
        let level = match level.as_u64().unwrap_or(0) % 5 {
            0 => log::Level::Trace,
            1 => log::Level::Debug,
            2 => log::Level::Info,
            3 => log::Level::Warn,
            _ => log::Level::Error,
        };
        log::log(level, &text(message));
    } else if let Some([name, n]) = c.get("count").and_then(Value::as_array).map(Vec::as_slice) {
        let _ = metrics::counter_add(&text(name), n.as_u64().unwrap_or(u64::MAX));
    } else if let Some([name, value]) = c.get("gauge").and_then(Value::as_array).map(Vec::as_slice)
    {
        let value = match value.as_str() {
            Some("nan") => f64::NAN,
            Some("inf") => f64::INFINITY,
            Some("-inf") => f64::NEG_INFINITY,
            _ => value.as_f64().unwrap_or(f64::MAX),
        };
        let _ = metrics::gauge_set(&text(name), value);
    }
}

/// The script in the event's data (a timer's payload when the timer fires): `calls` (see
/// [`call`]), then `commands` (`type`, `subject`, `data` as raw text), `timers` (`name`,
/// `at`, `payload` as raw text) and `cancel` (names) returned as they are.
fn scripted(event: &Event) -> Result<Decisions, Error> {
    let data: Value =
        serde_json::from_str(&event.data).map_err(|e| Error::InvalidEvent(format!("data: {e}")))?;
    // A firing runs the script its timer carries as payload.
    let script = if event.type_ == "timer.fired" {
        data.get("payload").cloned().unwrap_or_default()
    } else {
        data
    };
    let list = |key: &str| {
        script
            .get(key)
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default()
    };
    let text = |v: &Value, key: &str| {
        v.get(key)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    };
    for c in list("calls") {
        call(&c);
    }
    let mut decisions = commands(Vec::new());
    for c in list("commands") {
        decisions.commands.push(Command {
            type_: text(&c, "type"),
            subject: c.get("subject").and_then(Value::as_str).map(str::to_string),
            data: text(&c, "data"),
        });
    }
    for t in list("timers") {
        decisions.set_timers.push(Timer {
            name: text(&t, "name"),
            at: t.get("at").and_then(Value::as_i64).unwrap_or_default(),
            payload: text(&t, "payload"),
        });
    }
    for name in list("cancel") {
        decisions
            .cancel_timers
            .push(name.as_str().unwrap_or_default().to_string());
    }
    Ok(decisions)
}

fn recurse(depth: u64) -> u64 {
    if black_box(depth) == u64::MAX {
        return 0;
    }
    recurse(depth + 1).rotate_left(black_box(depth) as u32) ^ depth
}

fn parse_config(text: &str) -> Result<Config, Error> {
    serde_json::from_str(text).map_err(|e| Error::InvalidConfig(format!("config: {e}")))
}

/// The configured mode, if it is a known one.
fn mode(config: &Config) -> Result<&'static str, Error> {
    let mode = config
        .mode
        .as_deref()
        .ok_or_else(|| Error::InvalidConfig("mode: missing".to_string()))?;
    MODES
        .iter()
        .copied()
        .find(|known| *known == mode)
        .ok_or_else(|| Error::InvalidConfig(format!("mode: unknown mode {mode:?}")))
}

fn command(type_: &str, data: Value) -> Command {
    Command {
        type_: type_.to_string(),
        subject: None,
        data: data.to_string(),
    }
}

fn commands(commands: Vec<Command>) -> Decisions {
    Decisions {
        commands,
        set_timers: Vec::new(),
        cancel_timers: Vec::new(),
    }
}
