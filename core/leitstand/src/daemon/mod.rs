//! `leitstand run`: the daemon. A supervisor keeps a broker session alive (connect, declare
//! the topology, start one consumer per tenant queue, one for unrouted events and one for
//! plugins' HTTP deliveries) and
//! rebuilds it with jittered backoff whenever the broker goes away; signals drive
//! graceful shutdown (SIGTERM, SIGINT) and bundle reload (SIGHUP, `POST /admin/reload`, or
//! a change in the bundle directory).
//!
//! Owns the life cycle and nothing else: AMQP details are in [`leitstand_amqp`], plugin
//! runs in [`leitstand_engine::dispatch`], figures in [`leitstand_metrics`], endpoints in [`crate::http`].

mod admin;
mod cluster;
mod tenant;
pub mod watchdog;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use serde::{Deserialize, Serialize};
use tokio::sync::{Notify, watch};
use tokio::task::JoinSet;

use crate::config::Config;
use crate::http::Health;
use cluster::Ownership;
use leitstand_amqp::{Context, Session, TransportError, Watch};
use leitstand_contract::envelope::TenantId;
use leitstand_engine::fair;
use leitstand_engine::registry::{Registry, TenantSlot};
use leitstand_engine::sandbox::Sandbox;
use leitstand_engine::state::Detached;
use leitstand_metrics::{CustomMetrics, Metrics};
use leitstand_store::{Fence, Store, StoreConfig};

/// Which queue a worker serves.
enum Source {
    /// A tenant's input queue, with the lease fence its commits carry (cluster mode).
    Tenant(Arc<TenantSlot>, Option<Fence>),
    /// `leitstand.unrouted`: events no tenant queue took; each is dead-lettered.
    Unrouted,
    /// `leitstand.http`: plugins' `http.post` commands to deliver.
    Deliveries(Arc<Registry>),
}

/// `[daemon]`: the daemon's own settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DaemonConfig {
    /// The directory of tenant bundles (one subdirectory per tenant). Default `bundles`;
    /// `leitstand run --bundles DIR` overrides it.
    pub bundles: PathBuf,
    /// How long a shutdown may take to finish in-flight events, in seconds. Default 30.
    pub grace_seconds: u64,
    /// How often the bundle directory is checked for changes, in milliseconds; 0 turns
    /// watching off (SIGHUP still reloads). Default 2000.
    pub reload_poll_ms: u64,
    /// The allowance for late events, in milliseconds: timers follow event time, and a
    /// timer due at T whose tenant has no later event fires once the wall clock passes
    /// T plus this much and nothing of the tenant waits in its queue (CONTRACT §7). An
    /// event arriving within it still decides before the timer. Default 1000.
    pub watermark_ms: u64,
    /// A tenant whose batch runs longer than this many seconds — or than 20 times its
    /// slowest plugin's wall-clock limit, when that is longer — is reported stuck
    /// (`leitstand_tenant_stuck`, `/readyz`, the log). Default 60.
    pub stuck_after_seconds: u64,
}

impl Default for DaemonConfig {
    fn default() -> Self {
        Self {
            bundles: PathBuf::from("bundles"),
            grace_seconds: 30,
            reload_poll_ms: 2_000,
            watermark_ms: 1_000,
            stuck_after_seconds: 60,
        }
    }
}

/// What every worker of a session uses.
pub struct Shared {
    /// The broker settings, the intake limits and the daemon's figures.
    pub context: Arc<Context>,
    /// Where plugins run.
    pub sandbox: Arc<Sandbox>,
    /// The durable store: state, timers, processed ids, the outbox.
    pub store: Store,
    /// Its settings (batch size, retention).
    pub store_config: StoreConfig,
    /// What `/healthz` and `/readyz` report.
    pub health: Health,
    /// The slots of sandbox time, shared fairly by the tenants' workers.
    pub fair: fair::FairScheduler,
    /// About how much sandbox time one batch should take.
    pub slice: Duration,
    /// How long after a timer's due time a caught-up tenant waits for late events before
    /// the wall clock fires it.
    pub watermark: Duration,
    /// Which tenants' batches run now, and which run too long.
    pub watchdog: watchdog::Watchdog,
    /// The shortest time a batch may run before its tenant is reported stuck.
    pub stuck_after: Duration,
    /// How much nicer a batch runs while its tenant is over its part (0: not at all).
    pub yield_nice: i32,
}

