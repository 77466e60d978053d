//! Capacity: what the last `site.status` of a site says about it now, and where a call goes
//! when the primary is full.
//!
//! A site is **full** when its last status shows `agents_available == 0`, or
//! `calls_waiting >= max_waiting` (when the site or `overflow` sets `max_waiting` and the
//! status carries `calls_waiting`). A status older than `overflow.status_max_age_seconds`
//! at the call's time (strictly older; exactly that old is still fresh), or no status at
//! all, is **unknown**. Unknown counts as not full for the primary (the call stays where the
//! rota puts it: no news is not a reason to move calls) and, by default, as not usable for a
//! partner (overflow goes only to a site that has recently reported free capacity;
//! `overflow.unknown_partner = "use"` treats it as not full instead).

use serde::{Deserialize, Serialize};

use crate::config::UnknownPartner;

/// A site's last status as kept in state (`site/<name>`), with its event time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SiteRecord {
    /// Agents on shift.
    pub agents_staffed: u32,
    /// Agents idle and ready.
    pub agents_available: u32,
    /// Calls waiting at the site, when reported.
    #[serde(default)]
    pub calls_waiting: Option<u32>,
    /// The status event's time, milliseconds since the epoch.
    pub time_ms: i64,
    /// The status event's id, for tracing a decision back to its input.
    pub event_id: String,
}

/// What a site's status says at one moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Condition {
    /// A fresh status with room.
    Free,
    /// A fresh status with `agents_available == 0`.
    NoAgentsAvailable,
    /// A fresh status with `calls_waiting >= max_waiting`.
    QueueFull,
    /// No status since the plugin started keeping them.
    NoStatus,
    /// A status older than `status_max_age_seconds`.
    StaleStatus,
}

impl Condition {
    /// The name in the route's `skipped` list.
    pub fn as_str(self) -> &'static str {
        match self {
            Condition::Free => "free",
            Condition::NoAgentsAvailable => "no-agents-available",
            Condition::QueueFull => "queue-full",
            Condition::NoStatus => "no-status",
            Condition::StaleStatus => "stale-status",
        }
    }

    /// Whether the status says the site is full.
    pub fn is_full(self) -> bool {
        matches!(self, Condition::NoAgentsAvailable | Condition::QueueFull)
    }

    /// Whether nothing current is known.
    pub fn is_unknown(self) -> bool {
        matches!(self, Condition::NoStatus | Condition::StaleStatus)
    }
}

/// The condition of a site with last status `record` at `now_ms`.
pub fn condition(
    record: Option<&SiteRecord>,
    now_ms: i64,
    max_age_seconds: u32,
    max_waiting: Option<u32>,
) -> Condition {
    let Some(r) = record else {
        return Condition::NoStatus;
    };
    if now_ms.saturating_sub(r.time_ms) > i64::from(max_age_seconds) * 1000 {
        return Condition::StaleStatus;
    }
    if r.agents_available == 0 {
        return Condition::NoAgentsAvailable;
    }
    match (r.calls_waiting, max_waiting) {
        (Some(waiting), Some(max)) if waiting >= max => Condition::QueueFull,
        _ => Condition::Free,
    }
}

/// A site passed over, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Skipped {
    /// The site.
    pub site: String,
    /// Its condition (`Condition::as_str`).
    pub because: &'static str,
}

/// Where the capacity rule sends a call whose duty site is the primary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Choice {
    /// The primary is not full.
    Primary,
    /// The primary is full; `site` is the first partner that can take the call.
    Overflow {
        /// The partner.
        site: String,
        /// The primary and the partners passed over, in order.
        skipped: Vec<Skipped>,
    },
    /// The primary and every partner are full (or unusable).
    AllFull {
        /// The primary and every partner, in order.
        skipped: Vec<Skipped>,
    },
}

