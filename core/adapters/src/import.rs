//! [`Import`]: what every import needs to know about the tenant — its id, timezone, site,
//! queue map and pseudonym key — validated once, and the entry points that read an ACD's
//! records and write Leitstand's events.

use std::io::{BufRead, Write};

use chrono::{DateTime, FixedOffset, Utc};
use chrono_tz::Tz;
use leitstand_contract::envelope::TenantId;

use crate::contact_trace::ContactTraceRecords;
use crate::queue_log::QueueLog;
use crate::{ImportError, ImportReport, PseudonymKey, QueueMap};

/// The settings of an import for one tenant, and its entry points.
///
/// ```
/// use leitstand_adapters::Import;
///
/// # fn main() -> Result<(), leitstand_adapters::ImportError> {
/// let log = "1795503641|1795503626.13|kreis-115|NONE|ENTERQUEUE||06990009100|1\n";
/// let mut events = Vec::new();
/// let report = Import::new("soest")?.asterisk_queue_log(log.as_bytes(), &mut events)?;
/// assert_eq!(report.events.offered, 1);
/// assert!(String::from_utf8_lossy(&events).contains(r#""type":"call.offered""#));
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct Import {
    tenant: String,
    timezone: Tz,
    site: Option<String>,
    queues: QueueMap,
    key: Option<PseudonymKey>,
}

impl Import {
    /// The timezone event times are written in unless told otherwise.
    pub const DEFAULT_TIMEZONE: Tz = chrono_tz::Europe::Berlin;

    /// An import for `tenant` (CONTRACT §1 pattern `[a-z0-9][a-z0-9-]{0,62}`), in
    /// [`Import::DEFAULT_TIMEZONE`], without a site, keeping every queue's own name and
    /// writing no pseudonyms.
    pub fn new(tenant: &str) -> Result<Self, ImportError> {
        // The contract's own check, so that an import never writes what intake refuses.
        if TenantId::parse(tenant).is_err() {
            return Err(ImportError::InvalidTenant(tenant.to_owned()));
        }
        Ok(Self {
            tenant: tenant.to_owned(),
            timezone: Self::DEFAULT_TIMEZONE,
            site: None,
            queues: QueueMap::default(),
            key: None,
        })
    }

    /// Writes event times in `timezone`.
    pub fn with_timezone(mut self, timezone: Tz) -> Self {
        self.timezone = timezone;
        self
    }

    /// Writes event times in the IANA timezone `name` (as `--timezone` gives it).
    pub fn with_timezone_name(self, name: &str) -> Result<Self, ImportError> {
        let timezone: Tz = name
            .parse()
            .map_err(|_| ImportError::UnknownTimezone(name.to_owned()))?;
        Ok(self.with_timezone(timezone))
    }

    /// Sets `site` on every event and names the site in `source`: one site's ACD is one
    /// source, so an ACD's call ids need be unique only within it.
    pub fn with_site(mut self, site: &str) -> Result<Self, ImportError> {
        if site.trim().is_empty() || site.chars().any(char::is_control) {
            return Err(ImportError::InvalidSite);
        }
        self.site = Some(site.to_owned());
        Ok(self)
    }

    /// Maps queue names and transfer targets through `map`.
    pub fn with_queue_map(mut self, map: QueueMap) -> Self {
        self.queues = map;
        self
    }

    /// Writes `caller_ref` and `agent_ref` as pseudonyms under `key`; without a key they
    /// are left out.
    pub fn with_pseudonym_key(mut self, key: PseudonymKey) -> Self {
        self.key = Some(key);
        self
    }

    /// The tenant.
    pub fn tenant(&self) -> &str {
        &self.tenant
    }

    /// The timezone of the written event times.
    pub fn timezone(&self) -> Tz {
        self.timezone
    }

    /// The site, when set.
    pub fn site(&self) -> Option<&str> {
        self.site.as_deref()
    }

    /// The queue map.
    pub fn queue_map(&self) -> &QueueMap {
        &self.queues
    }

    /// The pseudonym key, when set.
    pub fn pseudonym_key(&self) -> Option<&PseudonymKey> {
        self.key.as_ref()
    }

    /// Reads an Asterisk `queue_log` into calls and events, without writing anything.
    pub fn read_queue_log(&self, input: impl BufRead) -> Result<QueueLog, ImportError> {
        QueueLog::read(self, input)
    }

    /// Reads Amazon Connect contact trace records (one JSON object per line) into events,
    /// without writing anything.
    pub fn read_contact_trace_records(
        &self,
        input: impl BufRead,
    ) -> Result<ContactTraceRecords, ImportError> {
        ContactTraceRecords::read(self, input)
    }

    /// `leitstand import asterisk-queue-log`: reads a `queue_log`, writes its events as
    /// JSON Lines and returns the report.
    pub fn asterisk_queue_log(
        &self,
        input: impl BufRead,
        output: impl Write,
    ) -> Result<ImportReport, ImportError> {
        let log = self.read_queue_log(input)?;
        log.write_events(output)?;
        Ok(log.into_report())
    }

    /// `leitstand import connect-ctr`: reads contact trace records, writes their events as
    /// JSON Lines and returns the report.
    pub fn connect_ctr(
        &self,
        input: impl BufRead,
        output: impl Write,
    ) -> Result<ImportReport, ImportError> {
        let records = self.read_contact_trace_records(input)?;
        records.write_events(output)?;
        Ok(records.into_report())
    }

    /// The `source` of the events from one kind of ACD.
    pub(crate) fn source(&self, acd: &str) -> String {
        match &self.site {
            Some(site) => format!("{acd}/{}/{site}", self.tenant),
            None => format!("{acd}/{}", self.tenant),
        }
    }

    /// An instant in the tenant's timezone.
    pub(crate) fn local(&self, at: DateTime<Utc>) -> DateTime<FixedOffset> {
        at.with_timezone(&self.timezone).fixed_offset()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_are_validated_once() {
        assert!(Import::new("soest").is_ok());
        assert!(matches!(
            Import::new("Soest"),
            Err(ImportError::InvalidTenant(_))
        ));
        assert!(Import::new("-x").is_err());
        assert!(Import::new("").is_err());
        let import = Import::new("soest").expect("valid");
        assert!(matches!(
            import.clone().with_timezone_name("Mars/Olympus"),
            Err(ImportError::UnknownTimezone(_))
        ));
        assert!(matches!(
            import.clone().with_site(" "),
            Err(ImportError::InvalidSite)
        ));
        let import = import
            .with_timezone_name("Europe/Lisbon")
            .expect("valid")
            .with_site("soest")
            .expect("valid");
        assert_eq!(import.timezone(), chrono_tz::Europe::Lisbon);
        assert_eq!(import.source("asterisk"), "asterisk/soest/soest");
    }
}
