//! The daemon's HTTP endpoints (CONTRACT §6): `GET /metrics`, `GET /healthz`, `GET /readyz`.
//!
//! Owns the routes and the [`Health`] flags behind the two probes. It judges nothing itself:
//! the daemon reports what it knows (broker connected, store reachable, consumers running,
//! draining, bundles loaded, supervisor alive) and this module only turns that into answers. It never touches
//! the broker, bundles or plugins.
//!
//! - `/healthz` (liveness) fails only when the daemon's supervisor loop has stopped
//!   beating, i.e. when restarting the process is the remedy.
//! - `/readyz` (readiness) fails while the daemon cannot do its work — no broker, no
//!   store, no consumers, draining for shutdown, or no bundle loaded — and names each
//!   failing check.
//! - `/metrics` is [`Metrics::render`].

use std::future::Future;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::{Deserialize, Serialize};
use tokio::net::TcpListener;

use crate::metrics::Metrics;

/// The content type of `/metrics`: Prometheus text exposition format 0.0.4.
const METRICS_CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// `[http]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpConfig {
    /// The address `/metrics`, `/healthz` and `/readyz` listen on. Default
    /// `127.0.0.1:9464`; set `0.0.0.0:9464` for a scraper on another host. The endpoints
    /// have no authentication and expose tenant ids.
    pub listen: SocketAddr,
    /// How long the daemon's supervisor may go without a heartbeat before `/healthz`
    /// answers 503, in seconds. Default 30.
    pub stall_seconds: u64,
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from((Ipv4Addr::LOCALHOST, 9464)),
            stall_seconds: 30,
        }
    }
}

impl HttpConfig {
    /// `stall_seconds` as the limit [`Health::new`] takes.
    pub fn stall_limit(&self) -> Duration {
        Duration::from_secs(self.stall_seconds)
    }
}

/// What the daemon reports about itself, read by `/healthz` and `/readyz`.
///
/// Cheap to clone; all clones share one state. Every setter may be called from any task
/// at any time. A fresh `Health` is alive but not ready.
#[derive(Debug, Clone)]
pub struct Health {
    inner: Arc<HealthState>,
}

#[derive(Debug)]
struct HealthState {
    started: Instant,
    stall_limit: Duration,
    broker: AtomicBool,
    store: AtomicBool,
    consuming: AtomicBool,
    draining: AtomicBool,
    bundles_loaded: AtomicUsize,
    /// Microseconds from `started` to the last beat, plus one; 0 means no beat yet.
    last_beat: AtomicU64,
}

impl Health {
    /// A fresh state: not connected, not consuming, not draining, no bundles, no beat yet.
    /// `/healthz` fails once a beat is older than `stall_limit`.
    pub fn new(stall_limit: Duration) -> Self {
        Self {
            inner: Arc::new(HealthState {
                started: Instant::now(),
                stall_limit,
                broker: AtomicBool::new(false),
                store: AtomicBool::new(false),
                consuming: AtomicBool::new(false),
                draining: AtomicBool::new(false),
                bundles_loaded: AtomicUsize::new(0),
                last_beat: AtomicU64::new(0),
            }),
        }
    }

    /// Whether the connection to the broker is open.
    pub fn set_broker(&self, connected: bool) {
        self.inner.broker.store(connected, Ordering::Relaxed);
    }

    /// Whether the store answers. While it does not, processing pauses.
    pub fn set_store(&self, reachable: bool) {
        self.inner.store.store(reachable, Ordering::Relaxed);
    }

    /// Whether the input consumers are running.
    pub fn set_consuming(&self, consuming: bool) {
        self.inner.consuming.store(consuming, Ordering::Relaxed);
    }

    /// Whether shutdown has started; a draining daemon is never ready again.
    pub fn set_draining(&self, draining: bool) {
        self.inner.draining.store(draining, Ordering::Relaxed);
    }

    /// How many tenant bundles are loaded and serving.
    pub fn set_bundles_loaded(&self, bundles: usize) {
        self.inner.bundles_loaded.store(bundles, Ordering::Relaxed);
    }

