//! The queue map: which of the ACD's queues belong to the tenant and under which Leitstand
//! names, and what the transfer targets the ACD records are called in the tenant's words.
//!
//! This module owns the map's TOML form and its lookups; it reads no ACD records itself.
//!
//! ```toml
//! # Optional: the tenant these queues are, when the command line names none.
//! tenant = "soest"
//! # Optional. "refuse" (the default when [queues] names any queue), "skip" or "keep".
//! unmapped = "refuse"
//!
//! [queues]
//! "stadt-115" = "stadt"        # Asterisk queue name = Leitstand queue
//! "Stadt Soest" = "stadt"      # Amazon Connect queue name (or queue ARN)
//!
//! [transfers]
//! "3100@abteilungen" = "kfz-stelle"   # Asterisk extension@context, or the extension alone
//! "+4929213031000" = "kfz-stelle"     # Amazon Connect transfer endpoint
//! ```

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::ImportError;

/// What happens to a queue the map does not name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum UnmappedQueues {
    /// The queue keeps the name the ACD gives it.
    Keep,
    /// Its records are refused: one ACD often serves several tenants, and a queue the map
    /// does not name is taken to be another tenant's, whose records should not be here.
    Refuse,
    /// Its records are counted as another tenant's and left out, without a refusal: for an
    /// ACD known to serve several tenants, each imported with its own map.
    Skip,
}

/// How the ACD's queue names and transfer targets become Leitstand's.
///
/// [`QueueMap::default`] maps nothing and keeps every queue's own name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueMap {
    tenant: Option<String>,
    queues: BTreeMap<String, String>,
    transfers: BTreeMap<String, String>,
    unmapped: UnmappedQueues,
}

