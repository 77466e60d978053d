//! The daemon's HTTP endpoints: `GET /metrics`, `GET /healthz`, `GET /readyz` (CONTRACT §6)
//! and the operators' state-changing endpoints under `/admin/`.
//!
//! Owns the routes, who may call them, and the [`Health`] flags behind the two probes. It
//! judges nothing itself: the daemon reports what it knows (broker connected, store
//! reachable, consumers running, draining, bundles loaded, supervisor alive) and this module
//! only turns that into answers. It never touches the broker, bundles or plugins; an admin
//! endpoint only hands the daemon a request (a [`Notify`], a handle the daemon passes in).
//!
//! - `/healthz` (liveness) fails only when the daemon's supervisor loop has stopped
//!   beating, i.e. when restarting the process is the remedy.
//! - `/readyz` (readiness) fails while the daemon cannot do its work — no broker, no
//!   store, no consumers, draining for shutdown, or no bundle loaded — and names each
//!   failing check.
//! - `/metrics` is [`Metrics::render`].
//! - `POST /admin/reload` reloads the bundles, as SIGHUP does ([`reload_endpoint`]).
//! - `POST /admin/plugins/{tenant}/{plugin}/enable` lifts a plugin's quarantine (its
//!   handler is the daemon's, `daemon::admin`).
//!
//! Access. Everything is served on `http.listen`, the loopback address by default. Reading
//! (`GET`, `HEAD`) needs no credentials. Every other request — any method that may change
//! state, on any path — and every request under `/admin/` must carry
//! `Authorization: Bearer <admin token>` ([`AdminToken`], from `http.admin_token_env` or
//! `http.admin_token_file`). One guard in front of the whole router decides this, so an
//! endpoint added later cannot forget it. Without a configured token those requests are
//! answered 403 (the endpoints are off); a missing or wrong token 401 with
//! `WWW-Authenticate: Bearer`. The token is compared in constant time, only its digest is
//! kept, and it is never logged.

use std::fmt;
use std::future::Future;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, get, post};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use tokio::net::TcpListener;
use tokio::sync::Notify;

use leitstand_metrics::Metrics;

/// The content type of `/metrics`: Prometheus text exposition format 0.0.4.
const METRICS_CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// `[http]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpConfig {
    /// The address the endpoints listen on. Default `127.0.0.1:9464`, reachable from this
    /// host only; set `0.0.0.0:9464` for a scraper on another host. Reading (`/metrics`,
    /// `/healthz`, `/readyz`) needs no credentials and shows tenant and plugin names.
    pub listen: SocketAddr,
    /// How long the daemon's supervisor may go without a heartbeat before `/healthz`
    /// answers 503, in seconds. Default 30.
    pub stall_seconds: u64,
    /// The name of an environment variable holding the bearer token of the state-changing
    /// endpoints (`POST /admin/…`), e.g. `LEITSTAND_ADMIN_TOKEN`. Default none: with
    /// neither this nor `admin_token_file` those endpoints are off and answer 403. A name
    /// whose variable is not set stops the daemon at start.
    pub admin_token_env: Option<String>,
    /// A file holding that token (surrounding whitespace is ignored), e.g. a systemd
    /// credential. Read once at start. At most one of `admin_token_env` and this is set.
    pub admin_token_file: Option<PathBuf>,
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from((Ipv4Addr::LOCALHOST, 9464)),
            stall_seconds: 30,
            admin_token_env: None,
            admin_token_file: None,
        }
    }
}

impl HttpConfig {
    /// `stall_seconds` as the limit [`Health::new`] takes.
    pub fn stall_limit(&self) -> Duration {
        Duration::from_secs(self.stall_seconds)
    }

    /// The admin token from the variable `admin_token_env` names or from
    /// `admin_token_file`; `None` when neither is set (the admin endpoints are off).
    pub fn admin_token(&self) -> Result<Option<AdminToken>, AdminTokenError> {
        self.admin_token_from(|name| std::env::var_os(name))
    }

