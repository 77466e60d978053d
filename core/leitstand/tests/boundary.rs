//! The host–guest boundary under arbitrary plugin output: a guest that returns whatever
//! decisions and makes whatever host calls its event spells out (the hostile guest's
//! `scripted` mode) is fed scripts proptest makes — command types of routing-key wildcards,
//! subjects and names of any length, data that is not JSON, timers at any `s64`, counters
//! and gauges at any value, NaN and infinities, state keys and values of every size, log
//! lines — beside a calm neighbour tenant. Every event must end within the plugin's limits
//! with a classified outcome (processed, or failed with a known kind), nothing may hang or
//! panic, and every neighbour event must be routed. The check is the cargo-fuzz target
//! `boundary`'s (`fuzz/src/lib.rs`, compiled in here by path; docs/FUZZING.md).

#[allow(dead_code)]
#[path = "../../../fuzz/src/lib.rs"]
mod fuzz_entry;

use std::sync::mpsc::{Sender, channel};
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use proptest::prelude::*;
use serde_json::{Value, json};

/// A request to the checking thread: scripts, and where to say how it went.
type Request = (Vec<Value>, Sender<Result<(), String>>);

/// One thread checks every case (its sandbox and bundles are made once); a panic is the
/// case's failure, a case that never ends fails after two minutes.
fn check(scripts: Vec<Value>) -> Result<(), TestCaseError> {
    static WORKER: OnceLock<Mutex<Sender<Request>>> = OnceLock::new();
    let worker = WORKER.get_or_init(|| {
        let (tx, rx) = channel::<Request>();
        std::thread::spawn(move || {
            for (scripts, answer) in rx {
                let result = std::panic::catch_unwind(|| fuzz_entry::check_boundary(&scripts))
                    .map_err(|e| {
                        e.downcast_ref::<String>()
                            .cloned()
                            .or_else(|| e.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                            .unwrap_or_else(|| "a panic".to_owned())
                    });
                let _ = answer.send(result);
            }
        });
        Mutex::new(tx)
    });
    let (answer, result) = channel();
    worker
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .send((scripts, answer))
        .map_err(|_| TestCaseError::fail("the checking thread has gone"))?;
    match result.recv_timeout(Duration::from_secs(120)) {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(TestCaseError::fail(e)),
        Err(_) => Err(TestCaseError::fail(
            "the replay did not finish within two minutes",
        )),
    }
}

/// Text a plugin might return where a name, type, key or subject goes.
fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(String::new()),
        Just("call.route".to_owned()),
        Just("test.out".to_owned()),
        Just("#".to_owned()),
        Just("*.call.#".to_owned()),
        Just("a\u{0}b\nc".to_owned()),
        Just("x".repeat(300)),
        Just("ü".repeat(700)),
        "[a-z.#*_-]{0,20}",
        any::<String>(),
        (1usize..4_000).prop_map(|n| "k".repeat(n)),
    ]
}

/// Text where JSON is expected.
fn json_text() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("{}".to_owned()),
        Just("{\"target\":\"kl\"}".to_owned()),
        Just("{\"tenant\":\"calm\"}".to_owned()),
        // A timer's script that re-arms the timer for the instant it fires at.
        Just(
            json!({"timers": [{"name": "again", "at": 1_795_080_600_000_i64,
                "payload": json!({"timers": [{"name": "again", "at": 1_795_080_600_000_i64, "payload": "{}"}]}).to_string()}]})
            .to_string()
        ),
        // A timer's script that re-arms one millisecond later, each firing again.
        Just(
            json!({"timers": [{"name": "creep", "at": 1_795_080_600_000_i64,
                "payload": json!({"timers": [{"name": "creep", "at": 1_795_080_600_001_i64, "payload": "{}"}]}).to_string()}]})
            .to_string()
        ),
        Just("{not json".to_owned()),
        Just("[1,2]".to_owned()),
        Just(format!("{}{}", "[".repeat(200), "]".repeat(200))),
        any::<String>(),
        (1usize..8_000).prop_map(|n| format!("{{\"pad\":\"{}\"}}", "p".repeat(n))),
    ]
}

