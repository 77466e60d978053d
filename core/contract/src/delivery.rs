//! HTTP deliveries of plugins' `http.post` commands: the retry policy, how an answer is
//! judged, and the `http.response` event that tells the plugin how its delivery ended.
//!
//! A plugin never reaches the network. It emits `http.post` with the name of an endpoint
//! its bundle declares and a JSON body; the host POSTs it from its durable outbox with the
//! command's id as `Idempotency-Key`, retries with backoff until the endpoint answers for
//! good or the attempts are used up, then hands the plugin an `http.response` event. The
//! daemon's delivery worker and the plugin test harness's simulated endpoints share this
//! module, so a fixture shows what production does.

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Map, Value, json};

use crate::command::{Command, HTTP_POST, HTTP_RESPONSE, PluginSource};
use crate::envelope::TenantId;

/// The most bytes of an answer's body handed back to the plugin.
pub const MAX_BODY_BYTES: usize = 16 * 1024;

/// An HTTP endpoint a plugin may post to through the host (`http.post`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// Where the host POSTs (`http://` or `https://`).
    pub url: String,
    /// One attempt's time limit, in milliseconds.
    pub timeout_ms: u64,
    /// An environment variable of the daemon holding a bearer token for the
    /// `Authorization` header; the token itself never appears in a bundle.
    pub token_env: Option<String>,
    /// The wait before the first retry, in milliseconds; it doubles per attempt.
    pub first_backoff_ms: u64,
    /// The longest wait between two attempts, in milliseconds.
    pub max_backoff_ms: u64,
    /// After this many attempts the host gives up and tells the plugin.
    pub max_attempts: u32,
}

impl Endpoint {
    /// The wait after failed attempt number `attempt` (from 1): the first backoff doubled
    /// per attempt, capped.
    pub fn backoff_ms(&self, attempt: u32) -> u64 {
        let doublings = attempt.saturating_sub(1).min(40);
        self.first_backoff_ms
            .saturating_mul(1u64 << doublings)
            .min(self.max_backoff_ms)
    }
}

/// What one attempt got.
#[derive(Debug, Clone, PartialEq)]
pub enum Answer {
    /// The endpoint answered with this status and body.
    Status {
        /// The HTTP status code.
        status: u16,
        /// The body: JSON when it parsed as JSON, else the text.
        body: Value,
    },
    /// No answer: connection refused, timeout, TLS failure; the text says which.
    Unreachable(String),
}

/// How a delivery ended, as the plugin hears it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// A 2xx answer.
    Delivered,
    /// A final refusal: a 4xx other than 408 and 429, or a 3xx (redirects are not followed).
    Rejected,
    /// The attempts were used up.
    GaveUp,
}

impl Outcome {
    /// The code in `http.response` events and metrics.
    pub fn code(self) -> &'static str {
        match self {
            Self::Delivered => "delivered",
            Self::Rejected => "rejected",
            Self::GaveUp => "gave-up",
        }
    }
}

/// What to do after an attempt.
#[derive(Debug, Clone, PartialEq)]
pub enum Next {
    /// Try again after this many milliseconds.
    Retry {
        /// The wait.
        after_ms: u64,
    },
    /// The delivery is settled.
    Settled(Outcome),
}

/// Judges attempt number `attempt` (from 1) to `endpoint`: a 2xx delivers; a 408, 429 or
/// 5xx and no answer at all are retried with backoff until `max_attempts`; anything else
/// is a final refusal.
pub fn judge(endpoint: &Endpoint, attempt: u32, answer: &Answer) -> Next {
    let retry = match answer {
        Answer::Status { status, .. } if (200..300).contains(status) => {
            return Next::Settled(Outcome::Delivered);
        }
        Answer::Status { status, .. } => *status == 408 || *status == 429 || *status >= 500,
        Answer::Unreachable(_) => true,
    };
    if !retry {
        Next::Settled(Outcome::Rejected)
    } else if attempt >= endpoint.max_attempts {
        Next::Settled(Outcome::GaveUp)
    } else {
        Next::Retry {
            after_ms: endpoint.backoff_ms(attempt),
        }
    }
}

/// An answer's body for the plugin: JSON when it parses, else (lossy) text; cut at
/// [`MAX_BODY_BYTES`].
pub fn body_value(bytes: &[u8]) -> Value {
    let bytes = &bytes[..bytes.len().min(MAX_BODY_BYTES)];
    if bytes.is_empty() {
        return Value::Null;
    }
    serde_json::from_slice(bytes)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(bytes).into_owned()))
}

