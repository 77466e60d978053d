//! The tenants a daemon serves: each tenant's prepared runtime, swappable between two of
//! its batches (a reload), and which bundles are accepted (`[bundles]`). State and timers
//! live in the store, with the tenant's pipeline.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use std::time::SystemTime;

use crate::dispatch::TenantRuntime;
use crate::sandbox::Sandbox;
use crate::state::StateStore;
use crate::tenants::signature::SignaturePolicy;
use crate::tenants::{self, BundleError};
use leitstand_contract::envelope::TenantId;
use serde::{Deserialize, Serialize};

/// `[bundles]`: which tenant bundles `leitstand run` (at start and on every reload) and
/// `leitstand bundle check` accept.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BundlesConfig {
    /// Refuse a bundle without a valid `signature.toml` by one of `trusted_keys`, or with
    /// any file changed since it was signed. Default false: signatures are not checked.
    pub require_signature: bool,
    /// Public key files (`NAME.pub` of `leitstand bundle keygen`), or directories whose
    /// `*.pub` files are all trusted. Read at start and again at every reload. Default
    /// none.
    pub trusted_keys: Vec<PathBuf>,
}

/// One tenant and its current runtime.
pub struct TenantSlot {
    /// The tenant.
    pub tenant: TenantId,
    runtime: RwLock<Arc<TenantRuntime>>,
}

