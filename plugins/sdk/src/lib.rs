//! # The Leitstand plugin SDK
//!
//! Leitstand runs a tenant's plugins as WebAssembly components against the contract in
//! `wit/plugin@0.3.0` (this SDK's version; components built against 0.1.0 and 0.2.0 keep
//! running too). This crate wraps that contract so that a plugin's code reads like its
//! business rule:
//!
//! * [`Event`] is the inbound event, with its `data` parsed into the typed [`Kind`] of
//!   CONTRACT §2 (`call.offered`, `booking.requested`, …, `timer.fired`, `http.response`);
//! * [`Command`] builds the commands the plugin decides, with a builder per command type
//!   of the contract (`call.route` → [`Route`], `call.escalate` → [`Escalate`], …);
//! * the plugin's configuration is parsed into its own serde struct, and a wrong key or value
//!   is refused at bundle load with a message naming the key; [`config`]'s types refuse
//!   empty strings and lists and zero while parsing, and check references between keys;
//!   it is parsed and checked once per instance (`prepare`), not for every event;
//! * [`calendar`] asks the host about the tenant's calendars — open now? when next? a
//!   holiday? — which the tenant declares once in its bundle;
//! * [`Timer`] makes a plugin's timers values of its own types;
//! * [`Context`] collects the decisions, sets and cancels timers and knows the event time in
//!   the tenant's timezone; [`state`], [`log`] and [`metrics`] reach the host.
//!
//! ```ignore
//! use leitstand_sdk::{plugin, Command, Context, Error, Event, Kind, Plugin};
//!
//! #[derive(serde::Deserialize)]
//! struct Config { target: String }
//!
//! struct Router;
//! impl Plugin for Router {
//!     type Config = Config;
//!     fn handle(ctx: &mut Context, config: &Config, event: &Event) -> Result<(), Error> {
//!         if let Kind::CallOffered(call) = &event.kind {
//!             ctx.emit(Command::route(&call.call_id, &config.target));
//!         }
//!         Ok(())
//!     }
//! }
//! plugin!(Router);
//! ```
//!
//! A plugin decides; the host acts. It sees event time only ([`Context::now`]), never the
//! wall clock, so replaying the same events gives the same decisions. The host may hand one
//! prepared instance many events, or each event a fresh one: what a plugin decides comes
//! from its configuration, the event and its [`state`] only, never from a global it changed
//! on an earlier event (the [`Plugin`] trait gives it nothing mutable to keep).

pub mod calendar;
mod command;
pub mod config;
mod context;
mod event;
mod time;
mod timer;

/// The bindings generated from the WIT contract. Plugins rarely need them directly.
#[allow(missing_docs, clippy::all)]
pub mod bindings {
    wit_bindgen::generate!({
        world: "plugin",
        path: "../../wit/plugin@0.3.0",
        pub_export_macro: true,
        export_macro_name: "export_guest",
        default_bindings_module: "leitstand_sdk::bindings",
    });
}

pub use chrono;
pub use chrono_tz;
pub use command::{Command, ConfirmBooking, Escalate, HttpPost, Notify, RejectBooking, Route};
pub use config::ConfigError;
pub use context::Context;
pub use event::*;
pub use serde_json;
pub use time::Time;
pub use timer::{Timer, name_of};

/// Why a call into a plugin failed: the contract's error variant.
pub use bindings::Error;

/// An event the plugin cannot use: a missing or malformed field (`invalid-event`).
pub fn invalid_event(message: impl Into<String>) -> Error {
    Error::InvalidEvent(message.into())
}

/// Anything else that stops the plugin deciding (`other`).
pub fn other_error(message: impl Into<String>) -> Error {
    Error::Other(message.into())
}

/// The text of an error, without its kind.
pub fn message(error: &Error) -> &str {
    match error {
        Error::InvalidConfig(m)
        | Error::AccessDenied(m)
        | Error::QuotaExceeded(m)
        | Error::InvalidEvent(m)
        | Error::Other(m) => m,
    }
}

/// A plugin: its configuration type and its rule.
pub trait Plugin {
    /// The plugin's configuration: the bundle's `[plugins.config]` table. Derive
    /// `serde::Deserialize` and use `#[serde(deny_unknown_fields)]` so that a misspelt key
    /// refuses the bundle instead of being ignored.
    type Config: serde::de::DeserializeOwned;

    /// Checks what serde cannot: references between keys, rules that join several keys,
    /// the calendars the configuration names ([`calendar::check_name`]). Called when a
    /// bundle loads (after parsing succeeded) and when an instance is prepared, before its
    /// first event; the host answers calendar questions during both.
    fn check(config: &Self::Config) -> Result<(), ConfigError> {
        let _ = config;
        Ok(())
    }

    /// Decides about one event: emit commands and set or cancel timers through `ctx`.
    /// An `Err` fails the event for this plugin; none of its decisions or state writes
    /// take effect.
    fn handle(ctx: &mut Context, config: &Self::Config, event: &Event) -> Result<(), Error>;
}

