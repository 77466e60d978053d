//! First-contact resolution per concern and per department: an ended call counts under
//! the concern its offer named and the department it was handed on to, with bounded
//! memory of offers and names.

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use foldhash::HashMap;
use sha2::{Digest, Sha256};

use leitstand_contract::domain::DomainEvent;
use leitstand_contract::envelope::Envelope;

use crate::counts::ratio;

/// Offers of calls not yet ended or abandoned one tenant remembers, to find an ended
/// call's concern. When a new offer finds the memory full, the longest-remembered tenth
/// is forgotten (counted in [`FirstContact::offers_forgotten`]); those calls, should they
/// still end, count under an unknown concern.
pub const MAX_REMEMBERED_OFFERS: usize = 100_000;
/// Distinct concerns counted by name per tenant, in the order they are first offered;
/// later ones count as [`OTHER`].
pub const MAX_CONCERNS: usize = 32;
/// Distinct departments counted by name per tenant, in the order calls are first handed
/// on to them; later ones count as [`OTHER`].
pub const MAX_DEPARTMENTS: usize = 32;
/// The name concerns and departments beyond their bound count under.
pub const OTHER: &str = "_other";

/// Ended calls of one concern or one department, by what they said about resolution
/// (CONTRACT §5: first-contact resolution = `resolved: true` / `resolved` present).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Resolution {
    /// `call.ended` events.
    pub ended: u64,
    /// Of them, those that said whether they were resolved.
    pub resolution_reported: u64,
    /// Of them, those with `resolved: true`.
    pub resolved: u64,
    /// Of the ended calls, those handed on to a department (`transferred_to`).
    pub handed_on: u64,
}

impl Resolution {
    /// Counts one ended call.
    pub fn add(&mut self, call: &EndedCall) {
        self.ended += 1;
        if let Some(resolved) = call.resolved {
            self.resolution_reported += 1;
            if resolved {
                self.resolved += 1;
            }
        }
        if call.department.is_some() {
            self.handed_on += 1;
        }
    }

    /// Adds the counts of `other`.
    pub fn merge(&mut self, other: &Resolution) {
        self.ended += other.ended;
        self.resolution_reported += other.resolution_reported;
        self.resolved += other.resolved;
        self.handed_on += other.handed_on;
    }

    /// Resolved at first contact over ended calls that reported `resolved`; `None` when
    /// none did.
    pub fn first_contact_resolution(&self) -> Option<f64> {
        ratio(self.resolved as f64, self.resolution_reported as f64)
    }
}

/// An ended call as first-contact resolution counts it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndedCall {
    /// The concern its `call.offered` named (bounded by [`MAX_CONCERNS`]); `None` when
    /// unknown: the offer was not seen, named no concern, or was forgotten.
    pub concern: Option<Arc<str>>,
    /// The department it was handed on to, its `transferred_to` (bounded by
    /// [`MAX_DEPARTMENTS`]); `None` when it was not handed on: the service center that
    /// answered it settled or closed it itself.
    pub department: Option<Arc<str>>,
    /// Its `resolved`, when it said.
    pub resolved: Option<bool>,
}

/// Ended calls per concern and per department.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FirstContactRows {
    /// By concern; `None`: unknown.
    pub by_concern: BTreeMap<Option<Arc<str>>, Resolution>,
    /// By department; `None`: not handed on (the service center itself).
    pub by_department: BTreeMap<Option<Arc<str>>, Resolution>,
}

impl FirstContactRows {
    /// Counts one ended call under its concern and under its department.
    pub fn add(&mut self, call: &EndedCall) {
        self.by_concern
            .entry(call.concern.clone())
            .or_default()
            .add(call);
        self.by_department
            .entry(call.department.clone())
            .or_default()
            .add(call);
    }

    /// Adds the rows of `other`.
    pub fn merge(&mut self, other: &FirstContactRows) {
        for (k, r) in &other.by_concern {
            self.by_concern.entry(k.clone()).or_default().merge(r);
        }
        for (k, r) in &other.by_department {
            self.by_department.entry(k.clone()).or_default().merge(r);
        }
    }

    /// All ended calls together.
    pub fn total(&self) -> Resolution {
        let mut all = Resolution::default();
        for r in self.by_concern.values() {
            all.merge(r);
        }
        all
    }
}

/// A remembered offer.
#[derive(Debug, Clone)]
struct Offer {
    concern: Arc<str>,
    at: DateTime<Utc>,
}

