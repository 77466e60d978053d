//! Asterisk's own service level beside Leitstand's, for the calls of one imported
//! `queue_log`: the answer to a provider's question why its old report and Leitstand's
//! differ.
//!
//! This module owns putting the two side by side and printing them; Asterisk's counting
//! rules are [`crate::service_level`]'s, Leitstand's are the SLA books' (`leitstand-sla`),
//! which count the imported events exactly as `leitstand replay` does.

use std::collections::BTreeMap;
use std::fmt;

use chrono::Utc;
use leitstand_contract::envelope::{IntakeLimits, parse_structured};
use leitstand_sla::books::SlaBook;
use leitstand_sla::figures::QueueReport;
use leitstand_sla::profile::ServiceProfile;

use crate::{AsteriskServiceLevel, QueueLog};

/// One Leitstand queue: Asterisk's figures for the Asterisk queues mapped into it, with
/// its threshold, beside Leitstand's.
#[derive(Debug, Clone, PartialEq)]
pub struct ServiceLevelComparison {
    /// The Leitstand queue.
    pub queue: String,
    /// Asterisk's figures over every Asterisk queue mapped into this queue
    /// (`asterisk_queue` names them, comma-separated), for the queue's threshold T.
    pub asterisk: AsteriskServiceLevel,
    /// Leitstand's figures for the queue (CONTRACT §5), every policy in
    /// `service_levels`.
    pub leitstand: QueueReport,
}

impl QueueLog {
    /// Asterisk's `SL` and `SL2` beside Leitstand's four policies, per Leitstand queue,
    /// with each queue's threshold and short-abandon limit from `profile` (the tenant's
    /// bundle, or the contract's defaults).
    ///
    /// Leitstand's side counts this log's events through the SLA books, as
    /// `leitstand replay` counts the imported file; Asterisk's side recomputes what
    /// `app_queue` would show with its `servicelevel` set to the queue's threshold.
    pub fn compare_service_levels(&self, profile: &ServiceProfile) -> Vec<ServiceLevelComparison> {
        let mut book = SlaBook::new();
        book.open(profile);
        for event in self.events() {
            // The events are this crate's own and always valid; one that were not would
            // be left out of Leitstand's side, as replay would refuse it.
            if let Ok(envelope) = parse_structured(
                event.to_json().as_bytes(),
                IntakeLimits::default(),
                Utc::now(),
            ) {
                book.record(profile, &envelope);
            }
        }
        let report = book.report();
        let Some(tenant) = report
            .tenants
            .into_iter()
            .find(|t| t.tenant == profile.tenant.as_str())
        else {
            return Vec::new();
        };
        // Only the queues this log has calls in: a bundle's other queues would show zeros.
        let in_log: BTreeMap<&str, ()> = self
            .entries()
            .iter()
            .map(|e| (e.queue.as_str(), ()))
            .collect();
        tenant
            .queues
            .into_iter()
            .filter(|q| in_log.contains_key(q.queue.as_str()))
            .map(|leitstand| {
                let threshold = u64::from(leitstand.threshold_seconds);
                let rows: Vec<AsteriskServiceLevel> = self
                    .asterisk_service_level(threshold)
                    .into_iter()
                    .filter(|row| row.queue == leitstand.queue)
                    .collect();
                ServiceLevelComparison {
                    queue: leitstand.queue.clone(),
                    asterisk: AsteriskServiceLevel::merged(&leitstand.queue, threshold, &rows),
                    leitstand,
                }
            })
            .collect()
    }
}

/// A ratio as a percentage with one decimal, `–` without one.
fn percent(ratio: Option<f64>) -> String {
    ratio.map_or_else(|| "–".to_owned(), |r| format!("{:.1} %", r * 100.0))
}

/// The comparison as the command line prints it: a table, then per queue what makes the
/// figures differ, in numbers.
pub struct ComparisonTable<'a>(pub &'a [ServiceLevelComparison]);

