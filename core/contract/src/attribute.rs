//! Binary-mode attribute values: the CloudEvents type of each attribute, the values a
//! transport may hand over for it, and their canonical forms.
//!
//! In binary mode a transport carries attributes as typed header values. The CloudEvents
//! AMQP protocol binding (§3.1.3.2) maps the CloudEvents types to AMQP types — Boolean to
//! boolean, Integer to long, String, URI and URI-reference to string, Binary to binary,
//! Timestamp to timestamp — and a receiver must read both the typed value and the
//! canonical string. The official SDKs send exactly that: the Python SDK's AMQP binding
//! puts a `time` into its message as an integer count of milliseconds since 1970 (the AMQP
//! 1.0 timestamp's value, which AMQP 0-9-1 clients such as pika carry as a signed 64-bit
//! integer), integers and booleans as such. A transport turns each header value into an
//! [`AttributeValue`]; the rules here decide, for every carrier alike, which value an
//! attribute may have, and name the attribute and the type it had when it may not.
//!
//! Owns the CloudEvents type rules of binary mode and nothing else: not the attributes'
//! meaning (the envelope's) nor any transport's header types.

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::Value;

use crate::envelope::{RejectReason, Rejection};

/// The earliest instant RFC 3339 can write: 0000-01-01T00:00:00Z, in milliseconds since
/// 1970.
pub const RFC3339_MIN_MILLIS: i128 = -62_167_219_200_000;
/// The latest instant RFC 3339 can write: 9999-12-31T23:59:59.999Z, in milliseconds since
/// 1970.
pub const RFC3339_MAX_MILLIS: i128 = 253_402_300_799_999;

/// One attribute's value as a transport hands it over, in the type the transport gave it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AttributeValue {
    /// Text: a string header, or any header of a transport without types.
    String(String),
    /// A boolean.
    Boolean(bool),
    /// An integer of any width the transport has.
    Integer(i128),
    /// Bytes (not text).
    Binary(Vec<u8>),
    /// A typed timestamp, in milliseconds since 1970-01-01T00:00:00Z (a transport whose
    /// timestamps count seconds multiplies them).
    Timestamp(i128),
    /// A value of a type no CloudEvents attribute has (a table, an array, a floating-point
    /// number, …), named as a refusal names it: `a table`, `a double`.
    Other(&'static str),
}

impl AttributeValue {
    /// A value of a JSON header (a replay's recorded delivery): strings, booleans and
    /// whole numbers as such, anything else named; `None` for `null`, which means absent.
    pub fn from_json(value: &Value) -> Option<Self> {
        Some(match value {
            Value::Null => return None,
            Value::String(s) => Self::String(s.clone()),
            Value::Bool(b) => Self::Boolean(*b),
            Value::Number(n) => match (n.as_i64(), n.as_u64()) {
                (Some(i), _) => Self::Integer(i128::from(i)),
                (None, Some(u)) => Self::Integer(i128::from(u)),
                (None, None) => Self::Other("a number with a fraction"),
            },
            Value::Array(_) => Self::Other("an array"),
            Value::Object(_) => Self::Other("an object"),
        })
    }

    /// The value's type, as a refusal names it.
    pub fn type_name(&self) -> &'static str {
        match self {
            Self::String(_) => "a string",
            Self::Boolean(_) => "a boolean",
            Self::Integer(_) => "an integer",
            Self::Binary(_) => "bytes that are not text",
            Self::Timestamp(_) => "a timestamp",
            Self::Other(name) => name,
        }
    }

    /// The value's canonical string (CloudEvents §3.1.1 type system): integers in
    /// decimal, booleans `true`/`false`, bytes in base64, a timestamp in RFC 3339 (UTC,
    /// milliseconds); `None` for a timestamp RFC 3339 cannot write and for a type
    /// CloudEvents does not have.
    pub fn canonical_string(&self) -> Option<String> {
        match self {
            Self::String(s) => Some(s.clone()),
            Self::Boolean(b) => Some(b.to_string()),
            Self::Integer(n) => Some(n.to_string()),
            Self::Binary(bytes) => Some(base64(bytes)),
            Self::Timestamp(ms) => rfc3339(*ms),
            Self::Other(_) => None,
        }
    }
}

/// The CloudEvents type of an attribute, which decides the values it may have.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttributeType {
    /// String, URI or URI-reference: only text.
    String,
    /// Timestamp: a typed timestamp, an integer (milliseconds since 1970) or an RFC 3339
    /// string.
    Timestamp,
    /// An extension attribute Leitstand does not read: any CloudEvents type (Boolean,
    /// Integer, String, Binary, Timestamp).
    Extension,
}

