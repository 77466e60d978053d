//! The wasm sandbox: compiles tenants' plugins once, and runs each event in a fresh
//! instance bounded by CPU time, wall-clock time and memory — or, for a plugin of the
//! contract 0.3.0, in an instance prepared once with its configuration and kept warm for
//! its next events, each set up as a fresh instance would be (ADR 0020).
//!
//! Owns the wasmtime engine (component model, pooling allocator, epoch interruption driven
//! by a ticker thread), the compiled-code cache keyed by wasm digest, the deny-by-default
//! WASI context and the classification of failures. It never touches the transport or the
//! durable store: it reads state through [`StateStore`] and returns buffered writes.
//!
//! It serves every released version of the plugin contract ([`Contract`]): a component is
//! prepared with the bindings of the version its imports name, and runs under the same
//! limits, capabilities and failure kinds whichever it is.

mod host;
mod quota;
mod stdio;

pub use quota::TenantQuota;

/// The host's bindings, one module per released contract version. The versions share the
/// `types` interface (0.2.0's and 0.3.0's are 0.1.0's, unchanged), so events, decisions and errors are
/// one set of Rust types whichever version a plugin was built against.
#[allow(missing_docs, clippy::all)]
mod bindings {
    /// `leitstand:plugin@0.1.0`, frozen.
    pub mod v0_1 {
        wasmtime::component::bindgen!({
            world: "plugin",
            path: "../../wit/plugin@0.1.0",
            imports: { default: trappable },
        });
    }

    /// `leitstand:plugin@0.2.0`: 0.1.0 and the tenant's calendars.
    pub mod v0_2 {
        wasmtime::component::bindgen!({
            world: "plugin",
            path: "../../wit/plugin@0.2.0",
            imports: { default: trappable },
            with: { "leitstand:plugin/types": super::v0_1::leitstand::plugin::types },
        });
    }

    /// `leitstand:plugin@0.3.0`: 0.2.0's imports; the configuration prepared once per
    /// instance (`prepare`), then events handled one by one (`handle`).
    pub mod v0_3 {
        wasmtime::component::bindgen!({
            world: "plugin",
            path: "../../wit/plugin@0.3.0",
            imports: { default: trappable },
            with: { "leitstand:plugin/types": super::v0_1::leitstand::plugin::types },
        });
    }
}

use std::collections::HashMap;
use std::fmt;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::thread::JoinHandle;
use std::time::Duration;

use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use wasmtime::component::{Component, HasSelf, Linker, ResourceTable};
use wasmtime::{Engine, Store, Trap, UpdateDeadline};

use self::bindings::v0_1::leitstand::plugin::types as wit;
use self::host::{Abort, Budget, CallWorld, HostState, MemoryLimit, Scope};
use self::stdio::BoundedOutput;
use crate::state::{StateError, StateStore, StateWrites};
use crate::tenants::{Calendars, Capability, PluginLimits, PluginSpec, WasmDigest};
use leitstand_contract::envelope::{Envelope, TenantId};
use leitstand_metrics::{CustomMetrics, InstanceOutcome, Refusal};

/// How the sandbox is set up; the `[sandbox]` section of the daemon's configuration.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SandboxConfig {
    /// How many plugin instances may exist at once (slots of the pooling allocator).
    pub pool_instances: u32,
    /// The largest memory any plugin may be granted, in MiB; a bundle asking for more is
    /// refused.
    pub max_memory_mib: u64,
    /// How often the epoch ticker checks running calls' budgets, in milliseconds.
    pub tick_ms: u64,
    /// A directory for the on-disk cache of compiled plugin code, keyed by the wasm's
    /// digest and the engine's settings, so that a second start compiles nothing. Default:
    /// `$XDG_CACHE_HOME/leitstand/compiled`, else `~/.cache/leitstand/compiled`; an empty
    /// path (`compile_cache = ""`) keeps compiled code in memory only.
    pub compile_cache: Option<PathBuf>,
    /// Writes `/tmp/perf-PID.map` naming the compiled plugin functions, so that `perf`
    /// profiles of the daemon or a replay show where a plugin spends its time. Default off.
    pub perf_map: bool,
    /// Bytes of each instance slot's linear memory kept mapped between events and reset
    /// in place, instead of being unmapped and faulted in again for the next event. On
    /// Linux ≥ 6.7 only pages the instance touched are reset.
    pub keep_resident_kib: u64,
    /// How many tenants' batches may run their plugins at once; 0 means one per CPU core.
    /// When more tenants wait, the one that has used the least sandbox time goes first.
    pub slots: usize,
    /// How many cores' worth of CPU the plugins of busy tenants may take together while
    /// more than one tenant is busy, each tenant an equal part; 0 means one core fewer
    /// than the machine has (at least one), which leaves a core to the broker connection,
    /// the store and the relay. A tenant alone is not held back.
    pub plugin_cores: f64,
    /// How much nicer (lower CPU priority, 0 to 19) a tenant's batch runs while the tenant
    /// is over its part of `plugin_cores`, so that the CPU it takes is what its neighbours
    /// and the broker leave; 0 runs it at the daemon's priority. Its plugins' CPU limits
    /// are unchanged; their wall-clock limits bound how long they can be kept waiting.
    pub yield_nice: u8,
    /// About how much sandbox time one batch of a tenant may take before the next
    /// tenant's turn, in milliseconds: batches are cut to fit it.
    pub slice_ms: u64,
    /// How many prepared instances of plugins built against contract 0.3.0 are kept for
    /// their plugins' next events, so that a plugin prepares its configuration once instead
    /// of for every event (at most half of `pool_instances`); 0 gives every event a fresh
    /// instance, prepared for it alone.
    pub warm_instances: usize,
}

impl Default for SandboxConfig {
    fn default() -> Self {
        Self {
            pool_instances: 64,
            max_memory_mib: 256,
            tick_ms: 5,
            compile_cache: default_compile_cache(),
            perf_map: false,
            keep_resident_kib: 2048,
            slots: 0,
            plugin_cores: 0.0,
            yield_nice: 5,
            slice_ms: 20,
            warm_instances: 16,
        }
    }
}

impl SandboxConfig {
    /// The number of slots: `slots`, or one per CPU core when it is 0.
    pub fn slots(&self) -> usize {
        if self.slots > 0 {
            return self.slots;
        }
        cores()
    }

    /// The plugins' CPU budget while tenants compete: `plugin_cores`, or one core fewer
    /// than the machine has (at least one) when it is 0.
    pub fn plugin_cores(&self) -> f64 {
        if self.plugin_cores > 0.0 {
            return self.plugin_cores;
        }
        cores().saturating_sub(1).max(1) as f64
    }
}

/// The per-user cache directory of compiled plugin code, when the user has a home.
fn default_compile_cache() -> Option<PathBuf> {
    let base = std::env::var_os("XDG_CACHE_HOME")
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
        .or_else(|| {
            std::env::var_os("HOME")
                .filter(|d| !d.is_empty())
                .map(|h| PathBuf::from(h).join(".cache"))
        })?;
    Some(base.join("leitstand").join("compiled"))
}

