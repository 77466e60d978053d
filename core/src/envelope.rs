//! CloudEvents intake: turns raw bytes (structured mode) or headers plus body (binary mode)
//! into a validated [`Envelope`], or a [`Rejection`] with a CONTRACT §4 reason code.
//!
//! This module owns the envelope rules of CONTRACT §1 and nothing else: it knows neither
//! tenants' bundles nor plugins nor the transport that delivered the bytes.

use std::fmt;
use std::sync::Arc;

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Map, Value};

use crate::domain::DomainEvent;

/// The default size limit of one event, CONTRACT §1.
pub const DEFAULT_MAX_EVENT_BYTES: usize = 64 * 1024;

/// A tenant's id: `[a-z0-9][a-z0-9-]{0,62}`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TenantId(Arc<str>);

impl TenantId {
    /// Checks `raw` against the CONTRACT §1 pattern.
    pub fn parse(raw: &str) -> Result<Self, String> {
        let bytes = raw.as_bytes();
        let ok_first = bytes
            .first()
            .is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
        let ok_rest = bytes
            .iter()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'-');
        if ok_first && ok_rest && bytes.len() <= 63 {
            Ok(Self(Arc::from(raw)))
        } else {
            Err(format!(
                "tenant {raw:?} is not a valid tenant id ([a-z0-9][a-z0-9-]{{0,62}})"
            ))
        }
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for TenantId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Why an input was refused; the text is the `x-leitstand-error` header of CONTRACT §4.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RejectReason {
    /// The body is not JSON (or not UTF-8).
    MalformedJson,
    /// A required attribute is absent.
    MissingAttribute,
    /// An attribute is present but unusable (wrong type, bad tenant id, bad time).
    InvalidAttribute,
    /// `specversion` is not `1.0`.
    UnsupportedSpecversion,
    /// `data` is not a JSON object, or lacks a field its type requires (CONTRACT §2).
    InvalidData,
    /// No bundle is loaded for the event's tenant.
    UnknownTenant,
    /// The routing key's tenant differs from the envelope's.
    TenantMismatch,
    /// The event exceeds the configured size limit.
    TooLarge,
    /// A plugin failed on the event (CONTRACT §4 `plugin-failed`).
    PluginFailed,
}

impl RejectReason {
    /// The reason code as written into `x-leitstand-error`.
    pub fn code(self) -> &'static str {
        match self {
            Self::MalformedJson => "malformed-json",
            Self::MissingAttribute => "missing-attribute",
            Self::InvalidAttribute => "invalid-attribute",
            Self::UnsupportedSpecversion => "unsupported-specversion",
            Self::InvalidData => "invalid-data",
            Self::UnknownTenant => "unknown-tenant",
            Self::TenantMismatch => "tenant-mismatch",
            Self::TooLarge => "too-large",
            Self::PluginFailed => "plugin-failed",
        }
    }
}

impl fmt::Display for RejectReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// A refused input: the reason code and one human-readable line (`x-leitstand-detail`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{reason}: {detail}")]
pub struct Rejection {
    /// The reason code.
    pub reason: RejectReason,
    /// What exactly is wrong, in one line, without payload contents.
    pub detail: String,
}

impl Rejection {
    /// A rejection with `reason` and `detail`.
    pub fn new(reason: RejectReason, detail: impl Into<String>) -> Self {
        Self {
            reason,
            detail: detail.into(),
        }
    }
}

/// A validated inbound CloudEvent.
#[derive(Debug, Clone, PartialEq)]
pub struct Envelope {
    /// `id`.
    pub id: String,
    /// `source`.
    pub source: String,
    /// `type`.
    pub event_type: String,
    /// The `tenant` extension attribute.
    pub tenant: TenantId,
    /// `time`, or the receive time when the event had none.
    pub time: DateTime<Utc>,
    /// `subject`, when given.
    pub subject: Option<String>,
    /// `data`; an empty object when the event had none.
    pub data: Map<String, Value>,
    /// The typed reading of `data` for the CONTRACT §2 types; `None` for custom types.
    pub domain: Option<DomainEvent>,
}

