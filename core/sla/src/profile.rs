//! A tenant's service as the SLA books need it: its name, timezone, the targets it
//! promises per queue and its calendar. The bundle loader validates it from
//! `tenant.toml` (`[sla]`, `[queues]`, `[calendar]`); the books, the live metrics and the
//! client's report read it.

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono_tz::Tz;
use leitstand_contract::envelope::TenantId;
use serde::{Deserialize, Serialize};

use leitstand_calendar::{Calendar, Calendars};

use crate::sites::Providers;

/// How abandoned calls count in the service level (CONTRACT §5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum AbandonPolicy {
    /// Abandons within the short-abandon limit are left out of the denominator.
    ExcludeShort,
    /// Every abandon counts against the service level.
    Count,
    /// Abandons are left out entirely.
    Exclude,
    /// An abandon within the threshold counts as a success.
    SuccessWithin,
}

impl AbandonPolicy {
    /// All policies, in the order reports list them.
    pub const ALL: [Self; 4] = [
        Self::ExcludeShort,
        Self::Count,
        Self::Exclude,
        Self::SuccessWithin,
    ];

    /// The policy's name as written in bundles and reports.
    pub fn name(self) -> &'static str {
        match self {
            Self::ExcludeShort => "exclude-short",
            Self::Count => "count",
            Self::Exclude => "exclude",
            Self::SuccessWithin => "success-within",
        }
    }
}

/// The SLA settings that apply to one queue.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct SlaSettings {
    /// A wait of at most this many seconds is within the service level.
    pub threshold_seconds: u32,
    /// The promised service level, a fraction (0.8 for 80 %).
    pub target: f64,
    /// An abandon after at most this many seconds is a short abandon.
    pub short_abandon_seconds: u32,
    /// How abandons count.
    pub abandon_policy: AbandonPolicy,
    /// Staffing: the highest occupancy (traffic / agents) to plan for.
    pub max_occupancy: Option<f64>,
    /// Staffing: the share of paid time agents are not on the phones (breaks, training,
    /// absence), in [0, 1).
    pub shrinkage: f64,
    /// The promised first-contact resolution, a fraction in (0, 1] (0.65 for 65 % of
    /// concerns settled at first contact); `None` when the tenant promises none.
    pub first_contact_target: Option<f64>,
}

/// A queue the tenant's calls wait in.
#[derive(Debug, Clone, PartialEq)]
pub struct QueueSpec {
    /// A readable name for reports.
    pub display_name: String,
    /// Its SLA settings, the tenant's with this queue's overrides applied.
    pub sla: SlaSettings,
}

/// What the SLA books know of one tenant.
#[derive(Debug, Clone, PartialEq)]
pub struct ServiceProfile {
    /// The tenant.
    pub tenant: TenantId,
    /// A readable name for reports.
    pub display_name: String,
    /// The tenant's timezone; intervals and opening hours are in it.
    pub timezone: Tz,
    /// The tenant-wide SLA settings.
    pub sla: SlaSettings,
    /// Declared queues.
    pub queues: BTreeMap<String, QueueSpec>,
    /// The tenant's calendars (`[calendar]` and `[calendars.<name>]`), when it declares
    /// them: whether it is open (`leitstand_tenant_open`), what holds on a report's day,
    /// and what its plugins ask the host.
    pub calendars: Option<Arc<Calendars>>,
    /// The tenant's sites and the providers they belong to (`[sites]`, `[providers]`);
    /// empty when it declares none (then it gets no per-site figures).
    pub providers: Providers,
}

impl ServiceProfile {
    /// The tenant's own calendar, `[calendar]`, when it declares one.
    pub fn calendar(&self) -> Option<&Calendar> {
        self.calendars.as_deref().map(Calendars::tenant)
    }

    /// The SLA settings of `queue`: its own when declared, else the tenant's.
    pub fn sla_for(&self, queue: &str) -> SlaSettings {
        self.queues.get(queue).map_or(self.sla, |q| q.sla)
    }
}