/// The machine's CPU cores as the process may use them (at least one).
pub fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)
}

/// Why a plugin failed on one event. Only that plugin's result for that event is lost.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PluginFailure {
    /// The call ran over its CPU or wall-clock limit.
    #[error("timeout: {0}")]
    Timeout(String),
    /// The instance asked for more memory than its limit.
    #[error("out-of-memory: {0}")]
    OutOfMemory(String),
    /// The plugin trapped (a panic, a stack overflow, any other trap).
    #[error("guest-panic: {0}")]
    GuestPanic(String),
    /// The plugin returned decisions the host refuses (an ungranted command type, data
    /// that is not a JSON object, too many commands, ...).
    #[error("bad-output: {0}")]
    BadOutput(String),
    /// The plugin itself returned an error.
    #[error("plugin-error: {0}")]
    Refused(PluginError),
    /// The state backend failed; not the plugin's fault, the event should be retried.
    #[error("state-unavailable: {0}")]
    StateUnavailable(String),
    /// The plugin asked for something its bundle does not grant (a capability, a command
    /// type, an endpoint, another tenant) and failed for it.
    #[error("access-denied: {0}")]
    AccessDenied(String),
    /// The plugin ran into a quota of its tenant (state keys or bytes, commands per
    /// event) and failed for it.
    #[error("quota-exceeded: {0}")]
    QuotaExceeded(String),
    /// The plugin is switched off after failing again and again; it was not called.
    #[error("quarantined: {0}")]
    Quarantined(String),
}

impl PluginFailure {
    /// A short, stable name of the kind, for counters and reports.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Timeout(_) => "timeout",
            Self::OutOfMemory(_) => "out-of-memory",
            Self::GuestPanic(_) => "guest-panic",
            Self::BadOutput(_) => "bad-output",
            Self::Refused(_) => "plugin-error",
            Self::StateUnavailable(_) => "state-unavailable",
            Self::AccessDenied(_) => "access-denied",
            Self::QuotaExceeded(_) => "quota-exceeded",
            Self::Quarantined(_) => "quarantined",
        }
    }

    /// Whether the instance itself broke (a trap: out of time, out of memory, a panic),
    /// rather than the plugin or the host saying no.
    fn trapped(&self) -> bool {
        matches!(
            self,
            Self::Timeout(_) | Self::OutOfMemory(_) | Self::GuestPanic(_)
        )
    }
}

/// The error variant of the plugin contract, on the host side.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PluginError {
    /// `invalid-config`.
    #[error("invalid-config: {0}")]
    InvalidConfig(String),
    /// `access-denied`.
    #[error("access-denied: {0}")]
    AccessDenied(String),
    /// `quota-exceeded`.
    #[error("quota-exceeded: {0}")]
    QuotaExceeded(String),
    /// `invalid-event`.
    #[error("invalid-event: {0}")]
    InvalidEvent(String),
    /// `other`.
    #[error("other: {0}")]
    Other(String),
}

impl From<wit::Error> for PluginError {
    fn from(e: wit::Error) -> Self {
        match e {
            wit::Error::InvalidConfig(s) => Self::InvalidConfig(s),
            wit::Error::AccessDenied(s) => Self::AccessDenied(s),
            wit::Error::QuotaExceeded(s) => Self::QuotaExceeded(s),
            wit::Error::InvalidEvent(s) => Self::InvalidEvent(s),
            wit::Error::Other(s) => Self::Other(s),
        }
    }
}

/// Why a plugin could not be prepared from its bundle entry.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PrepareError {
    /// The file is not a usable component (not wasm, wrong world, missing exports).
    #[error("{0}")]
    Component(String),
    /// The plugin refused its configuration, or failed while checking it.
    #[error("{0}")]
    Config(String),
    /// The bundle asks for more than the sandbox allows.
    #[error("{0}")]
    Limits(String),
    /// The component imports an interface the bundle does not grant, or one Leitstand
    /// does not offer.
    #[error("{0}")]
    Capability(String),
}

/// The capabilities a bundle grants one plugin, as a small set.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Caps(u8);

impl Caps {
    /// Every capability: the plugin test harness's default.
    pub const ALL: Self = Self(0b111);

    fn bit(cap: Capability) -> u8 {
        match cap {
            Capability::State => 1,
            Capability::Timers => 2,
            Capability::Metrics => 4,
        }
    }

    /// The set of `caps`.
    pub fn of<'a>(caps: impl IntoIterator<Item = &'a Capability>) -> Self {
        Self(caps.into_iter().fold(0, |acc, c| acc | Self::bit(*c)))
    }

    /// Whether `cap` is granted.
    pub fn has(self, cap: Capability) -> bool {
        self.0 & Self::bit(cap) != 0
    }
}

/// The interfaces a plugin may import, by prefix, and the capability each needs (`None`:
/// always offered). WASI is offered deny-by-default: no files, no network, no environment,
/// the event clock and seeded randomness. Anything else is refused at load.
const IMPORTS: &[(&str, Option<Capability>)] = &[
    ("leitstand:plugin/state@", Some(Capability::State)),
    ("leitstand:plugin/metrics@", Some(Capability::Metrics)),
    ("leitstand:plugin/", None),
    ("wasi:cli/", None),
    ("wasi:io/", None),
    ("wasi:clocks/", None),
    ("wasi:random/", None),
    // Language runtimes (Python's, for one) import these whether they use them or not;
    // the context has no preopened directory and no network, so every call fails.
    ("wasi:filesystem/", None),
    ("wasi:sockets/", None),
];

/// Checks a component's imports against what the bundle grants the plugin: the first
/// import that needs an ungranted capability, or that Leitstand does not offer at all,
/// is named.
pub fn check_imports<'a>(
    imports: impl IntoIterator<Item = &'a str>,
    caps: Caps,
) -> Result<(), String> {
    for name in imports {
        match IMPORTS.iter().find(|(prefix, _)| name.starts_with(prefix)) {
            Some((_, Some(cap))) if !caps.has(*cap) => {
                return Err(format!(
                    "the component imports {name}, but the bundle does not grant the capability {:?} (add it to `capabilities`)",
                    cap.name()
                ));
            }
            Some(_) => {}
            None => {
                return Err(format!(
                    "the component imports {name}, which Leitstand does not offer to plugins"
                ));
            }
        }
    }
    Ok(())
}

/// A released version of the plugin contract, `leitstand:plugin@X.Y.Z` under `wit/`. The
/// sandbox serves each; a component is run by the version its imports name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Contract {
    /// `leitstand:plugin@0.1.0`: state, log, metrics, the event clock.
    V0_1,
    /// `leitstand:plugin@0.2.0`: 0.1.0 and the tenant's calendars (`calendar`).
    V0_2,
    /// `leitstand:plugin@0.3.0`: 0.2.0's imports; the configuration prepared once per
    /// instance (`prepare`), then events handled one by one (`handle`).
    V0_3,
}

impl Contract {
    /// Every version the sandbox serves, oldest first.
    pub const ALL: [Self; 3] = [Self::V0_1, Self::V0_2, Self::V0_3];