    /// Records that the supervisor loop is still turning. Call it more often than the
    /// stall limit, from the loop itself rather than a task of its own, so that a stuck
    /// loop stops beating.
    pub fn beat(&self) {
        let micros = u64::try_from(self.inner.started.elapsed().as_micros()).unwrap_or(u64::MAX);
        self.inner
            .last_beat
            .store(micros.saturating_add(1), Ordering::Relaxed);
    }

    /// `Ok` while alive at `now`, else the one-line reason.
    fn liveness_at(&self, now: Instant) -> Result<(), String> {
        let last = self.inner.last_beat.load(Ordering::Relaxed);
        if last == 0 {
            return Ok(());
        }
        let beat_at = self.inner.started + Duration::from_micros(last - 1);
        let since = now.saturating_duration_since(beat_at);
        if since > self.inner.stall_limit {
            Err(format!(
                "supervisor stalled: last beat {:.1}s ago, limit {}s",
                since.as_secs_f64(),
                self.inner.stall_limit.as_secs_f64()
            ))
        } else {
            Ok(())
        }
    }

    /// The readiness document; `ready` is true exactly when `failing` is empty.
    fn readiness(&self) -> Readiness {
        let broker = self.inner.broker.load(Ordering::Relaxed);
        let store = self.inner.store.load(Ordering::Relaxed);
        let consuming = self.inner.consuming.load(Ordering::Relaxed);
        let draining = self.inner.draining.load(Ordering::Relaxed);
        let bundles_loaded = self.inner.bundles_loaded.load(Ordering::Relaxed);
        let failing: Vec<&'static str> = [
            (!broker).then_some("broker"),
            (!store).then_some("store"),
            (!consuming).then_some("consuming"),
            draining.then_some("draining"),
            (bundles_loaded == 0).then_some("bundles"),
        ]
        .into_iter()
        .flatten()
        .collect();
        Readiness {
            ready: failing.is_empty(),
            failing,
            broker_connected: broker,
            store_reachable: store,
            consuming,
            draining,
            bundles_loaded,
        }
    }
}

/// The body of `/readyz`.
#[derive(Debug, Serialize)]
struct Readiness {
    ready: bool,
    failing: Vec<&'static str>,
    broker_connected: bool,
    store_reachable: bool,
    consuming: bool,
    draining: bool,
    bundles_loaded: usize,
}

#[derive(Clone)]
struct Endpoints {
    metrics: Arc<Metrics>,
    health: Health,
}

fn router(metrics: Arc<Metrics>, health: Health) -> Router {
    Router::new()
        .route("/metrics", get(metrics_text))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .fallback(not_found)
        .with_state(Endpoints { metrics, health })
}

async fn metrics_text(State(e): State<Endpoints>) -> Response {
    (
        [(header::CONTENT_TYPE, METRICS_CONTENT_TYPE)],
        e.metrics.render(),
    )
        .into_response()
}

async fn healthz(State(e): State<Endpoints>) -> Response {
    let text = [(header::CONTENT_TYPE, "text/plain; charset=utf-8")];
    match e.health.liveness_at(Instant::now()) {
        Ok(()) => (StatusCode::OK, text, "ok\n".to_owned()).into_response(),
        Err(reason) => {
            (StatusCode::SERVICE_UNAVAILABLE, text, format!("{reason}\n")).into_response()
        }
    }
}

async fn readyz(State(e): State<Endpoints>) -> Response {
    let readiness = e.health.readiness();
    let status = if readiness.ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    // Serialising a struct of booleans, a number and static strings cannot fail.
    let body = serde_json::to_string(&readiness).unwrap_or_else(|_| "{}".to_owned());
    (status, [(header::CONTENT_TYPE, "application/json")], body).into_response()
}

async fn not_found() -> Response {
    (StatusCode::NOT_FOUND, "not found\n").into_response()
}

