//! The databases of the store tests: a fresh SQLite file and the PostgreSQL server on
//! 127.0.0.1:5432 (trust auth, database `test`).

use std::net::TcpStream;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use leitstand_contract::envelope::TenantId;
use leitstand_store::StoreConfig;

/// The PostgreSQL URL of the tests.
pub const POSTGRES_URL: &str = "postgres://postgres@127.0.0.1:5432/test";

/// Whether PostgreSQL tests are to be skipped (explicitly, never silently).
pub fn skip_postgres() -> bool {
    if std::env::var_os("LEITSTAND_SKIP_DATABASE_TESTS").is_some_and(|v| v == "1") {
        eprintln!("LEITSTAND_SKIP_DATABASE_TESTS=1: skipping PostgreSQL");
        return true;
    }
    if TcpStream::connect_timeout(
        &"127.0.0.1:5432".parse().expect("addr"),
        Duration::from_secs(2),
    )
    .is_err()
    {
        panic!(
            "PostgreSQL is not reachable on 127.0.0.1:5432 (CI={}). Start it with \
             `make database`, or set LEITSTAND_SKIP_DATABASE_TESTS=1 to skip.",
            std::env::var("CI").unwrap_or_default()
        );
    }
    false
}

/// A SQLite file in a fresh directory (kept alive by the returned guard).
pub fn sqlite(name: &str) -> (tempfile::TempDir, StoreConfig) {
    let dir = tempfile::tempdir().expect("tmp");
    let url = format!(
        "sqlite://{}",
        dir.path().join(format!("{name}.db")).display()
    );
    let config = StoreConfig {
        url,
        ..StoreConfig::default()
    };
    (dir, config)
}

/// The PostgreSQL store of the tests.
pub fn postgres() -> StoreConfig {
    StoreConfig {
        url: POSTGRES_URL.into(),
        ..StoreConfig::default()
    }
}

/// Both backends, named; the SQLite directory lives as long as the process (it is in the
/// system's temporary directory).
pub fn backends(name: &str) -> Vec<(&'static str, StoreConfig)> {
    let (dir, sqlite) = sqlite(name);
    std::mem::forget(dir);
    let mut all = vec![("sqlite", sqlite)];
    if !skip_postgres() {
        all.push(("postgres", postgres()));
    }
    all
}

static NEXT: AtomicU32 = AtomicU32::new(0);

/// A tenant id no other test run uses: the PostgreSQL tables are shared.
pub fn unique_tenant(prefix: &str) -> TenantId {
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or_default();
    TenantId::parse(&format!("{prefix}-{}-{n}-{nanos}", std::process::id()))
        .expect("a valid tenant id")
}
