//! Leitstand: the orchestration daemon between public authorities that outsource their
//! hotlines and the call-center providers that answer them.
//!
//! It reads call and booking events (CloudEvents), runs each tenant's sandboxed
//! WebAssembly plugins on them, writes their decisions as commands, and accounts service
//! levels per tenant and queue.
//!
//! # Layout
//!
//! - [`envelope`]: CloudEvents intake, validation and reason codes (CONTRACT §1, §4).
//! - [`domain`]: the typed event vocabulary of CONTRACT §2.
//! - [`tenants`]: tenant bundles (`tenant.toml`), their static checks and digest pins.
//! - [`sandbox`]: the wasmtime engine, plugin preparation, per-event instances and limits.
//! - [`dispatch`]: event → tenant → plugins → commands; the only module that joins
//!   intake, bundles and the sandbox.
//! - [`state`]: plugins' key-value state and timers behind one interface.
//! - [`sla`]: service-level accounting per tenant, queue and interval (CONTRACT §5).
//! - [`metrics`]: custom metrics plugins report.
//! - [`replay`]: the broker-free transport: a JSON Lines file in, commands and a report out.
//! - [`config`]: the daemon's configuration (TOML file + `LEITSTAND_*` environment).
//! - [`cli`]: the `leitstand` command line.
#![forbid(unsafe_code)]

pub mod cli;
pub mod config;
pub mod dispatch;
pub mod domain;
pub mod envelope;
pub mod metrics;
pub mod replay;
pub mod sandbox;
pub mod sla;
pub mod state;
pub mod tenants;
