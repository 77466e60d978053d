//! CloudEvents intake: turns raw bytes (structured mode) or headers plus body (binary mode)
//! into a validated [`Envelope`], or a [`Rejection`] with a CONTRACT §4 reason code.
//!
//! This module owns the envelope rules of CONTRACT §1 and nothing else: it knows neither
//! tenants' bundles nor plugins nor the transport that delivered the bytes.

use std::fmt;
use std::sync::Arc;

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Map, Value};

use crate::attribute::{self, AttributeValue};
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

/// A tenant id orders and compares as its text, so maps keyed by tenant can be searched by
/// a `&str`.
impl std::borrow::Borrow<str> for TenantId {
    fn borrow(&self) -> &str {
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
    /// The event's JSON nests deeper than the configured limit.
    TooDeep,
    /// A string in the event (an attribute, a key or a value of `data`) is longer than the
    /// configured limit.
    StringTooLong,
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
            Self::TooDeep => "too-deep",
            Self::StringTooLong => "string-too-long",
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
    /// The deepest nesting of arrays and objects accepted (the event object is level 1).
    pub max_json_depth: usize,
    /// The longest string accepted in `data` (a key or a value), in bytes.
    pub max_string_bytes: usize,
    /// The longest attribute value accepted (`id`, `source`, `type`, `subject`, …), in
    /// bytes.
    pub max_attribute_bytes: usize,
}

/// The default deepest nesting of an event's JSON.
pub const DEFAULT_MAX_JSON_DEPTH: usize = 32;
/// The default longest string in an event's `data`, in bytes: as long as the default
/// event, so that any event of 64 KiB is accepted whatever its shape (CONTRACT §1).
pub const DEFAULT_MAX_STRING_BYTES: usize = DEFAULT_MAX_EVENT_BYTES;
/// The default longest attribute value, in bytes.
pub const DEFAULT_MAX_ATTRIBUTE_BYTES: usize = 1024;

impl Default for IntakeLimits {
    fn default() -> Self {
        Self {
            max_event_bytes: DEFAULT_MAX_EVENT_BYTES,
            max_json_depth: DEFAULT_MAX_JSON_DEPTH,
            max_string_bytes: DEFAULT_MAX_STRING_BYTES,
            max_attribute_bytes: DEFAULT_MAX_ATTRIBUTE_BYTES,
        }
    }
}

/// Refuses JSON nested deeper than the limit or holding a longer string than the limit;
/// the detail names the path (`data.notes[3]`) but never the content.
pub fn check_shape(value: &Value, limits: IntakeLimits) -> Result<(), Rejection> {
    fn walk(
        v: &Value,
        depth: usize,
        path: &mut String,
        limits: IntakeLimits,
    ) -> Result<(), Rejection> {
        let long = |path: &str, len: usize, max: usize| {
            Rejection::new(
                RejectReason::StringTooLong,
                format!(
                    "{} has {len} bytes, the limit is {max}",
                    if path.is_empty() { "the event" } else { path },
                ),
            )
        };
        // An attribute is a string at the top level other than `data`.
        let attribute = depth == 2 && !path.starts_with("data");
        let max = if attribute {
            limits.max_attribute_bytes
        } else {
            limits.max_string_bytes
        };
        match v {
            Value::String(s) if s.len() > max => Err(long(path, s.len(), max)),
            Value::Array(_) | Value::Object(_) if depth > limits.max_json_depth => {
                Err(Rejection::new(
                    RejectReason::TooDeep,
                    format!(
                        "{} nests deeper than {} levels",
                        if path.is_empty() { "the event" } else { path },
                        limits.max_json_depth
                    ),
                ))
            }
            Value::Array(items) => {
                for (i, item) in items.iter().enumerate() {
                    let len = path.len();
                    path.push_str(&format!("[{i}]"));
                    walk(item, depth + 1, path, limits)?;
                    path.truncate(len);
                }
                Ok(())
            }
            Value::Object(map) => {
                for (k, item) in map {
                    let len = path.len();
                    let max = if depth == 1 {
                        limits.max_attribute_bytes
                    } else {
                        limits.max_string_bytes
                    };
                    if k.len() > max {
                        let at = if path.is_empty() {
                            "an attribute name".to_owned()
                        } else {
                            format!("a key in {path}")
                        };
                        return Err(long(&at, k.len(), max));
                    }
                    if !path.is_empty() {
                        path.push('.');
                    }
                    // Keys are named only when short and printable.
                    if k.len() <= 64 && k.chars().all(|c| c.is_ascii_graphic()) {
                        path.push_str(k);
                    } else {
                        path.push_str("<key>");
                    }
                    walk(item, depth + 1, path, limits)?;
                    path.truncate(len);
                }
                Ok(())
            }
            _ => Ok(()),
        }
    }
    walk(value, 1, &mut String::new(), limits)
}

/// [`check_shape`] of an event given as its attributes.
fn check_attributes(
    attrs: Map<String, Value>,
    limits: IntakeLimits,
) -> Result<Map<String, Value>, Rejection> {
    let value = Value::Object(attrs);
    check_shape(&value, limits)?;
    match value {
        Value::Object(attrs) => Ok(attrs),
        _ => Ok(Map::new()),
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
    let value: Value = serde_json::from_str(text).map_err(|e| json_error(&e))?;
    parse_value(value, limits, received)
}

/// A JSON parse error as a rejection: serde_json's own nesting limit is `too-deep`.
pub fn json_error(e: &serde_json::Error) -> Rejection {
    if e.to_string().starts_with("recursion limit exceeded") {
        return Rejection::new(
            RejectReason::TooDeep,
            format!("body nests too deep to parse: {e}"),
        );
    }
    Rejection::new(
        RejectReason::MalformedJson,
        format!("body is not valid JSON: {e}"),
    )
}

/// Reads a structured-mode event that is already parsed as JSON (its size checked by the
/// caller), under the same shape limits as [`parse_structured`].
pub fn parse_value(
    value: Value,
    limits: IntakeLimits,
    received: DateTime<Utc>,
) -> Result<Envelope, Rejection> {
    check_shape(&value, limits)?;
    let Value::Object(attrs) = value else {
        return Err(Rejection::new(
            RejectReason::MalformedJson,
            "body is JSON but not an object",
        ));
    };
    from_attributes(attrs, received)
}

/// The header prefixes of binary-mode attributes, compared without regard to case: the
/// AMQP binding's `cloudEvents_` and `cloudEvents:`, the HTTP binding's `ce-` (which the
/// RabbitMQ binding of the CloudEvents SDKs uses), and the Kafka binding's `ce_`. Every
/// transport detects binary mode and reads attributes by this one list.
pub const ATTRIBUTE_PREFIXES: [&str; 4] = ["cloudEvents_", "cloudEvents:", "ce-", "ce_"];

/// The attribute a binary-mode header carries (`ce-id` → `id`), lower-cased; `None` for a
/// header that is not an attribute.
pub fn attribute_name(header: &str) -> Option<String> {
    ATTRIBUTE_PREFIXES
        .iter()
        .find_map(|p| strip_prefix_ignore_case(header, p))
        .filter(|rest| !rest.is_empty())
        .map(str::to_ascii_lowercase)
}

/// The key an event is remembered by for deduplication: its `source` and `id` (CONTRACT
/// §1), length-prefixed so that no two pairs run together.
pub fn event_key(source: &str, id: &str) -> String {
    format!("{}:{source}{id}", source.len())
}

/// Parses a binary-mode event: attributes from headers (any of [`ATTRIBUTE_PREFIXES`]),
/// each value typed as the transport typed it and read by the binding's type rules
/// ([`attribute::read`]), `data` as the JSON body; headers without a prefix are ignored.
pub fn parse_binary<'a>(
    headers: impl IntoIterator<Item = (&'a str, AttributeValue)>,
    body: &[u8],
    limits: IntakeLimits,
    received: DateTime<Utc>,
) -> Result<Envelope, Rejection> {
    check_size(body.len(), limits)?;
    let mut attrs = Map::new();
    for (name, value) in headers {
        if let Some(attr) = attribute_name(name) {
            let value = attribute::read(&attr, value)?;
            attrs.insert(attr, value);
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
        let data: Value = serde_json::from_str(text).map_err(|e| json_error(&e))?;
        attrs.insert("data".to_owned(), data);
    }
    let attrs = check_attributes(attrs, limits)?;
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

/// Takes the attribute `name` out of `attrs`: a non-empty string, else the refusal.
fn required_str(attrs: &mut Map<String, Value>, name: &str) -> Result<String, Rejection> {
    match attrs.remove(name) {
        None | Some(Value::Null) => Err(Rejection::new(
            RejectReason::MissingAttribute,
            format!("attribute `{name}` is missing"),
        )),
        Some(Value::String(s)) if s.is_empty() => Err(Rejection::new(
            RejectReason::InvalidAttribute,
            format!("attribute `{name}` is empty"),
        )),
        Some(Value::String(s)) => Ok(s),
        Some(other) => Err(not_a_string(name, &other)),
    }
}

/// Takes the attribute `name` out of `attrs`, if it is there: a string, else the refusal.
fn optional_str(attrs: &mut Map<String, Value>, name: &str) -> Result<Option<String>, Rejection> {
    match attrs.remove(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(other) => Err(not_a_string(name, &other)),
    }
}

/// The refusal of attribute `name`, whose value is not text, naming the type it had.
fn not_a_string(name: &str, value: &Value) -> Rejection {
    let had = AttributeValue::from_json(value).map_or("null", |v| v.type_name());
    Rejection::new(
        RejectReason::InvalidAttribute,
        format!("attribute `{name}` is {had}; it must be a string"),
    )
}

fn from_attributes(
    mut attrs: Map<String, Value>,
    received: DateTime<Utc>,
) -> Result<Envelope, Rejection> {
    let specversion = required_str(&mut attrs, "specversion")?;
    if specversion != "1.0" {
        return Err(Rejection::new(
            RejectReason::UnsupportedSpecversion,
            format!("specversion is {specversion:?}, Leitstand reads \"1.0\""),
        ));
    }
    let id = required_str(&mut attrs, "id")?;
    let source = required_str(&mut attrs, "source")?;
    let event_type = required_str(&mut attrs, "type")?;
    let tenant_raw = required_str(&mut attrs, "tenant")?;
    let tenant = TenantId::parse(&tenant_raw)
        .map_err(|e| Rejection::new(RejectReason::InvalidAttribute, e))?;
    let time = match optional_str(&mut attrs, "time")? {
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
    let subject = optional_str(&mut attrs, "subject")?;
    if let Some(ct) = optional_str(&mut attrs, "datacontenttype")? {
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
    fn deep_nesting_and_long_strings_are_refused_with_their_path() {
        let limits = IntakeLimits {
            max_json_depth: 4,
            max_string_bytes: 10,
            max_attribute_bytes: 30,
            ..IntakeLimits::default()
        };
        let refuse = |v: &Value| {
            parse_structured(v.to_string().as_bytes(), limits, now()).expect_err("refused")
        };
        // The event (1), data (2), data.a (3) and data.a.b (4) may be objects; data.a.b.c
        // (5) may not.
        let mut v = offered();
        v["data"]["a"] = json!({"b": {"c": {}}});
        let e = refuse(&v);
        assert_eq!(e.reason, RejectReason::TooDeep, "{e}");
        assert_eq!(e.detail, "data.a.b.c nests deeper than 4 levels");
        v["data"]["a"] = json!({"b": {"c": 1}});
        parse_structured(v.to_string().as_bytes(), limits, now()).expect("4 levels");

        let mut v = offered();
        v["data"]["notes"] = json!(["ok", "x".repeat(11)]);
        let e = refuse(&v);
        assert_eq!(e.reason, RejectReason::StringTooLong);
        assert_eq!(e.detail, "data.notes[1] has 11 bytes, the limit is 10");
        assert!(!e.detail.contains("xxx"), "no content in the detail");

        let mut v = offered();
        v["subject"] = json!("s".repeat(31));
        let e = refuse(&v);
        assert_eq!(e.reason, RejectReason::StringTooLong);
        assert_eq!(e.detail, "subject has 31 bytes, the limit is 30");

        // serde_json's own nesting limit (128) is reported as too deep, too.
        let body = format!("{}{}", "[".repeat(200), "]".repeat(200));
        let e =
            parse_structured(body.as_bytes(), IntakeLimits::default(), now()).expect_err("refused");
        assert_eq!(e.reason, RejectReason::TooDeep);
        assert_eq!(e.reason.code(), "too-deep");
    }

    #[test]
    fn binary_mode_reads_any_of_the_prefixes() {
        let body = br#"{"call_id":"c1","queue":"impf"}"#;
        for prefix in ATTRIBUTE_PREFIXES {
            let text = |s: &str| AttributeValue::String(s.to_owned());
            let headers = [
                (format!("{prefix}specversion"), text("1.0")),
                (format!("{prefix}id"), text("e1")),
                (format!("{prefix}source"), text("acd")),
                (format!("{prefix}type"), text("call.offered")),
                (format!("{prefix}tenant"), text("soest")),
                ("content-type".to_owned(), text("application/json")),
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
