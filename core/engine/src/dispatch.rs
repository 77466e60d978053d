//! Dispatch: the one place where an accepted event meets the tenants' plugins.
//!
//! Owns the path envelope → tenant → subscribed plugins in bundle order → commands
//! (CONTRACT §3: deterministic ids, `causationid`, only granted types), and the shape of a
//! plugin run's [`Outcome`]. It knows bundles and the sandbox but no transport and no
//! store: the pipeline ([`crate::pipeline`]) dispatches every event and applies every
//! outcome, for whichever driver runs it.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Map, Value};

use crate::sandbox::{
    CommandDecision, EventView, PluginFailure, PluginOutput, PrepareError, PreparedPlugin, Sandbox,
    TenantQuota, TenantScope, TimerDecision,
};
use crate::state::{StateStore, StateWrites, Timer};
use crate::tenants::{self, Bundle, BundleError, FailurePolicy, Fallback};
pub use leitstand_contract::command::{
    Command, HTTP_RESPONSE, PluginSource, TIMER_FIRED, command_id, routing_key_tenant,
};
use leitstand_contract::envelope::{Envelope, RejectReason, Rejection, TenantId};
use leitstand_metrics::Refusal;

/// One plugin's failure on one event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FailedPlugin {
    /// The plugin's name.
    pub plugin: String,
    /// What went wrong.
    pub failure: PluginFailure,
}

/// What one successful plugin changes besides its commands.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Effects {
    /// State writes, to commit with the event.
    pub writes: StateWrites,
    /// Timers to set.
    pub set_timers: Vec<TimerDecision>,
    /// Timers to cancel.
    pub cancel_timers: Vec<String>,
}

/// Everything dispatching one event produced.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Outcome {
    /// Commands of the plugins that succeeded, in bundle order, then output order.
    pub commands: Vec<Command>,
    /// Plugins that failed; their commands, writes and timers are dropped.
    pub failures: Vec<FailedPlugin>,
    /// Effects per successful plugin, by plugin name.
    pub effects: BTreeMap<String, Effects>,
    /// How many plugins ran.
    pub invoked: usize,
    /// Plugins that failed and whose bundle fallback command was emitted in their place.
    pub fallbacks: Vec<String>,
    /// How long each plugin call took (host time, instantiation to checked output), in
    /// bundle order; a retried plugin appears once per call.
    pub durations: Vec<(String, std::time::Duration)>,
    /// Calls repeated under a plugin's `retry` policy.
    pub retries: usize,
}

/// A tenant with its bundle and its prepared plugins.
pub struct TenantRuntime {
    /// The validated bundle.
    pub bundle: Arc<Bundle>,
    plugins: Vec<PreparedPlugin>,
    scope: TenantScope,
    /// Consecutive failures and quarantine per plugin, by name. A new runtime (a reloaded
    /// bundle) starts with every plugin switched on.
    breakers: Mutex<BTreeMap<String, Breaker>>,
}

/// One plugin's run of failures and its quarantine.
#[derive(Debug, Clone, Default)]
struct Breaker {
    /// Failed events in a row.
    consecutive: u32,
    /// Switched off until then.
    until: Option<Instant>,
    /// The next quarantine's length (doubling from the policy's backoff).
    next_backoff: Option<Duration>,
}

/// A plugin's quarantine as the daemon exports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuarantineState {
    /// The plugin.
    pub plugin: String,
    /// Whether it is switched off now.
    pub quarantined: bool,
    /// Failed events in a row.
    pub consecutive_failures: u32,
}