impl fmt::Display for ComparisonTable<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "Service level as Asterisk reports it (app_queue, servicelevel = T) and as Leitstand does (CONTRACT §5):"
        )?;
        writeln!(
            f,
            "{:<16} {:<24} {:>4} {:>3} {:>11} {:>11} {:>14} {:>9} {:>9} {:>15}",
            "queue",
            "asterisk queues",
            "T",
            "S",
            "Asterisk SL",
            "Asterisk SL2",
            "exclude-short",
            "count",
            "exclude",
            "success-within"
        )?;
        for c in self.0 {
            let l = &c.leitstand;
            writeln!(
                f,
                "{:<16} {:<24} {:>4} {:>3} {:>11} {:>11} {:>14} {:>9} {:>9} {:>15}",
                c.queue,
                c.asterisk.asterisk_queue,
                l.threshold_seconds,
                l.short_abandon_seconds,
                percent(c.asterisk.service_level),
                percent(c.asterisk.service_level_2),
                percent(l.service_levels.exclude_short),
                percent(l.service_levels.count),
                percent(l.service_levels.exclude),
                percent(l.service_levels.success_within),
            )?;
        }
        for c in self.0 {
            let (a, l) = (&c.asterisk, &c.leitstand);
            writeln!(
                f,
                "{}: Asterisk counts {} completed calls ({} within T; an answered call counts once it has ended, {} still talking) and {} abandoned ({} within T; timeouts and empty-queue exits included, {} key exits left out); Leitstand counts {} answered ({} within T) and {} abandoned ({} of them short, ≤ {} s, which exclude-short leaves out).",
                c.queue,
                a.completed,
                a.completed_within,
                a.still_talking,
                a.abandoned,
                a.abandoned_within,
                a.exited_with_key,
                l.answered,
                l.answered_within,
                l.abandoned,
                l.short_abandoned,
                l.short_abandon_seconds,
            )?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Import;
    use leitstand_contract::envelope::TenantId;
    use leitstand_sla::profile::{AbandonPolicy, SlaSettings};

    /// 2026-11-24 08:00:00 in Berlin.
    const T0: i64 = 1_795_503_600;

    fn profile(threshold_seconds: u32) -> ServiceProfile {
        ServiceProfile {
            tenant: TenantId::parse("soest").expect("valid"),
            display_name: "soest".into(),
            timezone: chrono_tz::Europe::Berlin,
            sla: SlaSettings {
                threshold_seconds,
                target: 0.8,
                short_abandon_seconds: 5,
                abandon_policy: AbandonPolicy::ExcludeShort,
                max_occupancy: None,
                shrinkage: 0.0,
                first_contact_target: None,
            },
            queues: BTreeMap::new(),
            calendars: None,
            providers: Default::default(),
        }
    }

    #[test]
    fn both_views_of_the_same_calls_side_by_side() {
        let log: String = [
            // answered within 20 s and ended; answered late, still talking; abandoned
            // short; a timeout; a key exit.
            (0, "a|q|NONE|ENTERQUEUE||1|1"),
            (10, "a|q|P/1|CONNECT|10|x|1"),
            (70, "a|q|P/1|COMPLETECALLER|10|60|1"),
            (100, "b|q|NONE|ENTERQUEUE||2|1"),
            (130, "b|q|P/1|CONNECT|30|y|1"),
            (200, "c|q|NONE|ENTERQUEUE||3|1"),
            (203, "c|q|NONE|ABANDON|1|1|3"),
            (300, "d|q|NONE|ENTERQUEUE||4|1"),
            (450, "d|q|NONE|EXITWITHTIMEOUT|1|1|150"),
            (500, "e|q|NONE|ENTERQUEUE||5|1"),
            (560, "e|q|NONE|EXITWITHKEY|1|1|1|60"),
        ]
        .iter()
        .map(|(t, rest)| format!("{}|{rest}\n", T0 + t))
        .collect();
        let read = Import::new("soest")
            .expect("valid")
            .read_queue_log(log.as_bytes())
            .expect("read");
        let rows = read.compare_service_levels(&profile(20));
        assert_eq!(rows.len(), 1);
        let row = &rows[0];
        assert_eq!(row.queue, "q");
        // Asterisk: 1 completed (within), 2 abandoned (1 within), the key exit nowhere.
        assert_eq!(
            (row.asterisk.completed, row.asterisk.abandoned),
            (1, 2),
            "{:?}",
            row.asterisk
        );
        assert_eq!(row.asterisk.service_level, Some(1.0));
        assert_eq!(row.asterisk.service_level_2, Some(2.0 / 3.0));
        // Leitstand: 2 answered (1 within), 3 abandoned (1 short).
        let l = &row.leitstand;
        assert_eq!((l.answered, l.answered_within, l.abandoned), (2, 1, 3));
        assert_eq!(l.service_levels.exclude_short, Some(1.0 / 4.0));
        assert_eq!(l.service_levels.count, Some(1.0 / 5.0));
        assert_eq!(l.service_levels.exclude, Some(1.0 / 2.0));
        assert_eq!(l.service_levels.success_within, Some(2.0 / 5.0));
        let table = ComparisonTable(&rows).to_string();
        for figure in ["100.0 %", "66.7 %", "25.0 %", "20.0 %", "50.0 %", "40.0 %"] {
            assert!(table.contains(figure), "{figure} in\n{table}");
        }
        assert!(table.contains("1 still talking"), "{table}");
    }
}
