//! Tenant bundles: a directory per tenant holding `tenant.toml`, read into a validated
//! [`Bundle`].
//!
//! This module owns the bundle file format and its static checks (keys, values, wasm files
//! and their sha256 pins) and bundle signatures ([`signature`]). It does not compile or
//! run plugins: the sandbox does that, and the dispatcher joins the two.

mod file;
pub mod signature;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::{Path, PathBuf};

use chrono_tz::Tz;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

pub use leitstand_contract::delivery::Endpoint;
pub use leitstand_contract::envelope::TenantId;
pub use leitstand_contract::wire::CommandMode;
pub use leitstand_sla::{
    AbandonPolicy, Calendar, Calendars, QueueSpec, ServiceProfile, SlaSettings,
};

/// The name of the manifest in a bundle directory.
pub const MANIFEST: &str = "tenant.toml";

pub use leitstand_contract::command::HTTP_POST;

/// A bundle that cannot be used. Names the file, the key (when one is to blame) and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct BundleError {
    /// The file at fault.
    pub file: PathBuf,
    /// The key at fault, dotted (`plugins.router.sha256`), when one is to blame.
    pub key: Option<String>,
    /// What is wrong.
    pub reason: String,
}

impl BundleError {
    /// An error about `file`, at `key` when given.
    pub fn new(file: &Path, key: Option<String>, reason: impl Into<String>) -> Self {
        Self {
            file: file.to_path_buf(),
            key,
            reason: reason.into(),
        }
    }
}

impl fmt::Display for BundleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.key {
            Some(key) => write!(f, "{}: key `{key}`: {}", self.file.display(), self.reason),
            None => write!(f, "{}: {}", self.file.display(), self.reason),
        }
    }
}

/// What happens to an event a plugin fails on (trap, timeout, out of memory, bad output).
/// The other plugins' decisions for the event stand either way.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FailurePolicy {
    /// The event is copied to `leitstand.dead` with `x-leitstand-error: plugin-failed`, so
    /// that it can be inspected and replayed. The default.
    #[default]
    DeadLetter,
    /// The failure is logged and counted; the event is settled without it.
    Ignore,
    /// The plugin is called again on the same event, up to the plugin's `retries` more
    /// times, at once; if it still fails, the event is dead-lettered as with `dead-letter`.
    /// For failures that a second try can cure (a call cut short on a busy machine).
    Retry,
}

/// What a plugin may use besides its subscribed events and granted command types. A
/// component that imports the interface of a capability its bundle does not grant is
/// refused at load; a call that needs one it lacks is denied at run time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Capability {
    /// Key-value state (`leitstand:plugin/state`).
    State,
    /// Setting and cancelling timers (decisions' `set-timers` and `cancel-timers`).
    Timers,
    /// Custom metrics (`leitstand:plugin/metrics`).
    Metrics,
}

impl Capability {
    /// Every capability, in the order the docs list them.
    pub const ALL: [Self; 3] = [Self::State, Self::Timers, Self::Metrics];

    /// Its name in a bundle.
    pub fn name(self) -> &'static str {
        match self {
            Self::State => "state",
            Self::Timers => "timers",
            Self::Metrics => "metrics",
        }
    }

    /// The capability named `s` in a bundle.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.name() == s)
    }
}

/// When a plugin that keeps failing is switched off, and for how long.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct QuarantinePolicy {
    /// Consecutive failed events after which the plugin is switched off.
    pub after_failures: u32,
    /// How long the first quarantine lasts, in seconds; it doubles each time the plugin
    /// fails its first event after one.
    pub backoff_seconds: u64,
    /// The longest quarantine, in seconds.
    pub max_backoff_seconds: u64,
}

impl Default for QuarantinePolicy {
    fn default() -> Self {
        Self {
            after_failures: 5,
            backoff_seconds: 60,
            max_backoff_seconds: 3600,
        }
    }
}

