//! Leitstand: the orchestration daemon between public authorities that outsource their
//! hotlines and the call-center providers that answer them — the `leitstand` binary.
//!
//! It reads call and booking events (CloudEvents), runs each tenant's sandboxed
//! WebAssembly plugins on them, writes their decisions as commands, and accounts service
//! levels per tenant and queue. The work is the engine's (`leitstand-engine`: bundles,
//! sandbox, dispatch, the one batch pipeline); this crate wires drivers to it: where a
//! batch comes from and where its commands go.
//!
//! # Layout
//!
//! - [`cli`]: the `leitstand` command line.
//! - [`config`]: the configuration (TOML file + `LEITSTAND_*` environment), assembled
//!   from the sections each crate owns.
//! - [`daemon`]: `leitstand run`: the supervisor of broker sessions, the driver of one
//!   tenant's queue, cluster mode, graceful shutdown, bundle reload.
//! - [`replay`]: the driver of a JSON Lines file: commands and the SLA report out.
//! - [`harness`]: `leitstand plugin test`: one plugin over fixture events on the replay
//!   driver, with simulated endpoints, compared with the expectation; `plugin new`.
//! - [`http`]: `/metrics`, `/healthz`, `/readyz` and the admin endpoints.
//! - [`import`]: `leitstand import`: a provider's ACD records to events, on
//!   `leitstand-adapters`.
//! - [`simulate`]: `leitstand simulate`: the what-if simulator's center (`leitstand-sim`)
//!   against the tenant's plugins on the replay driver, runs in parallel.
//! - [`bridge`]: `leitstand bridge asterisk`: the driver of a live Asterisk bridge — its
//!   `queue_log` to `leitstand.events`, `call.route` commands back as manager actions.
#![forbid(unsafe_code)]

pub mod bridge;
pub mod cli;
pub mod config;
pub mod daemon;
pub mod harness;
pub mod http;
pub mod import;
pub mod replay;
pub mod simulate;