impl TenantRuntime {
    /// Prepares every plugin of `bundle`; the error names the plugin's key in the manifest.
    pub fn prepare(
        bundle: Bundle,
        sandbox: &Sandbox,
        state: Arc<dyn StateStore>,
    ) -> Result<Self, BundleError> {
        let tz = bundle.timezone.name();
        let mut plugins = Vec::with_capacity(bundle.plugins.len());
        for spec in &bundle.plugins {
            let calendars = bundle.service.calendars.clone();
            let prepared = sandbox
                .prepare(spec, &bundle.tenant, tz, calendars)
                .map_err(|e| {
                    let key = match &e {
                        PrepareError::Component(_) => "wasm",
                        PrepareError::Config(_) => "config",
                        PrepareError::Limits(_) => "limits",
                        PrepareError::Capability(_) => "capabilities",
                    };
                    BundleError::new(
                        &bundle.manifest,
                        Some(format!("plugins.{}.{key}", spec.name)),
                        e.to_string(),
                    )
                })?;
            plugins.push(prepared);
        }
        let scope = TenantScope {
            tenant: bundle.tenant.clone(),
            timezone: Arc::from(tz),
            state,
            quota: Arc::new(TenantQuota::new(bundle.limits)),
            calendars: bundle.service.calendars.clone(),
        };
        Ok(Self {
            bundle: Arc::new(bundle),
            plugins,
            scope,
            breakers: Mutex::new(BTreeMap::new()),
        })
    }
}

impl TenantRuntime {
    /// Runs every plugin of this tenant that subscribes to the event's type, in bundle
    /// order. `routing_tenant` is the tenant named by the transport (the routing key's
    /// first segment), when there is one; the event must belong to this tenant.
    pub fn dispatch(
        &self,
        sandbox: &Sandbox,
        env: &Envelope,
        routing_tenant: Option<&str>,
    ) -> Result<Outcome, Rejection> {
        check_tenant(env, routing_tenant)?;
        self.check_own(env)?;
        Ok(run(sandbox, self, &self.scope, env, self.subscribers(env)))
    }

    /// [`Self::dispatch`], with plugins reading their state from `state` instead of the
    /// store the runtime was prepared with: the daemon passes a batch's view, which sees
    /// the writes of the batch's earlier events before they are committed.
    pub fn dispatch_in(
        &self,
        sandbox: &Sandbox,
        env: &Envelope,
        routing_tenant: Option<&str>,
        state: Arc<dyn StateStore>,
    ) -> Result<Outcome, Rejection> {
        check_tenant(env, routing_tenant)?;
        self.check_own(env)?;
        let scope = self.scope_with(state);
        Ok(run(sandbox, self, &scope, env, self.subscribers(env)))
    }

    /// The plugins subscribed to the event's type, in bundle order. An `http.response`
    /// goes to the plugin whose `http.post` it answers (named by its source) alone.
    fn subscribers<'a>(&'a self, env: &'a Envelope) -> impl Iterator<Item = &'a PreparedPlugin> {
        let answers = (env.event_type == HTTP_RESPONSE).then(|| {
            PluginSource::parse(&env.source)
                .filter(|s| s.tenant == self.bundle.tenant)
                .map(|s| s.plugin)
                .unwrap_or_default()
        });
        self.plugins
            .iter()
            .zip(&self.bundle.plugins)
            .filter(move |(_, spec)| match &answers {
                Some(plugin) => spec.name == *plugin,
                None => spec.subscribe.contains(&env.event_type),
            })
            .map(|(p, _)| p)
    }

    /// Delivers a due timer of this tenant to the plugin that set it, as a `timer.fired`
    /// event.
    pub fn fire(&self, sandbox: &Sandbox, timer: &Timer) -> (Envelope, Outcome) {
        self.fire_in(sandbox, timer, self.scope.state.clone())
    }

    /// [`Self::fire`], with plugins reading their state from `state`.
    pub fn fire_in(
        &self,
        sandbox: &Sandbox,
        timer: &Timer,
        state: Arc<dyn StateStore>,
    ) -> (Envelope, Outcome) {
        let env = timer_event(timer);
        let scope = self.scope_with(state);
        let targets = self.plugins.iter().filter(|p| p.name() == timer.plugin);
        let outcome = run(sandbox, self, &scope, &env, targets);
        (env, outcome)
    }

    fn scope_with(&self, state: Arc<dyn StateStore>) -> TenantScope {
        TenantScope {
            tenant: self.scope.tenant.clone(),
            timezone: self.scope.timezone.clone(),
            state,
            quota: self.scope.quota.clone(),
            calendars: self.scope.calendars.clone(),
        }
    }