/// The signals the daemon reacts to, as futures a session can wait on.
#[derive(Clone)]
struct Control {
    shutdown: watch::Receiver<bool>,
    reload: Arc<Notify>,
    ownership: Arc<Ownership>,
}

/// Declares the CONTRACT §4 topology for every bundle under `bundles`, then returns.
pub async fn declare_topology(config: &Config, bundles: &std::path::Path) -> anyhow::Result<()> {
    let tenants = leitstand_engine::tenants::load_all(bundles)
        .map_err(|errors| anyhow::anyhow!("{}", lines(&errors)))?;
    leitstand_amqp::declare_topology(&config.amqp, tenants.iter().map(|b| &b.tenant)).await?;
    Ok(())
}

/// Bundle errors, one per line.
fn lines(errors: &[leitstand_engine::tenants::BundleError]) -> String {
    errors
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("\n")
}

/// Runs the daemon until SIGTERM or SIGINT, then shuts down gracefully.
pub async fn run(config: Config, bundles: PathBuf) -> anyhow::Result<()> {
    // Read before anything else starts: a configured token that cannot be read stops the
    // daemon rather than leaving the admin endpoints off unnoticed.
    let admin_token = config.http.admin_token()?;
    let custom = Arc::new(CustomMetrics::new());
    let sla = leitstand_metrics::SlaMetrics::new(
        config.metrics.sla_window_minutes,
        leitstand_metrics::Clock::Wall,
    )
    .context("registering metrics")?;
    let metrics = Arc::new(Metrics::with_sla(custom.clone(), sla).context("registering metrics")?);
    let sandbox =
        Arc::new(Sandbox::new(config.sandbox.clone(), custom).context("starting the sandbox")?);
    // Plugins read state through each batch's view of the store, never through this.
    let registry = Arc::new(
        Registry::load(
            &bundles,
            &config.bundles,
            sandbox.clone(),
            Arc::new(Detached),
        )
        .map_err(|errors| {
            anyhow::anyhow!(
                "refusing to start, a bundle is invalid:\n{}",
                lines(&errors)
            )
        })?,
    );
    let health = Health::new(Duration::from_secs(config.http.stall_seconds));
    health.set_bundles_loaded(registry.slots().len());
    let store = open_store(&config, &health).await?;
    let shared = Arc::new(Shared {
        context: Arc::new(Context {
            config: config.amqp.clone(),
            limits: config.intake.limits(),
            metrics: metrics.clone(),
        }),
        sandbox,
        store,
        store_config: config.store.clone(),
        health: health.clone(),
        fair: fair::FairScheduler::new(config.sandbox.slots(), config.sandbox.plugin_cores()),
        slice: Duration::from_millis(config.sandbox.slice_ms.max(1)),
        watermark: Duration::from_millis(config.daemon.watermark_ms),
        watchdog: watchdog::Watchdog::default(),
        stuck_after: Duration::from_secs(config.daemon.stuck_after_seconds.max(1)),
        yield_nice: i32::from(config.sandbox.yield_nice.min(19)),
    });

    let (shutdown_tx, shutdown_rx) = watch::channel(false);
    let ownership = Arc::new(Ownership::new(shared.store.backend()));
    let control = Control {
        shutdown: shutdown_rx,
        reload: Arc::new(Notify::new()),
        ownership: ownership.clone(),
    };
    spawn_signal_handlers(shutdown_tx, control.reload.clone())?;
    if config.daemon.reload_poll_ms > 0 {
        spawn_bundle_watch(
            registry.clone(),
            control.reload.clone(),
            Duration::from_millis(config.daemon.reload_poll_ms),
        );
    }

    let listener = tokio::net::TcpListener::bind(config.http.listen)
        .await
        .with_context(|| format!("http.listen: cannot listen on {}", config.http.listen))?;
    let http_stop = {
        let mut rx = control.shutdown.clone();
        async move {
            let _ = rx.wait_for(|s| *s).await;
        }
    };
    // The operators' state-changing endpoints, each behind the admin token: one `.route`
    // per endpoint, its handler given what it acts on.
    let admin = crate::http::Admin::new(admin_token)
        .route(
            "reload",
            crate::http::reload_endpoint(control.reload.clone()),
        )
        .route(
            "plugins/{tenant}/{plugin}/enable",
            admin::enable_plugin_endpoint(registry.clone(), metrics.clone()),
        );
    let http = tokio::spawn(crate::http::serve(
        listener,
        metrics,
        health.clone(),
        admin,
        http_stop,
    ));

    let pruning = tokio::spawn(prune(shared.clone(), control.shutdown.clone()));
    let watching = tokio::spawn(watch_batches(
        shared.clone(),
        registry.clone(),
        control.shutdown.clone(),
    ));
    let probing = tokio::spawn(probe_store(shared.clone(), control.shutdown.clone()));
    let clustering = tokio::spawn(cluster::run(
        shared.clone(),
        registry.clone(),
        ownership.clone(),
        control.shutdown.clone(),
    ));
    supervise(
        &shared,
        &registry,
        control,
        Duration::from_secs(config.daemon.grace_seconds),
    )
    .await;

    pruning.abort();
    probing.abort();
    watching.abort();
    // The cluster round leaves the cluster on shutdown; the drained workers' leases go too.
    let _ = tokio::time::timeout(Duration::from_secs(5), clustering).await;
    ownership.release_all(&shared).await;
    match tokio::time::timeout(Duration::from_secs(5), http).await {
        Ok(Ok(Err(e))) => tracing::warn!(error = %e, "the HTTP server ended with an error"),
        Ok(Err(e)) => tracing::warn!(error = %e, "the HTTP server task failed"),
        _ => {}
    }
    tracing::info!("stopped");
    Ok(())
}