/// Serves the endpoints on `listener` until `shutdown` completes, then finishes the
/// requests in progress and returns. Errors are those of accepting connections.
pub async fn serve(
    listener: TcpListener,
    metrics: Arc<Metrics>,
    health: Health,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    if let Ok(addr) = listener.local_addr() {
        tracing::info!(%addr, "serving /metrics, /healthz and /readyz");
    }
    axum::serve(listener, router(metrics, health))
        .with_graceful_shutdown(shutdown)
        .await
}

#[cfg(test)]
mod tests {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpStream;
    use tokio::sync::oneshot;
    use tokio::task::JoinHandle;

    use super::*;
    use crate::metrics::CustomMetrics;

    struct Server {
        addr: SocketAddr,
        stop: oneshot::Sender<()>,
        task: JoinHandle<std::io::Result<()>>,
    }

    impl Server {
        async fn start(metrics: Arc<Metrics>, health: Health) -> Self {
            let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
            let addr = listener.local_addr().expect("addr");
            let (stop, stopped) = oneshot::channel::<()>();
            let task = tokio::spawn(serve(listener, metrics, health, async {
                let _ = stopped.await;
            }));
            Self { addr, stop, task }
        }

        /// `GET path` over a fresh connection: status, lower-cased headers, body.
        async fn get(&self, path: &str) -> (u16, String, String) {
            let mut stream = TcpStream::connect(self.addr).await.expect("connect");
            let request =
                format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
            stream.write_all(request.as_bytes()).await.expect("write");
            let mut raw = Vec::new();
            stream.read_to_end(&mut raw).await.expect("read");
            let raw = String::from_utf8(raw).expect("utf-8 response");
            let (head, body) = raw.split_once("\r\n\r\n").expect("head and body");
            let status = head
                .split(' ')
                .nth(1)
                .and_then(|s| s.parse().ok())
                .expect("status code");
            (status, head.to_ascii_lowercase(), body.to_owned())
        }

        async fn stop(self) {
            self.stop.send(()).expect("server still running");
            let done = tokio::time::timeout(Duration::from_secs(10), self.task)
                .await
                .expect("graceful shutdown finishes");
            done.expect("task").expect("serve");
        }
    }

    fn metrics() -> Arc<Metrics> {
        Arc::new(Metrics::new(Arc::new(CustomMetrics::new())).expect("metrics"))
    }

    fn ready_health() -> Health {
        let h = Health::new(Duration::from_secs(30));
        h.set_broker(true);
        h.set_store(true);
        h.set_consuming(true);
        h.set_bundles_loaded(2);
        h.beat();
        h
    }

    fn json(body: &str) -> serde_json::Value {
        serde_json::from_str(body).expect("json body")
    }

    #[tokio::test]
    async fn healthz_is_ok_until_the_supervisor_stalls() {
        // A zero limit: any beat is stale a moment later.
        let fresh = Health::new(Duration::ZERO);
        let server = Server::start(metrics(), fresh.clone()).await;
        let (status, _, body) = server.get("/healthz").await;
        assert_eq!(
            (status, body.as_str()),
            (200, "ok\n"),
            "never beaten: alive"
        );
        fresh.beat();
        tokio::time::sleep(Duration::from_millis(5)).await;
        let (status, _, body) = server.get("/healthz").await;
        assert_eq!(status, 503);
        assert!(body.starts_with("supervisor stalled: last beat "), "{body}");
        assert_eq!(body.lines().count(), 1, "one line: {body}");
        server.stop().await;

        let server = Server::start(metrics(), ready_health()).await;
        assert_eq!(server.get("/healthz").await.0, 200, "beaten recently");
        server.stop().await;
    }

    #[test]
    fn liveness_follows_the_stall_limit() {
        let h = Health::new(Duration::from_secs(30));
        let now = Instant::now();
        assert_eq!(h.liveness_at(now + Duration::from_secs(3600)), Ok(()));
        h.beat();
        let beat = Instant::now();
        assert_eq!(h.liveness_at(beat + Duration::from_secs(29)), Ok(()));
        let e = h
            .liveness_at(beat + Duration::from_secs(31))
            .expect_err("stalled");
        assert!(e.contains("limit 30s"), "{e}");
    }