    /// Each plugin's quarantine now, in bundle order.
    pub fn quarantine(&self) -> Vec<QuarantineState> {
        let breakers = self.breakers.lock().unwrap_or_else(PoisonError::into_inner);
        let now = Instant::now();
        self.bundle
            .plugins
            .iter()
            .map(|p| {
                let b = breakers.get(&p.name);
                QuarantineState {
                    plugin: p.name.clone(),
                    quarantined: b.and_then(|b| b.until).is_some_and(|until| until > now),
                    consecutive_failures: b.map_or(0, |b| b.consecutive),
                }
            })
            .collect()
    }

    /// Lifts `plugin`'s quarantine now, as an operator asks when its cause is mended:
    /// its failures in a row and its backoff start again from nothing. Returns whether it
    /// was switched off; `None` when the bundle has no such plugin.
    pub fn release(&self, plugin: &str) -> Option<bool> {
        if !self.bundle.plugins.iter().any(|p| p.name == plugin) {
            return None;
        }
        let mut breakers = self.breakers.lock().unwrap_or_else(PoisonError::into_inner);
        let was = breakers
            .remove(plugin)
            .and_then(|b| b.until)
            .is_some_and(|until| until > Instant::now());
        if was {
            tracing::info!(
                tenant = %self.bundle.tenant,
                plugin = %plugin,
                "plugin back in service: its quarantine was lifted by an operator"
            );
        }
        Some(was)
    }

    /// Why `plugin` is not to be called now, when it is quarantined.
    fn switched_off(&self, plugin: &str) -> Option<PluginFailure> {
        let breakers = self.breakers.lock().unwrap_or_else(PoisonError::into_inner);
        let b = breakers.get(plugin)?;
        let until = b.until?;
        let left = until.checked_duration_since(Instant::now())?;
        Some(PluginFailure::Quarantined(format!(
            "switched off after {} failed events in a row, for {} s more",
            b.consecutive,
            left.as_secs() + 1
        )))
    }

    /// Records one event's result of `spec`'s plugin: a success switches it on again, the
    /// policy's number of failures in a row switches it off.
    fn record(&self, spec: &tenants::PluginSpec, failed: bool) {
        let mut breakers = self.breakers.lock().unwrap_or_else(PoisonError::into_inner);
        let b = breakers.entry(spec.name.clone()).or_default();
        let policy = spec.quarantine;
        if !failed {
            if b.until.take().is_some() || b.consecutive >= policy.after_failures {
                tracing::info!(
                    tenant = %self.bundle.tenant,
                    plugin = %spec.name,
                    "plugin back in service after its quarantine"
                );
            }
            *b = Breaker::default();
            return;
        }
        b.consecutive = b.consecutive.saturating_add(1);
        if b.consecutive < policy.after_failures {
            return;
        }
        let backoff = b
            .next_backoff
            .unwrap_or(Duration::from_secs(policy.backoff_seconds));
        b.until = Some(Instant::now() + backoff);
        b.next_backoff = Some((backoff * 2).min(Duration::from_secs(policy.max_backoff_seconds)));
        tracing::warn!(
            tenant = %self.bundle.tenant,
            plugin = %spec.name,
            failures = b.consecutive,
            backoff_seconds = backoff.as_secs(),
            "plugin quarantined: switched off after failing events in a row"
        );
    }

    fn check_own(&self, env: &Envelope) -> Result<(), Rejection> {
        if env.tenant == self.bundle.tenant {
            return Ok(());
        }
        Err(Rejection::new(
            RejectReason::TenantMismatch,
            format!(
                "the event names tenant {:?}, it arrived for tenant {:?}",
                env.tenant.as_str(),
                self.bundle.tenant.as_str()
            ),
        ))
    }

    /// What `plugin` of this tenant does with the events it fails on.
    pub fn failure_policy(&self, plugin: &str) -> FailurePolicy {
        self.bundle
            .plugins
            .iter()
            .find(|p| p.name == plugin)
            .map_or(FailurePolicy::DeadLetter, |p| p.on_failure)
    }
}

/// Routes events to the plugins of their tenant.
pub struct Dispatcher {
    sandbox: Arc<Sandbox>,
    tenants: BTreeMap<TenantId, Arc<TenantRuntime>>,
}

