//! The consumer of `leitstand.http`: plugins' `http.post` commands, delivered to the
//! endpoints their bundles declare.
//!
//! A plugin's `http.post` is committed to the tenant's outbox with the event that caused
//! it and published to `leitstand.commands` with confirms like any command; the queue
//! `leitstand.http` takes it from there. Here each one is POSTed with its command id as
//! `Idempotency-Key`, retried with the endpoint's backoff while the endpoint is down or
//! answers 408, 429 or 5xx, and settled: the `http.response` event (see
//! [`leitstand_contract::delivery`]) is published to `leitstand.events`, where the tenant's queue takes
//! it to the plugin, and only once the broker has confirmed it is the command
//! acknowledged. A daemon that dies mid-delivery leaves the command unacknowledged; the
//! broker hands it to another daemon, which posts it again under the same key, and the
//! response's id (a function of the command's) makes a second announcement a duplicate.
//!
//! A delivery waiting a long time between retries does not hold its message for ever: after
//! [`HOLD`] it republishes the command with its attempt count and earliest next attempt in
//! headers and acknowledges the old one, so the broker's consumer timeout never fires.

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use futures_util::StreamExt;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Bytes;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use lapin::message::Delivery;
use lapin::options::{
    BasicAckOptions, BasicCancelOptions, BasicConsumeOptions, BasicNackOptions, BasicQosOptions,
};
use lapin::types::{AMQPValue, FieldTable};
use lapin::{BasicProperties, Channel};
use serde_json::Value;
use tokio::sync::watch;
use tokio::task::JoinSet;

use leitstand_contract::command::{HTTP_RESPONSE, PluginSource};
use leitstand_contract::delivery::{self, Answer, Endpoint, Next, Outcome, Request};
use leitstand_contract::envelope::TenantId;

use crate::{Confirms, Context, HTTP_QUEUE, Message, Publisher, TransportError};

/// The endpoints bundles declare, as they are now (a reload changes them): the endpoint
/// `name` of `tenant`'s `plugin`, if it declares one.
pub type Endpoints = Arc<dyn Fn(&TenantId, &str, &str) -> Option<Endpoint> + Send + Sync>;

/// The longest a delivery keeps its message unacknowledged before it republishes it.
pub const HOLD: Duration = Duration::from_secs(10 * 60);

/// Header: attempts made before the message was republished.
const ATTEMPTS_HEADER: &str = "x-leitstand-attempts";
/// Header: the earliest time of the next attempt, milliseconds since the epoch.
const NOT_BEFORE_HEADER: &str = "x-leitstand-not-before-ms";

/// The most bytes of an answer read.
const MAX_ANSWER_BYTES: usize = 1024 * 1024;

type HttpClient = Client<hyper_rustls::HttpsConnector<HttpConnector>, Full<Bytes>>;

fn http_client() -> Result<HttpClient, TransportError> {
    let https = hyper_rustls::HttpsConnectorBuilder::new()
        .with_provider_and_webpki_roots(Arc::new(rustls::crypto::ring::default_provider()))
        .map_err(|e| TransportError::Session(format!("setting up TLS for deliveries: {e}")))?
        .https_or_http()
        .enable_http1()
        .build();
    Ok(Client::builder(TokioExecutor::new()).build(https))
}

