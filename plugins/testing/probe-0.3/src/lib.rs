//! TEST FIXTURE - reports what a prepared instance of the contract 0.3.0 sees. Do not copy:
//! it keeps a counter between events on purpose, which a real plugin must not do.
//!
//! On every event it routes the event's `call_id` (`data.call_id`) to `probe` with:
//! `handled` (events this instance handled, this one included), `now` (the contract's
//! clock), `wasi_now_ms` (the WASI wall clock), `prepared` (what `prepare` saw: the clock,
//! and what reading state answered). `data.panic` makes it panic; `data.panic_if_reused` makes
//! it panic in an instance that handled an event before; `data.refuse` makes it refuse.

wit_bindgen::generate!({ world: "plugin", path: "../../../wit/plugin@0.3.0" });

use std::cell::{Cell, RefCell};
use std::time::{SystemTime, UNIX_EPOCH};

use leitstand::plugin::types::Command;
use leitstand::plugin::{clock, state};
use serde_json::{Value, json};

/// The fixture's exports.
struct Probe;

export!(Probe);

thread_local! {
    static HANDLED: Cell<u64> = const { Cell::new(0) };
    static PREPARED: RefCell<Option<Value>> = const { RefCell::new(None) };
}

impl Guest for Probe {
    fn check_config(_config: String) -> Result<(), Error> {
        Ok(())
    }

    fn prepare(_config: String) -> Result<(), Error> {
        let state = match state::get("anything") {
            Ok(_) => "readable".to_owned(),
            Err(Error::AccessDenied(m)) => format!("access-denied: {m}"),
            Err(_) => "another error".to_owned(),
        };
        PREPARED.set(Some(json!({"now": clock::now(), "state": state})));
        Ok(())
    }

    fn handle(event: Event) -> Result<Decisions, Error> {
        let handled = HANDLED.get() + 1;
        HANDLED.set(handled);
        let data: Value =
            serde_json::from_str(&event.data).map_err(|e| Error::InvalidEvent(e.to_string()))?;
        if data["panic"] == json!(true) || (data["panic_if_reused"] == json!(true) && handled > 1) {
            panic!("the probe panics on request");
        }
        if data["refuse"] == json!(true) {
            return Err(Error::Other("the probe refuses on request".into()));
        }
        let wasi_now_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis());
        let call_id = data["call_id"].as_str().unwrap_or("none");
        let prepared = PREPARED.with_borrow(Clone::clone);
        Ok(Decisions {
            commands: vec![Command {
                type_: "call.route".into(),
                subject: Some(call_id.to_owned()),
                data: json!({
                    "call_id": call_id,
                    "target": "probe",
                    "handled": handled,
                    "now": clock::now(),
                    "wasi_now_ms": wasi_now_ms,
                    "prepared": prepared,
                })
                .to_string(),
            }],
            set_timers: Vec::new(),
            cancel_timers: Vec::new(),
        })
    }
}