impl Dispatcher {
    /// Loads and prepares every bundle under `path`. All errors are returned, not just the
    /// first, so `bundle check` can list them at once.
    pub fn load(
        path: &Path,
        sandbox: Arc<Sandbox>,
        state: Arc<dyn StateStore>,
    ) -> Result<Self, Vec<BundleError>> {
        let tenants = prepare_all(path, &sandbox, &state)?;
        Ok(Self { sandbox, tenants })
    }

    /// Prepares the given bundles (the plugin test harness builds its bundle in memory).
    /// All errors are returned, not just the first.
    pub fn from_bundles(
        bundles: Vec<Bundle>,
        sandbox: Arc<Sandbox>,
        state: Arc<dyn StateStore>,
    ) -> Result<Self, Vec<BundleError>> {
        let tenants = prepare_bundles(bundles, &sandbox, &state)?;
        Ok(Self { sandbox, tenants })
    }

    /// The loaded tenants' bundles, by tenant id.
    pub fn bundles(&self) -> impl Iterator<Item = &Arc<Bundle>> {
        self.tenants.values().map(|t| &t.bundle)
    }

    /// The bundle of `tenant`, if loaded.
    pub fn bundle(&self, tenant: &TenantId) -> Option<&Arc<Bundle>> {
        self.tenants.get(tenant).map(|t| &t.bundle)
    }

    /// The prepared tenants, by tenant id.
    pub fn runtimes(&self) -> &BTreeMap<TenantId, Arc<TenantRuntime>> {
        &self.tenants
    }

    /// The sandbox the plugins run in.
    pub fn sandbox(&self) -> &Arc<Sandbox> {
        &self.sandbox
    }

    /// Runs every plugin of the event's tenant that subscribes to its type, in bundle
    /// order. `routing_tenant` is the tenant named by the transport (the routing key's
    /// first segment), when there is one.
    pub fn dispatch(
        &self,
        env: &Envelope,
        routing_tenant: Option<&str>,
    ) -> Result<Outcome, Rejection> {
        check_tenant(env, routing_tenant)?;
        self.runtime(&env.tenant)?
            .dispatch(&self.sandbox, env, routing_tenant)
    }

    /// Delivers a due timer to the plugin that set it, as a `timer.fired` event.
    pub fn fire(&self, timer: &Timer) -> Result<(Envelope, Outcome), Rejection> {
        Ok(self.runtime(&timer.tenant)?.fire(&self.sandbox, timer))
    }

    /// [`Self::dispatch`], with plugins reading their state from `state` (a batch's view).
    pub fn dispatch_in(
        &self,
        env: &Envelope,
        routing_tenant: Option<&str>,
        state: Arc<dyn StateStore>,
    ) -> Result<Outcome, Rejection> {
        check_tenant(env, routing_tenant)?;
        self.runtime(&env.tenant)?
            .dispatch_in(&self.sandbox, env, routing_tenant, state)
    }

    /// [`Self::fire`], with plugins reading their state from `state` (a batch's view).
    pub fn fire_in(
        &self,
        timer: &Timer,
        state: Arc<dyn StateStore>,
    ) -> Result<(Envelope, Outcome), Rejection> {
        Ok(self
            .runtime(&timer.tenant)?
            .fire_in(&self.sandbox, timer, state))
    }

    fn runtime(&self, tenant: &TenantId) -> Result<&TenantRuntime, Rejection> {
        self.tenants.get(tenant).map(|rt| &**rt).ok_or_else(|| {
            Rejection::new(
                RejectReason::UnknownTenant,
                format!("no bundle is loaded for tenant {:?}", tenant.as_str()),
            )
        })
    }
}

/// Loads and prepares every bundle under `path`, by tenant id. All errors are returned,
/// not just the first.
pub fn prepare_all(
    path: &Path,
    sandbox: &Sandbox,
    state: &Arc<dyn StateStore>,
) -> Result<BTreeMap<TenantId, Arc<TenantRuntime>>, Vec<BundleError>> {
    prepare_bundles(tenants::load_all(path)?, sandbox, state)
}