/// Consumes `leitstand.http` until `stop` turns true (deliveries in flight are dropped;
/// their messages return to the queue) or the channel fails.
pub async fn run(
    context: Arc<Context>,
    endpoints: Endpoints,
    channel: Channel,
    publisher: Publisher,
    mut stop: watch::Receiver<bool>,
) -> Result<(), TransportError> {
    let tag = format!("leitstand:{HTTP_QUEUE}");
    let client = http_client()?;
    channel
        .basic_qos(context.config.prefetch, BasicQosOptions::default())
        .await
        .map_err(TransportError::amqp(format!(
            "setting prefetch on {HTTP_QUEUE}"
        )))?;
    let mut consumer = channel
        .basic_consume(
            HTTP_QUEUE.into(),
            tag.as_str().into(),
            BasicConsumeOptions::default(),
            FieldTable::default(),
        )
        .await
        .map_err(TransportError::amqp(format!("consuming {HTTP_QUEUE}")))?;
    let mut tasks = JoinSet::new();
    let result = loop {
        if *stop.borrow() {
            break Ok(());
        }
        tokio::select! {
            biased;
            changed = stop.changed() => {
                if changed.is_err() || *stop.borrow() {
                    break Ok(());
                }
            }
            Some(joined) = tasks.join_next(), if !tasks.is_empty() => {
                if let Ok(Err(e)) = joined {
                    break Err(e);
                }
            }
            next = consumer.next() => match next {
                Some(Ok(d)) => {
                    let job = Job {
                        context: context.clone(),
                        endpoints: endpoints.clone(),
                        publisher: publisher.clone(),
                        client: client.clone(),
                    };
                    tasks.spawn(job.deliver(d));
                }
                Some(Err(e)) => break Err(TransportError::Amqp {
                    context: format!("consuming {HTTP_QUEUE}"),
                    source: e,
                }),
                None => break Err(TransportError::Session(format!("the consumer of {HTTP_QUEUE} was cancelled by the broker"))),
            },
        }
    };
    if result.is_ok()
        && let Err(e) = channel
            .basic_cancel(tag.as_str().into(), BasicCancelOptions::default())
            .await
    {
        tracing::warn!(queue = HTTP_QUEUE, error = %e, "cancelling the consumer failed");
    }
    // Unfinished deliveries go back to the queue with the channel; another attempt under
    // the same key is what the endpoint's idempotency is for.
    tasks.abort_all();
    let _ = channel.close(200, "leitstand stopping".into()).await;
    result
}

/// What one delivery needs.
struct Job {
    context: Arc<Context>,
    endpoints: Endpoints,
    publisher: Publisher,
    client: HttpClient,
}

/// A delivery's command, as read from its message.
struct Parsed {
    request: Request,
    attempts: u32,
    not_before_ms: i64,
}

impl Job {
    async fn deliver(self, d: Delivery) -> Result<(), TransportError> {
        let parsed = match parse(&d) {
            Ok(p) => p,
            Err(detail) => {
                tracing::warn!(%detail, "dead-lettering an unusable http.post");
                let mut confirms = Confirms::default();
                self.publisher
                    .dead_letter(
                        &mut confirms,
                        &d.properties,
                        d.routing_key.as_str(),
                        &d.data,
                        "malformed-json",
                        &detail,
                    )
                    .await?;
                return self.settle(d, confirms).await;
            }
        };
        let Parsed {
            request,
            mut attempts,
            not_before_ms,
        } = parsed;
        let wait = not_before_ms - Utc::now().timestamp_millis();
        if wait > 0 {
            tokio::time::sleep(Duration::from_millis(u64::try_from(wait).unwrap_or(0))).await;
        }
        let held = Instant::now();
        loop {
            let Some(endpoint) = self.endpoint(&request) else {
                let answer = Answer::Unreachable(format!(
                    "the bundle of tenant {} no longer lets plugin {} post to endpoint {:?}",
                    request.tenant, request.plugin, request.endpoint
                ));
                return self
                    .answer(d, &request, Outcome::Rejected, attempts, &answer)
                    .await;
            };
            attempts += 1;
            let answer = attempt(&self.client, &endpoint, &request).await;
            let next = delivery::judge(&endpoint, attempts, &answer);
            let m = &self.context.metrics;
            let result = match (&next, &answer) {
                (Next::Retry { .. }, Answer::Unreachable(_)) => "unreachable",
                (Next::Retry { .. }, _) => "retry",
                (Next::Settled(o), _) => o.code(),
            };
            m.http_attempts_total
                .with_label_values(&[request.tenant.as_str(), request.plugin.as_str(), result])
                .inc();
            match next {
                Next::Settled(outcome) => {
                    return self.answer(d, &request, outcome, attempts, &answer).await;
                }
                Next::Retry { after_ms } => {
                    let after = Duration::from_millis(after_ms);
                    tracing::info!(tenant = %request.tenant, plugin = %request.plugin, endpoint = %request.endpoint, attempt = attempts, retry_in_ms = after_ms, answer = ?answer_label(&answer), "an http.post delivery will be retried");
                    if held.elapsed() + after >= HOLD {
                        return self.republish(d, attempts, after).await;
                    }
                    tokio::time::sleep(after).await;
                }
            }
        }
    }

