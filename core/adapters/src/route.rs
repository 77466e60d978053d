//! Leitstand's `call.route` commands as Asterisk manager actions: a `Redirect` of the
//! caller's channel out of its queue into the dialplan, at the extension named by the
//! route's target.
//!
//! This module owns reading a `call.route` command (a structured-mode CloudEvent,
//! CONTRACT §3) and the one action it becomes; which calls may be routed is the bridge's
//! decision, sending the action [`crate::ami`]'s.
//!
//! # The dialplan side
//!
//! `Redirect` with `Channel` = the caller's channel (Asterisk finds a channel by its
//! uniqueid, the `callid` of the `queue_log`, as well as by its name), `Context` =
//! [`Dialplan::context`] (`leitstand-route`), or [`Dialplan::announcement_context`]
//! (`leitstand-announcement`) for a route with `"announcement": true`, `Exten` = the
//! route's `target`, `Priority` = [`Dialplan::priority`] (1). The caller leaves
//! `Queue()` — `app_queue` logs the exit as `ABANDON` with the wait so far, and Leitstand
//! counts it so — and goes on at that extension, for example:
//!
//! ```text
//! [leitstand-route]
//! ; Leitstand's targets are the names of queues or of other sites' numbers.
//! exten => _[a-z].,1,NoOp(Leitstand routes ${UNIQUEID} to ${EXTEN})
//!  same => n,Queue(${EXTEN},,,,300)
//!  same => n,Hangup()
//! exten => kaiserslautern,1,Dial(PJSIP/${EXTEN}@partner-trunk)
//!
//! [leitstand-announcement]
//! exten => _[a-z].,1,Playback(leitstand/${EXTEN})
//!  same => n,Hangup()
//! ```
//!
//! A target must be a valid extension name: letters, digits and `- _ . + * #`, at most 80
//! characters.

use serde::Deserialize;

use crate::ami::{Action, AmiError};

/// The longest extension name Asterisk keeps (`AST_MAX_EXTENSION`).
const MAX_EXTENSION: usize = 80;

/// A `call.route` command, as far as the bridge reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteCommand {
    /// The command's id (the AMI `ActionID`).
    pub id: String,
    /// Its tenant.
    pub tenant: String,
    /// The Leitstand call: `<callid>/<queue>/<time>` for a call from a `queue_log`.
    pub call_id: String,
    /// Where to: a site, a team, a queue, or an announcement's name.
    pub target: String,
    /// Whether the target is an announcement to play.
    pub announcement: bool,
}

#[derive(Deserialize)]
struct Wire {
    id: String,
    #[serde(rename = "type")]
    command_type: String,
    tenant: String,
    data: WireData,
}

#[derive(Deserialize)]
struct WireData {
    call_id: String,
    target: String,
    #[serde(default)]
    announcement: bool,
}

impl RouteCommand {
    /// Reads a command's body; says what is wrong with one that is not a `call.route`.
    pub fn parse(body: &[u8]) -> Result<Self, String> {
        let wire: Wire = serde_json::from_slice(body).map_err(|e| {
            format!(
                "not a call.route command (id, type, tenant and data with call_id and target): {e}"
            )
        })?;
        if wire.command_type != "call.route" {
            return Err(format!("a {} command, not call.route", wire.command_type));
        }
        Ok(Self {
            id: wire.id,
            tenant: wire.tenant,
            call_id: wire.data.call_id,
            target: wire.data.target,
            announcement: wire.data.announcement,
        })
    }
}

/// Where in the dialplan routed calls go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dialplan {
    /// The context of routes to a target. Default `leitstand-route`.
    pub context: String,
    /// The context of routes to an announcement. Default `leitstand-announcement`.
    pub announcement_context: String,
    /// The priority the extension starts at. Default 1.
    pub priority: u32,
}

impl Default for Dialplan {
    fn default() -> Self {
        Self {
            context: "leitstand-route".into(),
            announcement_context: "leitstand-announcement".into(),
            priority: 1,
        }
    }
}

impl Dialplan {
    /// The `Redirect` of `channel` (the caller's uniqueid) that carries out `command`.
    pub fn redirect(&self, command: &RouteCommand, channel: &str) -> Result<Action, AmiError> {
        let target = &command.target;
        let valid = !target.is_empty()
            && target.len() <= MAX_EXTENSION
            && target
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.+*#".contains(c));
        if !valid {
            return Err(AmiError::InvalidValue {
                key: "target".into(),
                reason: format!(
                    "{target:?} is not an Asterisk extension (letters, digits and - _ . + * #, at most {MAX_EXTENSION})"
                ),
            });
        }
        let context = if command.announcement {
            &self.announcement_context
        } else {
            &self.context
        };
        Action::new("Redirect", &command.id)?
            .with("Channel", channel)?
            .with("Context", context)?
            .with("Exten", target)?
            .with("Priority", &self.priority.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn command(target: &str, announcement: bool) -> Vec<u8> {
        serde_json::to_vec(&serde_json::json!({
            "specversion": "1.0", "id": "cmd-1", "source": "leitstand/soest/switchboard",
            "type": "call.route", "tenant": "soest", "causationid": "e-1",
            "data": {"call_id": "1795503626.13/stadt-115/1795503641", "target": target,
                     "reason": "department", "announcement": announcement}
        }))
        .expect("json")
    }

    #[test]
    fn a_route_is_one_redirect_into_its_context() {
        let plan = Dialplan::default();
        let route = RouteCommand::parse(&command("stadt-buergerbuero", false)).expect("route");
        assert_eq!(route.call_id, "1795503626.13/stadt-115/1795503641");
        let action = plan.redirect(&route, "1795503626.13").expect("action");
        assert_eq!(
            action.to_wire(),
            "Action: Redirect\r\nActionID: cmd-1\r\nChannel: 1795503626.13\r\nContext: leitstand-route\r\nExten: stadt-buergerbuero\r\nPriority: 1\r\n\r\n"
        );
        let closed = RouteCommand::parse(&command("geschlossen", true)).expect("route");
        let action = plan.redirect(&closed, "1795503626.13").expect("action");
        assert_eq!(action.get("Context"), Some("leitstand-announcement"));
    }

    #[test]
    fn what_is_not_a_route_or_no_extension_is_refused_with_the_reason() {
        let e = RouteCommand::parse(b"{\"id\":\"x\"}").expect_err("no route");
        assert!(e.contains("not a call.route command"), "{e}");
        let mut escalate: serde_json::Value =
            serde_json::from_slice(&command("x", false)).expect("json");
        escalate["type"] = "call.escalate".into();
        let e = RouteCommand::parse(&serde_json::to_vec(&escalate).expect("json"))
            .expect_err("other type");
        assert_eq!(e, "a call.escalate command, not call.route");
        let route = RouteCommand::parse(&command("two words", false)).expect("route");
        let e = Dialplan::default()
            .redirect(&route, "1.2")
            .expect_err("no extension");
        assert!(e.to_string().starts_with("target: \"two words\""), "{e}");
    }
}
