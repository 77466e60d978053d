//! The decisions about one event, as the plugin builds them.

use chrono::DateTime;
use chrono_tz::Tz;

use crate::bindings::leitstand::plugin::{clock, types};
use crate::timer::{Timer, name_of};
use crate::{Command, Error, Event, Time, bindings, other_error};

/// What a plugin decides about one event: commands, timers set and timers cancelled, in
/// the order they were decided. Also the plugin's view of time.
#[derive(Debug)]
pub struct Context {
    now: Time,
    timezone: Option<Tz>,
    commands: Vec<Command>,
    set_timers: Vec<types::Timer>,
    cancel_timers: Vec<String>,
}

impl Context {
    pub(crate) fn for_event(event: &Event) -> Self {
        Self::at(event.time)
    }

    /// A context at event time `now`, for unit tests of a plugin's rule run natively
    /// (the host's functions — state, log, metrics, the timezone — are not there).
    pub fn at(now: Time) -> Self {
        Self {
            now,
            timezone: None,
            commands: Vec::new(),
            set_timers: Vec::new(),
            cancel_timers: Vec::new(),
        }
    }

    /// Event time: the time of the event being handled.
    pub fn now(&self) -> Time {
        self.now
    }

    /// The tenant's timezone (from its bundle). An unknown name is an error.
    pub fn timezone(&mut self) -> Result<Tz, Error> {
        if let Some(tz) = self.timezone {
            return Ok(tz);
        }
        let name = clock::timezone();
        let tz: Tz = name
            .parse()
            .map_err(|_| other_error(format!("the tenant's timezone {name:?} is unknown")))?;
        self.timezone = Some(tz);
        Ok(tz)
    }

    /// Event time in the tenant's timezone.
    pub fn local_now(&mut self) -> Result<DateTime<Tz>, Error> {
        let tz = self.timezone()?;
        Ok(self.now.in_tz(&tz))
    }

    /// Sends `command` (after the ones emitted before it): a [`Command`] or one of its
    /// builders ([`Command::route`], …).
    pub fn emit(&mut self, command: impl Into<Command>) {
        self.commands.push(command.into());
    }

    /// Sets `timer` (replacing the one of its kind and key) due at `at`; when it fires, the
    /// plugin receives `timer.fired`, and [`TimerFired::timer`](crate::TimerFired::timer)
    /// gives the value back.
    pub fn set_timer<T: Timer>(&mut self, timer: &T, at: Time) -> Result<(), Error> {
        let name = timer.name();
        let payload = serde_json::to_string(timer)
            .map_err(|e| other_error(format!("timer {name}: payload: {e}")))?;
        self.cancel_timers.retain(|n| *n != name);
        self.set_timers.retain(|t| t.name != name);
        self.set_timers.push(types::Timer {
            name,
            at: at.ms(),
            payload,
        });
        Ok(())
    }

    /// Cancels the timer of kind `T` with `key`; one that is not set is ignored.
    pub fn cancel_timer<T: Timer>(&mut self, key: &str) {
        let name = name_of::<T>(key);
        self.set_timers.retain(|t| t.name != name);
        if !self.cancel_timers.contains(&name) {
            self.cancel_timers.push(name);
        }
    }

    /// The commands decided so far.
    pub fn commands(&self) -> &[Command] {
        &self.commands
    }

    /// The decisions as the contract's `handle` returns them: commands, timers set and
    /// timers cancelled. The `plugin!` macro does this; a plugin that implements the
    /// contract's exports itself calls it at the end of its `handle`.
    pub fn into_decisions(self) -> bindings::Decisions {
        bindings::Decisions {
            commands: self
                .commands
                .into_iter()
                .map(|c| types::Command {
                    type_: c.command_type,
                    subject: c.subject,
                    data: object_text(c.data),
                })
                .collect(),
            set_timers: self.set_timers,
            cancel_timers: self.cancel_timers,
        }
    }
}

/// A command's `data` as JSON text, written straight into one string (the `Display` of a
/// `Value` goes through the formatter a piece at a time, for the same text).
fn object_text(data: serde_json::Map<String, serde_json::Value>) -> String {
    let value = serde_json::Value::Object(data);
    // Writing a `Value` cannot fail: its keys are strings and its numbers finite.
    serde_json::to_string(&value).unwrap_or_else(|_| value.to_string())
}