/// Makes a type implementing [`Plugin`] the component's exports. Exactly once per plugin
/// crate, at its root.
#[macro_export]
macro_rules! plugin {
    ($plugin:ty) => {
        struct __LeitstandExports;

        ::std::thread_local! {
            /// The configuration `prepare` parsed and checked, for this instance's events.
            static __LEITSTAND_CONFIG: ::std::cell::RefCell<
                Option<<$plugin as $crate::Plugin>::Config>,
            > = const { ::std::cell::RefCell::new(None) };
        }

        impl $crate::bindings::Guest for __LeitstandExports {
            fn check_config(config: String) -> Result<(), $crate::Error> {
                $crate::__run::check::<$plugin>(&config)
            }

            fn prepare(config: String) -> Result<(), $crate::Error> {
                let parsed = $crate::__run::prepare::<$plugin>(&config)?;
                __LEITSTAND_CONFIG.with_borrow_mut(|c| *c = Some(parsed));
                Ok(())
            }

            fn handle(
                event: $crate::bindings::Event,
            ) -> Result<$crate::bindings::Decisions, $crate::Error> {
                __LEITSTAND_CONFIG.with_borrow(|c| $crate::__run::handle::<$plugin>(c.as_ref(), event))
            }
        }

        $crate::bindings::export_guest!(__LeitstandExports with_types_in $crate::bindings);
    };
}

#[doc(hidden)]
pub mod __run {
    use super::*;

    /// `check-config`: parse, then the plugin's own checks.
    pub fn check<P: Plugin>(config: &str) -> Result<(), Error> {
        prepare::<P>(config).map(drop)
    }

    /// `prepare`: parse, check and hand back the configuration the instance keeps.
    pub fn prepare<P: Plugin>(config: &str) -> Result<P::Config, Error> {
        let parsed: P::Config = config::parse(config)?;
        P::check(&parsed)?;
        Ok(parsed)
    }

    /// `handle`: parse the event, run the rule on the prepared configuration, hand back
    /// the decisions.
    pub fn handle<P: Plugin>(
        config: Option<&P::Config>,
        event: bindings::Event,
    ) -> Result<bindings::Decisions, Error> {
        let Some(config) = config else {
            return Err(other_error(
                "handle was called on an instance that was not prepared",
            ));
        };
        let event = Event::from_raw(event)?;
        let mut ctx = Context::for_event(&event);
        P::handle(&mut ctx, config, &event)?;
        Ok(ctx.into_decisions())
    }
}

/// Key-value state of this plugin for this tenant, as JSON values. Writes become durable
/// only when the event is handled successfully.
pub mod state {
    use super::bindings::leitstand::plugin::state as host;
    use super::{Error, other_error};
    use serde::Serialize;
    use serde::de::DeserializeOwned;

    /// The value under `key`, if any.
    pub fn get<T: DeserializeOwned>(key: &str) -> Result<Option<T>, Error> {
        match host::get(key)? {
            None => Ok(None),
            Some(bytes) => serde_json::from_slice(&bytes)
                .map(Some)
                .map_err(|e| other_error(format!("state {key}: {e}"))),
        }
    }

    /// Stores `value` under `key`, replacing what was there.
    pub fn put<T: Serialize + ?Sized>(key: &str, value: &T) -> Result<(), Error> {
        let bytes =
            serde_json::to_vec(value).map_err(|e| other_error(format!("state {key}: {e}")))?;
        host::set(key, &bytes)
    }

    /// Removes `key`; a missing key is not an error.
    pub fn delete(key: &str) -> Result<(), Error> {
        host::delete(key)
    }

    /// Adds `by` to the counter under `key` (0 when missing) and returns the new value.
    pub fn add(key: &str, by: i64) -> Result<i64, Error> {
        let value = get::<i64>(key)?.unwrap_or(0).saturating_add(by);
        put(key, &value)?;
        Ok(value)
    }
}

/// Structured logging into the daemon's log, tagged with tenant and plugin. Never put
/// personal data (`caller_ref`, `citizen_ref`, names, numbers) into a message.
pub mod log {
    use super::bindings::leitstand::plugin::log as host;

    /// Fine detail for developing a plugin.
    pub fn trace(message: &str) {
        host::log(host::Level::Trace, message);
    }
    /// Detail for diagnosing a problem.
    pub fn debug(message: &str) {
        host::log(host::Level::Debug, message);
    }
    /// Normal operation worth recording.
    pub fn info(message: &str) {
        host::log(host::Level::Info, message);
    }
    /// Something unexpected the plugin could handle.
    pub fn warn(message: &str) {
        host::log(host::Level::Warn, message);
    }
    /// Something the plugin could not handle.
    pub fn error(message: &str) {
        host::log(host::Level::Error, message);
    }
}

/// Custom metrics, exported by the daemon as `leitstand_plugin_metric_total` and
/// `leitstand_plugin_metric` with the labels tenant, plugin and name. Names are
/// `[a-z][a-z0-9_]*`.
pub mod metrics {
    use super::Error;
    use super::bindings::leitstand::plugin::metrics as host;

    /// Adds `value` to the counter `name`.
    pub fn count(name: &str, value: u64) -> Result<(), Error> {
        host::counter_add(name, value)
    }

    /// Sets the gauge `name` to `value`.
    pub fn gauge(name: &str, value: f64) -> Result<(), Error> {
        host::gauge_set(name, value)
    }
}
