//! Leitstand's SLA books: what a client is promised and what was kept, counted by one rule
//! (CONTRACT §5) from the contract's typed events, for the replay's report, the live
//! metrics and the client's reachability report alike.
//!
//! # Layout
//!
//! - [`profile`]: a tenant's service as the books need it — name, timezone, targets per
//!   queue (`[sla]`, `[queues]`), its calendar (`[calendar]`, read by
//!   `leitstand-calendar`) — validated by the bundle loader.
//! - [`counts`]: the counting rule (`Counts::add`) and its ratios under each policy.
//! - [`first_contact`]: first-contact resolution per concern and per department.
//! - [`books`]: the books of all tenants: totals and 30-minute intervals in the tenant's
//!   timezone with their staffing.
//! - [`figures`]: what the books report, as JSON (CONTRACT §6) and as a table.
//! - [`sites`]: sites and providers (`[sites]`, `[providers]`) and where a call counts
//!   (CONTRACT §8): per site and per provider, by the same counting rule.
//! - [`staffing`]: Erlang C — probability of waiting, service level, the least agents for
//!   a goal, shrinkage; `leitstand staffing`.
//! - [`report`]: the client's reachability report, one tenant's day as a self-contained
//!   HTML page.
#![forbid(unsafe_code)]

pub mod books;
pub mod counts;
pub mod figures;
pub mod first_contact;
pub mod profile;
pub mod report;
pub mod site_figures;
pub mod sites;
pub mod staffing;

pub use books::{SlaBook, SlaReport, TenantReport};
pub use leitstand_calendar::{Calendar, Calendars};
pub use profile::{AbandonPolicy, QueueSpec, ServiceProfile, SlaSettings};
