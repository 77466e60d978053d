//! What the crate's unit tests share: a tenant's profile with a queue and three sites.

use std::collections::BTreeMap;

use leitstand_contract::envelope::TenantId;
use leitstand_sla::profile::{AbandonPolicy, QueueSpec, ServiceProfile, SlaSettings};
use leitstand_sla::sites::{Providers, SiteSpec};

/// rlp-impf's shape: queue `impf`, sites `kl`, `ps`, `sb`; 80/20.
pub fn profile() -> ServiceProfile {
    let sla = SlaSettings {
        threshold_seconds: 20,
        target: 0.8,
        short_abandon_seconds: 5,
        abandon_policy: AbandonPolicy::ExcludeShort,
        max_occupancy: None,
        shrinkage: 0.0,
        first_contact_target: None,
    };
    let site = |name: &str| SiteSpec {
        display_name: name.to_owned(),
        provider: None,
    };
    ServiceProfile {
        tenant: TenantId::parse("t").expect("tenant id"),
        display_name: "T".into(),
        timezone: chrono_tz::Europe::Berlin,
        sla,
        queues: BTreeMap::from([(
            "impf".to_owned(),
            QueueSpec {
                display_name: "Impf".into(),
                sla,
            },
        )]),
        calendars: None,
        providers: Providers {
            sites: BTreeMap::from([
                ("kl".to_owned(), site("KL")),
                ("ps".to_owned(), site("PS")),
                ("sb".to_owned(), site("SB")),
            ]),
            providers: BTreeMap::new(),
        },
    }
}
