//! # Ministry connector
//!
//! A state ministry books vaccination appointments through its hotline providers and must
//! hear of every booking. This plugin keeps each centre's slot capacity, answers every
//! `booking.requested` with `booking.confirm` or `booking.reject`, frees the slot on
//! `booking.cancelled`, and reports each confirmed (and each cancelled) booking to the
//! ministry's system by an `http.post` that the host delivers from its outbox — with
//! retries, backoff and the command's id as `Idempotency-Key`, never from inside the
//! sandbox. How the delivery ended comes back as an `http.response` event: a delivered
//! report is confirmed with `booking.reported`, a refused or abandoned one is handed to a
//! person with `notify`.
//!
//! State: `slot/<center>/<slot ms>` holds the bookings of a slot, `booking/<id>` each
//! confirmed booking.

use std::collections::BTreeMap;

use leitstand_sdk::{
    Command, ConfigError, Context, Error, Event, HttpOutcome, Kind, Plugin, log, metrics, plugin,
    state,
};
use serde::{Deserialize, Serialize};

/// The configuration.
///
/// ```toml
/// [plugins.config]
/// endpoint = "ministry"          # a key of [plugins.endpoints]; none: no reports
/// notify = "ministry-desk"       # who hears of a report the ministry did not take
/// [plugins.config.centers.impfzentrum-kl]
/// capacity_per_slot = 4
/// ```
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The centres that take bookings, by the id bookings name.
    centers: BTreeMap<String, Center>,
    /// The endpoint (of the bundle's `[plugins.endpoints]`) bookings are reported to.
    #[serde(default)]
    endpoint: Option<String>,
    /// The recipient of a `notify` when a report could not be delivered.
    #[serde(default = "default_notify")]
    notify: String,
}

fn default_notify() -> String {
    "ministry-desk".to_owned()
}

/// One centre.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Center {
    /// Bookings one slot takes.
    capacity_per_slot: u32,
}

/// A confirmed booking, as kept in state.
#[derive(Debug, Serialize, Deserialize)]
struct Booking {
    center: String,
    slot: String,
    slot_ms: i64,
}

/// The plugin.
pub struct Ministry;

impl Plugin for Ministry {
    type Config = Config;

    fn check(config: &Config) -> Result<(), ConfigError> {
        if config.centers.is_empty() {
            return Err(ConfigError::new("centers", "name at least one centre"));
        }
        for (id, c) in &config.centers {
            if c.capacity_per_slot == 0 {
                return Err(ConfigError::new(
                    format!("centers.{id}.capacity_per_slot"),
                    "must be at least 1",
                ));
            }
        }
        if config.endpoint.as_deref().is_some_and(str::is_empty) {
            return Err(ConfigError::new("endpoint", "must not be empty"));
        }
        Ok(())
    }

    fn handle(ctx: &mut Context, config: &Config, event: &Event) -> Result<(), Error> {
        match &event.kind {
            Kind::BookingRequested(b) => {
                let Some(center) = config.centers.get(&b.center) else {
                    ctx.emit(
                        Command::reject_booking(&b.booking_id, "unknown-center")
                            .with("center", &b.center),
                    );
                    return Ok(());
                };
                if state::get::<Booking>(&booking_key(&b.booking_id))?.is_some() {
                    ctx.emit(Command::reject_booking(&b.booking_id, "duplicate"));
                    return Ok(());
                }
                let slot = b.slot_time();
                if slot < ctx.now() {
                    ctx.emit(
                        Command::reject_booking(&b.booking_id, "slot-in-past")
                            .with("center", &b.center)
                            .with("slot", &b.slot),
                    );
                    return Ok(());
                }
                let key = slot_key(&b.center, slot.ms());
                let taken = state::get::<u32>(&key)?.unwrap_or(0);
                if taken >= center.capacity_per_slot {
                    ctx.emit(
                        Command::reject_booking(&b.booking_id, "full")
                            .with("center", &b.center)
                            .with("slot", &b.slot),
                    );
                    metrics::count("bookings_rejected_full", 1)?;
                    return Ok(());
                }
                state::put(&key, &(taken + 1))?;
                let booking = Booking {
                    center: b.center.clone(),
                    slot: b.slot.clone(),
                    slot_ms: slot.ms(),
                };
                state::put(&booking_key(&b.booking_id), &booking)?;
                ctx.emit(
                    Command::confirm_booking(&b.booking_id)
                        .with("center", &b.center)
                        .with("slot", &b.slot)
                        .with("remaining", center.capacity_per_slot - taken - 1),
                );
                metrics::count("bookings_confirmed", 1)?;
                if let Some(endpoint) = &config.endpoint {
                    let report = serde_json::json!({
                        "action": "confirm",
                        "booking_id": b.booking_id,
                        "center": b.center,
                        "slot": b.slot,
                        "channel": b.channel,
                        "priority_group": b.priority_group,
                        "citizen_ref": b.citizen_ref,
                    });
                    ctx.emit(Command::http_post(endpoint, report).subject(&b.booking_id));
                }
            }
            Kind::BookingCancelled(b) => {
                let key = booking_key(&b.booking_id);
                let Some(booking) = state::get::<Booking>(&key)? else {
                    log::info(&format!(
                        "booking {} cancelled, but it was never confirmed",
                        b.booking_id
                    ));
                    return Ok(());
                };
                let slot = slot_key(&booking.center, booking.slot_ms);
                let taken = state::get::<u32>(&slot)?.unwrap_or(0);
                if taken <= 1 {
                    state::delete(&slot)?;
                } else {
                    state::put(&slot, &(taken - 1))?;
                }
                state::delete(&key)?;
                if let Some(endpoint) = &config.endpoint {
                    let report = serde_json::json!({
                        "action": "cancel",
                        "booking_id": b.booking_id,
                        "center": booking.center,
                        "slot": booking.slot,
                    });
                    ctx.emit(Command::http_post(endpoint, report).subject(&b.booking_id));
                }
            }
            Kind::HttpResponse(r) => {
                let booking = r.subject.as_deref().unwrap_or("?");
                match r.outcome {
                    HttpOutcome::Delivered => ctx.emit(
                        Command::new("booking.reported")
                            .subject(booking)
                            .with("booking_id", booking)
                            .with("status", r.status)
                            .with("receipt", &r.body)
                            .with("attempts", r.attempts),
                    ),
                    HttpOutcome::Rejected | HttpOutcome::GaveUp => {
                        let why = match r.outcome {
                            HttpOutcome::Rejected => "refused",
                            _ => "could not be reached for",
                        };
                        ctx.emit(
                            Command::notify(
                                &config.notify,
                                &format!(
                                    "the ministry's system {why} the report of booking {booking}"
                                ),
                            )
                            .subject(booking)
                            .with("booking_id", booking)
                            .with("status", r.status)
                            .with("attempts", r.attempts),
                        );
                        metrics::count("reports_failed", 1)?;
                    }
                }
            }
            _ => {}
        }
        Ok(())
    }
}

fn booking_key(booking_id: &str) -> String {
    format!("booking/{booking_id}")
}

fn slot_key(center: &str, slot_ms: i64) -> String {
    format!("slot/{center}/{slot_ms}")
}

plugin!(Ministry);