impl TenantSlot {
    /// The runtime to run the next event with. A reload swaps it; an event in progress
    /// keeps the one it started with.
    pub fn runtime(&self) -> Arc<TenantRuntime> {
        match self.runtime.read() {
            Ok(rt) => rt.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    fn replace(&self, rt: TenantRuntime) {
        let rt = Arc::new(rt);
        match self.runtime.write() {
            Ok(mut slot) => *slot = rt,
            Err(poisoned) => *poisoned.into_inner() = rt,
        }
    }
}

/// What a reload changed.
#[derive(Debug, Default)]
pub struct ReloadReport {
    /// Tenants that appeared: they need a queue and a consumer.
    pub added: Vec<TenantId>,
    /// Tenants whose bundle changed and was swapped in.
    pub replaced: Vec<TenantId>,
    /// Tenants whose bundle directory is gone: their consumer stops, their queue stays.
    pub removed: Vec<TenantId>,
    /// Bundles refused; the tenant's previous bundle, if any, keeps running.
    pub refused: Vec<(Option<TenantId>, BundleError)>,
}

/// All tenants, by id.
pub struct Registry {
    dir: PathBuf,
    /// Whether bundles must be signed, and by which keys (read again at every reload).
    accept: BundlesConfig,
    sandbox: Arc<Sandbox>,
    state: Arc<dyn StateStore>,
    slots: Mutex<BTreeMap<TenantId, Arc<TenantSlot>>>,
}

impl Registry {
    /// Loads every bundle under `dir` that `accept` lets in (with
    /// `require_signature`, only bundles signed by a trusted key and unchanged since). At
    /// start every bundle must be valid: the daemon refuses to start half-configured.
    pub fn load(
        dir: &Path,
        accept: &BundlesConfig,
        sandbox: Arc<Sandbox>,
        state: Arc<dyn StateStore>,
    ) -> Result<Self, Vec<BundleError>> {
        let policy = signature_policy(accept).map_err(|e| vec![e])?;
        let mut slots = BTreeMap::new();
        let mut errors = Vec::new();
        for bundle in tenants::load_all_with(dir, |d| policy.load(d))? {
            match TenantRuntime::prepare(bundle, &sandbox, state.clone()) {
                Ok(rt) => {
                    let tenant = rt.bundle.tenant.clone();
                    slots.insert(tenant.clone(), Arc::new(new_slot(tenant, Arc::new(rt))));
                }
                Err(e) => errors.push(e),
            }
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        Ok(Self {
            dir: dir.to_path_buf(),
            accept: accept.clone(),
            sandbox,
            state,
            slots: Mutex::new(slots),
        })
    }

    /// The sandbox plugins run in.
    pub fn sandbox(&self) -> &Arc<Sandbox> {
        &self.sandbox
    }

    /// The bundle directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<TenantId, Arc<TenantSlot>>> {
        self.slots.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The current tenants.
    pub fn slots(&self) -> Vec<Arc<TenantSlot>> {
        self.lock().values().cloned().collect()
    }

    /// The slot of `tenant`, if it is served.
    pub fn slot(&self, tenant: &TenantId) -> Option<Arc<TenantSlot>> {
        self.lock().get(tenant).cloned()
    }

    /// Reads the bundle directory again. Each bundle is judged on its own: a valid changed
    /// bundle replaces its tenant's runtime, an invalid one is refused and the tenant keeps
    /// its old one, an unchanged one is left alone.
    pub fn reload(&self) -> ReloadReport {
        let mut report = ReloadReport::default();
        let policy = match signature_policy(&self.accept) {
            Ok(p) => p,
            Err(e) => {
                report.refused.push((None, e));
                return report;
            }
        };
        let dirs = match tenants::bundle_dirs(&self.dir) {
            Ok(d) => d,
            Err(e) => {
                report.refused.push((None, e));
                return report;
            }
        };
        let mut seen = BTreeMap::new();
        for dir in dirs {
            let bundle = match policy.load(&dir) {
                Ok(b) => b,
                Err(e) => {
                    let tenant = self.tenant_of_dir(&dir);
                    if let Some(t) = &tenant {
                        seen.insert(t.clone(), ());
                    }
                    report.refused.push((tenant, e));
                    continue;
                }
            };
            let tenant = bundle.tenant.clone();
            if seen.insert(tenant.clone(), ()).is_some() {
                report.refused.push((
                    Some(tenant.clone()),
                    BundleError::new(
                        &bundle.manifest,
                        Some("id".into()),
                        format!("tenant {tenant} is defined by another bundle directory too"),
                    ),
                ));
                continue;
            }
            let existing = self.slot(&tenant);
            if existing
                .as_ref()
                .is_some_and(|s| *s.runtime().bundle == bundle)
            {
                continue;
            }
            match TenantRuntime::prepare(bundle, &self.sandbox, self.state.clone()) {
                Ok(rt) => match existing {
                    Some(slot) => {
                        slot.replace(rt);
                        report.replaced.push(tenant);
                    }
                    None => {
                        self.lock().insert(
                            tenant.clone(),
                            Arc::new(new_slot(tenant.clone(), Arc::new(rt))),
                        );
                        report.added.push(tenant);
                    }
                },
                Err(e) => report.refused.push((Some(tenant), e)),
            }
        }
        let mut slots = self.lock();
        let gone: Vec<TenantId> = slots
            .keys()
            .filter(|t| !seen.contains_key(*t))
            .cloned()
            .collect();
        for t in gone {
            slots.remove(&t);
            report.removed.push(t);
        }
        report
    }

    /// The tenant a bundle directory served before, for naming a refused reload.
    fn tenant_of_dir(&self, dir: &Path) -> Option<TenantId> {
        self.lock()
            .values()
            .find(|s| s.runtime().bundle.dir == dir)
            .map(|s| s.tenant.clone())
    }

    /// A cheap signature of the bundle directory and the plugin files the loaded bundles
    /// use: changes when a file is added, removed, or written.
    pub fn signature(&self) -> Vec<(PathBuf, Option<SystemTime>, u64)> {
        let mut files = Vec::new();
        collect_files(&self.dir, 2, &mut files);
        for slot in self.slots() {
            for p in &slot.runtime().bundle.plugins {
                files.push(p.wasm_path.clone());
            }
        }
        files.sort();
        files.dedup();
        files
            .into_iter()
            .map(|f| {
                let meta = std::fs::metadata(&f).ok();
                let modified = meta.as_ref().and_then(|m| m.modified().ok());
                let len = meta.map_or(0, |m| m.len());
                (f, modified, len)
            })
            .collect()
    }
}

/// The signature policy of `accept`, its trusted keys read now.
fn signature_policy(accept: &BundlesConfig) -> Result<SignaturePolicy, BundleError> {
    Ok(SignaturePolicy::new(
        accept.require_signature,
        &accept.trusted_keys,
    )?)
}

fn new_slot(tenant: TenantId, rt: Arc<TenantRuntime>) -> TenantSlot {
    TenantSlot {
        tenant,
        runtime: RwLock::new(rt),
    }
}

fn collect_files(dir: &Path, depth: u32, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            if depth > 0 {
                collect_files(&path, depth - 1, out);
            }
        } else {
            out.push(path);
        }
    }
}