    /// [`admin_token`](Self::admin_token) with the environment as a function.
    fn admin_token_from(
        &self,
        env: impl Fn(&str) -> Option<std::ffi::OsString>,
    ) -> Result<Option<AdminToken>, AdminTokenError> {
        let refuse = |key, reason: String| Err(AdminTokenError { key, reason });
        match (&self.admin_token_env, &self.admin_token_file) {
            (None, None) => Ok(None),
            (Some(_), Some(_)) => refuse(
                "admin_token_env",
                "set it or http.admin_token_file, not both".into(),
            ),
            (Some(name), None) => {
                if name.is_empty() {
                    return refuse(
                        "admin_token_env",
                        "is empty; it names an environment variable".into(),
                    );
                }
                let Some(value) = env(name) else {
                    return refuse(
                        "admin_token_env",
                        format!("names the environment variable {name}, which is not set"),
                    );
                };
                let Some(value) = value.to_str() else {
                    return refuse(
                        "admin_token_env",
                        format!("the value of {name} is not UTF-8"),
                    );
                };
                match AdminToken::new(value) {
                    Ok(token) => Ok(Some(token)),
                    Err(reason) => {
                        refuse("admin_token_env", format!("the value of {name} {reason}"))
                    }
                }
            }
            (None, Some(path)) => {
                let text = match std::fs::read_to_string(path) {
                    Ok(text) => text,
                    Err(e) => {
                        return refuse(
                            "admin_token_file",
                            format!("cannot read {}: {e}", path.display()),
                        );
                    }
                };
                warn_if_others_may_read(path);
                match AdminToken::new(&text) {
                    Ok(token) => Ok(Some(token)),
                    Err(reason) => refuse(
                        "admin_token_file",
                        format!("the content of {} {reason}", path.display()),
                    ),
                }
            }
        }
    }
}

/// Warns when a token file is readable or writable by other users than its owner.
fn warn_if_others_may_read(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    if let Ok(meta) = std::fs::metadata(path) {
        let mode = meta.permissions().mode();
        if mode & 0o077 != 0 {
            tracing::warn!(
                file = %path.display(),
                mode = format!("{:o}", mode & 0o777),
                "the admin token file is open to other users; make it 0600 or 0400"
            );
        }
    }
}

/// Why the admin token could not be read; the daemon does not start.
#[derive(Debug, thiserror::Error)]
#[error("http.{key}: {reason}")]
pub struct AdminTokenError {
    /// The configuration key.
    pub key: &'static str,
    /// What is wrong, never the token itself.
    pub reason: String,
}

/// The bearer token of the state-changing endpoints.
///
/// Only its SHA-256 digest is kept; a presented token is hashed the same way and the two
/// digests compared in constant time, so neither the token's length nor the position of a
/// first wrong character shows in the answer's timing. `Debug` shows nothing of it.
#[derive(Clone)]
pub struct AdminToken {
    digest: [u8; 32],
}

impl AdminToken {
    /// The fewest characters a token may have.
    pub const MIN_LEN: usize = 16;

    /// Takes `raw` without its surrounding whitespace. It must have at least
    /// [`MIN_LEN`](Self::MIN_LEN) characters, all of them allowed in a bearer token
    /// (RFC 6750: letters, digits, `-._~+/`, trailing `=`), as `openssl rand -hex 32` or
    /// `openssl rand -base64 32` make. The error never repeats the token.
    pub fn new(raw: &str) -> Result<Self, String> {
        let token = raw.trim();
        if token.len() < Self::MIN_LEN {
            return Err(format!(
                "is too short for an admin token: it needs at least {} characters \
                 (make one with `openssl rand -hex 32`)",
                Self::MIN_LEN
            ));
        }
        let body = token.trim_end_matches('=');
        let allowed = |b: u8| b.is_ascii_alphanumeric() || b"-._~+/".contains(&b);
        if body.is_empty() || !body.bytes().all(allowed) {
            return Err(
                "is not a bearer token: only letters, digits, `-._~+/` and trailing `=` \
                 are allowed"
                    .into(),
            );
        }
        Ok(Self {
            digest: Sha256::digest(token.as_bytes()).into(),
        })
    }

    /// Whether `presented` is this token.
    pub fn matches(&self, presented: &str) -> bool {
        let digest: [u8; 32] = Sha256::digest(presented.as_bytes()).into();
        bool::from(self.digest.ct_eq(&digest))
    }
}