/// Tenant-wide quotas (`[limits]` in `tenant.toml`): what all of a tenant's plugins
/// together may use, so that one tenant cannot crowd out the others.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct TenantLimits {
    /// State keys the tenant's plugins may hold together.
    pub state_keys: u64,
    /// Bytes of state (keys and values) the tenant's plugins may hold together.
    pub state_bytes: u64,
    /// Commands all plugins together may emit for one event.
    pub commands_per_event: usize,
    /// Bytes of plugin log messages per minute for the whole tenant; more is dropped and
    /// counted.
    pub log_bytes_per_minute: u64,
}

impl Default for TenantLimits {
    fn default() -> Self {
        Self {
            state_keys: 100_000,
            state_bytes: 64 * 1024 * 1024,
            commands_per_event: 256,
            log_bytes_per_minute: 1024 * 1024,
        }
    }
}

/// What one call of a plugin may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct PluginLimits {
    /// CPU time per call, in milliseconds.
    pub cpu_ms: u64,
    /// Wall-clock time per call, in milliseconds (covers host calls too).
    pub wall_ms: u64,
    /// Linear memory, in MiB.
    pub memory_mib: u64,
    /// Commands one call may return.
    pub max_commands: usize,
    /// Timers one call may set.
    pub max_timers: usize,
    /// Bytes of stdout and stderr kept per call; more is dropped and counted.
    pub stdio_bytes: usize,
    /// Bytes of log messages per call; more is dropped and counted.
    pub log_bytes: usize,
}

impl Default for PluginLimits {
    fn default() -> Self {
        Self {
            cpu_ms: 100,
            wall_ms: 1_000,
            memory_mib: 64,
            max_commands: 64,
            max_timers: 64,
            stdio_bytes: 4 * 1024,
            log_bytes: 16 * 1024,
        }
    }
}

/// A sha256 digest of a wasm file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct WasmDigest(pub [u8; 32]);

impl WasmDigest {
    /// The digest of `bytes`.
    pub fn of(bytes: &[u8]) -> Self {
        Self(Sha256::digest(bytes).into())
    }
}

impl fmt::Display for WasmDigest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

/// One plugin as the bundle declares it.
#[derive(Debug, Clone, PartialEq)]
pub struct PluginSpec {
    /// Its name within the tenant (`[a-z][a-z0-9-]*`).
    pub name: String,
    /// Where its component is (resolved against the bundle directory).
    pub wasm_path: PathBuf,
    /// The pinned and verified digest of the component.
    pub digest: WasmDigest,
    /// The component's bytes, read once at load.
    pub wasm: std::sync::Arc<[u8]>,
    /// Event types it receives.
    pub subscribe: BTreeSet<String>,
    /// Command types it may emit.
    pub grant: BTreeSet<String>,
    /// Its per-call limits.
    pub limits: PluginLimits,
    /// What happens to an event it fails on.
    pub on_failure: FailurePolicy,
    /// With [`FailurePolicy::Retry`]: how many more times it is called on a failed event.
    pub retries: u32,
    /// When it is switched off after failing again and again.
    pub quarantine: QuarantinePolicy,
    /// What it may use besides events and command types.
    pub capabilities: BTreeSet<Capability>,
    /// Its own configuration, handed to it as JSON.
    pub config: serde_json::Value,
    /// The command the host emits in the plugin's place when it fails on an event.
    pub fallback: Option<Fallback>,
    /// The HTTP endpoints its `http.post` commands may name, by name.
    pub endpoints: BTreeMap<String, Endpoint>,
}

/// A host-side fail-open: when the plugin fails on a matching event, the host emits this
/// command instead of nothing (the failure is still logged, counted and handled by the
/// plugin's `on_failure`).
#[derive(Debug, Clone, PartialEq)]
pub struct Fallback {
    /// The command type; the bundle must grant it to the plugin.
    pub command_type: String,
    /// Event types it applies to (default: every type the plugin subscribes to).
    pub events: BTreeSet<String>,
    /// Fields of the event's `data` that must equal these values for it to apply
    /// (e.g. `priority = "emergency"`); a field missing from the event never matches,
    /// except that `priority` is `normal` when absent (CONTRACT §2).
    pub when: BTreeMap<String, serde_json::Value>,
    /// The command's fixed `data`.
    pub data: serde_json::Map<String, serde_json::Value>,
    /// Fields copied from the event's `data` into the command's (when present).
    pub copy: Vec<String>,
}