    /// The endpoint the request names, as the tenant's current bundle declares it.
    fn endpoint(&self, request: &Request) -> Option<Endpoint> {
        let tenant = TenantId::parse(&request.tenant).ok()?;
        (self.endpoints)(&tenant, &request.plugin, &request.endpoint)
    }

    /// Announces how the delivery ended to the plugin, then acknowledges the command.
    async fn answer(
        self,
        d: Delivery,
        request: &Request,
        outcome: Outcome,
        attempts: u32,
        last: &Answer,
    ) -> Result<(), TransportError> {
        let event = request.response(outcome, attempts, last, Utc::now());
        let id = format!("http/{}", request.request_id);
        let body = serde_json::to_vec(&event)
            .map_err(|e| TransportError::Encode(format!("the response of {id}: {e}")))?;
        let message = Message::event(
            format!("{}.{HTTP_RESPONSE}", request.tenant),
            &id,
            HTTP_RESPONSE,
            body,
        );
        let mut confirms = Confirms::default();
        self.publisher.message(&mut confirms, &message).await?;
        self.context
            .metrics
            .http_deliveries_total
            .with_label_values(&[
                request.tenant.as_str(),
                request.plugin.as_str(),
                outcome.code(),
            ])
            .inc();
        tracing::info!(tenant = %request.tenant, plugin = %request.plugin, endpoint = %request.endpoint, attempts, outcome = outcome.code(), "an http.post delivery is settled");
        self.settle(d, confirms).await
    }

    /// Puts the command back at the queue's tail with its attempts so far, to be tried
    /// again `after` from now, and acknowledges this copy.
    async fn republish(
        self,
        d: Delivery,
        attempts: u32,
        after: Duration,
    ) -> Result<(), TransportError> {
        let mut headers = d.properties.headers().clone().unwrap_or_default();
        headers.insert(
            ATTEMPTS_HEADER.into(),
            AMQPValue::LongLongInt(i64::from(attempts)),
        );
        let not_before = Utc::now().timestamp_millis()
            + i64::try_from(after.as_millis()).unwrap_or(i64::MAX / 2);
        headers.insert(NOT_BEFORE_HEADER.into(), AMQPValue::LongLongInt(not_before));
        let properties: BasicProperties = d.properties.clone().with_headers(headers);
        let message = Message {
            exchange: String::new(),
            routing_key: HTTP_QUEUE.to_owned(),
            properties,
            body: d.data.clone(),
        };
        let mut confirms = Confirms::default();
        self.publisher.message(&mut confirms, &message).await?;
        self.settle(d, confirms).await
    }

    /// Acknowledges `d` once `confirms` are in; without them it goes back to the queue.
    async fn settle(self, d: Delivery, confirms: Confirms) -> Result<(), TransportError> {
        let acked = match confirms.settle().await {
            Ok(()) => d.acker.ack(BasicAckOptions::default()).await,
            Err(failure) => {
                tracing::warn!(error = %failure, "an http.post goes back to its queue: what settles it is not confirmed");
                d.acker
                    .nack(BasicNackOptions {
                        requeue: true,
                        ..BasicNackOptions::default()
                    })
                    .await
            }
        };
        if let Err(e) = acked {
            tracing::warn!(error = %e, "an acknowledgement was refused; the broker will redeliver");
        }
        Ok(())
    }
}