    /// The version, `0.1.0`.
    pub fn version(self) -> &'static str {
        match self {
            Self::V0_1 => "0.1.0",
            Self::V0_2 => "0.2.0",
            Self::V0_3 => "0.3.0",
        }
    }

    /// The version a component was built against, read from its imports: every
    /// `leitstand:plugin/…@X.Y.Z` import it has names the same served version. A
    /// component that imports none of the contract's interfaces is told by its exports:
    /// 0.3.0 when it exports `prepare`, else 0.2.0 (whose exports are 0.1.0's).
    pub fn of<'a>(
        imports: impl IntoIterator<Item = &'a str>,
        exports: impl IntoIterator<Item = &'a str>,
    ) -> Result<Self, String> {
        let mut found: Option<(&str, Self)> = None;
        for name in imports {
            let Some(rest) = name.strip_prefix("leitstand:plugin/") else {
                continue;
            };
            let version = rest.split_once('@').map_or("", |(_, v)| v);
            let Some(contract) = Self::ALL.into_iter().find(|c| c.version() == version) else {
                return Err(format!(
                    "the component imports {name}: built against a version of the plugin \
                     contract this daemon does not serve (it serves {})",
                    Self::ALL
                        .map(|c| format!("leitstand:plugin@{}", c.version()))
                        .join(", ")
                ));
            };
            match found {
                Some((first, seen)) if seen != contract => {
                    return Err(format!(
                        "the component imports both {first} and {name}: build it against one \
                         version of the plugin contract"
                    ));
                }
                Some(_) => {}
                None => found = Some((name, contract)),
            }
        }
        Ok(found.map_or_else(
            || {
                if exports.into_iter().any(|e| e == "prepare") {
                    Self::V0_3
                } else {
                    Self::V0_2
                }
            },
            |(_, c)| c,
        ))
    }
}

impl fmt::Display for Contract {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "leitstand:plugin@{}", self.version())
    }
}

/// A component linked against the bindings of its contract version, ready to instantiate.
enum Pre {
    V0_1(bindings::v0_1::PluginPre<HostState>),
    V0_2(bindings::v0_2::PluginPre<HostState>),
    V0_3(bindings::v0_3::PluginPre<HostState>),
}

impl Pre {
    fn contract(&self) -> Contract {
        match self {
            Self::V0_1(_) => Contract::V0_1,
            Self::V0_2(_) => Contract::V0_2,
            Self::V0_3(_) => Contract::V0_3,
        }
    }

    /// A fresh instance's `check-config`.
    fn check_config(
        &self,
        store: &mut Store<HostState>,
        config: &str,
    ) -> wasmtime::Result<Result<(), wit::Error>> {
        match self {
            Self::V0_1(pre) => pre
                .instantiate(&mut *store)?
                .call_check_config(store, config),
            Self::V0_2(pre) => pre
                .instantiate(&mut *store)?
                .call_check_config(store, config),
            Self::V0_3(pre) => pre
                .instantiate(&mut *store)?
                .call_check_config(store, config),
        }
    }

    /// A fresh instance's `handle`, for the versions that take the configuration with
    /// every event. [`Sandbox::invoke`] runs 0.3.0's instances on their own path (prepared
    /// first, then kept warm), so this never sees one.
    fn handle(
        &self,
        store: &mut Store<HostState>,
        config: &str,
        event: &wit::Event,
    ) -> wasmtime::Result<Result<wit::Decisions, wit::Error>> {
        match self {
            Self::V0_1(pre) => pre
                .instantiate(&mut *store)?
                .call_handle(store, config, event),
            Self::V0_2(pre) => pre
                .instantiate(&mut *store)?
                .call_handle(store, config, event),
            Self::V0_3(_) => Err(wasmtime::Error::msg(
                "a plugin of contract 0.3.0 is prepared before it handles an event",
            )),
        }
    }
}

/// A command a plugin decided on, checked against its grants.
#[derive(Debug, Clone, PartialEq)]
pub struct CommandDecision {
    /// The command type.
    pub command_type: String,
    /// The subject, when given.
    pub subject: Option<String>,
    /// The data object.
    pub data: Map<String, Value>,
}

/// A timer a plugin set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimerDecision {
    /// Its name.
    pub name: String,
    /// When it is due (ms since the epoch, event time).
    pub at_ms: i64,
    /// The JSON text handed back when it fires.
    pub payload: String,
}

/// Everything one plugin decided about one event, checked and ready to apply.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct PluginOutput {
    /// Commands in the plugin's order.
    pub commands: Vec<CommandDecision>,
    /// Timers to set.
    pub set_timers: Vec<TimerDecision>,
    /// Timers to cancel, by name.
    pub cancel_timers: Vec<String>,
    /// State writes to commit with the event.
    pub writes: StateWrites,
}

/// An event as the sandbox hands it to plugins, built once per event.
#[derive(Debug, Clone)]
pub struct EventView {
    event: wit::Event,
    seed_base: [u8; 32],
}

/// The JSON text of an object, written without copying it first.
fn json_text(data: &Map<String, Value>) -> String {
    // A map with string keys and JSON values always serialises; the fallback only keeps
    // this path free of panics.
    serde_json::to_string(data).unwrap_or_else(|_| Value::Object(data.clone()).to_string())
}

impl EventView {
    /// The view of `env`.
    pub fn of(env: &Envelope) -> Self {
        Self::new(wit::Event {
            id: env.id.clone(),
            source: env.source.clone(),
            type_: env.event_type.clone(),
            tenant: env.tenant.to_string(),
            subject: env.subject.clone(),
            time: env.time.timestamp_millis(),
            data: json_text(&env.data),
        })
    }

    fn new(event: wit::Event) -> Self {
        let mut h = Sha256::new();
        for part in [&event.source, &event.id] {
            h.update((part.len() as u64).to_le_bytes());
            h.update(part.as_bytes());
        }
        Self {
            seed_base: h.finalize().into(),
            event,
        }
    }

    /// The event time in milliseconds since the epoch.
    pub fn time_ms(&self) -> i64 {
        self.event.time
    }
}

/// Numbers every [`PreparedPlugin`], so that a warm instance is only ever handed the
/// events of the plugin (and configuration) it was prepared for.
static NEXT_PLUGIN: AtomicU64 = AtomicU64::new(0);

/// A plugin compiled and linked, ready to be instantiated per event.
pub struct PreparedPlugin {
    id: u64,
    name: Arc<str>,
    pre: Pre,
    config_json: String,
    limits: PluginLimits,
    grant: std::collections::BTreeSet<String>,
    endpoints: std::collections::BTreeSet<String>,
    caps: Caps,
    digest: WasmDigest,
    /// The sandbox's kept instances, of which this plugin's go with it.
    warm: Weak<WarmPool>,
}

impl Drop for PreparedPlugin {
    /// A plugin gone (its bundle reloaded or removed) takes its kept instances with it,
    /// instead of leaving them to be evicted.
    fn drop(&mut self) {
        if let Some(pool) = self.warm.upgrade() {
            pool.forget(self.id);
        }
    }
}