impl AttributeType {
    /// The type of attribute `name`: the CloudEvents 1.0 context attributes and
    /// Leitstand's own extensions (`tenant`, `causationid`) by their definition, any other
    /// name an extension of any type.
    pub fn of(name: &str) -> Self {
        match name {
            "time" => Self::Timestamp,
            "specversion" | "id" | "source" | "type" | "subject" | "datacontenttype"
            | "dataschema" | "tenant" | "causationid" => Self::String,
            _ => Self::Extension,
        }
    }

    /// What the type allows, for a refusal.
    fn allows(self) -> &'static str {
        match self {
            Self::String => "it must be a string",
            Self::Timestamp => {
                "a Timestamp must be a timestamp, an integer (milliseconds since 1970) or an \
                 RFC 3339 string"
            }
            Self::Extension => {
                "an attribute must be a string, boolean, integer, binary or timestamp"
            }
        }
    }
}

/// Reads the value of attribute `name` by the binding's rules into the form the JSON event
/// format gives it: text, a boolean, a number, bytes as base64 text, and a `time` as RFC
/// 3339 text. A value of a type the attribute may not have is refused `invalid-attribute`,
/// naming the attribute and the type it had.
pub fn read(name: &str, value: AttributeValue) -> Result<Value, Rejection> {
    let ty = AttributeType::of(name);
    let instant = |ms: i128, what: &str| {
        rfc3339(ms).map(Value::String).ok_or_else(|| {
            Rejection::new(
                RejectReason::InvalidAttribute,
                format!(
                    "attribute `{name}` is {what} of {ms} ms since 1970, outside RFC 3339's \
                     years 0000 to 9999"
                ),
            )
        })
    };
    match (ty, value) {
        (_, AttributeValue::String(s)) => Ok(Value::String(s)),
        (AttributeType::Timestamp | AttributeType::Extension, AttributeValue::Timestamp(ms)) => {
            instant(ms, "a timestamp")
        }
        // An integer `time` is the millisecond count of an AMQP 1.0 timestamp that lost its
        // type on the way (the Python SDK's AMQP binding over pika), read as the SDK reads it.
        (AttributeType::Timestamp, AttributeValue::Integer(ms)) => instant(ms, "an integer"),
        (AttributeType::Extension, AttributeValue::Boolean(b)) => Ok(Value::Bool(b)),
        (AttributeType::Extension, AttributeValue::Integer(n)) => Ok(i64::try_from(n)
            .map(Value::from)
            .unwrap_or_else(|_| Value::String(n.to_string()))),
        (AttributeType::Extension, AttributeValue::Binary(bytes)) => {
            Ok(Value::String(base64(&bytes)))
        }
        (_, other) => Err(Rejection::new(
            RejectReason::InvalidAttribute,
            format!(
                "attribute `{name}` is {}; {}",
                other.type_name(),
                ty.allows()
            ),
        )),
    }
}

/// `ms` since 1970 as RFC 3339 (UTC, milliseconds), if RFC 3339 can write it.
fn rfc3339(ms: i128) -> Option<String> {
    if !(RFC3339_MIN_MILLIS..=RFC3339_MAX_MILLIS).contains(&ms) {
        return None;
    }
    let ms = i64::try_from(ms).ok()?;
    DateTime::<Utc>::from_timestamp_millis(ms)
        .map(|t| t.to_rfc3339_opts(SecondsFormat::Millis, true))
}