/// Chooses between `primary` and its `partners` (in order), asking `condition_of` for a
/// site's condition only when it is needed.
pub fn choose<E>(
    primary: &str,
    partners: &[String],
    unknown_partner: UnknownPartner,
    mut condition_of: impl FnMut(&str) -> Result<Condition, E>,
) -> Result<Choice, E> {
    let first = condition_of(primary)?;
    if !first.is_full() {
        return Ok(Choice::Primary);
    }
    let mut skipped = vec![Skipped {
        site: primary.to_owned(),
        because: first.as_str(),
    }];
    for partner in partners {
        let c = condition_of(partner)?;
        let usable = match c {
            Condition::Free => true,
            c if c.is_unknown() => unknown_partner == UnknownPartner::Use,
            _ => false,
        };
        if usable {
            return Ok(Choice::Overflow {
                site: partner.clone(),
                skipped,
            });
        }
        skipped.push(Skipped {
            site: partner.clone(),
            because: c.as_str(),
        });
    }
    Ok(Choice::AllFull { skipped })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;
    use std::convert::Infallible;

    fn record(available: u32, waiting: Option<u32>, time_ms: i64) -> SiteRecord {
        SiteRecord {
            agents_staffed: 5,
            agents_available: available,
            calls_waiting: waiting,
            time_ms,
            event_id: "s".to_owned(),
        }
    }

    #[test]
    fn conditions() {
        let now = 1_000_000;
        assert_eq!(condition(None, now, 120, None), Condition::NoStatus);
        assert_eq!(
            condition(Some(&record(2, Some(9), now)), now, 120, None),
            Condition::Free
        );
        assert_eq!(
            condition(Some(&record(0, None, now)), now, 120, None),
            Condition::NoAgentsAvailable
        );
        assert_eq!(
            condition(Some(&record(2, Some(5), now)), now, 120, Some(5)),
            Condition::QueueFull
        );
        assert_eq!(
            condition(Some(&record(2, Some(4), now)), now, 120, Some(5)),
            Condition::Free
        );
        // No calls_waiting reported: only the agents count.
        assert_eq!(
            condition(Some(&record(2, None, now)), now, 120, Some(5)),
            Condition::Free
        );
        // Exactly max age is fresh; a millisecond more is stale (even if it said full).
        let old = now - 120_000;
        assert_eq!(
            condition(Some(&record(0, None, old)), now, 120, None),
            Condition::NoAgentsAvailable
        );
        assert_eq!(
            condition(Some(&record(0, None, old - 1)), now, 120, None),
            Condition::StaleStatus
        );
    }

    fn run(
        conditions: &[(&str, Condition)],
        partners: &[&str],
        unknown: UnknownPartner,
    ) -> (Choice, Vec<String>) {
        let map: BTreeMap<&str, Condition> = conditions.iter().copied().collect();
        let partners: Vec<String> = partners.iter().map(|s| s.to_string()).collect();
        let mut asked = Vec::new();
        let choice = choose::<Infallible>("kaiserslautern", &partners, unknown, |s| {
            asked.push(s.to_owned());
            Ok(map.get(s).copied().unwrap_or(Condition::NoStatus))
        })
        .expect("infallible");
        (choice, asked)
    }

    fn skipped(list: &[(&str, &'static str)]) -> Vec<Skipped> {
        list.iter()
            .map(|(s, b)| Skipped {
                site: s.to_string(),
                because: b,
            })
            .collect()
    }

    #[test]
    fn overflow_goes_down_the_list() {
        use Condition::*;
        let partners = ["pirmasens", "saarbruecken"];
        let (c, asked) = run(&[("kaiserslautern", Free)], &partners, UnknownPartner::Skip);
        assert_eq!(c, Choice::Primary);
        assert_eq!(asked, ["kaiserslautern"]);

        // Unknown primary stays primary.
        let (c, _) = run(
            &[("kaiserslautern", StaleStatus)],
            &partners,
            UnknownPartner::Skip,
        );
        assert_eq!(c, Choice::Primary);

        let (c, asked) = run(
            &[("kaiserslautern", NoAgentsAvailable), ("pirmasens", Free)],
            &partners,
            UnknownPartner::Skip,
        );
        assert_eq!(
            c,
            Choice::Overflow {
                site: "pirmasens".into(),
                skipped: skipped(&[("kaiserslautern", "no-agents-available")])
            }
        );
        assert_eq!(asked, ["kaiserslautern", "pirmasens"]);

        let (c, _) = run(
            &[
                ("kaiserslautern", QueueFull),
                ("pirmasens", QueueFull),
                ("saarbruecken", Free),
            ],
            &partners,
            UnknownPartner::Skip,
        );
        assert_eq!(
            c,
            Choice::Overflow {
                site: "saarbruecken".into(),
                skipped: skipped(&[
                    ("kaiserslautern", "queue-full"),
                    ("pirmasens", "queue-full")
                ])
            }
        );
    }

    #[test]
    fn unknown_partners_are_skipped_unless_used() {
        use Condition::*;
        let partners = ["pirmasens", "saarbruecken"];
        let conditions = [
            ("kaiserslautern", NoAgentsAvailable),
            ("pirmasens", StaleStatus),
        ];
        let (c, _) = run(&conditions, &partners, UnknownPartner::Skip);
        assert_eq!(
            c,
            Choice::AllFull {
                skipped: skipped(&[
                    ("kaiserslautern", "no-agents-available"),
                    ("pirmasens", "stale-status"),
                    ("saarbruecken", "no-status")
                ])
            }
        );
        let (c, _) = run(&conditions, &partners, UnknownPartner::Use);
        assert_eq!(
            c,
            Choice::Overflow {
                site: "pirmasens".into(),
                skipped: skipped(&[("kaiserslautern", "no-agents-available")])
            }
        );
    }

    #[test]
    fn no_partners_is_all_full() {
        let (c, _) = run(
            &[("kaiserslautern", Condition::QueueFull)],
            &[],
            UnknownPartner::Skip,
        );
        assert_eq!(
            c,
            Choice::AllFull {
                skipped: skipped(&[("kaiserslautern", "queue-full")])
            }
        );
    }
}