    #[tokio::test]
    async fn readyz_names_every_failing_check() {
        let health = Health::new(Duration::from_secs(30));
        let server = Server::start(metrics(), health.clone()).await;

        let (status, head, body) = server.get("/readyz").await;
        assert_eq!(status, 503);
        assert!(head.contains("content-type: application/json"), "{head}");
        let doc = json(&body);
        assert_eq!(doc["ready"], false);
        assert_eq!(
            doc["failing"],
            serde_json::json!(["broker", "store", "consuming", "bundles"])
        );

        health.set_broker(true);
        health.set_store(true);
        health.set_bundles_loaded(1);
        let (status, _, body) = server.get("/readyz").await;
        assert_eq!(status, 503);
        assert_eq!(json(&body)["failing"], serde_json::json!(["consuming"]));

        health.set_consuming(true);
        let (status, _, body) = server.get("/readyz").await;
        assert_eq!(status, 200, "{body}");
        let doc = json(&body);
        assert_eq!(doc["ready"], true);
        assert_eq!(doc["failing"], serde_json::json!([]));
        assert_eq!(doc["bundles_loaded"], 1);

        health.set_store(false);
        let (status, _, body) = server.get("/readyz").await;
        assert_eq!(status, 503);
        assert_eq!(json(&body)["failing"], serde_json::json!(["store"]));
        health.set_store(true);

        health.set_draining(true);
        health.set_broker(false);
        let (status, _, body) = server.get("/readyz").await;
        assert_eq!(status, 503);
        assert_eq!(
            json(&body)["failing"],
            serde_json::json!(["broker", "draining"])
        );
        assert_eq!(server.get("/healthz").await.0, 200, "draining is alive");
        server.stop().await;
    }

    #[tokio::test]
    async fn metrics_are_served_as_prometheus_text() {
        let metrics = metrics();
        metrics
            .events_total
            .with_label_values(&["stadt-a", "processed"])
            .inc_by(4);
        metrics.broker_connected.set(1);
        let server = Server::start(Arc::clone(&metrics), ready_health()).await;

        let (status, head, body) = server.get("/metrics").await;
        assert_eq!(status, 200);
        assert!(
            head.contains("content-type: text/plain; version=0.0.4; charset=utf-8"),
            "{head}"
        );
        assert!(
            body.contains("# TYPE leitstand_events_total counter"),
            "{body}"
        );
        assert!(
            body.contains(r#"leitstand_events_total{outcome="processed",tenant="stadt-a"} 4"#),
            "{body}"
        );
        assert!(body.contains("leitstand_broker_connected 1"), "{body}");

        // Each scrape renders anew.
        metrics.broker_connected.set(0);
        let (_, _, body) = server.get("/metrics").await;
        assert!(body.contains("leitstand_broker_connected 0"), "{body}");
        server.stop().await;
    }

    #[tokio::test]
    async fn other_paths_are_not_found() {
        let server = Server::start(metrics(), ready_health()).await;
        for path in ["/", "/metrics/x", "/health", "/readyz/"] {
            assert_eq!(server.get(path).await.0, 404, "{path}");
        }
        server.stop().await;
    }

    #[test]
    fn http_config_defaults_and_refuses_unknown_keys() {
        let c: HttpConfig = toml::from_str("").expect("empty is default");
        assert_eq!(c, HttpConfig::default());
        assert_eq!(c.listen.to_string(), "127.0.0.1:9464");
        assert_eq!(c.stall_limit(), Duration::from_secs(30));

        let c: HttpConfig = toml::from_str("listen = \"0.0.0.0:9000\"").expect("listen");
        assert_eq!(c.listen.port(), 9000);
        assert_eq!(c.stall_seconds, 30);

        let e = toml::from_str::<HttpConfig>("stall_second = 5").expect_err("unknown key");
        assert!(e.to_string().contains("stall_second"), "{e}");
    }
}
