//! Shared helpers for Leitstand's integration tests: guest components, bundles written into
//! temporary directories, and replays run in-process.
#![allow(dead_code, missing_docs)]

pub mod broker;
pub mod database;
pub mod ops;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use leitstand::replay::{Notice, Replay, ReplayOptions, ReplayReport};
use leitstand_engine::dispatch::Dispatcher;
use leitstand_engine::sandbox::{Sandbox, SandboxConfig};
use leitstand_engine::state::{MemoryStore, StateStore};
use leitstand_engine::tenants::WasmDigest;
use leitstand_metrics::CustomMetrics;
use leitstand_store::{Store, StoreConfig};

/// The workspace root.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .nth(2)
        .expect("core/leitstand/ lies two levels below the workspace root")
        .to_path_buf()
}

fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join("target"))
}

/// The path of a guest component built from `plugins/` (`make guests` builds them into the
/// repository's `target/`, whatever `CARGO_TARGET_DIR` says).
pub fn guest(name: &str) -> PathBuf {
    let path = root()
        .join("target/wasm32-wasip2/release")
        .join(format!("{name}.wasm"));
    assert!(
        path.is_file(),
        "{} is missing: build the guest plugins first (`make guests`)",
        path.display()
    );
    path
}

/// The `leitstand` binary of this build, sharing the tests' compile cache.
pub fn leitstand_command() -> std::process::Command {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_leitstand"));
    command.env(
        "LEITSTAND_SANDBOX__COMPILE_CACHE",
        sandbox_config().compile_cache.expect("cache dir"),
    );
    command
}

/// Runs `leitstand ARGS…` to its end.
pub fn leitstand(args: &[&str]) -> std::process::Output {
    leitstand_command()
        .args(args)
        .output()
        .expect("leitstand runs")
}

/// The sandbox configuration tests use: a shared on-disk compile cache keeps repeated
/// compilation of the same guests out of every test.
pub fn sandbox_config() -> SandboxConfig {
    SandboxConfig {
        pool_instances: 16,
        compile_cache: Some(target_dir().join("leitstand-test-compile-cache")),
        ..SandboxConfig::default()
    }
}

/// One plugin entry of a test bundle.
pub struct PluginEntry<'a> {
    pub name: &'a str,
    pub guest: &'a str,
    pub subscribe: &'a [&'a str],
    pub grant: &'a [&'a str],
    /// Extra TOML lines inside the `[[plugins]]` table (limits, …), before `config`.
    pub limits: &'a str,
    /// The `[plugins.config]` table's body.
    pub config: &'a str,
}

/// Writes a tenant bundle `tenant` into `dir/<tenant>/` with the given header lines (SLA,
/// queues) and plugins, copying each guest next to its manifest and pinning its digest.
pub fn write_bundle(
    dir: &Path,
    tenant: &str,
    header: &str,
    plugins: &[PluginEntry<'_>],
) -> PathBuf {
    let bdir = dir.join(tenant);
    std::fs::create_dir_all(&bdir).expect("bundle dir");
    let mut toml = format!("id = \"{tenant}\"\ntimezone = \"Europe/Berlin\"\n{header}\n");
    for p in plugins {
        let src = guest(p.guest);
        let file = format!("{}.wasm", p.guest);
        std::fs::copy(&src, bdir.join(&file)).expect("copy guest");
        let digest = WasmDigest::of(&std::fs::read(&src).expect("read guest"));
        let list = |xs: &[&str]| {
            xs.iter()
                .map(|x| format!("\"{x}\""))
                .collect::<Vec<_>>()
                .join(", ")
        };
        // Every capability unless the entry names its own.
        let capabilities = if p.limits.contains("capabilities") {
            ""
        } else {
            "capabilities = [\"state\", \"timers\", \"metrics\"]\n"
        };
        toml.push_str(&format!(
            "\n[[plugins]]\nname = \"{}\"\nwasm = \"{file}\"\nsha256 = \"{digest}\"\n\
             subscribe = [{}]\ngrant = [{}]\n{capabilities}{}\n[plugins.config]\n{}\n",
            p.name,
            list(p.subscribe),
            list(p.grant),
            p.limits,
            p.config
        ));
    }
    std::fs::write(bdir.join("tenant.toml"), toml).expect("write manifest");
    bdir
}

/// Writes the bundle of tenant `notruf` into `dir`: its plugin `escalation` panics on every
/// `call.offered` (the hostile guest); `extra` are more keys of its `[[plugins]]` table
/// (a fallback, a failure policy).
pub fn broken_escalation(dir: &Path, extra: &str) {
    write_bundle(
        dir,
        "notruf",
        "",
        &[PluginEntry {
            name: "escalation",
            guest: "leitstand_hostile",
            subscribe: &["call.offered"],
            grant: &["call.route"],
            limits: extra,
            config: "mode = \"panic\"",
        }],
    );
}

/// What an in-process replay produced.
pub struct Run {
    pub report: ReplayReport,
    pub commands: Vec<serde_json::Value>,
    pub command_bytes: Vec<u8>,
    pub notices: Vec<Notice>,
}

/// A runtime for store calls and the throw-away in-memory store a replay uses by default.
pub fn throw_away_store() -> (tokio::runtime::Runtime, Store) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    let config = StoreConfig {
        url: "sqlite::memory:".into(),
        ..StoreConfig::default()
    };
    let store = runtime.block_on(Store::open(&config)).expect("store");
    (runtime, store)
}

/// Loads the bundles under `bundles` and replays `events` (JSON Lines text) in-process.
pub fn replay(bundles: &Path, events: &str) -> Run {
    let sandbox =
        Arc::new(Sandbox::new(sandbox_config(), Arc::new(CustomMetrics::new())).expect("sandbox"));
    let state: Arc<dyn StateStore> = Arc::new(MemoryStore::new());
    let dispatcher = match Dispatcher::load(bundles, sandbox, state) {
        Ok(d) => d,
        Err(errors) => panic!("bundles refused: {errors:?}"),
    };
    let (runtime, store) = throw_away_store();
    let mut command_bytes = Vec::new();
    let mut notices = Vec::new();
    let mut on_notice = |n: Notice| notices.push(n);
    let report = Replay::new(
        &dispatcher,
        store,
        runtime.handle().clone(),
        ReplayOptions::default(),
        &mut command_bytes,
        &mut on_notice,
    )
    .run(events.as_bytes())
    .expect("replay runs");
    let commands = command_bytes
        .split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .map(|l| serde_json::from_slice(l).expect("command is JSON"))
        .collect();
    Run {
        report,
        commands,
        command_bytes,
        notices,
    }
}

/// A structured CloudEvent line.
pub fn event(tenant: &str, id: &str, ty: &str, time: &str, data: serde_json::Value) -> String {
    serde_json::json!({
        "specversion": "1.0", "id": id, "source": "test/acd", "type": ty,
        "tenant": tenant, "time": time, "data": data,
    })
    .to_string()
}
