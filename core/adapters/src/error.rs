//! Errors that stop an import as a whole: unusable options, and failing input or output.
//!
//! A single bad line never stops an import; it becomes a [`crate::Refusal`] in the report.

use std::io;

/// Why an import could not start or could not finish.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// The tenant id does not match CONTRACT §1 (`[a-z0-9][a-z0-9-]{0,62}`).
    #[error("tenant {0:?} is not a valid tenant id ([a-z0-9][a-z0-9-]{{0,62}})")]
    InvalidTenant(String),
    /// The site name is empty or holds control characters.
    #[error("the site must be a non-empty name without control characters")]
    InvalidSite,
    /// The timezone is not an IANA timezone name.
    #[error("{0:?} is not an IANA timezone name (such as Europe/Berlin)")]
    UnknownTimezone(String),
    /// The pseudonym key is too short to keep phone numbers from being guessed back.
    #[error("the pseudonym key has {0} bytes; it needs at least {min}", min = crate::PseudonymKey::MIN_LEN)]
    WeakPseudonymKey(usize),
    /// The queue map is not valid TOML or not in the expected shape.
    #[error("queue map: {0}")]
    QueueMap(String),
    /// Reading the ACD's records failed.
    #[error("reading the input failed: {0}")]
    Read(#[source] io::Error),
    /// Writing the events failed.
    #[error("writing the events failed: {0}")]
    Write(#[source] io::Error),
}