impl fmt::Debug for PreparedPlugin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PreparedPlugin")
            .field("name", &self.name)
            .field("contract", &self.pre.contract())
            .field("digest", &self.digest.to_string())
            .finish_non_exhaustive()
    }
}

impl PreparedPlugin {
    /// The plugin's name within its tenant.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The version of the plugin contract its component was built against.
    pub fn contract(&self) -> Contract {
        self.pre.contract()
    }
}

/// Stops the epoch ticker when the sandbox goes away.
struct Ticker {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Drop for Ticker {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            // The ticker only sleeps and increments; a panic there has nothing to report.
            let _ = t.join();
        }
    }
}

/// The plugin runtime shared by all tenants.
pub struct Sandbox {
    engine: Engine,
    linker: Linker<HostState>,
    components: Mutex<HashMap<WasmDigest, Component>>,
    config: SandboxConfig,
    metrics: Arc<CustomMetrics>,
    /// Instances of 0.3.0 plugins, prepared and kept for their plugins' next events; the
    /// most recently used last.
    warm: Arc<WarmPool>,
    _ticker: Ticker,
}

/// An instance of a 0.3.0 plugin, prepared with its configuration.
struct Warm {
    /// The [`PreparedPlugin::id`] it was prepared for.
    plugin: u64,
    store: Store<HostState>,
    instance: bindings::v0_3::Plugin,
    /// What of its WASI context is one call's own, set for each call.
    world: CallWorld,
}

/// Instances of 0.3.0 plugins, prepared and kept for their plugins' next events; the most
/// recently used last. Counted for operators in `metrics` (kept, evicted).
struct WarmPool {
    kept: Mutex<Vec<Warm>>,
    metrics: Arc<CustomMetrics>,
    /// How many may be kept: `warm_instances`, at most half the pool's slots.
    max: usize,
}

impl WarmPool {
    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Warm>> {
        self.kept.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The warm instance prepared for plugin `id`, if one is kept.
    fn take(&self, id: u64) -> Option<Warm> {
        if self.max == 0 {
            return None;
        }
        let mut kept = self.lock();
        let at = kept.iter().rposition(|w| w.plugin == id)?;
        let taken = kept.remove(at);
        self.metrics.instances().set_kept(kept.len());
        Some(taken)
    }

    /// Keeps `warm` for its plugin's next event; the least recently used goes when more
    /// than `max` are kept.
    fn keep(&self, warm: Option<Warm>) {
        let Some(warm) = warm.filter(|_| self.max > 0) else {
            return;
        };
        let evicted = {
            let mut kept = self.lock();
            kept.push(warm);
            let evicted = (kept.len() > self.max).then(|| kept.remove(0));
            self.metrics.instances().set_kept(kept.len());
            evicted
        };
        if evicted.is_some() {
            self.metrics.instances().evicted_one();
        }
        // Dropped outside the lock: giving back its slot resets its memory.
        drop(evicted);
    }

    /// Drops the instances kept for plugin `id`, which is gone.
    fn forget(&self, id: u64) {
        let gone: Vec<Warm> = {
            let mut kept = self.lock();
            let gone = kept.extract_if(.., |w| w.plugin == id).collect();
            self.metrics.instances().set_kept(kept.len());
            gone
        };
        // Dropped outside the lock, as in `keep`.
        drop(gone);
    }
}

impl fmt::Debug for Sandbox {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sandbox")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

/// Everything a call needs from the tenant besides the plugin and the event.
#[derive(Clone)]
pub struct TenantScope {
    /// The tenant.
    pub tenant: TenantId,
    /// Its IANA timezone name.
    pub timezone: Arc<str>,
    /// Where its plugins' state lives.
    pub state: Arc<dyn StateStore>,
    /// Its quotas, shared by all its plugins.
    pub quota: Arc<TenantQuota>,
    /// Its calendars, which plugins of contract 0.2.0 and later ask about; `None` when its bundle
    /// declares none.
    pub calendars: Option<Arc<Calendars>>,
}

impl Sandbox {
    /// Builds the engine and starts the epoch ticker.
    pub fn new(config: SandboxConfig, metrics: Arc<CustomMetrics>) -> anyhow::Result<Self> {
        let mut pool = wasmtime::PoolingAllocationConfig::default();
        let slots = config.pool_instances.max(1);
        pool.total_component_instances(slots)
            .total_core_instances(slots.saturating_mul(16))
            .total_memories(slots.saturating_mul(2))
            .total_tables(slots.saturating_mul(16))
            .max_memory_size(usize::try_from(config.max_memory_mib * 1024 * 1024)?)
            // A fresh instance per event makes slot reuse the hot path: reset touched
            // pages in place rather than madvise them away and take page faults again.
            .linear_memory_keep_resident(usize::try_from(config.keep_resident_kib * 1024)?)
            .table_keep_resident(64 * 1024)
            .pagemap_scan(wasmtime::Enabled::Auto)
            .decommit_batch_size(16);
        let mut wc = wasmtime::Config::new();
        wc.wasm_component_model(true)
            .epoch_interruption(true)
            .allocation_strategy(wasmtime::InstanceAllocationStrategy::Pooling(pool))
            .max_wasm_stack(1024 * 1024);
        if config.perf_map {
            wc.profiler(wasmtime::ProfilingStrategy::PerfMap);
        }
        if let Some(dir) = config
            .compile_cache
            .as_ref()
            .filter(|d| !d.as_os_str().is_empty())
        {
            let mut cc = wasmtime::CacheConfig::new();
            cc.with_directory(dir);
            let cache = std::fs::create_dir_all(dir)
                .map_err(|e| anyhow::anyhow!("{e}"))
                .and_then(|()| wasmtime::Cache::new(cc).map_err(|e| anyhow::anyhow!("{e}")));
            match cache {
                Ok(cache) => {
                    wc.cache(Some(cache));
                }
                // The default directory is a convenience: without it, code is compiled at
                // every start, as before.
                Err(e) if config.compile_cache == default_compile_cache() => {
                    tracing::warn!(dir = %dir.display(), error = %e, "no cache of compiled plugin code: it is compiled at every start");
                }
                Err(e) => anyhow::bail!("sandbox.compile_cache {}: {e}", dir.display()),
            }
        }
        let engine = Engine::new(&wc).map_err(|e| anyhow::anyhow!("wasm engine: {e}"))?;

        let mut linker = Linker::<HostState>::new(&engine);
        wasmtime_wasi::p2::add_to_linker_sync(&mut linker)
            .map_err(|e| anyhow::anyhow!("linking WASI: {e}"))?;
        bindings::v0_1::Plugin::add_to_linker::<HostState, HasSelf<HostState>>(&mut linker, |s| s)
            .map_err(|e| anyhow::anyhow!("linking the plugin contract 0.1.0: {e}"))?;
        bindings::v0_2::Plugin::add_to_linker::<HostState, HasSelf<HostState>>(&mut linker, |s| s)
            .map_err(|e| anyhow::anyhow!("linking the plugin contract 0.2.0: {e}"))?;
        bindings::v0_3::Plugin::add_to_linker::<HostState, HasSelf<HostState>>(&mut linker, |s| s)
            .map_err(|e| anyhow::anyhow!("linking the plugin contract 0.3.0: {e}"))?;
        forbid_sleeping(&mut linker).map_err(|e| anyhow::anyhow!("linking WASI clocks: {e}"))?;

        let stop = Arc::new(AtomicBool::new(false));
        let tick = Duration::from_millis(config.tick_ms.max(1));
        let thread = {
            let engine = engine.clone();
            let stop = stop.clone();
            std::thread::Builder::new()
                .name("leitstand-epoch".into())
                .spawn(move || {
                    while !stop.load(Ordering::Relaxed) {
                        std::thread::sleep(tick);
                        engine.increment_epoch();
                    }
                })?
        };
        Ok(Self {
            engine,
            linker,
            components: Mutex::new(HashMap::new()),
            warm: Arc::new(WarmPool {
                kept: Mutex::new(Vec::new()),
                metrics: metrics.clone(),
                max: config
                    .warm_instances
                    .min(usize::try_from(slots / 2).unwrap_or(usize::MAX)),
            }),
            config,
            metrics,
            _ticker: Ticker {
                stop,
                thread: Some(thread),
            },
        })
    }