impl Envelope {
    /// `time` as RFC 3339 with milliseconds, the form Leitstand writes.
    pub fn time_rfc3339(&self) -> String {
        self.time.to_rfc3339_opts(SecondsFormat::Millis, true)
    }
}

/// Limits applied while parsing.
#[derive(Debug, Clone, Copy)]
pub struct IntakeLimits {
    /// The largest accepted event in bytes.
    pub max_event_bytes: usize,
}

impl Default for IntakeLimits {
    fn default() -> Self {
        Self {
            max_event_bytes: DEFAULT_MAX_EVENT_BYTES,
        }
    }
}

/// Parses a structured-mode event (`application/cloudevents+json`).
///
/// `received` is used as the event time when the event has no `time` attribute.
pub fn parse_structured(
    body: &[u8],
    limits: IntakeLimits,
    received: DateTime<Utc>,
) -> Result<Envelope, Rejection> {
    check_size(body.len(), limits)?;
    let text = std::str::from_utf8(body).map_err(|e| {
        Rejection::new(
            RejectReason::MalformedJson,
            format!(
                "body is not UTF-8 (invalid byte at offset {})",
                e.valid_up_to()
            ),
        )
    })?;
    let value: Value = serde_json::from_str(text).map_err(|e| {
        Rejection::new(
            RejectReason::MalformedJson,
            format!("body is not valid JSON: {e}"),
        )
    })?;
    parse_value(value, received)
}

/// Reads a structured-mode event that is already parsed as JSON (its size checked by the
/// caller).
pub fn parse_value(value: Value, received: DateTime<Utc>) -> Result<Envelope, Rejection> {
    let Value::Object(attrs) = value else {
        return Err(Rejection::new(
            RejectReason::MalformedJson,
            "body is JSON but not an object",
        ));
    };
    from_attributes(attrs, received)
}

/// Parses a binary-mode event: attributes from headers (prefix `cloudEvents_`,
/// `cloudEvents:` or `ce-`, already stripped by the caller or not), `data` as the JSON body.
pub fn parse_binary<'a>(
    headers: impl IntoIterator<Item = (&'a str, Value)>,
    body: &[u8],
    limits: IntakeLimits,
    received: DateTime<Utc>,
) -> Result<Envelope, Rejection> {
    check_size(body.len(), limits)?;
    let mut attrs = Map::new();
    for (name, value) in headers {
        let stripped = ["cloudEvents_", "cloudEvents:", "ce-", "ce_"]
            .iter()
            .find_map(|p| strip_prefix_ignore_case(name, p));
        if let Some(attr) = stripped {
            attrs.insert(attr.to_ascii_lowercase(), value);
        }
    }
    if !body.is_empty() {
        let text = std::str::from_utf8(body).map_err(|e| {
            Rejection::new(
                RejectReason::MalformedJson,
                format!(
                    "body is not UTF-8 (invalid byte at offset {})",
                    e.valid_up_to()
                ),
            )
        })?;
        let data: Value = serde_json::from_str(text).map_err(|e| {
            Rejection::new(
                RejectReason::MalformedJson,
                format!("body is not valid JSON: {e}"),
            )
        })?;
        attrs.insert("data".to_owned(), data);
    }
    from_attributes(attrs, received)
}

fn strip_prefix_ignore_case<'a>(name: &'a str, prefix: &str) -> Option<&'a str> {
    let head = name.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| &name[prefix.len()..])
}

fn check_size(len: usize, limits: IntakeLimits) -> Result<(), Rejection> {
    if len > limits.max_event_bytes {
        return Err(Rejection::new(
            RejectReason::TooLarge,
            format!(
                "event has {len} bytes, the limit is {}",
                limits.max_event_bytes
            ),
        ));
    }
    Ok(())
}

