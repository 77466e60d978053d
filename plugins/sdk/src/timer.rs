//! Typed timers: a plugin's timer is a value of its own type that says which timer it is
//! and carries what the plugin needs when it fires, instead of a name with a prefix the
//! plugin parses back.
//!
//! ```ignore
//! #[derive(Serialize, Deserialize)]
//! struct Escalate { call_id: String, step: u32 }
//!
//! impl Timer for Escalate {
//!     const KIND: &'static str = "escalate/";
//!     fn key(&self) -> &str { &self.call_id }
//! }
//!
//! ctx.set_timer(&Escalate { call_id: call.call_id.clone(), step: 1 }, due)?;
//! ctx.cancel_timer::<Escalate>(&call.call_id);
//! // …
//! Kind::TimerFired(fired) => {
//!     if let Some(escalate) = fired.timer::<Escalate>()? { /* … */ }
//! }
//! ```
//!
//! On the wire nothing changes: the host still sees a timer name — `KIND` followed by the
//! key, `escalate/c1` — and the JSON of the value as its payload. So a timer a plugin set
//! before it moved to typed timers fires into the typed one, as long as `KIND` is the
//! prefix it used and the payload has the type's shape.

use serde::Serialize;
use serde::de::DeserializeOwned;

/// A kind of timer of one plugin: its values are the timers, serialised as their payload.
pub trait Timer: Serialize + DeserializeOwned {
    /// What all timers of this kind are named with, before their key (`escalate/`); no
    /// two kinds of one plugin may share it, nor may one be the start of another.
    const KIND: &'static str;

    /// Which timer of its kind this is (the call id, …): setting a timer of the same kind
    /// and key replaces it.
    fn key(&self) -> &str;

    /// The timer's name as the host knows it: `KIND` then the key.
    fn name(&self) -> String {
        name_of::<Self>(self.key())
    }
}

/// The name of the timer of kind `T` with `key`.
pub fn name_of<T: Timer>(key: &str) -> String {
    format!("{}{key}", T::KIND)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Serialize, serde::Deserialize)]
    struct Forget(String);

    impl Timer for Forget {
        const KIND: &'static str = "forget/";
        fn key(&self) -> &str {
            &self.0
        }
    }

    #[test]
    fn a_timer_is_named_by_its_kind_and_key() {
        assert_eq!(Forget("c1".into()).name(), "forget/c1");
        assert_eq!(name_of::<Forget>("c2"), "forget/c2");
        // A one-field tuple struct is its field on the wire: the payload is "c1".
        assert_eq!(
            serde_json::to_string(&Forget("c1".into())).expect("json"),
            "\"c1\""
        );
    }
}