    /// The custom metrics plugins report into.
    pub fn metrics(&self) -> &Arc<CustomMetrics> {
        &self.metrics
    }

    fn component(&self, spec: &PluginSpec) -> Result<Component, PrepareError> {
        let mut cache = self.components.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(c) = cache.get(&spec.digest) {
            return Ok(c.clone());
        }
        let component = Component::new(&self.engine, &spec.wasm).map_err(|e| {
            PrepareError::Component(format!(
                "{} is not a usable wasm component: {e}",
                spec.wasm_path.display()
            ))
        })?;
        cache.insert(spec.digest, component.clone());
        Ok(component)
    }

    /// Compiles (or takes from the cache) and links a plugin by the contract version its
    /// imports name, then runs its configuration check in a fresh instance, where it can
    /// ask about the tenant's `calendars`.
    pub fn prepare(
        &self,
        spec: &PluginSpec,
        tenant: &TenantId,
        timezone: &str,
        calendars: Option<Arc<Calendars>>,
    ) -> Result<PreparedPlugin, PrepareError> {
        if spec.limits.memory_mib > self.config.max_memory_mib {
            return Err(PrepareError::Limits(format!(
                "memory_mib {} is more than this daemon allows ({})",
                spec.limits.memory_mib, self.config.max_memory_mib
            )));
        }
        let component = self.component(spec)?;
        let caps = Caps::of(&spec.capabilities);
        let ty = component.component_type();
        let imports: Vec<&str> = ty.imports(&self.engine).map(|(name, _)| name).collect();
        let exports = ty.exports(&self.engine).map(|(name, _)| name);
        let contract = Contract::of(imports.iter().copied(), exports)
            .map_err(|e| PrepareError::Component(format!("{}: {e}", spec.wasm_path.display())))?;
        check_imports(imports, caps)
            .map_err(|e| PrepareError::Capability(format!("{}: {e}", spec.wasm_path.display())))?;
        let pre = self.linker.instantiate_pre(&component).map_err(|e| {
            PrepareError::Component(format!(
                "{} does not fit the plugin contract {contract}: {e}",
                spec.wasm_path.display()
            ))
        })?;
        let does_not_export = |e: wasmtime::Error| {
            PrepareError::Component(format!(
                "{} does not export the plugin contract {contract}: {e}",
                spec.wasm_path.display()
            ))
        };
        let pre = match contract {
            Contract::V0_1 => {
                Pre::V0_1(bindings::v0_1::PluginPre::new(pre).map_err(does_not_export)?)
            }
            Contract::V0_2 => {
                Pre::V0_2(bindings::v0_2::PluginPre::new(pre).map_err(does_not_export)?)
            }
            Contract::V0_3 => {
                Pre::V0_3(bindings::v0_3::PluginPre::new(pre).map_err(does_not_export)?)
            }
        };
        let plugin = PreparedPlugin {
            id: NEXT_PLUGIN.fetch_add(1, Ordering::Relaxed),
            name: Arc::from(spec.name.as_str()),
            pre,
            config_json: spec.config.to_string(),
            limits: spec.limits,
            grant: spec.grant.clone(),
            endpoints: spec.endpoints.keys().cloned().collect(),
            caps,
            digest: spec.digest,
            warm: Arc::downgrade(&self.warm),
        };
        let scope = self.checking_scope(&plugin, tenant.clone(), Arc::from(timezone), calendars);
        let (mut store, world) = self.store(&plugin, scope, [0; 32]);
        let checked = plugin.pre.check_config(&mut store, &plugin.config_json);
        match checked {
            Ok(Ok(())) => Ok(plugin),
            Ok(Err(e)) => Err(PrepareError::Config(format!(
                "the plugin refused its configuration: {}",
                PluginError::from(e)
            ))),
            Err(e) => Err(PrepareError::Config(format!(
                "the configuration check failed: {}",
                classify(&store, &world.stderr, e)
            ))),
        }
    }

    fn store(
        &self,
        plugin: &PreparedPlugin,
        scope: Scope,
        seed: [u8; 32],
    ) -> (Store<HostState>, CallWorld) {
        let (state, world) = Self::host_state(plugin, scope, seed);
        let mut store = Store::new(&self.engine, state);
        store.limiter(|s| &mut s.memory);
        store.set_epoch_deadline(1);
        store.epoch_deadline_callback(|mut ctx| match ctx.data_mut().budget.exceeded() {
            Some(abort) => Err(wasmtime::Error::new(abort)),
            None => Ok(UpdateDeadline::Continue(1)),
        });
        (store, world)
    }

    /// What one call sees: its WASI context (event clock, seeded randomness, bounded
    /// output), its budget, its scope and empty buffers; with the world the context
    /// reaches (whose stderr tells why a call trapped).
    fn host_state(plugin: &PreparedPlugin, scope: Scope, seed: [u8; 32]) -> (HostState, CallWorld) {
        let (world, wasi) = CallWorld::new(scope.now_ms, seed, plugin.limits.stdio_bytes);
        let limits = plugin.limits;
        let state = HostState {
            wasi,
            table: ResourceTable::new(),
            memory: MemoryLimit {
                limit: usize::try_from(limits.memory_mib * 1024 * 1024).unwrap_or(usize::MAX),
                hit: None,
                grown: 0,
            },
            budget: Self::budget(plugin),
            scope,
            writes: StateWrites::new(),
            log_used: 0,
            log_dropped: 0,
            state_delta: quota::StateDelta::default(),
            quota_hit: None,
            denied: None,
        };
        (state, world)
    }

    /// A call's budget of `plugin`'s CPU and wall-clock time, from now.
    fn budget(plugin: &PreparedPlugin) -> Budget {
        Budget::start(
            Duration::from_millis(plugin.limits.cpu_ms),
            Duration::from_millis(plugin.limits.wall_ms),
        )
    }

