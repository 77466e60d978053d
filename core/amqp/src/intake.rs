//! From an AMQP message to an [`Envelope`]: structured mode (the whole event as the JSON
//! body) or binary mode (attributes as headers with one of
//! [`envelope::ATTRIBUTE_PREFIXES`], `data` as the body), CONTRACT §1. Owns the AMQP
//! header types' CloudEvents meaning; the contract's `attribute` rules decide which an
//! attribute may have.

use chrono::{DateTime, Utc};
use lapin::BasicProperties;
use lapin::types::AMQPValue;

use leitstand_contract::attribute::AttributeValue;
use leitstand_contract::envelope::{self, Envelope, IntakeLimits, Rejection};

/// The content type of a structured-mode event.
pub(crate) const STRUCTURED: &str = "application/cloudevents+json";

fn is_attribute_header(name: &str) -> bool {
    envelope::attribute_name(name).is_some()
}

/// The envelope of a message with `properties` and `body`. A message with CloudEvents
/// attribute headers and a content type other than `application/cloudevents+json` is
/// binary mode; anything else is structured mode.
pub fn envelope_of(
    properties: &BasicProperties,
    body: &[u8],
    limits: IntakeLimits,
    received: DateTime<Utc>,
) -> Result<Envelope, Rejection> {
    let content_type = properties
        .content_type()
        .as_ref()
        .map(|c| c.as_str().to_ascii_lowercase());
    let structured = content_type
        .as_deref()
        .is_some_and(|c| c.starts_with(STRUCTURED));
    let headers = properties.headers().as_ref();
    let binary = !structured
        && headers.is_some_and(|h| h.inner().keys().any(|k| is_attribute_header(k.as_str())));
    if !binary {
        return envelope::parse_structured(body, limits, received);
    }
    let attrs = headers
        .map(|h| h.inner().iter())
        .into_iter()
        .flatten()
        .filter(|(name, _)| is_attribute_header(name.as_str()))
        .map(|(name, value)| (name.as_str(), attribute_value(value)));
    envelope::parse_binary(attrs, body, limits, received)
}

/// A header value in the CloudEvents type it carries (AMQP binding §3.1.3.2): text,
/// booleans, integers of every width, byte arrays (and long strings that are not UTF-8) as
/// Binary, an AMQP timestamp (whole seconds since 1970) as a Timestamp; every other AMQP
/// type named, so that a refusal says what the attribute was.
fn attribute_value(value: &AMQPValue) -> AttributeValue {
    match value {
        AMQPValue::LongString(s) => match std::str::from_utf8(s.as_bytes()) {
            Ok(text) => AttributeValue::String(text.to_owned()),
            Err(_) => AttributeValue::Binary(s.as_bytes().to_vec()),
        },
        AMQPValue::ShortString(s) => AttributeValue::String(s.as_str().to_owned()),
        AMQPValue::Boolean(b) => AttributeValue::Boolean(*b),
        AMQPValue::ShortShortInt(n) => AttributeValue::Integer(i128::from(*n)),
        AMQPValue::ShortShortUInt(n) => AttributeValue::Integer(i128::from(*n)),
        AMQPValue::ShortInt(n) => AttributeValue::Integer(i128::from(*n)),
        AMQPValue::ShortUInt(n) => AttributeValue::Integer(i128::from(*n)),
        AMQPValue::LongInt(n) => AttributeValue::Integer(i128::from(*n)),
        AMQPValue::LongUInt(n) => AttributeValue::Integer(i128::from(*n)),
        AMQPValue::LongLongInt(n) => AttributeValue::Integer(i128::from(*n)),
        AMQPValue::Timestamp(seconds) => AttributeValue::Timestamp(i128::from(*seconds) * 1000),
        AMQPValue::ByteArray(bytes) => AttributeValue::Binary(bytes.as_slice().to_vec()),
        AMQPValue::Float(_) => AttributeValue::Other("a float"),
        AMQPValue::Double(_) => AttributeValue::Other("a double"),
        AMQPValue::DecimalValue(_) => AttributeValue::Other("a decimal"),
        AMQPValue::FieldArray(_) => AttributeValue::Other("an array"),
        AMQPValue::FieldTable(_) => AttributeValue::Other("a table"),
        AMQPValue::Void => AttributeValue::Other("void (no value)"),
    }
}

