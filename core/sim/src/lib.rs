//! Leitstand's what-if simulator (`leitstand simulate`): a contact center in event time —
//! calls arriving by a rate profile with surges (or the offers of a recorded day), sites
//! with agents per interval, handling times and callers' patience from distributions —
//! whose routing the tenant's own plugins decide, run after run, with the SLA report of
//! each run summed up as means with 99 % confidence intervals.
//!
//! The crate knows no wasm, no store and no broker: the center hands its events to a
//! [`center::Decisions`] — in `leitstand simulate` the one batch pipeline over the
//! tenant's bundle — and acts on the commands it gets back.
//!
//! # Layout
//!
//! - [`scenario`]: the scenario file (TOML) checked against the tenant's bundle, every
//!   refusal naming its key; a recorded day's offers and fitted distributions.
//! - [`random`]: the seeded generator and the distributions.
//! - [`center`]: the discrete-event simulation of one run.
//! - [`summary`]: many runs' figures as means with confidence intervals, as a table.
//! - [`html`]: a scenario beside a baseline as one HTML page, in the client report's look.
//! - [`search`]: the fewest agents per site and interval that meet the target.
#![forbid(unsafe_code)]

pub mod center;
pub mod html;
pub mod random;
pub mod scenario;
pub mod search;
pub mod summary;
#[cfg(test)]
mod testing;
