//! Leitstand's contract types: what crosses a boundary, at the bottom of the crate graph.
//!
//! The external contract (the project's `CONTRACT.md`): CloudEvents in, commands out,
//! reason codes, `http.post` deliveries. And the interfaces inside Leitstand that the
//! engine, its drivers, the store and the transport meet at, so that none of them needs
//! another's internals: a driver's messages ([`wire::Carrier`]), the outbox
//! ([`wire::OutboxEntry`]) and the durable journal ([`journal::Journal`]).
//!
//! # Layout
//!
//! - [`envelope`]: CloudEvents intake (structured and binary mode) with every limit,
//!   `TenantId`, reason codes, the dedup key of an event.
//! - [`attribute`]: binary-mode attribute values: which type each attribute may have
//!   (the CloudEvents AMQP binding's mapping), for every carrier alike.
//! - [`domain`]: the typed events of CONTRACT §2 (required fields, ranges).
//! - [`command`]: commands (CONTRACT §3) with their deterministic ids, the plugin source
//!   `leitstand/<tenant>/<plugin>`, the host's own event and command types.
//! - [`delivery`]: `http.post` deliveries: endpoints, the retry policy, judging answers,
//!   the `http.response` event.
//! - [`wire`]: how a driver's messages are read and the engine's written, the outbox.
//! - [`journal`]: what one batch commits, and the store's interface.
#![forbid(unsafe_code)]

pub mod attribute;
pub mod command;
pub mod delivery;
pub mod domain;
pub mod envelope;
pub mod journal;
pub mod wire;