/// Opens the store. The daemon does not start without it: a first connection that fails
/// is an error naming the store (a running daemon instead pauses and retries).
async fn open_store(config: &Config, health: &Health) -> anyhow::Result<Store> {
    let store = Store::open(&config.store)
        .await
        .with_context(|| format!("store.url {}", leitstand_store::redact(&config.store.url)))?;
    health.set_store(true);
    tracing::info!(url = %leitstand_store::redact(&config.store.url), backend = ?store.backend(), "store open");
    Ok(store)
}

/// Asks the store every second whether it answers, for `/readyz`.
async fn probe_store(shared: Arc<Shared>, mut shutdown: watch::Receiver<bool>) {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    loop {
        tokio::select! {
            _ = shutdown.wait_for(|s| *s) => return,
            _ = tick.tick() => {}
        }
        let ok = matches!(
            tokio::time::timeout(Duration::from_secs(3), shared.store.ping()).await,
            Ok(Ok(()))
        );
        shared.health.set_store(ok);
        shared.context.metrics.store_connected.set(i64::from(ok));
    }
}

/// Every second, reports the tenants whose batch has run longer than its bound.
async fn watch_batches(
    shared: Arc<Shared>,
    registry: Arc<Registry>,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    loop {
        tokio::select! {
            _ = shutdown.wait_for(|s| *s) => return,
            _ = tick.tick() => {}
        }
        let tenants: Vec<TenantId> = registry.slots().iter().map(|s| s.tenant.clone()).collect();
        shared.watchdog.round(
            std::time::Instant::now(),
            &tenants,
            &shared.context.metrics,
            &shared.health,
        );
    }
}