fn number() -> impl Strategy<Value = i64> {
    prop_oneof![
        Just(i64::MIN),
        Just(i64::MAX),
        Just(0),
        Just(-1),
        Just(1_795_080_600_000),
        Just(253_402_300_799_999),
        Just(253_402_300_800_000),
        Just(-62_167_219_200_001),
        any::<i64>(),
    ]
}

fn call() -> impl Strategy<Value = Value> {
    prop_oneof![
        text().prop_map(|k| json!({"get": k})),
        (text(), text()).prop_map(|(k, v)| json!({"set": [k, v]})),
        text().prop_map(|k| json!({"delete": k})),
        (any::<u8>(), text()).prop_map(|(l, m)| json!({"log": [l, m]})),
        (text(), any::<u64>()).prop_map(|(n, v)| json!({"count": [n, v]})),
        (
            text(),
            prop_oneof![
                Just(json!("nan")),
                Just(json!("inf")),
                Just(json!("-inf")),
                any::<f64>().prop_map(|f| json!(f))
            ]
        )
            .prop_map(|(n, v)| json!({"gauge": [n, v]})),
    ]
}

fn script() -> impl Strategy<Value = Value> {
    (
        prop::collection::vec(call(), 0..5),
        prop::collection::vec(
            (text(), prop::option::of(text()), json_text())
                .prop_map(|(t, s, d)| json!({"type": t, "subject": s, "data": d})),
            0..5,
        ),
        prop::collection::vec(
            (text(), number(), json_text())
                .prop_map(|(n, at, p)| json!({"name": n, "at": at, "payload": p})),
            0..4,
        ),
        prop::collection::vec(text(), 0..4),
    )
        .prop_map(|(calls, commands, timers, cancel)| {
            json!({"calls": calls, "commands": commands, "timers": timers, "cancel": cancel})
        })
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 48,
        max_shrink_iters: 200,
        .. ProptestConfig::default()
    })]

    #[test]
    fn any_plugin_output_ends_classified_within_limits_and_the_neighbour_goes_on(
        scripts in prop::collection::vec(script(), 1..6)
    ) {
        check(scripts)?;
    }
}

/// Findings kept as regressions, each once a property case: timers at both ends of the
/// `s64` range, a wildcard command type, a gauge of NaN, a state key of 5,000 bytes, a
/// subject with a control character.
#[test]
fn the_boundary_findings_stay_mended() {
    let scripts = vec![
        json!({"timers": [{"name": "t", "at": i64::MAX, "payload": "{}"},
                          {"name": "u", "at": i64::MIN, "payload": "{}"}]}),
        json!({"commands": [{"type": "#", "data": "{}"}, {"type": "*.call.#", "data": "{}"}]}),
        json!({"calls": [{"gauge": ["g", "nan"]}, {"gauge": ["h", "inf"]}]}),
        json!({"calls": [{"set": ["k".repeat(5_000), "v"]}]}),
        json!({"commands": [{"type": "call.route", "subject": "s\u{7}", "data": "{}"}]}),
        // A timer whose firing re-arms it for the same instant (2026-11-19T09:30Z), and one
        // that re-arms a millisecond later: neither fires without end.
        json!({"timers": [{"name": "again", "at": 1_795_080_600_000_i64,
            "payload": json!({"timers": [{"name": "again", "at": 1_795_080_600_000_i64, "payload": "{}"}]}).to_string()}]}),
        json!({"timers": [{"name": "creep", "at": 1_795_080_600_000_i64,
            "payload": json!({"timers": [{"name": "creep", "at": 1_795_080_600_001_i64, "payload": "{}"}]}).to_string()}]}),
    ];
    if let Err(e) = check(scripts) {
        panic!("{e}");
    }
}