/// `bytes` in base64 with padding (RFC 4648 §4), the canonical string of Binary.
fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for (i, shift) in [18u32, 12, 6, 0].into_iter().enumerate() {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[((n >> shift) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn each_attribute_takes_the_types_of_its_cloudevents_type() {
        let accepted = [
            ("id", AttributeValue::String("e1".into()), json!("e1")),
            (
                "time",
                AttributeValue::String("2026-11-19T08:00:00+01:00".into()),
                json!("2026-11-19T08:00:00+01:00"),
            ),
            (
                "time",
                AttributeValue::Timestamp(1_795_075_205_123),
                json!("2026-11-19T08:00:05.123Z"),
            ),
            (
                "time",
                AttributeValue::Integer(1_795_075_205_123),
                json!("2026-11-19T08:00:05.123Z"),
            ),
            ("attempt", AttributeValue::Integer(2), json!(2)),
            ("callback", AttributeValue::Boolean(true), json!(true)),
            (
                "recording",
                AttributeValue::Binary(b"any".to_vec()),
                json!("YW55"),
            ),
            (
                "announced",
                AttributeValue::Timestamp(0),
                json!("1970-01-01T00:00:00.000Z"),
            ),
        ];
        for (name, value, canonical) in accepted {
            assert_eq!(
                read(name, value.clone()),
                Ok(canonical),
                "{name}: {value:?}"
            );
        }
        let refused = [
            (
                "id",
                AttributeValue::Integer(7),
                "attribute `id` is an integer",
            ),
            (
                "tenant",
                AttributeValue::Boolean(false),
                "attribute `tenant` is a boolean",
            ),
            (
                "causationid",
                AttributeValue::Timestamp(0),
                "attribute `causationid` is a timestamp",
            ),
            (
                "source",
                AttributeValue::Binary(vec![0xff]),
                "attribute `source` is bytes",
            ),
            (
                "time",
                AttributeValue::Boolean(true),
                "attribute `time` is a boolean",
            ),
            (
                "time",
                AttributeValue::Binary(vec![1]),
                "attribute `time` is bytes",
            ),
            (
                "time",
                AttributeValue::Other("a table"),
                "attribute `time` is a table",
            ),
            (
                "attempt",
                AttributeValue::Other("a double"),
                "attribute `attempt` is a double",
            ),
        ];
        for (name, value, detail) in refused {
            let e = read(name, value.clone()).expect_err(name);
            assert_eq!(e.reason, RejectReason::InvalidAttribute);
            assert!(e.detail.starts_with(detail), "{value:?}: {}", e.detail);
        }
    }

    #[test]
    fn a_timestamp_outside_rfc_3339_is_refused_with_its_type() {
        for ms in [RFC3339_MIN_MILLIS, RFC3339_MAX_MILLIS] {
            assert!(read("time", AttributeValue::Timestamp(ms)).is_ok(), "{ms}");
        }
        let e = read("time", AttributeValue::Timestamp(RFC3339_MAX_MILLIS + 1)).expect_err("9999+");
        assert_eq!(
            e.detail,
            "attribute `time` is a timestamp of 253402300800000 ms since 1970, outside \
             RFC 3339's years 0000 to 9999"
        );
        let e = read("time", AttributeValue::Integer(RFC3339_MIN_MILLIS - 1)).expect_err("-1");
        assert!(
            e.detail.starts_with("attribute `time` is an integer of"),
            "{}",
            e.detail
        );
        let e = read(
            "expires",
            AttributeValue::Timestamp(i128::from(u64::MAX) * 1000),
        )
        .expect_err("an extension's timestamp, too");
        assert!(
            e.detail.starts_with("attribute `expires` is a timestamp"),
            "{}",
            e.detail
        );
        assert_eq!(
            RFC3339_MAX_MILLIS,
            DateTime::parse_from_rfc3339("9999-12-31T23:59:59.999Z")
                .map(|t| i128::from(t.timestamp_millis()))
                .expect("valid")
        );
        assert_eq!(
            RFC3339_MIN_MILLIS,
            DateTime::parse_from_rfc3339("0000-01-01T00:00:00Z")
                .map(|t| i128::from(t.timestamp_millis()))
                .expect("valid")
        );
    }

    #[test]
    fn canonical_strings_follow_the_cloudevents_type_system() {
        // RFC 4648 §10's test vectors.
        for (raw, encoded) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(base64(raw.as_bytes()), encoded);
        }
        assert_eq!(
            AttributeValue::Binary(vec![0xfb, 0xff])
                .canonical_string()
                .as_deref(),
            Some("+/8=")
        );
        assert_eq!(
            AttributeValue::Boolean(false).canonical_string().as_deref(),
            Some("false")
        );
        assert_eq!(
            AttributeValue::Integer(-3).canonical_string().as_deref(),
            Some("-3")
        );
        assert_eq!(
            AttributeValue::Timestamp(i128::MAX).canonical_string(),
            None
        );
        assert_eq!(AttributeValue::Other("a table").canonical_string(), None);
    }

    #[test]
    fn json_headers_keep_their_types() {
        assert_eq!(AttributeValue::from_json(&json!(null)), None);
        assert_eq!(
            AttributeValue::from_json(&json!("x")),
            Some(AttributeValue::String("x".into()))
        );
        assert_eq!(
            AttributeValue::from_json(&json!(u64::MAX)),
            Some(AttributeValue::Integer(i128::from(u64::MAX)))
        );
        assert_eq!(
            AttributeValue::from_json(&json!(1.5)),
            Some(AttributeValue::Other("a number with a fraction"))
        );
        assert_eq!(
            AttributeValue::from_json(&json!({})),
            Some(AttributeValue::Other("an object"))
        );
    }
}