impl Default for QueueMap {
    fn default() -> Self {
        Self {
            tenant: None,
            queues: BTreeMap::new(),
            transfers: BTreeMap::new(),
            unmapped: UnmappedQueues::Keep,
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawQueueMap {
    tenant: Option<String>,
    unmapped: Option<UnmappedQueues>,
    #[serde(default)]
    queues: BTreeMap<String, String>,
    #[serde(default)]
    transfers: BTreeMap<String, String>,
}

/// The `transferred_to` written for a transfer out of Leitstand's view to a telephone
/// number the map does not name: the number itself is never written.
pub const EXTERNAL_TRANSFER: &str = "external";

impl QueueMap {
    /// Reads a map from its TOML text (see the module documentation for the form).
    ///
    /// When `unmapped` is not given, a map that names queues refuses the others and a map
    /// that names none keeps them all.
    pub fn from_toml(text: &str) -> Result<Self, ImportError> {
        let raw: RawQueueMap =
            toml::from_str(text).map_err(|e| ImportError::QueueMap(e.message().to_owned()))?;
        for (table, entries) in [("queues", &raw.queues), ("transfers", &raw.transfers)] {
            for (from, to) in entries {
                if from.trim().is_empty() || to.trim().is_empty() {
                    return Err(ImportError::QueueMap(format!(
                        "[{table}] has an empty name"
                    )));
                }
                if to.chars().any(char::is_control) {
                    return Err(ImportError::QueueMap(format!(
                        "[{table}] maps {from:?} to a name with control characters"
                    )));
                }
            }
        }
        let unmapped = raw.unmapped.unwrap_or(if raw.queues.is_empty() {
            UnmappedQueues::Keep
        } else {
            UnmappedQueues::Refuse
        });
        Ok(Self {
            tenant: raw.tenant,
            queues: raw.queues,
            transfers: raw.transfers,
            unmapped,
        })
    }

    /// The tenant the map is for, when it names one (`tenant = "…"`); an import takes it
    /// when its command line names none.
    pub fn tenant(&self) -> Option<&str> {
        self.tenant.as_deref()
    }

    /// What the map does with queues it does not name.
    pub fn unmapped(&self) -> UnmappedQueues {
        self.unmapped
    }

    /// The Leitstand queue for an ACD queue name; `None` when the queue is not the
    /// tenant's (refused or skipped, as [`QueueMap::unmapped`] says).
    pub fn queue(&self, acd_queue: &str) -> Option<String> {
        match self.queues.get(acd_queue) {
            Some(name) => Some(name.clone()),
            None => match self.unmapped {
                UnmappedQueues::Keep => Some(acd_queue.to_owned()),
                UnmappedQueues::Refuse | UnmappedQueues::Skip => None,
            },
        }
    }

    /// The `transferred_to` for a transfer target as the ACD records it.
    ///
    /// The map's `[transfers]` entry for the whole target wins, then (for an Asterisk
    /// `extension@context`) the entry for the extension alone. A target the map does not
    /// name is written as it is, unless it is a telephone number — a `+` or digit string
    /// of seven digits or more — which becomes [`EXTERNAL_TRANSFER`]: a dialled number may
    /// be a private person's, and Leitstand never holds raw numbers.
    pub fn transfer_target(&self, target: &str) -> String {
        if let Some(name) = self.transfers.get(target) {
            return name.clone();
        }
        let dialled = target.split('@').next().unwrap_or(target);
        if dialled != target
            && let Some(name) = self.transfers.get(dialled)
        {
            return name.clone();
        }
        if is_phone_number(dialled) {
            EXTERNAL_TRANSFER.to_owned()
        } else {
            target.to_owned()
        }
    }
}

/// A dialled string that reaches a telephone line outside the ACD: an optional `+`, then
/// digits only, at least seven of them (internal extensions are shorter).
fn is_phone_number(dialled: &str) -> bool {
    let digits = dialled.strip_prefix('+').unwrap_or(dialled);
    digits.len() >= 7 && digits.bytes().all(|b| b.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_map_that_names_queues_refuses_the_others_unless_told_to_keep_them() {
        let map = QueueMap::from_toml("[queues]\n\"stadt-115\" = \"stadt\"\n").expect("valid");
        assert_eq!(map.queue("stadt-115").as_deref(), Some("stadt"));
        assert_eq!(map.queue("sonst"), None);
        let map =
            QueueMap::from_toml("unmapped = \"keep\"\n[queues]\n\"a\" = \"b\"\n").expect("valid");
        assert_eq!(map.queue("sonst").as_deref(), Some("sonst"));
        let map = QueueMap::from_toml("[transfers]\n\"1@x\" = \"y\"\n").expect("valid");
        assert_eq!(map.unmapped(), UnmappedQueues::Keep);
        assert_eq!(map.tenant(), None);
        let map = QueueMap::from_toml("tenant = \"soest\"\nunmapped = \"skip\"\n").expect("valid");
        assert_eq!(
            (map.tenant(), map.unmapped()),
            (Some("soest"), UnmappedQueues::Skip)
        );
        assert_eq!(QueueMap::default().queue("q").as_deref(), Some("q"));
    }

    #[test]
    fn bad_maps_are_refused() {
        for text in [
            "[queues]\n\"a\" = \"\"\n",
            "[queues]\n\"a\" = 3\n",
            "unmapped = \"drop\"\n",
            "[routes]\n\"a\" = \"b\"\n",
            "[queues",
        ] {
            assert!(
                matches!(QueueMap::from_toml(text), Err(ImportError::QueueMap(_))),
                "{text}"
            );
        }
    }

    #[test]
    fn transfer_targets_are_named_by_the_map_and_numbers_never_written() {
        let map = QueueMap::from_toml(
            "[transfers]\n\"3100@abteilungen\" = \"kfz-stelle\"\n\"3200\" = \"sozialamt\"\n\"+4929213030\" = \"kreishaus\"\n",
        )
        .expect("valid");
        assert_eq!(map.transfer_target("3100@abteilungen"), "kfz-stelle");
        assert_eq!(map.transfer_target("3200@abteilungen"), "sozialamt");
        assert_eq!(map.transfer_target("+4929213030"), "kreishaus");
        assert_eq!(map.transfer_target("kreis@queues"), "kreis@queues");
        assert_eq!(map.transfer_target("2101@agents"), "2101@agents");
        assert_eq!(
            map.transfer_target("004917612345678@extern"),
            EXTERNAL_TRANSFER
        );
        assert_eq!(map.transfer_target("+491761234567"), EXTERNAL_TRANSFER);
    }
}