    /// Runs `plugin` on one event and checks what it decided: in a fresh instance, or, for
    /// a plugin of contract 0.3.0, in an instance prepared with its configuration — one
    /// kept from its last event when there is one (`warm_instances`), else a new one.
    pub fn invoke(
        &self,
        plugin: &PreparedPlugin,
        tenant: &TenantScope,
        event: &EventView,
    ) -> Result<PluginOutput, PluginFailure> {
        let mut h = Sha256::new();
        h.update(event.seed_base);
        h.update(plugin.name.as_bytes());
        let seed: [u8; 32] = h.finalize().into();
        let scope = || Scope {
            now_ms: event.event.time,
            state: Some(tenant.state.clone()),
            quota: Some(tenant.quota.clone()),
            ..self.checking_scope(
                plugin,
                tenant.tenant.clone(),
                tenant.timezone.clone(),
                tenant.calendars.clone(),
            )
        };
        let Pre::V0_3(pre) = &plugin.pre else {
            self.metrics.instances().took(InstanceOutcome::Fresh);
            let (mut store, world) = self.store(plugin, scope(), seed);
            let result = plugin
                .pre
                .handle(&mut store, &plugin.config_json, &event.event);
            return settle(
                plugin,
                tenant,
                &self.metrics,
                &mut store,
                &world.stderr,
                result,
            );
        };
        if let Some(warm) = self.warm.take(plugin.id) {
            self.metrics.instances().took(InstanceOutcome::Warm);
            match self.handle_warm(plugin, tenant, warm, scope(), seed, event) {
                (Ok(out), warm) => {
                    self.warm.keep(warm);
                    return Ok(out);
                }
                // The plugin refused the event, or a quota or grant did: that is the
                // event's answer, whichever instance it ran in.
                (Err(failure), _) if !failure.trapped() => return Err(failure),
                // A trap in an instance that handled events before may come from what
                // they left in it: the event gets a fresh instance, as if none were kept.
                (Err(_), _) => {}
            }
        }
        let warm = self.prepared_instance(pre, plugin, tenant)?;
        let (out, warm) = self.handle_warm(plugin, tenant, warm, scope(), seed, event);
        self.warm.keep(warm);
        out
    }

    /// What a call of `plugin` sees while its configuration is checked or prepared: the
    /// tenant's calendars and time zone, no state, no quota, the clock at 0. An event's
    /// call sees this with its time, its tenant's state and its quotas.
    fn checking_scope(
        &self,
        plugin: &PreparedPlugin,
        tenant: TenantId,
        timezone: Arc<str>,
        calendars: Option<Arc<Calendars>>,
    ) -> Scope {
        Scope {
            tenant,
            plugin: plugin.name.clone(),
            timezone,
            now_ms: 0,
            state: None,
            metrics: self.metrics.clone(),
            log_bytes: plugin.limits.log_bytes,
            caps: plugin.caps,
            quota: None,
            calendars,
        }
    }

    /// How many instances of 0.3.0 plugins were prepared (`prepare` called) so far.
    pub fn prepares(&self) -> u64 {
        self.metrics.instances().count(InstanceOutcome::Prepared)
    }

    /// A new instance of a 0.3.0 plugin, prepared with its configuration. `prepare` sees
    /// what `check-config` sees: the calendars and time zone, no state, the clock at 0.
    fn prepared_instance(
        &self,
        pre: &bindings::v0_3::PluginPre<HostState>,
        plugin: &PreparedPlugin,
        tenant: &TenantScope,
    ) -> Result<Warm, PluginFailure> {
        let scope = self.checking_scope(
            plugin,
            tenant.tenant.clone(),
            tenant.timezone.clone(),
            tenant.calendars.clone(),
        );
        let (mut store, world) = self.store(plugin, scope, [0; 32]);
        self.metrics.instances().took(InstanceOutcome::Prepared);
        let instance = pre
            .instantiate(&mut store)
            .map_err(|e| classify(&store, &world.stderr, e))?;
        match instance.call_prepare(&mut store, &plugin.config_json) {
            Ok(Ok(())) => Ok(Warm {
                plugin: plugin.id,
                store,
                instance,
                world,
            }),
            Ok(Err(e)) => Err(PluginFailure::Refused(e.into())),
            Err(e) => Err(classify(&store, &world.stderr, e)),
        }
    }

