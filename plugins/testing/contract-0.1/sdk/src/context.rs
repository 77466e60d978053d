//! The decisions about one event, as the plugin builds them.

use chrono::DateTime;
use chrono_tz::Tz;
use serde::Serialize;

use crate::bindings::leitstand::plugin::{clock, types};
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

    /// Sends `command` (after the ones emitted before it).
    pub fn emit(&mut self, command: Command) {
        self.commands.push(command);
    }

    /// Sets the timer `name` (replacing one of that name) due at `at`; when it fires, the
    /// plugin receives `timer.fired` with `payload`.
    pub fn set_timer(
        &mut self,
        name: &str,
        at: Time,
        payload: &impl Serialize,
    ) -> Result<(), Error> {
        let payload = serde_json::to_string(payload)
            .map_err(|e| other_error(format!("timer {name}: payload: {e}")))?;
        self.cancel_timers.retain(|n| n != name);
        self.set_timers.retain(|t| t.name != name);
        self.set_timers.push(types::Timer {
            name: name.to_owned(),
            at: at.ms(),
            payload,
        });
        Ok(())
    }

    /// Cancels the timer `name`; an unknown name is ignored.
    pub fn cancel_timer(&mut self, name: &str) {
        self.set_timers.retain(|t| t.name != name);
        if !self.cancel_timers.iter().any(|n| n == name) {
            self.cancel_timers.push(name.to_owned());
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
                    data: serde_json::Value::Object(c.data).to_string(),
                })
                .collect(),
            set_timers: self.set_timers,
            cancel_timers: self.cancel_timers,
        }
    }
}
