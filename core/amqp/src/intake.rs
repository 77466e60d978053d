//! From an AMQP message to an [`Envelope`]: structured mode (the whole event as the JSON
//! body) or binary mode (attributes as headers with one of
//! [`envelope::ATTRIBUTE_PREFIXES`], `data` as the body), CONTRACT §1.

use chrono::{DateTime, Utc};
use lapin::BasicProperties;
use lapin::types::AMQPValue;
use serde_json::Value;

use leitstand_contract::envelope::{self, Envelope, IntakeLimits, RejectReason, Rejection};

/// The content type of a structured-mode event.
const STRUCTURED: &str = "application/cloudevents+json";

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
    let mut attrs = Vec::new();
    for (name, value) in headers.map(|h| h.inner().iter()).into_iter().flatten() {
        if !is_attribute_header(name.as_str()) {
            continue;
        }
        let value = json_of(value).ok_or_else(|| {
            Rejection::new(
                RejectReason::InvalidAttribute,
                format!(
                    "header {} is not a string, number or boolean",
                    name.as_str()
                ),
            )
        })?;
        attrs.push((name.as_str(), value));
    }
    envelope::parse_binary(attrs, body, limits, received)
}

/// A header value as JSON: strings, numbers, booleans; timestamps as RFC 3339 text.
fn json_of(value: &AMQPValue) -> Option<Value> {
    Some(match value {
        AMQPValue::LongString(s) => Value::String(String::from_utf8_lossy(s.as_bytes()).into()),
        AMQPValue::ShortString(s) => Value::String(s.as_str().to_owned()),
        AMQPValue::Boolean(b) => Value::Bool(*b),
        AMQPValue::ShortShortInt(n) => Value::from(*n),
        AMQPValue::ShortShortUInt(n) => Value::from(*n),
        AMQPValue::ShortInt(n) => Value::from(*n),
        AMQPValue::ShortUInt(n) => Value::from(*n),
        AMQPValue::LongInt(n) => Value::from(*n),
        AMQPValue::LongUInt(n) => Value::from(*n),
        AMQPValue::LongLongInt(n) => Value::from(*n),
        AMQPValue::Double(n) => Value::from(*n),
        AMQPValue::Float(n) => Value::from(f64::from(*n)),
        AMQPValue::Timestamp(t) => {
            Value::String(DateTime::<Utc>::from_timestamp(i64::try_from(*t).ok()?, 0)?.to_rfc3339())
        }
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use lapin::types::{FieldTable, LongString};

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
}