/// Deletes processed ids and fired timers older than the retention horizon, every
/// `store.prune_every_seconds`, so that the store does not grow without bound.
async fn prune(shared: Arc<Shared>, mut shutdown: watch::Receiver<bool>) {
    let c = &shared.store_config;
    let every = Duration::from_secs(c.prune_every_seconds.max(1));
    let horizon_ms = i64::try_from(c.retention_hours.saturating_mul(3_600_000)).unwrap_or(i64::MAX);
    let mut tick = tokio::time::interval(every);
    loop {
        tokio::select! {
            _ = shutdown.wait_for(|s| *s) => return,
            _ = tick.tick() => {}
        }
        let before = chrono::Utc::now()
            .timestamp_millis()
            .saturating_sub(horizon_ms);
        match shared.store.prune(before).await {
            Ok(n) => {
                shared.context.metrics.store_pruned_total.inc_by(n);
                if n > 0 {
                    tracing::info!(
                        rows = n,
                        "pruned processed ids and fired timers past retention"
                    );
                }
            }
            Err(e) => tracing::warn!(error = %e, "pruning the store failed; it is tried again"),
        }
    }
}

fn spawn_signal_handlers(shutdown: watch::Sender<bool>, reload: Arc<Notify>) -> anyhow::Result<()> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).context("installing the SIGTERM handler")?;
    let mut int = signal(SignalKind::interrupt()).context("installing the SIGINT handler")?;
    let mut hup = signal(SignalKind::hangup()).context("installing the SIGHUP handler")?;
    tokio::spawn(async move {
        tokio::select! {
            _ = term.recv() => tracing::info!("SIGTERM: shutting down"),
            _ = int.recv() => tracing::info!("SIGINT: shutting down"),
        }
        let _ = shutdown.send(true);
    });
    tokio::spawn(async move {
        while hup.recv().await.is_some() {
            tracing::info!("SIGHUP: reloading bundles");
            reload.notify_one();
        }
    });
    Ok(())
}

fn spawn_bundle_watch(registry: Arc<Registry>, reload: Arc<Notify>, every: Duration) {
    tokio::spawn(async move {
        let mut last = registry.signature();
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let now = registry.signature();
            if now != last {
                tracing::info!(dir = %registry.dir().display(), "bundle directory changed: reloading");
                last = now;
                reload.notify_one();
            }
        }
    });
}

/// Keeps a session running until shutdown; reconnects with backoff when it fails.
async fn supervise(
    shared: &Arc<Shared>,
    registry: &Arc<Registry>,
    mut control: Control,
    grace: Duration,
) {
    let mut attempt = 0u32;
    loop {
        if *control.shutdown.borrow() {
            return;
        }
        match session(shared, registry, &mut control, grace, &mut attempt).await {
            Ok(()) => return,
            Err(e) => {
                shared.health.set_broker(false);
                shared.health.set_consuming(false);
                shared.context.metrics.broker_connected.set(0);
                let wait = shared.context.config.backoff(attempt);
                attempt = attempt.saturating_add(1);
                shared.context.metrics.broker_reconnects_total.inc();
                tracing::warn!(error = %e, retry_in_ms = wait.as_millis() as u64, "broker session ended; reconnecting");
                let mut stop = control.shutdown.clone();
                let beat = async {
                    let mut t = tokio::time::interval(Duration::from_secs(1));
                    loop {
                        t.tick().await;
                        shared.health.beat();
                    }
                };
                tokio::select! {
                    () = tokio::time::sleep(wait) => {}
                    _ = stop.wait_for(|s| *s) => return,
                    () = beat => {}
                }
            }
        }
    }
}

/// The workers of one broker session.
struct Workers {
    session: Arc<Session>,
    set: JoinSet<(String, u64, Result<tenant::Ended, TransportError>)>,
    /// The running workers by queue name, with their id and stop switch.
    stops: BTreeMap<String, (u64, watch::Sender<bool>)>,
    /// Workers told to stop that have not ended yet, by queue name: no second worker for
    /// the same queue starts before the first has ended.
    ending: BTreeMap<String, u64>,
    next_worker: u64,
}