/// One `http.post` to deliver, as the outbox keeps it.
#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    /// The tenant.
    pub tenant: String,
    /// The plugin that posted.
    pub plugin: String,
    /// The `http.post` command's id: the `Idempotency-Key`, and the key of the response.
    pub request_id: String,
    /// The endpoint's name in the bundle.
    pub endpoint: String,
    /// The command's subject (a booking id, say), handed back with the response.
    pub subject: Option<String>,
    /// The JSON body.
    pub body: Value,
}

impl Request {
    /// The request an `http.post` command asks for; `None` when it is not one (the sandbox
    /// has checked the endpoint and body of every `http.post` it let through).
    pub fn of_command(command: &Command, plugin: &str) -> Option<Self> {
        if command.command_type != HTTP_POST {
            return None;
        }
        Some(Self {
            tenant: command.tenant.clone(),
            plugin: plugin.to_owned(),
            request_id: command.id.clone(),
            endpoint: command.data.get("endpoint")?.as_str()?.to_owned(),
            subject: command.subject.clone(),
            body: command.data.get("body").cloned().unwrap_or(Value::Null),
        })
    }

    /// The `http.response` CloudEvent for this request, settled at `at` after `attempts`
    /// attempts with `last` the last answer. Its id is a function of the request, so a
    /// response announced twice is processed once.
    pub fn response(
        &self,
        outcome: Outcome,
        attempts: u32,
        last: &Answer,
        at: DateTime<Utc>,
    ) -> Value {
        let (status, body) = match last {
            Answer::Status { status, body } => (json!(status), body.clone()),
            Answer::Unreachable(why) => (Value::Null, json!({ "error": why })),
        };
        let mut data = Map::new();
        data.insert("endpoint".into(), json!(self.endpoint));
        data.insert("request_id".into(), json!(self.request_id));
        if let Some(s) = &self.subject {
            data.insert("subject".into(), json!(s));
        }
        data.insert("outcome".into(), json!(outcome.code()));
        data.insert("status".into(), status);
        data.insert("body".into(), body);
        data.insert("attempts".into(), json!(attempts));
        let mut event = Map::new();
        event.insert("specversion".into(), json!("1.0"));
        event.insert("id".into(), json!(format!("http/{}", self.request_id)));
        event.insert(
            "source".into(),
            json!(match TenantId::parse(&self.tenant) {
                Ok(tenant) => PluginSource::new(&tenant, &self.plugin).to_string(),
                Err(_) => format!("leitstand/{}/{}", self.tenant, self.plugin),
            }),
        );
        event.insert("type".into(), json!(HTTP_RESPONSE));
        event.insert("tenant".into(), json!(self.tenant));
        event.insert(
            "time".into(),
            json!(at.to_rfc3339_opts(SecondsFormat::Millis, true)),
        );
        if let Some(s) = &self.subject {
            event.insert("subject".into(), json!(s));
        }
        event.insert("datacontenttype".into(), json!("application/json"));
        event.insert("data".into(), Value::Object(data));
        Value::Object(event)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn endpoint() -> Endpoint {
        Endpoint {
            url: "https://ministry.example/api".into(),
            timeout_ms: 1_000,
            token_env: None,
            first_backoff_ms: 1_000,
            max_backoff_ms: 8_000,
            max_attempts: 6,
        }
    }

    fn status(status: u16) -> Answer {
        Answer::Status {
            status,
            body: Value::Null,
        }
    }

    #[test]
    fn answers_are_judged_by_status_class() {
        let e = endpoint();
        assert_eq!(
            judge(&e, 1, &status(201)),
            Next::Settled(Outcome::Delivered)
        );
        assert_eq!(judge(&e, 1, &status(409)), Next::Settled(Outcome::Rejected));
        assert_eq!(judge(&e, 1, &status(301)), Next::Settled(Outcome::Rejected));
        for s in [408, 429, 500, 503] {
            assert_eq!(
                judge(&e, 1, &status(s)),
                Next::Retry { after_ms: 1_000 },
                "{s}"
            );
        }
        let down = Answer::Unreachable("connection refused".into());
        assert_eq!(judge(&e, 3, &down), Next::Retry { after_ms: 4_000 });
        assert_eq!(judge(&e, 5, &down), Next::Retry { after_ms: 8_000 });
        assert_eq!(judge(&e, 6, &down), Next::Settled(Outcome::GaveUp));
    }

    #[test]
    fn bodies_are_json_when_they_can_be() {
        assert_eq!(
            body_value(br#"{"receipt":"R-1"}"#),
            json!({"receipt": "R-1"})
        );
        assert_eq!(
            body_value(b"Service Unavailable"),
            json!("Service Unavailable")
        );
        assert_eq!(body_value(b""), Value::Null);
    }
}