    /// Runs one event in a prepared instance, set up as a fresh one would be (event clock,
    /// randomness seeded by the event, budget, empty buffers) without building its WASI
    /// context again: the context it was prepared with reaches the call's world, which is
    /// set for this call. The resources the instance holds, and the memory it has, stay
    /// with it. Hands the instance back when it may take the plugin's next event: the call
    /// succeeded and its memory stayed within half the plugin's limit.
    fn handle_warm(
        &self,
        plugin: &PreparedPlugin,
        tenant: &TenantScope,
        mut warm: Warm,
        scope: Scope,
        seed: [u8; 32],
        event: &EventView,
    ) -> (Result<PluginOutput, PluginFailure>, Option<Warm>) {
        warm.world.begin(scope.now_ms, seed);
        warm.store
            .data_mut()
            .begin_call(Self::budget(plugin), scope);
        warm.store.set_epoch_deadline(1);
        let result = warm.instance.call_handle(&mut warm.store, &event.event);
        let out = settle(
            plugin,
            tenant,
            &self.metrics,
            &mut warm.store,
            &warm.world.stderr,
            result,
        );
        let memory = &warm.store.data().memory;
        let keep = out.is_ok() && memory.grown <= memory.limit / 2;
        (out, keep.then_some(warm))
    }
}

/// Turns what a call returned into the plugin's output, checked against its grants and
/// quotas, or into the failure it was.
fn settle(
    plugin: &PreparedPlugin,
    tenant: &TenantScope,
    metrics: &CustomMetrics,
    store: &mut Store<HostState>,
    stderr: &BoundedOutput,
    result: wasmtime::Result<Result<wit::Decisions, wit::Error>>,
) -> Result<PluginOutput, PluginFailure> {
    let data = store.data();
    if data.log_dropped > 0 && data.scope.quota.as_ref().is_none_or(|q| q.tell_drop()) {
        tracing::warn!(
            tenant = %data.scope.tenant,
            plugin = %plugin.name,
            dropped_bytes = data.log_dropped,
            "plugin log over its limit; messages dropped (told once a minute per tenant)"
        );
    }
    let decisions = match result {
        Ok(Ok(d)) => d,
        // A plugin that fails after a quota or a denial fails for that reason.
        Ok(Err(e)) => {
            let data = store.data();
            return Err(if let Some((_, m)) = &data.quota_hit {
                PluginFailure::QuotaExceeded(m.clone())
            } else if let Some((_, m)) = &data.denied {
                PluginFailure::AccessDenied(m.clone())
            } else {
                PluginFailure::Refused(e.into())
            });
        }
        Err(e) => {
            let failure = classify(store, stderr, e);
            let data = store.data();
            return Err(match (&failure, &data.quota_hit, &data.denied) {
                (PluginFailure::GuestPanic(_), Some((_, m)), _) => {
                    PluginFailure::QuotaExceeded(m.clone())
                }
                (PluginFailure::GuestPanic(_), None, Some((_, m))) => {
                    PluginFailure::AccessDenied(m.clone())
                }
                _ => failure,
            });
        }
    };
    let delta = store.data().state_delta;
    let writes = std::mem::take(&mut store.data_mut().writes);
    let out = check_output(plugin, decisions, writes, metrics, &tenant.tenant)?;
    tenant.quota.committed(delta);
    Ok(out)
}

/// Replaces the WASI clock subscriptions with functions that stop the call. A sleeping
/// guest would block its host thread in real time where neither the epoch callback nor the
/// wall-clock check can reach it; plugins wait with timers instead.
fn forbid_sleeping(linker: &mut Linker<HostState>) -> wasmtime::Result<()> {
    use wasmtime::component::Resource;
    use wasmtime_wasi::p2::DynPollable;
    linker.allow_shadowing(true);
    let mut clocks = linker.instance("wasi:clocks/monotonic-clock@0.2.12")?;
    clocks.func_wrap(
        "subscribe-duration",
        |_, (_,): (u64,)| -> wasmtime::Result<(Resource<DynPollable>,)> {
            Err(wasmtime::Error::new(Abort::Sleep))
        },
    )?;
    clocks.func_wrap(
        "subscribe-instant",
        |_, (_,): (u64,)| -> wasmtime::Result<(Resource<DynPollable>,)> {
            Err(wasmtime::Error::new(Abort::Sleep))
        },
    )?;
    linker.allow_shadowing(false);
    Ok(())
}

/// Turns a trap or host abort into a failure kind, with the guest's last words for panics.
fn classify(store: &Store<HostState>, stderr: &BoundedOutput, e: wasmtime::Error) -> PluginFailure {
    if let Some(abort) = store.data().memory.hit.clone() {
        return PluginFailure::OutOfMemory(abort.to_string());
    }
    if let Some(abort) = e.downcast_ref::<Abort>() {
        return match abort {
            Abort::Cpu(_) | Abort::Wall(_) => PluginFailure::Timeout(abort.to_string()),
            Abort::Memory { .. } => PluginFailure::OutOfMemory(abort.to_string()),
            Abort::State(s) => PluginFailure::StateUnavailable(s.to_string()),
            Abort::Sleep => PluginFailure::GuestPanic(abort.to_string()),
        };
    }
    let last_words = last_words(&stderr.take().0)
        .map(|w| format!(" ({w})"))
        .unwrap_or_default();
    match e.downcast_ref::<Trap>() {
        Some(Trap::StackOverflow) => {
            PluginFailure::GuestPanic(format!("stack overflow{last_words}"))
        }
        Some(Trap::UnreachableCodeReached) => {
            PluginFailure::GuestPanic(format!("panic (unreachable executed){last_words}"))
        }
        Some(trap) => PluginFailure::GuestPanic(format!("trap: {trap}{last_words}")),
        None => PluginFailure::GuestPanic(format!("{e}{last_words}")),
    }
}

/// What a guest said before it died: Rust's panic line and the message after it, or else
/// the last non-empty line of its stderr.
fn last_words(stderr: &str) -> Option<String> {
    let lines: Vec<&str> = stderr
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    if let Some(i) = lines.iter().position(|l| l.contains("panicked at")) {
        let message = lines.get(i + 1).copied().unwrap_or_default();
        return Some(format!("{} {message}", lines[i]).trim_end().to_owned());
    }
    lines.last().map(|l| (*l).to_owned())
}

/// A grant of every command type: never from a bundle (`*` is not a type name), only for
/// the plugin test harness, which checks what a plugin emits against its fixture instead.
pub const GRANT_ALL: &str = "*";

/// The largest JSON text a timer payload may have, in bytes.
pub const MAX_TIMER_PAYLOAD_BYTES: usize = 16 * 1024;

/// The largest JSON text of one command's data, in bytes.
pub const MAX_COMMAND_DATA_BYTES: usize = 64 * 1024;

/// The longest command type, in bytes: it becomes the second part of a routing key, which
/// AMQP bounds at 255 bytes with the tenant.
pub const MAX_COMMAND_TYPE_BYTES: usize = 128;

/// The longest subject of a command, in bytes: as long as an inbound attribute may be.
pub const MAX_SUBJECT_BYTES: usize = leitstand_contract::envelope::DEFAULT_MAX_ATTRIBUTE_BYTES;

/// The earliest due time a timer may have: the start of year 0000, the first instant
/// RFC 3339 can write (milliseconds since the epoch).
pub const EARLIEST_TIMER_MS: i64 = -62_167_219_200_000;

/// The latest due time a timer may have: the end of year 9999, the last instant RFC 3339
/// can write (milliseconds since the epoch).
pub const LATEST_TIMER_MS: i64 = 253_402_300_799_999;

/// Whether `t` may be a command type: `[a-z0-9]` words joined by `.`, `-` or `_` — it
/// becomes a routing key segment, where `*` and `#` would be wildcards.
fn command_type_ok(t: &str) -> bool {
    !t.is_empty()
        && t.len() <= MAX_COMMAND_TYPE_BYTES
        && t.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b))
        && !t.starts_with('.')
        && !t.ends_with('.')
        && !t.contains("..")
}