#[cfg(test)]
mod tests {
    use lapin::types::{FieldArray, FieldTable, LongString};

    use leitstand_contract::envelope::RejectReason;

    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> FieldTable {
        let mut t = FieldTable::default();
        for (k, v) in pairs {
            t.insert((*k).into(), AMQPValue::LongString(LongString::from(*v)));
        }
        t
    }

    #[test]
    fn every_binary_prefix_is_accepted_and_structured_is_the_default() {
        let now = Utc::now();
        let limits = IntakeLimits::default();
        for prefix in envelope::ATTRIBUTE_PREFIXES {
            let h = |a: &str| format!("{prefix}{a}");
            let (id, source, ty, tenant, spec) = (
                h("id"),
                h("source"),
                h("type"),
                h("tenant"),
                h("specversion"),
            );
            let props = BasicProperties::default()
                .with_content_type("application/json".into())
                .with_headers(headers(&[
                    (&spec, "1.0"),
                    (&id, "e-1"),
                    (&source, "acd/kl"),
                    (&ty, "call.offered"),
                    (&tenant, "rlp-impf"),
                    ("x-other", "ignored"),
                ]));
            let env = envelope_of(&props, br#"{"call_id":"c1","queue":"impf"}"#, limits, now)
                .unwrap_or_else(|e| panic!("{prefix}: {e}"));
            assert_eq!(env.id, "e-1");
            assert_eq!(env.tenant.as_str(), "rlp-impf");
            assert_eq!(env.data["call_id"], "c1");
        }
        let structured =
            br#"{"specversion":"1.0","id":"e-2","source":"s","type":"custom.x","tenant":"soest"}"#;
        let env =
            envelope_of(&BasicProperties::default(), structured, limits, now).expect("structured");
        assert_eq!(env.id, "e-2");
    }

    #[test]
    fn binary_mode_refusals_name_the_problem() {
        let props = BasicProperties::default()
            .with_content_type("application/json".into())
            .with_headers(headers(&[("ce-specversion", "1.0"), ("ce-id", "e-1")]));
        let e = envelope_of(&props, b"{}", IntakeLimits::default(), Utc::now())
            .expect_err("incomplete");
        assert_eq!(e.reason, RejectReason::MissingAttribute);
        let e = envelope_of(&props, &[0xff, 0xfe], IntakeLimits::default(), Utc::now())
            .expect_err("not utf-8");
        assert_eq!(e.reason, RejectReason::MalformedJson);
    }

    /// A binary-mode `call.offered` with the required attributes as strings and `extra`
    /// headers besides.
    fn typed(extra: &[(&str, AMQPValue)]) -> BasicProperties {
        let mut h = headers(&[
            ("cloudEvents_specversion", "1.0"),
            ("cloudEvents_id", "e-1"),
            ("cloudEvents_source", "acd/soest"),
            ("cloudEvents_type", "call.offered"),
            ("cloudEvents_tenant", "soest"),
        ]);
        for (k, v) in extra {
            h.insert((*k).into(), v.clone());
        }
        BasicProperties::default()
            .with_content_type("application/json".into())
            .with_headers(h)
    }

    fn read(extra: &[(&str, AMQPValue)]) -> Result<Envelope, Rejection> {
        let body = br#"{"call_id":"c1","queue":"stadt"}"#;
        envelope_of(&typed(extra), body, IntakeLimits::default(), Utc::now())
    }

    #[test]
    fn typed_attributes_are_read_by_the_amqp_binding_mapping() {
        // As the Python SDK's AMQP binding sends them through pika: `time` the milliseconds
        // of an AMQP 1.0 timestamp as a signed 64-bit integer, extensions in their types.
        let env = read(&[
            (
                "cloudEvents_time",
                AMQPValue::LongLongInt(1_765_358_130_123),
            ),
            ("cloudEvents_attempt", AMQPValue::LongInt(2)),
            ("cloudEvents_callback", AMQPValue::Boolean(true)),
            (
                "cloudEvents_recording",
                AMQPValue::ByteArray(vec![0, 1, 254].into()),
            ),
            ("cloudEvents_announced", AMQPValue::Timestamp(1_765_358_000)),
            ("cloudEvents_subject", AMQPValue::ShortString("c1".into())),
        ])
        .expect("typed attributes are accepted");
        assert_eq!(env.time_rfc3339(), "2025-12-10T09:15:30.123Z");
        assert_eq!(env.subject.as_deref(), Some("c1"));
        // An AMQP 0-9-1 timestamp counts whole seconds.
        let env = read(&[("cloudEvents_time", AMQPValue::Timestamp(1_765_358_130))])
            .expect("a timestamp");
        assert_eq!(env.time_rfc3339(), "2025-12-10T09:15:30.000Z");
        // The canonical string stays accepted, with every prefix.
        let env = read(&[(
            "ce-time",
            AMQPValue::LongString("2025-12-10T10:15:30+01:00".into()),
        )])
        .expect("a string");
        assert_eq!(env.time_rfc3339(), "2025-12-10T09:15:30.000Z");
    }

    #[test]
    fn a_time_of_a_type_or_range_rfc_3339_cannot_hold_is_refused_naming_both() {
        let cases: [(AMQPValue, &str); 6] = [
            (AMQPValue::Timestamp(u64::MAX), "`time` is a timestamp"),
            (
                AMQPValue::Timestamp(253_402_300_800),
                "`time` is a timestamp",
            ),
            (AMQPValue::LongLongInt(i64::MIN), "`time` is an integer"),
            (
                AMQPValue::FieldTable(FieldTable::default()),
                "`time` is a table",
            ),
            (AMQPValue::Boolean(true), "`time` is a boolean"),
            (AMQPValue::Double(1.5), "`time` is a double"),
        ];
        for (value, named) in cases {
            let e = read(&[("cloudEvents_time", value.clone())]).expect_err("refused");
            assert_eq!(e.reason, RejectReason::InvalidAttribute, "{value:?}: {e}");
            assert!(e.detail.contains(named), "{value:?}: {}", e.detail);
        }
        let e = read(&[("cloudEvents_time", AMQPValue::Timestamp(u64::MAX))]).expect_err("range");
        assert!(e.detail.contains("outside RFC 3339"), "{}", e.detail);
        // The last millisecond RFC 3339 writes is accepted.
        let env = read(&[(
            "cloudEvents_time",
            AMQPValue::LongLongInt(253_402_300_799_999),
        )])
        .expect("9999-12-31T23:59:59.999Z");
        assert_eq!(env.time_rfc3339(), "9999-12-31T23:59:59.999Z");
    }

    #[test]
    fn a_value_the_binding_does_not_allow_is_refused_naming_the_attribute_and_type() {
        let cases: [(&str, AMQPValue, &str); 6] = [
            (
                "cloudEvents_id",
                AMQPValue::LongInt(7),
                "`id` is an integer",
            ),
            (
                "cloudEvents_tenant",
                AMQPValue::Boolean(true),
                "`tenant` is a boolean",
            ),
            (
                "cloudEvents_source",
                AMQPValue::LongString(LongString::from(vec![0xff, 0xfe])),
                "`source` is bytes that are not text",
            ),
            (
                "cloudEvents_attempt",
                AMQPValue::Double(2.0),
                "`attempt` is a double",
            ),
            (
                "cloudEvents_route",
                AMQPValue::FieldArray(FieldArray::default()),
                "`route` is an array",
            ),
            ("ce-note", AMQPValue::Void, "`note` is void"),
        ];
        for (header, value, named) in cases {
            let e = read(&[(header, value)]).expect_err(header);
            assert_eq!(e.reason, RejectReason::InvalidAttribute, "{header}: {e}");
            assert!(e.detail.contains(named), "{header}: {}", e.detail);
        }
    }
}