fn required_str(attrs: &Map<String, Value>, name: &str) -> Result<String, Rejection> {
    match attrs.get(name) {
        None | Some(Value::Null) => Err(Rejection::new(
            RejectReason::MissingAttribute,
            format!("attribute `{name}` is missing"),
        )),
        Some(Value::String(s)) if s.is_empty() => Err(Rejection::new(
            RejectReason::InvalidAttribute,
            format!("attribute `{name}` is empty"),
        )),
        Some(Value::String(s)) => Ok(s.clone()),
        Some(_) => Err(Rejection::new(
            RejectReason::InvalidAttribute,
            format!("attribute `{name}` is not a string"),
        )),
    }
}

fn optional_str(attrs: &Map<String, Value>, name: &str) -> Result<Option<String>, Rejection> {
    match attrs.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(Rejection::new(
            RejectReason::InvalidAttribute,
            format!("attribute `{name}` is not a string"),
        )),
    }
}

fn from_attributes(
    mut attrs: Map<String, Value>,
    received: DateTime<Utc>,
) -> Result<Envelope, Rejection> {
    let specversion = required_str(&attrs, "specversion")?;
    if specversion != "1.0" {
        return Err(Rejection::new(
            RejectReason::UnsupportedSpecversion,
            format!("specversion is {specversion:?}, Leitstand reads \"1.0\""),
        ));
    }
    let id = required_str(&attrs, "id")?;
    let source = required_str(&attrs, "source")?;
    let event_type = required_str(&attrs, "type")?;
    let tenant_raw = required_str(&attrs, "tenant")?;
    let tenant = TenantId::parse(&tenant_raw)
        .map_err(|e| Rejection::new(RejectReason::InvalidAttribute, e))?;
    let time = match optional_str(&attrs, "time")? {
        None => received,
        Some(raw) => DateTime::parse_from_rfc3339(&raw)
            .map_err(|e| {
                Rejection::new(
                    RejectReason::InvalidAttribute,
                    format!("attribute `time` is not RFC 3339 ({e})"),
                )
            })?
            .with_timezone(&Utc),
    };
    let subject = optional_str(&attrs, "subject")?;
    if let Some(ct) = optional_str(&attrs, "datacontenttype")? {
        let essence = ct.split(';').next().unwrap_or_default().trim();
        if !essence.eq_ignore_ascii_case("application/json") {
            return Err(Rejection::new(
                RejectReason::InvalidAttribute,
                format!("datacontenttype is {ct:?}, Leitstand reads application/json"),
            ));
        }
    }
    if attrs.contains_key("data_base64") {
        return Err(Rejection::new(
            RejectReason::InvalidData,
            "data_base64 is not accepted; data must be a JSON object",
        ));
    }
    let data = match attrs.remove("data") {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(map)) => map,
        Some(_) => {
            return Err(Rejection::new(
                RejectReason::InvalidData,
                "data is not a JSON object",
            ));
        }
    };
    let domain = DomainEvent::parse(&event_type, &data)
        .map_err(|e| Rejection::new(RejectReason::InvalidData, format!("{event_type}: {e}")))?;
    Ok(Envelope {
        id,
        source,
        event_type,
        tenant,
        time,
        subject,
        data,
        domain,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn now() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-05-04T08:00:00Z")
            .expect("valid")
            .with_timezone(&Utc)
    }

    fn parse(v: Value) -> Result<Envelope, Rejection> {
        parse_structured(v.to_string().as_bytes(), IntakeLimits::default(), now())
    }

    fn offered() -> Value {
        json!({"specversion":"1.0","id":"e1","source":"acd/kl","type":"call.offered",
               "tenant":"rlp-impf","time":"2026-05-04T08:00:05+02:00",
               "data":{"call_id":"c1","queue":"impf"}})
    }

    #[test]
    fn accepts_a_structured_event_and_normalises_time_to_utc() {
        let env = parse(offered()).expect("valid event");
        assert_eq!(env.tenant.as_str(), "rlp-impf");
        assert_eq!(env.time_rfc3339(), "2026-05-04T06:00:05.000Z");
        assert!(matches!(env.domain, Some(DomainEvent::CallOffered(_))));
    }

    #[test]
    fn time_defaults_to_the_receive_time() {
        let mut v = offered();
        v.as_object_mut().expect("object").remove("time");
        assert_eq!(parse(v).expect("valid").time, now());
    }

    #[test]
    fn each_bad_input_gets_its_reason() {
        let cases: Vec<(Value, RejectReason)> = vec![
            (json!([1, 2]), RejectReason::MalformedJson),
            (
                {
                    let mut v = offered();
                    v.as_object_mut().expect("object").remove("source");
                    v
                },
                RejectReason::MissingAttribute,
            ),
            (
                {
                    let mut v = offered();
                    v["specversion"] = json!("0.3");
                    v
                },
                RejectReason::UnsupportedSpecversion,
            ),
            (
                {
                    let mut v = offered();
                    v["tenant"] = json!("RLP");
                    v
                },
                RejectReason::InvalidAttribute,
            ),
            (
                {
                    let mut v = offered();
                    v["time"] = json!("yesterday");
                    v
                },
                RejectReason::InvalidAttribute,
            ),
            (
                {
                    let mut v = offered();
                    v["data"] = json!("text");
                    v
                },
                RejectReason::InvalidData,
            ),
            (
                {
                    let mut v = offered();
                    v["data"] = json!({"call_id": "c1"});
                    v
                },
                RejectReason::InvalidData,
            ),
        ];
        for (input, reason) in cases {
            let err = parse(input.clone()).expect_err(&input.to_string());
            assert_eq!(err.reason, reason, "{input}: {err}");
        }
    }

    #[test]
    fn refuses_bodies_that_are_not_json_or_utf8_or_too_large() {
        let limits = IntakeLimits::default();
        let err = parse_structured(b"{not json", limits, now()).expect_err("bad json");
        assert_eq!(err.reason, RejectReason::MalformedJson);
        let err = parse_structured(&[0xff, 0xfe, b'{'], limits, now()).expect_err("bad utf8");
        assert_eq!(err.reason, RejectReason::MalformedJson);
        let big = vec![b' '; DEFAULT_MAX_EVENT_BYTES + 1];
        let err = parse_structured(&big, limits, now()).expect_err("too large");
        assert_eq!(err.reason, RejectReason::TooLarge);
    }

    #[test]
    fn an_event_of_exactly_the_limit_is_accepted() {
        let mut v = offered();
        let base = v.to_string().len();
        let pad = DEFAULT_MAX_EVENT_BYTES - base - r#","pad":"""#.len();
        v["data"]["pad"] = json!("x".repeat(pad));
        let body = v.to_string();
        assert_eq!(body.len(), DEFAULT_MAX_EVENT_BYTES);
        parse_structured(body.as_bytes(), IntakeLimits::default(), now()).expect("accepted");
    }

    #[test]
    fn binary_mode_reads_any_of_the_three_prefixes() {
        let body = br#"{"call_id":"c1","queue":"impf"}"#;
        for prefix in ["cloudEvents_", "cloudEvents:", "ce-"] {
            let headers = [
                (format!("{prefix}specversion"), json!("1.0")),
                (format!("{prefix}id"), json!("e1")),
                (format!("{prefix}source"), json!("acd")),
                (format!("{prefix}type"), json!("call.offered")),
                (format!("{prefix}tenant"), json!("soest")),
                ("content-type".to_owned(), json!("application/json")),
            ];
            let env = parse_binary(
                headers.iter().map(|(k, v)| (k.as_str(), v.clone())),
                body,
                IntakeLimits::default(),
                now(),
            )
            .expect(prefix);
            assert_eq!(env.tenant.as_str(), "soest");
            assert_eq!(env.data["call_id"], json!("c1"));
        }
    }

    #[test]
    fn tenant_ids_follow_the_contract_pattern() {
        assert!(TenantId::parse("a").is_ok());
        assert!(TenantId::parse("rlp-impf-2").is_ok());
        assert!(TenantId::parse("-x").is_err());
        assert!(TenantId::parse("").is_err());
        assert!(TenantId::parse(&"a".repeat(64)).is_err());
        assert!(TenantId::parse(&"a".repeat(63)).is_ok());
    }
}