fn answer_label(answer: &Answer) -> String {
    match answer {
        Answer::Status { status, .. } => format!("status {status}"),
        Answer::Unreachable(why) => why.clone(),
    }
}

/// The request an `http.post` message carries, with the attempts made before.
fn parse(d: &Delivery) -> Result<Parsed, String> {
    let command: Value =
        serde_json::from_slice(&d.data).map_err(|e| format!("the http.post is not JSON: {e}"))?;
    let field = |name: &str| {
        command
            .get(name)
            .and_then(Value::as_str)
            .ok_or_else(|| format!("the http.post has no {name}"))
    };
    let tenant = field("tenant")?;
    let source = field("source")?;
    let plugin = PluginSource::parse(source)
        .filter(|s| s.tenant.as_str() == tenant)
        .map(|s| s.plugin)
        .ok_or_else(|| format!("the http.post's source {source:?} names no plugin of {tenant}"))?;
    let data = command
        .get("data")
        .and_then(Value::as_object)
        .ok_or("the http.post has no data")?;
    let request = Request {
        tenant: tenant.to_owned(),
        plugin: plugin.to_owned(),
        request_id: field("id")?.to_owned(),
        endpoint: data
            .get("endpoint")
            .and_then(Value::as_str)
            .ok_or("the http.post names no endpoint")?
            .to_owned(),
        subject: command
            .get("subject")
            .and_then(Value::as_str)
            .map(str::to_owned),
        body: data.get("body").cloned().unwrap_or(Value::Null),
    };
    let header = |name: &str| {
        d.properties
            .headers()
            .as_ref()
            .and_then(|h| h.inner().get(name).and_then(AMQPValue::as_long_long_int))
    };
    Ok(Parsed {
        request,
        attempts: header(ATTEMPTS_HEADER)
            .and_then(|a| u32::try_from(a).ok())
            .unwrap_or(0),
        not_before_ms: header(NOT_BEFORE_HEADER).unwrap_or(0),
    })
}

/// One POST.
async fn attempt(client: &HttpClient, endpoint: &Endpoint, request: &Request) -> Answer {
    let body = match serde_json::to_vec(&request.body) {
        Ok(b) => b,
        Err(e) => return Answer::Unreachable(format!("the body cannot be encoded: {e}")),
    };
    let mut builder = http::Request::post(endpoint.url.as_str())
        .header(http::header::CONTENT_TYPE, "application/json")
        .header(
            http::header::USER_AGENT,
            concat!("leitstand/", env!("CARGO_PKG_VERSION")),
        )
        .header("Idempotency-Key", request.request_id.as_str());
    if let Some(var) = &endpoint.token_env {
        match std::env::var(var) {
            Ok(token) => {
                builder = builder.header(http::header::AUTHORIZATION, format!("Bearer {token}"));
            }
            Err(_) => {
                return Answer::Unreachable(format!(
                    "the token variable {var} is not set in the daemon's environment"
                ));
            }
        }
    }
    let req = match builder.body(Full::new(Bytes::from(body))) {
        Ok(r) => r,
        Err(e) => return Answer::Unreachable(format!("the request cannot be built: {e}")),
    };
    let exchange = async {
        let response = client.request(req).await.map_err(|e| error_chain(&e))?;
        let status = response.status().as_u16();
        let bytes = Limited::new(response.into_body(), MAX_ANSWER_BYTES)
            .collect()
            .await
            .map_err(|e| format!("reading the answer: {e}"))?
            .to_bytes();
        Ok::<_, String>((status, bytes))
    };
    match tokio::time::timeout(Duration::from_millis(endpoint.timeout_ms), exchange).await {
        Err(_) => Answer::Unreachable(format!("no answer within {} ms", endpoint.timeout_ms)),
        Ok(Err(why)) => Answer::Unreachable(why),
        Ok(Ok((status, bytes))) => Answer::Status {
            status,
            body: delivery::body_value(&bytes),
        },
    }
}

/// An error with its causes, `outer: inner: …`.
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}