fn prepare_bundles(
    bundles: Vec<Bundle>,
    sandbox: &Sandbox,
    state: &Arc<dyn StateStore>,
) -> Result<BTreeMap<TenantId, Arc<TenantRuntime>>, Vec<BundleError>> {
    let mut tenants = BTreeMap::new();
    let mut errors = Vec::new();
    for bundle in bundles {
        match TenantRuntime::prepare(bundle, sandbox, state.clone()) {
            Ok(rt) => {
                tenants.insert(rt.bundle.tenant.clone(), Arc::new(rt));
            }
            Err(e) => errors.push(e),
        }
    }
    if errors.is_empty() {
        Ok(tenants)
    } else {
        Err(errors)
    }
}

/// Refuses an event whose routing key names another tenant than the event does.
fn check_tenant(env: &Envelope, routing_tenant: Option<&str>) -> Result<(), Rejection> {
    match routing_tenant {
        Some(routed) if routed != env.tenant.as_str() => Err(Rejection::new(
            RejectReason::TenantMismatch,
            format!(
                "routing key names tenant {routed:?}, the event names {:?}",
                env.tenant.as_str()
            ),
        )),
        _ => Ok(()),
    }
}

fn run<'a>(
    sandbox: &Sandbox,
    rt: &TenantRuntime,
    scope: &TenantScope,
    env: &Envelope,
    targets: impl Iterator<Item = &'a PreparedPlugin>,
) -> Outcome {
    let view = EventView::of(env);
    let time = env.time.to_rfc3339_opts(SecondsFormat::Millis, true);
    let mut outcome = Outcome::default();
    for plugin in targets {
        let Some(spec) = rt.bundle.plugins.iter().find(|p| p.name == plugin.name()) else {
            continue;
        };
        let result = match rt.switched_off(plugin.name()) {
            Some(off) => Err(off),
            None => {
                let result = invoke(sandbox, plugin, spec, scope, &view, &mut outcome);
                let result = result.and_then(|out| rearms_later(env, out));
                let result = result.and_then(|out| {
                    let limit = rt.bundle.limits.commands_per_event;
                    if outcome.commands.len() + out.commands.len() > limit {
                        sandbox.metrics().refused(
                            Refusal::Quota,
                            &rt.bundle.tenant,
                            plugin.name(),
                            "commands-per-event",
                        );
                        return Err(PluginFailure::QuotaExceeded(format!(
                            "the tenant's plugins may emit at most {limit} commands per event"
                        )));
                    }
                    Ok(out)
                });
                // A store failure is not the plugin's; it neither counts nor resets.
                if !matches!(result, Err(PluginFailure::StateUnavailable(_))) {
                    rt.record(spec, result.is_err());
                }
                result
            }
        };
        match result {
            Ok(out) => {
                let source = PluginSource::new(&rt.bundle.tenant, plugin.name()).to_string();
                for (position, c) in out.commands.into_iter().enumerate() {
                    outcome
                        .commands
                        .push(command(env, &source, &time, plugin.name(), position, c));
                }
                outcome.effects.insert(
                    plugin.name().to_owned(),
                    Effects {
                        writes: out.writes,
                        set_timers: out.set_timers,
                        cancel_timers: out.cancel_timers,
                    },
                );
            }
            Err(failure) => {
                // A store failure is retried with the whole batch; no fail-open for it.
                let fallback = spec
                    .fallback
                    .as_ref()
                    .filter(|_| !matches!(failure, PluginFailure::StateUnavailable(_)))
                    .and_then(|f| fallback_command(f, env));
                if let Some(c) = fallback {
                    let source = PluginSource::new(&rt.bundle.tenant, plugin.name()).to_string();
                    outcome
                        .commands
                        .push(command(env, &source, &time, plugin.name(), 0, c));
                    outcome.fallbacks.push(plugin.name().to_owned());
                }
                outcome.failures.push(FailedPlugin {
                    plugin: plugin.name().to_owned(),
                    failure,
                });
            }
        }
    }
    outcome
}