impl Workers {
    async fn start(&mut self, shared: &Arc<Shared>, source: Source) -> Result<(), TransportError> {
        let name = match &source {
            Source::Tenant(slot, _) => slot.tenant.to_string(),
            Source::Unrouted => String::new(),
            Source::Deliveries(_) => leitstand_amqp::HTTP_QUEUE.to_owned(),
        };
        let (stop_tx, stop_rx) = watch::channel(false);
        let id = self.next_worker;
        self.next_worker += 1;
        self.stops.insert(name.clone(), (id, stop_tx));
        let shared = shared.clone();
        let session = self.session.clone();
        let context = shared.context.clone();
        match source {
            Source::Tenant(slot, fence) => {
                self.set.spawn(async move {
                    let r = tenant::run(shared, slot, session, fence, stop_rx).await;
                    (name, id, r)
                });
            }
            Source::Unrouted => {
                let channel = session.channel().await?;
                let publisher = session.publisher().await?;
                self.set.spawn(async move {
                    let r = leitstand_amqp::unrouted::run(context, channel, publisher, stop_rx)
                        .await
                        .map(|()| tenant::Ended::Stopped);
                    (name, id, r)
                });
            }
            Source::Deliveries(registry) => {
                let channel = session.channel().await?;
                let publisher = session.publisher().await?;
                let endpoints: leitstand_amqp::deliveries::Endpoints =
                    Arc::new(move |tenant: &TenantId, plugin: &str, endpoint: &str| {
                        let runtime = registry.slot(tenant)?.runtime();
                        let spec = runtime.bundle.plugins.iter().find(|p| p.name == plugin)?;
                        spec.endpoints.get(endpoint).cloned()
                    });
                self.set.spawn(async move {
                    let r = leitstand_amqp::deliveries::run(
                        context, endpoints, channel, publisher, stop_rx,
                    )
                    .await
                    .map(|()| tenant::Ended::Stopped);
                    (name, id, r)
                });
            }
        }
        Ok(())
    }

    /// Tells the worker of queue `name` to stop; it stays in `ending` until it has ended.
    /// Returns whether one was running.
    fn stop(&mut self, name: &str) -> bool {
        match self.stops.remove(name) {
            Some((id, stop)) => {
                let _ = stop.send(true);
                self.ending.insert(name.to_owned(), id);
                true
            }
            None => false,
        }
    }
}

async fn session(
    shared: &Arc<Shared>,
    registry: &Arc<Registry>,
    control: &mut Control,
    grace: Duration,
    attempt: &mut u32,
) -> Result<(), TransportError> {
    let (session, mut watch) = Session::open(&shared.context.config).await?;
    let mut w = Workers {
        session: Arc::new(session),
        set: JoinSet::new(),
        stops: BTreeMap::new(),
        ending: BTreeMap::new(),
        next_worker: 0,
    };
    let result = run_session(
        shared, registry, control, grace, attempt, &mut w, &mut watch,
    )
    .await;
    if result.is_err() {
        for (_, stop) in w.stops.values() {
            let _ = stop.send(true);
        }
        w.set.abort_all();
    }
    w.session.close().await;
    result
}

