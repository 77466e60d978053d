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
//! - [`store`]: the durable store (SQLite or PostgreSQL): state, timers, processed ids,
//!   the outbox and tenant leases, written per batch in one transaction.
//! - [`sla`]: service-level accounting per tenant, queue and interval (CONTRACT §5).
//! - [`staffing`]: Erlang C: agents required for a load and a service-level target,
//!   agents scheduled after shrinkage (`leitstand staffing`).
//! - [`report`]: the client report, one tenant's day as a self-contained HTML page
//!   (`leitstand report`).
//! - [`metrics`]: the daemon's Prometheus metrics and the custom metrics plugins report.
//! - [`http`]: the daemon's HTTP endpoints (`/metrics`, `/healthz`, `/readyz`) and the
//!   health flags behind them.
//! - [`transport`]: RabbitMQ: connections, the CONTRACT §4 topology, deliveries in,
//!   commands and dead letters out with publisher confirms.
//! - [`daemon`]: `leitstand run`: the supervisor, one consumer per tenant, graceful
//!   shutdown, bundle reload.
//! - [`replay`]: the broker-free transport: a JSON Lines file in, commands and a report out.
//! - [`harness`]: `leitstand plugin test`: one plugin over fixture events, compared with
//!   the fixture's expectation; `leitstand plugin new` from the template.
//! - [`delivery`]: plugins' `http.post` deliveries: retry policy, judging answers, the
//!   `http.response` event.
//! - [`config`]: the daemon's configuration (TOML file + `LEITSTAND_*` environment).
//! - [`cli`]: the `leitstand` command line.
#![forbid(unsafe_code)]

pub mod cli;
pub mod config;
pub mod daemon;
pub mod delivery;
pub mod dispatch;
pub mod domain;
pub mod envelope;
pub mod harness;
pub mod http;
pub mod metrics;
pub mod pipeline;
pub mod replay;
pub mod report;
pub mod sandbox;
pub mod sla;
pub mod staffing;
pub mod state;
pub mod store;
pub mod tenants;
pub mod transport;