/// A timer set while handling a `timer.fired` must be due after the timer that fired: one
/// due at the same instant or earlier would fire again before any later event, and again,
/// without end in event time.
fn rearms_later(env: &Envelope, out: PluginOutput) -> Result<PluginOutput, PluginFailure> {
    if env.event_type != TIMER_FIRED {
        return Ok(out);
    }
    let fired = env.time.timestamp_millis();
    match out.set_timers.iter().find(|t| t.at_ms <= fired) {
        Some(t) => Err(PluginFailure::BadOutput(format!(
            "set-timers: timer {:?} is due at {} ms, not after the timer that fired ({} ms); re-armed so it would fire without end",
            t.name, t.at_ms, fired
        ))),
        None => Ok(out),
    }
}

/// Calls `plugin` on one event, again up to its `retries` when its policy is to retry
/// and the failure is its own; records every call's duration.
fn invoke(
    sandbox: &Sandbox,
    plugin: &PreparedPlugin,
    spec: &tenants::PluginSpec,
    scope: &TenantScope,
    view: &EventView,
    outcome: &mut Outcome,
) -> Result<PluginOutput, PluginFailure> {
    let attempts = match spec.on_failure {
        FailurePolicy::Retry => 1 + spec.retries,
        _ => 1,
    };
    let mut attempt = 0;
    loop {
        attempt += 1;
        outcome.invoked += 1;
        let started = Instant::now();
        let result = sandbox.invoke(plugin, scope, view);
        outcome
            .durations
            .push((plugin.name().to_owned(), started.elapsed()));
        match result {
            Err(PluginFailure::StateUnavailable(e)) => {
                return Err(PluginFailure::StateUnavailable(e));
            }
            Err(failure) if attempt < attempts => {
                tracing::debug!(
                    tenant = %scope.tenant,
                    plugin = plugin.name(),
                    attempt,
                    kind = failure.kind(),
                    "plugin failed; calling it again"
                );
                outcome.retries += 1;
            }
            other => return other,
        }
    }
}

/// The bundle's fallback command for `env`, when the fallback applies to it: the fixed
/// data, the copied fields, the event's subject.
fn fallback_command(f: &Fallback, env: &Envelope) -> Option<CommandDecision> {
    if !f.events.contains(&env.event_type) {
        return None;
    }
    let matches = f
        .when
        .iter()
        .all(|(field, want)| match env.data.get(field) {
            Some(have) => have == want,
            // CONTRACT §2: a call's priority is `normal` when absent.
            None => field == "priority" && want.as_str() == Some("normal"),
        });
    if !matches {
        return None;
    }
    let mut data = f.data.clone();
    for field in &f.copy {
        if let Some(v) = env.data.get(field) {
            data.insert(field.clone(), v.clone());
        }
    }
    Some(CommandDecision {
        command_type: f.command_type.clone(),
        subject: env.subject.clone(),
        data,
    })
}

fn command(
    env: &Envelope,
    source: &str,
    time: &str,
    plugin: &str,
    position: usize,
    c: CommandDecision,
) -> Command {
    Command {
        specversion: "1.0".to_owned(),
        id: command_id(&env.source, &env.id, plugin, position),
        source: source.to_owned(),
        command_type: c.command_type,
        tenant: env.tenant.to_string(),
        time: time.to_owned(),
        causationid: env.id.clone(),
        subject: c.subject,
        datacontenttype: "application/json".to_owned(),
        data: c.data,
    }
}

/// The `timer.fired` event for a due timer. Its id is a function of the timer's name and
/// due time, so a redelivered firing is recognised as a duplicate.
pub fn timer_event(timer: &Timer) -> Envelope {
    let payload = serde_json::from_str(&timer.payload).unwrap_or(Value::Null);
    let mut data = Map::new();
    data.insert("name".into(), Value::String(timer.name.clone()));
    data.insert("payload".into(), payload);
    Envelope {
        id: format!("timer/{}/{}", timer.name, timer.at_ms),
        source: PluginSource::new(&timer.tenant, &timer.plugin).to_string(),
        event_type: TIMER_FIRED.to_owned(),
        tenant: timer.tenant.clone(),
        time: DateTime::<Utc>::from_timestamp_millis(timer.at_ms).unwrap_or_default(),
        subject: Some(timer.name.clone()),
        data,
        domain: None,
    }
}