async fn run_session(
    shared: &Arc<Shared>,
    registry: &Arc<Registry>,
    control: &mut Control,
    grace: Duration,
    attempt: &mut u32,
    w: &mut Workers,
    watch: &mut Watch,
) -> Result<(), TransportError> {
    w.start(shared, Source::Unrouted).await?;
    w.start(shared, Source::Deliveries(registry.clone()))
        .await?;
    reconcile(shared, registry, &control.ownership, w).await?;
    shared.health.set_broker(true);
    shared.health.set_consuming(true);
    shared.context.metrics.broker_connected.set(1);
    *attempt = 0;
    tracing::info!(url = %shared.context.config.redacted_url(), tenants = registry.slots().len(), "consuming");
    let mut beat = tokio::time::interval(Duration::from_secs(1));
    loop {
        tokio::select! {
            _ = control.shutdown.wait_for(|s| *s) => break,
            joined = w.set.join_next(), if !w.set.is_empty() => match joined {
                None => {}
                Some(Ok((name, id, Ok(ended)))) => {
                    if w.stops.get(&name).is_some_and(|(current, _)| *current == id) {
                        w.stops.remove(&name);
                    }
                    if w.ending.get(&name) == Some(&id) {
                        w.ending.remove(&name);
                    }
                    if let tenant::Ended::LeaseLost(fence) = ended {
                        // Not again with this fence: the next round takes a new lease.
                        control.ownership.lost(&name, &fence);
                    }
                    control.ownership.worker_ended(shared, &name).await;
                    reconcile(shared, registry, &control.ownership, w).await?;
                }
                Some(Ok((name, _, Err(e)))) => {
                    tracing::warn!(queue = %name, error = %e, "a consumer failed");
                    return Err(e);
                }
                Some(Err(e)) => return Err(TransportError::Session(format!("a consumer task failed: {e}"))),
            },
            e = watch.failure() => return Err(e),
            () = control.reload.notified() => reload(shared, registry, &control.ownership, w).await?,
            () = control.ownership.changed.notified() => reconcile(shared, registry, &control.ownership, w).await?,
            _ = beat.tick() => shared.health.beat(),
        }
    }
    // Graceful shutdown: stop consuming, finish what was delivered, wait for confirms.
    shared.health.set_draining(true);
    tracing::info!(grace_seconds = grace.as_secs(), "draining in-flight events");
    for (_, stop) in w.stops.values() {
        let _ = stop.send(true);
    }
    let drained = tokio::time::timeout(grace, async {
        while let Some(joined) = w.set.join_next().await {
            if let Ok((name, _, Err(e))) = joined {
                tracing::warn!(queue = %name, error = %e, "a consumer failed while draining");
            }
        }
    })
    .await;
    if drained.is_err() {
        tracing::warn!(
            "the grace period ended before every event was settled; the broker redelivers the rest"
        );
        w.set.abort_all();
    }
    shared.health.set_consuming(false);
    Ok(())
}

/// Starts a worker for every tenant this daemon processes now and stops the others.
async fn reconcile(
    shared: &Arc<Shared>,
    registry: &Arc<Registry>,
    ownership: &Ownership,
    w: &mut Workers,
) -> Result<(), TransportError> {
    for slot in registry.slots() {
        let name = slot.tenant.to_string();
        match ownership.fence_for(&slot.tenant) {
            Some(fence) if !w.stops.contains_key(&name) && !w.ending.contains_key(&name) => {
                w.start(shared, Source::Tenant(slot, fence)).await?;
            }
            None if w.stop(&name) => {
                // The new owner exports the tenant's figures from here on.
                shared.context.metrics.sla.close(&slot.tenant);
                tracing::info!(tenant = %name, "no longer processing the tenant here: its consumer stops");
            }
            _ => {}
        }
    }
    Ok(())
}

async fn reload(
    shared: &Arc<Shared>,
    registry: &Arc<Registry>,
    ownership: &Ownership,
    w: &mut Workers,
) -> Result<(), TransportError> {
    let report = registry.reload();
    let m = &shared.context.metrics;
    for (tenant, error) in &report.refused {
        let label = tenant.as_ref().map_or("", TenantId::as_str);
        m.bundle_reloads_total
            .with_label_values(&[label, "refused"])
            .inc();
        tracing::error!(tenant = label, error = %error, "bundle refused; the running bundle stays");
    }
    for tenant in &report.replaced {
        m.bundle_reloads_total
            .with_label_values(&[tenant.as_str(), "applied"])
            .inc();
        tracing::info!(tenant = %tenant, "bundle replaced");
    }
    for tenant in &report.removed {
        w.stop(tenant.as_str());
        shared.context.metrics.sla.close(tenant);
        tracing::warn!(tenant = %tenant, "bundle removed: its consumer stops, its queue keeps its events");
    }
    for tenant in &report.added {
        // Counted once its queue is declared and bound, so that an operator (or a test)
        // who sees "applied" can publish to the tenant and be sure the event is routed.
        if let Some(slot) = registry.slot(tenant) {
            // Its queue exists from here on; `reconcile` below starts its consumer where
            // this daemon processes the tenant.
            w.session.declare_tenant(&slot.tenant).await?;
            tracing::info!(tenant = %tenant, "bundle added: its queue is declared");
        }
        m.bundle_reloads_total
            .with_label_values(&[tenant.as_str(), "applied"])
            .inc();
    }
    reconcile(shared, registry, ownership, w).await?;
    shared.health.set_bundles_loaded(registry.slots().len());
    Ok(())
}