/// A tenant's validated bundle.
#[derive(Debug, Clone, PartialEq)]
pub struct Bundle {
    /// The bundle directory.
    pub dir: PathBuf,
    /// The manifest file.
    pub manifest: PathBuf,
    /// The tenant.
    pub tenant: TenantId,
    /// The tenant's timezone; intervals and opening hours are in it.
    pub timezone: Tz,
    /// What the SLA books need of the tenant: its name, targets, queues and hours (with
    /// the same tenant and timezone as above).
    pub service: ServiceProfile,
    /// Plugins in the order they run.
    pub plugins: Vec<PluginSpec>,
    /// Tenant-wide quotas.
    pub limits: TenantLimits,
    /// How the tenant's commands are laid out on the broker (`[commands] mode`), as their
    /// consumers asked; structured by default.
    pub command_mode: CommandMode,
}

impl Bundle {
    /// Loads and checks the bundle in `dir` (which holds `tenant.toml`).
    pub fn load(dir: &Path) -> Result<Self, BundleError> {
        file::load(dir)
    }
}

/// Finds the bundles under `path`: `path` itself when it holds a `tenant.toml`, otherwise
/// every direct subdirectory that does, sorted by name. Names the problem when there are
/// none.
pub fn bundle_dirs(path: &Path) -> Result<Vec<PathBuf>, BundleError> {
    if path.join(MANIFEST).is_file() {
        return Ok(vec![path.to_path_buf()]);
    }
    let entries = std::fs::read_dir(path)
        .map_err(|e| BundleError::new(path, None, format!("cannot read directory: {e}")))?;
    let mut dirs = Vec::new();
    for entry in entries {
        let entry =
            entry.map_err(|e| BundleError::new(path, None, format!("cannot read entry: {e}")))?;
        let dir = entry.path();
        if dir.join(MANIFEST).is_file() {
            dirs.push(dir);
        }
    }
    dirs.sort();
    if dirs.is_empty() {
        return Err(BundleError::new(
            path,
            None,
            format!("no {MANIFEST} here nor in any subdirectory"),
        ));
    }
    Ok(dirs)
}

/// Loads every bundle under `path` (see [`bundle_dirs`]); refuses two bundles of one tenant.
pub fn load_all(path: &Path) -> Result<Vec<Bundle>, Vec<BundleError>> {
    load_all_with(path, Bundle::load)
}

/// [`load_all`], reading each bundle directory with `load` (the daemon's loader checks
/// signatures: [`signature::SignaturePolicy::load`]).
pub fn load_all_with(
    path: &Path,
    load: impl Fn(&Path) -> Result<Bundle, BundleError>,
) -> Result<Vec<Bundle>, Vec<BundleError>> {
    let dirs = bundle_dirs(path).map_err(|e| vec![e])?;
    let mut bundles: Vec<Bundle> = Vec::new();
    let mut errors = Vec::new();
    for dir in dirs {
        match load(&dir) {
            Ok(bundle) => {
                if let Some(first) = bundles.iter().find(|b| b.tenant == bundle.tenant) {
                    errors.push(BundleError::new(
                        &bundle.manifest,
                        Some("id".into()),
                        format!(
                            "tenant {} is already defined by {}",
                            bundle.tenant,
                            first.manifest.display()
                        ),
                    ));
                } else {
                    bundles.push(bundle);
                }
            }
            Err(e) => errors.push(e),
        }
    }
    if errors.is_empty() {
        Ok(bundles)
    } else {
        Err(errors)
    }
}