/// One tenant's memory for first-contact resolution: `call.ended` names no concern, so
/// the concern of each call is taken from its `call.offered` (by `call_id`) and kept
/// until the call ends or is abandoned. Memory is bounded: at most
/// [`MAX_REMEMBERED_OFFERS`] offers (each as a 16-byte digest of its call id and a shared
/// concern name), [`MAX_CONCERNS`] concern and [`MAX_DEPARTMENTS`] department names.
///
/// The report ([`crate::SlaBook`]) and the live metrics each feed one with the same accepted,
/// first-seen events, so that both attribute every ended call alike.
#[derive(Debug, Clone, Default)]
pub struct FirstContact {
    offers: HashMap<[u8; 16], Offer>,
    concerns: Vec<Arc<str>>,
    departments: Vec<Arc<str>>,
    forgotten: u64,
}

/// A non-empty string field of the event's `data`.
fn data_text<'e>(env: &'e Envelope, field: &str) -> Option<&'e str> {
    env.data
        .get(field)
        .and_then(serde_json::Value::as_str)
        .filter(|s| !s.is_empty())
}

/// `name` as counted: itself when already known or while fewer than `max` are, else
/// [`OTHER`].
fn bounded(names: &mut Vec<Arc<str>>, name: &str, max: usize) -> Arc<str> {
    if let Some(known) = names.iter().find(|n| &***n == name) {
        return known.clone();
    }
    if names.len() < max {
        let new: Arc<str> = Arc::from(name);
        names.push(new.clone());
        return new;
    }
    match names.iter().find(|n| &***n == OTHER) {
        Some(other) => other.clone(),
        None => {
            // Kept beyond `max`: the one name for all the rest.
            let other: Arc<str> = Arc::from(OTHER);
            names.push(other.clone());
            other
        }
    }
}

fn call_key(call_id: &str) -> [u8; 16] {
    let digest = Sha256::digest(call_id.as_bytes());
    let mut key = [0u8; 16];
    key.copy_from_slice(&digest[..16]);
    key
}

impl FirstContact {
    /// Takes one accepted, first-seen event of the tenant: remembers the concern of a
    /// `call.offered`, forgets it at `call.abandoned`, and for a `call.ended` forgets it
    /// and returns the call with its concern and department. Other events return `None`.
    ///
    /// An offer without a concern leaves what an earlier offer of the same call said.
    pub fn observe(&mut self, env: &Envelope) -> Option<EndedCall> {
        match env.domain.as_ref()? {
            DomainEvent::CallOffered(e) => {
                let concern = data_text(env, "concern")?;
                let concern = bounded(&mut self.concerns, concern, MAX_CONCERNS);
                let key = call_key(&e.call_id);
                if !self.offers.contains_key(&key) && self.offers.len() >= MAX_REMEMBERED_OFFERS {
                    self.forget_oldest();
                }
                self.offers.insert(
                    key,
                    Offer {
                        concern,
                        at: env.time,
                    },
                );
                None
            }
            DomainEvent::CallAbandoned(e) => {
                self.offers.remove(&call_key(&e.call_id));
                None
            }
            DomainEvent::CallEnded(e) => {
                let concern = self.offers.remove(&call_key(&e.call_id)).map(|o| o.concern);
                let department = data_text(env, "transferred_to")
                    .map(|d| bounded(&mut self.departments, d, MAX_DEPARTMENTS));
                Some(EndedCall {
                    concern,
                    department,
                    resolved: e.resolved,
                })
            }
            _ => None,
        }
    }

    /// Offers forgotten because the memory was full.
    pub fn offers_forgotten(&self) -> u64 {
        self.forgotten
    }

    /// Offers remembered now.
    pub fn offers_remembered(&self) -> usize {
        self.offers.len()
    }

    /// Forgets the tenth of the remembered offers with the oldest offer times (all offers
    /// at the cut's time go with them). Which offers go depends only on their times, so
    /// that the report and the metrics forget alike.
    fn forget_oldest(&mut self) {
        let mut times: Vec<DateTime<Utc>> = self.offers.values().map(|o| o.at).collect();
        let cut = times.len() / 10;
        if cut >= times.len() {
            return;
        }
        let (_, limit, _) = times.select_nth_unstable(cut);
        let limit = *limit;
        let before = self.offers.len();
        self.offers.retain(|_, o| o.at > limit);
        self.forgotten += (before - self.offers.len()) as u64;
    }
}
