//! Commands (CONTRACT §3): what the host writes for the plugins' decisions, their ids and
//! the names of the host's own event and command types.

use std::fmt;

use chrono::DateTime;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::attribute::AttributeValue;
use crate::envelope::TenantId;
use crate::wire::EncodeError;

/// The event type of a due timer.
pub const TIMER_FIRED: &str = "timer.fired";

/// The event type of a settled `http.post` delivery, sent to the plugin that posted.
pub const HTTP_RESPONSE: &str = "http.response";

/// An outbound command: a CloudEvent as written to `leitstand.commands` (CONTRACT §3).
/// Field order is fixed, so the same decisions always serialise to the same bytes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Command {
    /// Always `1.0`.
    pub specversion: String,
    /// A pure function of input source, input id, plugin and position.
    pub id: String,
    /// `leitstand/<tenant>/<plugin>`.
    pub source: String,
    /// The command type.
    #[serde(rename = "type")]
    pub command_type: String,
    /// The tenant.
    pub tenant: String,
    /// The time of the event that caused it.
    pub time: String,
    /// The id of the event that caused it.
    pub causationid: String,
    /// The subject, when the plugin gave one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    /// Always `application/json`.
    pub datacontenttype: String,
    /// The plugin's data object.
    pub data: Map<String, Value>,
}

impl Command {
    /// The AMQP routing key: `<tenant>.<command type>`.
    pub fn routing_key(&self) -> String {
        format!("{}.{}", self.tenant, self.command_type)
    }

    /// The command as a structured-mode CloudEvent (JSON).
    pub fn to_json(&self) -> Result<Vec<u8>, EncodeError> {
        serde_json::to_vec(self)
            .map_err(|e| EncodeError(format!("command {} cannot be serialised: {e}", self.id)))
    }

    /// The command's `data` as JSON: the body of a binary-mode command.
    pub fn data_json(&self) -> Result<Vec<u8>, EncodeError> {
        serde_json::to_vec(&self.data).map_err(|e| {
            EncodeError(format!(
                "the data of command {} cannot be serialised: {e}",
                self.id
            ))
        })
    }

    /// The command's attributes for binary mode, each with its CloudEvents type, in the
    /// order of the structured form: every attribute but `datacontenttype` (a binary
    /// message's content type) and `data` (its body). `time` is a timestamp; the others
    /// are text.
    pub fn binary_attributes(&self) -> Vec<(&'static str, AttributeValue)> {
        let text = |s: &str| AttributeValue::String(s.to_owned());
        // The host writes `time` in RFC 3339; should it ever not be, it goes as the text.
        let time = DateTime::parse_from_rfc3339(&self.time).map_or_else(
            |_| text(&self.time),
            |t| AttributeValue::Timestamp(i128::from(t.timestamp_millis())),
        );
        let mut attributes = vec![
            ("specversion", text(&self.specversion)),
            ("id", text(&self.id)),
            ("source", text(&self.source)),
            ("type", text(&self.command_type)),
            ("tenant", text(&self.tenant)),
            ("time", time),
            ("causationid", text(&self.causationid)),
        ];
        if let Some(subject) = &self.subject {
            attributes.push(("subject", text(subject)));
        }
        attributes
    }
}

/// The id of a command, CONTRACT §3: a UUID (v5) over the input's source and id, the plugin
/// and the command's position in that plugin's output. Each part is length-prefixed, so no
/// two different inputs can run together into the same name.
pub fn command_id(source: &str, id: &str, plugin: &str, position: usize) -> String {
    const NAMESPACE: uuid::Uuid = uuid::Uuid::from_u128(0x6c65_6974_7374_616e_645f_636d_645f_6964);
    let mut name = Vec::with_capacity(source.len() + id.len() + plugin.len() + 40);
    for part in [source, id, plugin] {
        name.extend_from_slice(&(part.len() as u64).to_be_bytes());
        name.extend_from_slice(part.as_bytes());
    }
    name.extend_from_slice(&(position as u64).to_be_bytes());
    uuid::Uuid::new_v5(&NAMESPACE, &name).to_string()
}

/// The tenant named by an AMQP routing key `<tenant>.<event type>`.
pub fn routing_key_tenant(routing_key: &str) -> &str {
    routing_key.split('.').next().unwrap_or_default()
}

/// The command type by which a plugin asks the host to POST to one of its endpoints.
pub const HTTP_POST: &str = "http.post";

/// Who wrote a command: `leitstand/<tenant>/<plugin>`, the `source` of every command and of
/// the host's own events for a plugin (`timer.fired`, `http.response`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PluginSource {
    /// The tenant.
    pub tenant: TenantId,
    /// The plugin, by its name in the bundle.
    pub plugin: String,
}

/// The first segment of every [`PluginSource`].
const SOURCE_PREFIX: &str = "leitstand/";

impl PluginSource {
    /// The source of `tenant`'s `plugin`.
    pub fn new(tenant: &TenantId, plugin: &str) -> Self {
        Self {
            tenant: tenant.clone(),
            plugin: plugin.to_owned(),
        }
    }

    /// Reads `leitstand/<tenant>/<plugin>`; `None` for any other source.
    pub fn parse(source: &str) -> Option<Self> {
        let rest = source.strip_prefix(SOURCE_PREFIX)?;
        let (tenant, plugin) = rest.split_once('/')?;
        if plugin.is_empty() || plugin.contains('/') {
            return None;
        }
        Some(Self {
            tenant: TenantId::parse(tenant).ok()?,
            plugin: plugin.to_owned(),
        })
    }
}

impl fmt::Display for PluginSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{SOURCE_PREFIX}{}/{}", self.tenant, self.plugin)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_ids_are_a_pure_function_of_their_inputs() {
        let a = command_id("acd/kl", "e1", "router", 0);
        assert_eq!(a, command_id("acd/kl", "e1", "router", 0));
        assert_ne!(a, command_id("acd/kl", "e1", "router", 1));
        assert_ne!(a, command_id("acd/kl", "e1", "rota", 0));
        assert_ne!(a, command_id("acd/kl", "e2", "router", 0));
        // Length prefixes keep shifted boundaries apart.
        assert_ne!(command_id("ab", "c", "p", 0), command_id("a", "bc", "p", 0));
    }

    #[test]
    fn routing_key_tenant_is_the_first_segment() {
        assert_eq!(routing_key_tenant("rlp-impf.call.offered"), "rlp-impf");
        assert_eq!(routing_key_tenant(""), "");
    }

    #[test]
    fn a_plugin_source_reads_back_what_it_writes() {
        let tenant = TenantId::parse("rlp-impf").expect("valid");
        let s = PluginSource::new(&tenant, "rota");
        assert_eq!(s.to_string(), "leitstand/rlp-impf/rota");
        assert_eq!(PluginSource::parse(&s.to_string()), Some(s));
        for bad in [
            "acd/kl",
            "leitstand/rlp-impf",
            "leitstand/RLP/rota",
            "leitstand/t/a/b",
        ] {
            assert_eq!(PluginSource::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn a_command_reads_back_from_its_json() {
        let c = Command {
            specversion: "1.0".into(),
            id: command_id("acd", "e1", "rota", 0),
            source: "leitstand/t/rota".into(),
            command_type: "call.route".into(),
            tenant: "t".into(),
            time: "2026-11-19T08:00:00.000Z".into(),
            causationid: "e1".into(),
            subject: Some("c1".into()),
            datacontenttype: "application/json".into(),
            data: Map::new(),
        };
        let back: Command = serde_json::from_slice(&c.to_json().expect("json")).expect("read");
        assert_eq!(back, c);
    }
}