impl fmt::Debug for AdminToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AdminToken(..)")
    }
}

/// The state-changing endpoints, all under `/admin/` and all behind the admin token.
///
/// The daemon builds it with one [`route`](Self::route) per endpoint, each handler with its
/// own state, e.g.
/// `.route("plugins/{tenant}/{plugin}/enable", post(enable).with_state(registry))`.
/// The guard in front of the router checks the token; a handler only does its work.
pub struct Admin {
    token: Option<AdminToken>,
    routes: Router,
}

impl Admin {
    /// No endpoints yet. Without a `token` every admin request is answered 403.
    pub fn new(token: Option<AdminToken>) -> Self {
        Self {
            token,
            routes: Router::new(),
        }
    }

    /// Serves `endpoint` at `/admin/<path>`; `path` may capture segments (`{tenant}`), as
    /// in axum's `Router::route`.
    pub fn route(mut self, path: &str, endpoint: MethodRouter) -> Self {
        let path = format!("/admin/{}", path.trim_start_matches('/'));
        self.routes = self.routes.route(&path, endpoint);
        self
    }

    /// Whether a token is configured, i.e. the admin endpoints are on.
    pub fn enabled(&self) -> bool {
        self.token.is_some()
    }
}

/// `POST /admin/reload`: asks the daemon to reload its bundles, as SIGHUP does, by
/// notifying `reload`. Answers 202 at once; the reload itself is logged and counted in
/// `leitstand_bundle_reloads_total` (a refused bundle leaves the running one in place).
pub fn reload_endpoint(reload: Arc<Notify>) -> MethodRouter {
    post(move || {
        let reload = reload.clone();
        async move {
            tracing::info!("POST /admin/reload: reloading bundles");
            reload.notify_one();
            (
                StatusCode::ACCEPTED,
                [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
                "reload requested; the outcome is in the log and in \
                 leitstand_bundle_reloads_total\n",
            )
        }
    })
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
    /// Tenants whose batch has run longer than its bound (the watchdog's verdict).
    stuck: std::sync::Mutex<Vec<String>>,
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
                stuck: std::sync::Mutex::new(Vec::new()),
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

    /// The tenants whose batch has run longer than its bound; none when all go on.
    pub fn set_stuck(&self, tenants: Vec<String>) {
        *self
            .inner
            .stuck
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = tenants;
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

    /// The body `/readyz` answers with.
    pub fn readiness_text(&self) -> String {
        serde_json::to_string(&self.readiness()).unwrap_or_default()
    }

    /// The readiness document; `ready` is true exactly when `failing` is empty.
    fn readiness(&self) -> Readiness {
        let broker = self.inner.broker.load(Ordering::Relaxed);
        let store = self.inner.store.load(Ordering::Relaxed);
        let consuming = self.inner.consuming.load(Ordering::Relaxed);
        let draining = self.inner.draining.load(Ordering::Relaxed);
        let bundles_loaded = self.inner.bundles_loaded.load(Ordering::Relaxed);
        let stuck_tenants = self
            .inner
            .stuck
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone();
        let failing: Vec<&'static str> = [
            (!broker).then_some("broker"),
            (!store).then_some("store"),
            (!consuming).then_some("consuming"),
            draining.then_some("draining"),
            (bundles_loaded == 0).then_some("bundles"),
            (!stuck_tenants.is_empty()).then_some("stuck"),
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
            stuck_tenants,
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
    /// Tenants whose batch has run longer than its bound.
    stuck_tenants: Vec<String>,
}

#[derive(Clone)]
struct Endpoints {
    metrics: Arc<Metrics>,
    health: Health,
}

/// What the guard in front of the router knows: the admin token, if any.
#[derive(Clone)]
struct Guard {
    token: Option<Arc<AdminToken>>,
}

fn router(metrics: Arc<Metrics>, health: Health, admin: Admin) -> Router {
    let guard = Guard {
        token: admin.token.map(Arc::new),
    };
    Router::new()
        .route("/metrics", get(metrics_text))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .fallback(not_found)
        .with_state(Endpoints { metrics, health })
        .merge(admin.routes)
        // Last, so that it sees every request first, matched or not.
        .layer(middleware::from_fn_with_state(guard, require_token))
}

/// Whether a request needs the admin token: anything but reading, and anything under
/// `/admin/`. The path is the one the router matches (not decoded or normalised).
fn needs_token(method: &Method, path: &str) -> bool {
    let reading = method == Method::GET || method == Method::HEAD;
    !reading || path == "/admin" || path.starts_with("/admin/")
}

/// What the `Authorization` header holds.
enum Presented<'a> {
    Missing,
    NotBearer,
    Token(&'a str),
}

fn presented(headers: &HeaderMap) -> Presented<'_> {
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return Presented::Missing;
    };
    let Ok(value) = value.to_str() else {
        return Presented::NotBearer;
    };
    // `Bearer` alone (the header's trailing space is trimmed) is an empty token.
    let (scheme, token) = value.split_once(' ').unwrap_or((value, ""));
    if scheme.eq_ignore_ascii_case("bearer") {
        Presented::Token(token.trim())
    } else {
        Presented::NotBearer
    }
}

/// The guard: lets reading through, and a state-changing request only with the token.
async fn require_token(State(guard): State<Guard>, request: Request, next: Next) -> Response {
    if !needs_token(request.method(), request.uri().path()) {
        return next.run(request).await;
    }
    let peer = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map_or_else(|| "unknown".to_owned(), |c| c.0.to_string());
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    let Some(token) = &guard.token else {
        tracing::warn!(%method, path, %peer, "refused a state-changing request: the admin endpoints are off");
        return refusal(
            StatusCode::FORBIDDEN,
            None,
            "the admin endpoints are off: no admin token is configured \
             (http.admin_token_env or http.admin_token_file)\n",
        );
    };
    match presented(request.headers()) {
        Presented::Token(t) if token.matches(t) => {
            tracing::info!(%method, path, %peer, "admin request with a valid token");
            next.run(request).await
        }
        Presented::Token(_) => {
            tracing::warn!(%method, path, %peer, "refused an admin request: wrong token");
            refusal(
                StatusCode::UNAUTHORIZED,
                Some(r#"Bearer realm="leitstand", error="invalid_token""#),
                "the bearer token is not the admin token\n",
            )
        }
        Presented::Missing | Presented::NotBearer => {
            tracing::warn!(%method, path, %peer, "refused an admin request: no bearer token");
            refusal(
                StatusCode::UNAUTHORIZED,
                Some(r#"Bearer realm="leitstand""#),
                "this request needs `Authorization: Bearer <admin token>`\n",
            )
        }
    }
}

fn refusal(status: StatusCode, challenge: Option<&'static str>, text: &'static str) -> Response {
    let mut response = (
        status,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        text,
    )
        .into_response();
    if let Some(challenge) = challenge {
        response.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static(challenge),
        );
    }
    response
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

/// Serves the endpoints on `listener`, with the operators' `admin` endpoints, until
/// `shutdown` completes, then finishes the requests in progress and returns. Errors are
/// those of accepting connections.
pub async fn serve(
    listener: TcpListener,
    metrics: Arc<Metrics>,
    health: Health,
    admin: Admin,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    if let Ok(addr) = listener.local_addr() {
        let admin = if admin.enabled() {
            "on (bearer token)"
        } else {
            "off (no admin token configured)"
        };
        tracing::info!(%addr, admin, "serving /metrics, /healthz, /readyz and /admin/");
    }
    let app = router(metrics, health, admin).into_make_service_with_connect_info::<SocketAddr>();
    axum::serve(listener, app)
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
    use leitstand_metrics::CustomMetrics;

    struct Server {
        addr: SocketAddr,
        stop: oneshot::Sender<()>,
        task: JoinHandle<std::io::Result<()>>,
    }

    impl Server {
        async fn start(metrics: Arc<Metrics>, health: Health) -> Self {
            Self::with_admin(metrics, health, Admin::new(None)).await
        }

        async fn with_admin(metrics: Arc<Metrics>, health: Health, admin: Admin) -> Self {
            let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
            let addr = listener.local_addr().expect("addr");
            let (stop, stopped) = oneshot::channel::<()>();
            let task = tokio::spawn(serve(listener, metrics, health, admin, async {
                let _ = stopped.await;
            }));
            Self { addr, stop, task }
        }

        /// `GET path` over a fresh connection: status, lower-cased headers, body.
        async fn get(&self, path: &str) -> (u16, String, String) {
            self.send("GET", path, &[]).await
        }

        /// `method path` with extra header lines (`Name: value`) and no body.
        async fn send(&self, method: &str, path: &str, headers: &[&str]) -> (u16, String, String) {
            let mut stream = TcpStream::connect(self.addr).await.expect("connect");
            let mut request = format!(
                "{method} {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nContent-Length: 0\r\n"
            );
            for h in headers {
                request.push_str(h);
                request.push_str("\r\n");
            }
            request.push_str("\r\n");
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

    const TOKEN: &str = "0123456789abcdef0123456789abcdef";

    fn token() -> AdminToken {
        AdminToken::new(TOKEN).expect("a valid token")
    }

    /// A server whose admin endpoints are `reload` (and, when `token` is set, on).
    async fn admin_server(token: Option<AdminToken>) -> (Server, Arc<Notify>) {
        let reload = Arc::new(Notify::new());
        let admin = Admin::new(token).route("reload", reload_endpoint(reload.clone()));
        (
            Server::with_admin(metrics(), ready_health(), admin).await,
            reload,
        )
    }

    /// Whether `reload` was notified (now or within a moment).
    async fn notified(reload: &Notify) -> bool {
        tokio::time::timeout(Duration::from_millis(200), reload.notified())
            .await
            .is_ok()
    }

    #[test]
    fn http_listens_on_localhost_by_default() {
        let config = crate::config::Config::default();
        assert_eq!(config.http.listen.to_string(), "127.0.0.1:9464");
        assert!(config.http.listen.ip().is_loopback());
        assert_eq!(config.http.admin_token_env, None);
        assert_eq!(config.http.admin_token_file, None);
    }

    #[tokio::test]
    async fn admin_endpoints_are_off_without_a_token() {
        let (server, reload) = admin_server(None).await;
        let bearer = format!("Authorization: Bearer {TOKEN}");
        for headers in [vec![], vec![bearer.as_str()]] {
            let (status, _, body) = server.send("POST", "/admin/reload", &headers).await;
            assert_eq!(status, 403, "{body}");
            assert!(body.contains("admin endpoints are off"), "{body}");
            assert!(body.contains("http.admin_token_env"), "{body}");
        }
        assert!(
            !notified(&reload).await,
            "a refused request reloads nothing"
        );
        // Reading still works.
        assert_eq!(server.get("/metrics").await.0, 200);
        server.stop().await;
    }

    #[tokio::test]
    async fn admin_endpoints_need_the_bearer_token() {
        let (server, reload) = admin_server(Some(token())).await;

        let (status, head, body) = server.send("POST", "/admin/reload", &[]).await;
        assert_eq!(status, 401, "{body}");
        assert!(
            head.contains(r#"www-authenticate: bearer realm="leitstand""#),
            "{head}"
        );
        assert!(body.contains("Authorization: Bearer"), "{body}");

        let wrong = [
            "Authorization: Bearer 0123456789abcdef0123456789abcdeF".to_owned(),
            "Authorization: Bearer 0123456789abcdef".to_owned(),
            format!("Authorization: Bearer {TOKEN}0"),
            "Authorization: Bearer ".to_owned(),
        ];
        for h in &wrong {
            let (status, head, _) = server.send("POST", "/admin/reload", &[h]).await;
            assert_eq!(status, 401, "{h}");
            assert!(head.contains(r#"error="invalid_token""#), "{head}");
        }
        let basic = format!("Authorization: Basic {TOKEN}");
        let (status, head, _) = server.send("POST", "/admin/reload", &[&basic]).await;
        assert_eq!(status, 401, "another scheme");
        assert!(head.contains("www-authenticate: bearer"), "{head}");
        assert!(
            !notified(&reload).await,
            "a refused request reloads nothing"
        );

        // The scheme is case-insensitive (RFC 7235).
        for scheme in ["Bearer", "bearer"] {
            let h = format!("Authorization: {scheme} {TOKEN}");
            let (status, _, body) = server.send("POST", "/admin/reload", &[&h]).await;
            assert_eq!(status, 202, "{body}");
            assert!(body.starts_with("reload requested"), "{body}");
            assert!(notified(&reload).await, "the daemon is asked to reload");
        }
        server.stop().await;
    }

    #[tokio::test]
    async fn reading_needs_no_token_and_everything_else_does() {
        let (server, _reload) = admin_server(Some(token())).await;
        for path in ["/metrics", "/healthz", "/readyz"] {
            assert_eq!(server.get(path).await.0, 200, "GET {path}");
            assert_eq!(server.send("HEAD", path, &[]).await.0, 200, "HEAD {path}");
            let junk = "Authorization: Bearer nonsense";
            assert_eq!(server.send("GET", path, &[junk]).await.0, 200, "{path}");
        }
        // Any other method, on any path, passes the guard only with the token: an
        // endpoint added outside `Admin` cannot forget it.
        for (method, path) in [
            ("POST", "/metrics"),
            ("PUT", "/readyz"),
            ("DELETE", "/admin/reload"),
            ("POST", "/nowhere"),
        ] {
            assert_eq!(
                server.send(method, path, &[]).await.0,
                401,
                "{method} {path}"
            );
        }
        // Under /admin/ even reading needs it.
        assert_eq!(server.get("/admin/reload").await.0, 401);
        assert_eq!(server.get("/admin/nowhere").await.0, 401);
        let bearer = format!("Authorization: Bearer {TOKEN}");
        assert_eq!(server.send("POST", "/metrics", &[&bearer]).await.0, 405);
        assert_eq!(server.send("GET", "/admin/reload", &[&bearer]).await.0, 405);
        assert_eq!(server.send("POST", "/nowhere", &[&bearer]).await.0, 404);
        server.stop().await;
    }

    #[tokio::test]
    async fn an_admin_endpoint_is_one_line_and_guarded() {
        use axum::extract::Path as Captured;
        let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
        let record = seen.clone();
        let admin = Admin::new(Some(token())).route(
            "plugins/{tenant}/{plugin}/enable",
            post(
                move |Captured((tenant, plugin)): Captured<(String, String)>| {
                    let record = record.clone();
                    async move {
                        record
                            .lock()
                            .expect("lock")
                            .push(format!("{tenant}/{plugin}"));
                        StatusCode::NO_CONTENT
                    }
                },
            ),
        );
        let server = Server::with_admin(metrics(), ready_health(), admin).await;
        let path = "/admin/plugins/soest/router/enable";
        assert_eq!(server.send("POST", path, &[]).await.0, 401);
        let bearer = format!("Authorization: Bearer {TOKEN}");
        assert_eq!(server.send("POST", path, &[&bearer]).await.0, 204);
        assert_eq!(*seen.lock().expect("lock"), ["soest/router"]);
        server.stop().await;
    }

    /// A log sink for one test's thread.
    #[derive(Clone, Default)]
    struct LogSink(Arc<std::sync::Mutex<Vec<u8>>>);

    impl std::io::Write for LogSink {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().expect("lock").extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl LogSink {
        fn text(&self) -> String {
            String::from_utf8_lossy(&self.0.lock().expect("lock")).into_owned()
        }
    }

    #[tokio::test]
    async fn tokens_never_reach_the_log() {
        let sink = LogSink::default();
        let writer = sink.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .with_ansi(false)
            .with_writer(move || writer.clone())
            .finish();
        // The test's runtime runs the server on this thread, so its events land here.
        let _log = tracing::subscriber::set_default(subscriber);

        let (server, _reload) = admin_server(Some(token())).await;
        let wrong = "fedcba9876543210fedcba9876543210";
        let h = format!("Authorization: Bearer {wrong}");
        assert_eq!(server.send("POST", "/admin/reload", &[&h]).await.0, 401);
        let h = format!("Authorization: Bearer {TOKEN}");
        assert_eq!(server.send("POST", "/admin/reload", &[&h]).await.0, 202);
        server.stop().await;

        let log = sink.text();
        assert!(
            log.contains("refused an admin request: wrong token"),
            "{log}"
        );
        assert!(log.contains("admin request with a valid token"), "{log}");
        assert!(
            log.contains("peer=127.0.0.1:"),
            "who asked is logged: {log}"
        );
        for secret in [TOKEN, wrong, &TOKEN[..8], &wrong[..8]] {
            assert!(!log.contains(secret), "{secret} in the log:\n{log}");
        }
        assert_eq!(format!("{:?}", token()), "AdminToken(..)");
    }

    #[test]
    fn admin_tokens_are_checked_and_compared_exactly() {
        let t = token();
        assert!(t.matches(TOKEN));
        for other in [
            "",
            "0123456789abcdef",
            &TOKEN[1..],
            &format!("{TOKEN} "),
            "x",
        ] {
            assert!(!t.matches(other), "{other:?}");
        }
        // Surrounding whitespace (a file's newline) is not part of the token.
        assert!(
            AdminToken::new(&format!("  {TOKEN}\n"))
                .expect("trimmed")
                .matches(TOKEN)
        );
        assert!(
            AdminToken::new("c2VjcmV0LXNlY3JldC1zZWNyZXQ=").is_ok(),
            "base64"
        );

        let e = AdminToken::new("short").expect_err("too short");
        assert!(e.contains("at least 16 characters"), "{e}");
        let e = AdminToken::new("0123456789 abcdef0123").expect_err("a space");
        assert!(e.contains("not a bearer token"), "{e}");
        assert!(
            !e.contains("0123456789"),
            "the error repeats the token: {e}"
        );
        assert!(AdminToken::new("================").is_err());
    }

    #[test]
    fn the_admin_token_comes_from_the_named_variable_or_a_file() {
        let env = |name: &str| (name == "LEITSTAND_TEST_ADMIN").then(|| TOKEN.into());
        let none = |_: &str| None;

        let c = HttpConfig::default();
        assert!(c.admin_token_from(env).expect("none configured").is_none());

        let c = HttpConfig {
            admin_token_env: Some("LEITSTAND_TEST_ADMIN".into()),
            ..HttpConfig::default()
        };
        let t = c.admin_token_from(env).expect("read").expect("a token");
        assert!(t.matches(TOKEN));
        let e = c.admin_token_from(none).expect_err("unset");
        assert_eq!(
            e.to_string(),
            "http.admin_token_env: names the environment variable LEITSTAND_TEST_ADMIN, \
             which is not set"
        );
        let short = |_: &str| Some("tiny".into());
        let e = c.admin_token_from(short).expect_err("short");
        assert!(
            e.to_string().contains("LEITSTAND_TEST_ADMIN is too short"),
            "{e}"
        );
        assert!(!e.to_string().contains("tiny"), "{e}");

        let dir = tempfile::tempdir().expect("tmp");
        let file = dir.path().join("admin-token");
        std::fs::write(&file, format!("{TOKEN}\n")).expect("write");
        let c = HttpConfig {
            admin_token_file: Some(file.clone()),
            ..HttpConfig::default()
        };
        let t = c.admin_token_from(none).expect("read").expect("a token");
        assert!(t.matches(TOKEN));

        let c = HttpConfig {
            admin_token_file: Some(dir.path().join("missing")),
            ..HttpConfig::default()
        };
        let e = c.admin_token_from(none).expect_err("missing file");
        assert!(
            e.to_string()
                .starts_with("http.admin_token_file: cannot read "),
            "{e}"
        );

        let c = HttpConfig {
            admin_token_env: Some("LEITSTAND_TEST_ADMIN".into()),
            admin_token_file: Some(file),
            ..HttpConfig::default()
        };
        let e = c.admin_token_from(env).expect_err("both");
        assert!(e.to_string().contains("not both"), "{e}");

        let c: HttpConfig =
            toml::from_str("admin_token_env = \"LEITSTAND_ADMIN_TOKEN\"").expect("toml");
        assert_eq!(c.admin_token_env.as_deref(), Some("LEITSTAND_ADMIN_TOKEN"));
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
