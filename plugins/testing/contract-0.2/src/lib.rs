//! TEST FIXTURE - a plugin of the contract 0.2.0, written against its bare bindings. Do not
//! copy; see `template/`.
//!
//! Config `{"open": "<target>", "closed": "<target>"}`: an offered call goes to `open` while
//! the tenant's own calendar is open and to `closed` otherwise, with the reason `open` or
//! `closed`, counted in the metric `routed_<reason>`. `check-config` refuses a tenant that
//! declares no calendar.

wit_bindgen::generate!({ world: "plugin", path: "../../../wit/plugin@0.2.0" });

use leitstand::plugin::types::Command;
use leitstand::plugin::{calendar, metrics};
use serde::Deserialize;
use serde_json::{Value, json};

/// The fixture's exports.
struct CalendarRouter;

export!(CalendarRouter);

/// Where offered calls go.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Config {
    open: String,
    closed: String,
}

fn parse(config: &str) -> Result<Config, Error> {
    serde_json::from_str(config).map_err(|e| Error::InvalidConfig(e.to_string()))
}

impl Guest for CalendarRouter {
    fn check_config(config: String) -> Result<(), Error> {
        parse(&config)?;
        if calendar::calendars().is_empty() {
            return Err(Error::InvalidConfig(
                "the tenant declares no calendar to route by".into(),
            ));
        }
        Ok(())
    }

    fn handle(config: String, event: Event) -> Result<Decisions, Error> {
        let config = parse(&config)?;
        let mut decisions = Decisions {
            commands: Vec::new(),
            set_timers: Vec::new(),
            cancel_timers: Vec::new(),
        };
        if event.type_ != "call.offered" {
            return Ok(decisions);
        }
        let data: Value =
            serde_json::from_str(&event.data).map_err(|e| Error::InvalidEvent(e.to_string()))?;
        let Some(call_id) = data["call_id"].as_str() else {
            return Err(Error::InvalidEvent("call.offered without call_id".into()));
        };
        let (target, reason) = if calendar::is_open(None, event.time)? {
            (&config.open, "open")
        } else {
            (&config.closed, "closed")
        };
        metrics::counter_add(&format!("routed_{reason}"), 1)?;
        decisions.commands.push(Command {
            type_: "call.route".into(),
            subject: Some(call_id.to_owned()),
            data: json!({"call_id": call_id, "target": target, "reason": reason}).to_string(),
        });
        Ok(decisions)
    }
}
