//! Leitstand's engine: tenants' bundles, the sandbox their plugins run in, dispatch of an
//! event to the plugins that subscribe to it, and the one batch pipeline every driver — the
//! daemon, replay, the plugin test harness — runs its events through.
//!
//! The engine knows no transport and no database: a driver hands it deliveries through a
//! [`leitstand_contract::wire::Carrier`] and gets the committed outbox back; state, timers
//! and processed ids go through a [`leitstand_contract::journal::Journal`].
//!
//! # Layout
//!
//! - [`tenants`]: `tenant.toml` → a validated `Bundle` (figment, unknown keys refused,
//!   sha256 pins); `tenants::signature`: signed bundles and the signature policy.
//! - [`sandbox`]: the wasmtime engine (component model, pooling allocator, epoch ticker),
//!   compiled code by digest, deny-by-default WASI, capabilities, quotas, failure kinds.
//! - [`dispatch`]: an envelope → its tenant's subscribed plugins in bundle order →
//!   commands with deterministic ids; timers and `http.response` to the plugin that
//!   asked; fallbacks, retries and quarantine of plugins that fail again and again.
//! - [`state`]: the interface plugins read state through, and the timer schedule.
//! - [`pipeline`]: the one batch pipeline: intake, dedup, timers in event time, dispatch,
//!   apply, one commit per tenant, the figures.
//! - [`registry`]: the served tenants, each with its runtime, swapped on reload.
//! - [`fair`]: slots of sandbox time shared fairly by tenants' batches (ADR 0011).
#![forbid(unsafe_code)]

pub mod dispatch;
pub mod fair;
pub mod pipeline;
pub mod registry;
pub mod sandbox;
pub mod state;
pub mod tenants;