fn check_output(
    plugin: &PreparedPlugin,
    d: wit::Decisions,
    writes: StateWrites,
    metrics: &leitstand_metrics::CustomMetrics,
    tenant: &TenantId,
) -> Result<PluginOutput, PluginFailure> {
    let bad = |s: String| Err(PluginFailure::BadOutput(s));
    let deny = |reason: &'static str, s: String| {
        metrics.refused(Refusal::Denied, tenant, &plugin.name, reason);
        Err(PluginFailure::AccessDenied(s))
    };
    if !plugin.caps.has(Capability::Timers)
        && (!d.set_timers.is_empty() || !d.cancel_timers.is_empty())
    {
        return deny(
            "timers",
            "the plugin set or cancelled timers, but the bundle does not grant the capability \"timers\"".into(),
        );
    }
    if d.commands.len() > plugin.limits.max_commands {
        return bad(format!(
            "{} commands returned, the limit is {}",
            d.commands.len(),
            plugin.limits.max_commands
        ));
    }
    if d.set_timers.len() > plugin.limits.max_timers {
        return bad(format!(
            "{} timers set, the limit is {}",
            d.set_timers.len(),
            plugin.limits.max_timers
        ));
    }
    if d.cancel_timers.len() > plugin.limits.max_timers {
        return bad(format!(
            "cancel-timers: {} timers cancelled, the limit is {}",
            d.cancel_timers.len(),
            plugin.limits.max_timers
        ));
    }
    if let Some((i, name)) = d
        .cancel_timers
        .iter()
        .enumerate()
        .find(|(_, n)| n.is_empty() || n.len() > 256)
    {
        return bad(format!(
            "cancel-timers[{i}]: a timer name must have 1 to 256 bytes, has {}",
            name.len()
        ));
    }
    let mut commands = Vec::with_capacity(d.commands.len());
    for (i, c) in d.commands.into_iter().enumerate() {
        if !command_type_ok(&c.type_) {
            let shown: String = c.type_.chars().take(64).collect();
            return bad(format!(
                "commands[{i}].type {shown:?} is not a command type (1 to {MAX_COMMAND_TYPE_BYTES} bytes of a-z, 0-9 and . - _, dot-separated words)"
            ));
        }
        if let Some(subject) = &c.subject
            && (subject.len() > MAX_SUBJECT_BYTES || subject.chars().any(char::is_control))
        {
            return bad(format!(
                "commands[{i}].subject: {} bytes{}; a subject has at most {MAX_SUBJECT_BYTES} bytes and no control characters",
                subject.len(),
                if subject.chars().any(char::is_control) {
                    " with control characters"
                } else {
                    ""
                }
            ));
        }
        if !plugin.grant.contains(&c.type_) && !plugin.grant.contains(GRANT_ALL) {
            return deny(
                "command-type",
                format!(
                    "command {i} has type {:?}, which the bundle does not grant",
                    c.type_
                ),
            );
        }
        if c.data.len() > MAX_COMMAND_DATA_BYTES {
            return bad(format!(
                "command {i} ({}): data has {} bytes, the limit is {MAX_COMMAND_DATA_BYTES}",
                c.type_,
                c.data.len()
            ));
        }
        let data = match serde_json::from_str::<Value>(&c.data) {
            Ok(Value::Object(map)) => map,
            Ok(_) => {
                return bad(format!(
                    "command {i} ({}): data is not a JSON object",
                    c.type_
                ));
            }
            Err(e) => return bad(format!("command {i} ({}): data is not JSON: {e}", c.type_)),
        };
        // The host sets a command's tenant; a plugin cannot speak for another one.
        if let Some(named) = data.get("tenant")
            && named.as_str() != Some(tenant.as_str())
        {
            return deny(
                "foreign-tenant",
                format!(
                    "command {i} ({}) names tenant {named}, the plugin belongs to {tenant}",
                    c.type_
                ),
            );
        }
        if c.type_ == crate::tenants::HTTP_POST {
            let endpoint = data.get("endpoint").and_then(Value::as_str);
            match endpoint {
                Some(name) if plugin.endpoints.contains(name) => {}
                Some(name) => {
                    return deny(
                        "endpoint",
                        format!(
                            "command {i} (http.post) names endpoint {name:?}, which the bundle does not declare"
                        ),
                    );
                }
                None => return bad(format!("command {i} (http.post) names no endpoint")),
            }
            if !data.contains_key("body") {
                return bad(format!("command {i} (http.post) has no body"));
            }
        }
        commands.push(CommandDecision {
            command_type: c.type_,
            subject: c.subject,
            data,
        });
    }
    let mut set_timers = Vec::with_capacity(d.set_timers.len());
    for t in d.set_timers {
        if t.name.is_empty() || t.name.len() > 256 {
            return bad(format!(
                "timer name must have 1 to 256 bytes, has {}",
                t.name.len()
            ));
        }
        if !(EARLIEST_TIMER_MS..=LATEST_TIMER_MS).contains(&t.at) {
            return bad(format!(
                "set-timers: timer {:?} is due at {} ms since 1970, outside the years 0000 to 9999 a time can be written in",
                t.name, t.at
            ));
        }
        if t.payload.len() > MAX_TIMER_PAYLOAD_BYTES
            || serde_json::from_str::<serde::de::IgnoredAny>(&t.payload).is_err()
        {
            return bad(format!(
                "timer {:?}: payload is not JSON of at most {MAX_TIMER_PAYLOAD_BYTES} bytes",
                t.name
            ));
        }
        set_timers.push(TimerDecision {
            name: t.name,
            at_ms: t.at,
            payload: t.payload,
        });
    }
    Ok(PluginOutput {
        commands,
        set_timers,
        cancel_timers: d.cancel_timers,
        writes,
    })
}

impl From<StateError> for PluginFailure {
    fn from(e: StateError) -> Self {
        Self::StateUnavailable(e.to_string())
    }
}

#[cfg(test)]
mod tests {

    #[test]
    fn compiled_code_is_cached_per_user_by_default() {
        let home = std::env::var_os("XDG_CACHE_HOME").or_else(|| std::env::var_os("HOME"));
        let dir = super::SandboxConfig::default().compile_cache;
        match home {
            Some(_) => {
                let dir = dir.expect("a cache directory");
                assert!(dir.ends_with("leitstand/compiled"), "{}", dir.display());
            }
            None => assert_eq!(dir, None),
        }
    }

    use super::{Contract, last_words};

    #[test]
    fn the_contract_is_read_from_the_imports() {
        let of = |imports: &[&str]| Contract::of(imports.iter().copied(), ["check-config"]);
        assert_eq!(
            of(&[
                "wasi:io/streams@0.2.12",
                "leitstand:plugin/types@0.1.0",
                "leitstand:plugin/state@0.1.0",
            ]),
            Ok(Contract::V0_1)
        );
        assert_eq!(
            of(&[
                "leitstand:plugin/types@0.2.0",
                "leitstand:plugin/calendar@0.2.0"
            ]),
            Ok(Contract::V0_2)
        );
        assert_eq!(
            of(&[
                "leitstand:plugin/types@0.3.0",
                "leitstand:plugin/calendar@0.3.0"
            ]),
            Ok(Contract::V0_3)
        );
        // Nothing of the contract imported: the exports tell 0.3.0 from the versions
        // before, whose exports are the same.
        assert_eq!(of(&["wasi:cli/stdout@0.2.12"]), Ok(Contract::V0_2));
        assert_eq!(
            Contract::of(
                ["wasi:cli/stdout@0.2.12"],
                ["check-config", "prepare", "handle"]
            ),
            Ok(Contract::V0_3)
        );
        assert_eq!(
            of(&[
                "leitstand:plugin/types@0.1.0",
                "leitstand:plugin/calendar@0.2.0"
            ]),
            Err(
                "the component imports both leitstand:plugin/types@0.1.0 and \
                 leitstand:plugin/calendar@0.2.0: build it against one version of the plugin \
                 contract"
                    .to_owned()
            )
        );
        assert_eq!(
            of(&["leitstand:plugin/types@0.4.0"]),
            Err(
                "the component imports leitstand:plugin/types@0.4.0: built against a version \
                 of the plugin contract this daemon does not serve (it serves \
                 leitstand:plugin@0.1.0, leitstand:plugin@0.2.0, leitstand:plugin@0.3.0)"
                    .to_owned()
            )
        );
        assert_eq!(Contract::V0_2.to_string(), "leitstand:plugin@0.2.0");
    }

    #[test]
    fn last_words_keep_the_panic_message() {
        let said = "thread '<unnamed>' panicked at src/lib.rs:84:24:\nboom on purpose\nnote: run with RUST_BACKTRACE=1\n";
        assert_eq!(
            last_words(said).as_deref(),
            Some("thread '<unnamed>' panicked at src/lib.rs:84:24: boom on purpose")
        );
        assert_eq!(last_words("one\n\ntwo\n").as_deref(), Some("two"));
        assert_eq!(last_words(""), None);
    }
}
