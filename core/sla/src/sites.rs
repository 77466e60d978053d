//! Sites and providers: which provider each site belongs to, what each provider's contract
//! promises, and where a call counts (CONTRACT §8).
//!
//! The attribution rule, applied by [`Placements`] to the contract's typed events and the
//! `call.route` commands plugins decided for them:
//!
//! - a call is **offered** at the place it waits: the target of the route decided on its
//!   offer, else the `site` of its offer; a later reroute to another place counts it as
//!   offered there too (once per place), so a rerouted call is offered at every site it
//!   waited at;
//! - an **answered** call counts for the site that answered it (`site` of `call.answered`,
//!   else the place it waited at);
//! - an **abandoned** call for the site it was waiting at (`site` of `call.abandoned`,
//!   else the target of its last `call.route`, else the `site` of its offer);
//! - an **ended** call for the site that answered it;
//! - a call routed to an announcement counts for no site: under [`ANNOUNCEMENT`]; a call
//!   whose site is not known at all, under [`UNKNOWN_SITE`]; a site the bundle does not
//!   declare, under [`OTHER_SITE`]. Nothing is counted twice.
//!
//! It neither reads bundles nor knows a transport: the loader validates the declaration
//! ([`Providers`]), the pipeline hands over the routes.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use chrono::{DateTime, Utc};
use foldhash::HashMap;
use leitstand_contract::command::Command;
use leitstand_contract::domain::DomainEvent;
use serde::Serialize;

use crate::counts::Counts;
use crate::profile::ServiceProfile;

/// Where calls routed to an announcement count: no site.
pub const ANNOUNCEMENT: &str = "_announcement";
/// Where calls count whose site is not known (no `site` in their events, no route).
pub const UNKNOWN_SITE: &str = "_unknown";
/// Where calls count at a site the tenant's bundle does not declare.
pub const OTHER_SITE: &str = "_other";
/// Calls whose place is remembered per tenant; beyond it the oldest are forgotten (their
/// later events count by their own `site`, else under [`UNKNOWN_SITE`]).
pub const MAX_PLACED_CALLS: usize = 100_000;

/// A site the tenant's calls are answered at (`[sites.<id>]`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SiteSpec {
    /// A readable name for reports.
    pub display_name: String,
    /// The provider it belongs to, when one declares it.
    pub provider: Option<String>,
}

/// A contracted provider (`[providers.<id>]`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ProviderSpec {
    /// A readable name for reports.
    pub display_name: String,
    /// Its sites, in the order the bundle lists them.
    pub sites: Vec<String>,
    /// Contracted share of the handled calls per queue, a fraction; the providers' shares
    /// of one queue add up to 1.
    pub shares: BTreeMap<String, f64>,
    /// Calls per local day at most; `None`: no cap.
    pub daily_cap: Option<u64>,
    /// Its own service-level target where its contract says so; else the tenant's.
    pub target: Option<f64>,
}

/// A tenant's sites and providers, validated by the bundle loader.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Providers {
    /// Declared sites by id.
    pub sites: BTreeMap<String, SiteSpec>,
    /// Declared providers by id.
    pub providers: BTreeMap<String, ProviderSpec>,
}

impl Providers {
    /// Whether the tenant declares no site: it gets no per-site figures.
    pub fn is_empty(&self) -> bool {
        self.sites.is_empty()
    }

    /// The label a place counts under: a declared site's id, or one of [`ANNOUNCEMENT`],
    /// [`UNKNOWN_SITE`], [`OTHER_SITE`].
    pub fn label<'a>(&'a self, place: &'a Place) -> &'a str {
        match place {
            Place::Site(s) if self.sites.contains_key(s) => s,
            Place::Site(_) => OTHER_SITE,
            Place::Announcement => ANNOUNCEMENT,
            Place::Unknown => UNKNOWN_SITE,
        }
    }

    /// The provider of the site labelled `label`, when one declares it.
    pub fn provider_of(&self, label: &str) -> Option<&str> {
        self.sites.get(label).and_then(|s| s.provider.as_deref())
    }
}

/// Where a call waits or was handled.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Place {
    /// A provider's site.
    Site(String),
    /// An announcement: no site.
    Announcement,
    /// Not known.
    Unknown,
}

impl Place {
    fn of(site: Option<&String>) -> Option<Self> {
        site.map(|s| Self::Site(s.clone()))
    }
}

/// A `call.route` a plugin decided: which call goes where, and when (event time).
#[derive(Debug, Clone, PartialEq)]
pub struct Route {
    /// The call.
    pub call_id: String,
    /// Where it goes: the route's `target`, or [`Place::Announcement`] when the route says
    /// `announcement: true`.
    pub place: Place,
    /// When it was decided.
    pub at: DateTime<Utc>,
}

impl Route {
    /// The route a `call.route` command carries; `None` for other commands, and for a
    /// route without a `call_id` or `target`.
    pub fn from_command(command: &Command) -> Option<Self> {
        if command.command_type != "call.route" {
            return None;
        }
        let call_id = command.data.get("call_id")?.as_str()?.to_owned();
        let target = command.data.get("target")?.as_str()?;
        let announcement = command
            .data
            .get("announcement")
            .and_then(serde_json::Value::as_bool)
            .unwrap_or(false);
        let place = if announcement {
            Place::Announcement
        } else {
            Place::Site(target.to_owned())
        };
        let at = DateTime::parse_from_rfc3339(&command.time)
            .map(|t| t.with_timezone(&Utc))
            .ok()?;
        Some(Self { call_id, place, at })
    }
}

/// What one event or route adds to the places' counts.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Attribution {
    /// Places (with the call's queue) the call is newly offered at.
    pub offered_at: Vec<(Place, String)>,
    /// The place the event itself (answered, abandoned, ended) counts for.
    pub counts_at: Option<Place>,
}

#[derive(Debug, Clone)]
struct Placed {
    queue: String,
    /// Where it waits now.
    place: Place,
    /// Where it was answered.
    answered_at: Option<Place>,
    /// Places it was counted as offered at.
    offered_at: BTreeSet<Place>,
    seq: u64,
}

/// Where each call of one tenant waits, by the attribution rule (module docs).
#[derive(Debug, Clone, Default)]
pub struct Placements {
    calls: HashMap<String, Placed>,
    order: VecDeque<(u64, String)>,
    next_seq: u64,
    forgotten: u64,
}

impl Placements {
    /// Calls forgotten because more than [`MAX_PLACED_CALLS`] were remembered.
    pub fn forgotten(&self) -> u64 {
        self.forgotten
    }

    /// Where `event` counts, with `routes` the `call.route` commands decided on it (in
    /// order). The routes of the event's own offer place it; every other route is a
    /// reroute ([`Self::reroute`]), whose new offers are in the result too.
    pub fn event(&mut self, event: &DomainEvent, routes: &[Route]) -> Attribution {
        let mut out = Attribution::default();
        let mut rest: Vec<&Route> = Vec::new();
        match event {
            DomainEvent::CallOffered(e) => {
                let mut place = Place::of(e.site.as_ref()).unwrap_or(Place::Unknown);
                for r in routes {
                    if r.call_id == e.call_id {
                        place = r.place.clone();
                    } else {
                        rest.push(r);
                    }
                }
                self.remember(&e.call_id, &e.queue, place.clone());
                out.offered_at.push((place, e.queue.clone()));
            }
            DomainEvent::CallAnswered(e) => {
                rest.extend(routes);
                let known = self.calls.get_mut(&e.call_id);
                let place = Place::of(e.site.as_ref())
                    .or_else(|| known.as_ref().map(|c| c.place.clone()))
                    .unwrap_or(Place::Unknown);
                if let Some(c) = known {
                    c.answered_at = Some(place.clone());
                }
                out.counts_at = Some(place);
            }
            DomainEvent::CallAbandoned(e) => {
                rest.extend(routes);
                let known = self.calls.remove(&e.call_id);
                out.counts_at = Some(
                    Place::of(e.site.as_ref())
                        .or_else(|| known.map(|c| c.place))
                        .unwrap_or(Place::Unknown),
                );
            }
            DomainEvent::CallEnded(e) => {
                rest.extend(routes);
                let known = self.calls.remove(&e.call_id);
                out.counts_at = Some(
                    known
                        .map(|c| c.answered_at.unwrap_or(c.place))
                        .unwrap_or(Place::Unknown),
                );
            }
            _ => rest.extend(routes),
        }
        for r in rest {
            if let Some(offer) = self.reroute(r) {
                out.offered_at.push(offer);
            }
        }
        out
    }

    /// A route decided for a call already offered (by a timer, or on another event): the
    /// call now waits at the route's place. Returns the place and queue when the call is
    /// offered there for the first time; nothing for a call not known (its offer not seen,
    /// or already answered or abandoned).
    pub fn reroute(&mut self, route: &Route) -> Option<(Place, String)> {
        let c = self.calls.get_mut(&route.call_id)?;
        if c.answered_at.is_some() {
            return None;
        }
        c.place = route.place.clone();
        c.offered_at
            .insert(route.place.clone())
            .then(|| (route.place.clone(), c.queue.clone()))
    }

    fn remember(&mut self, call_id: &str, queue: &str, place: Place) {
        let seq = self.next_seq;
        self.next_seq += 1;
        let placed = Placed {
            queue: queue.to_owned(),
            offered_at: BTreeSet::from([place.clone()]),
            place,
            answered_at: None,
            seq,
        };
        self.calls.insert(call_id.to_owned(), placed);
        self.order.push_back((seq, call_id.to_owned()));
        while self.calls.len() > MAX_PLACED_CALLS {
            let Some((seq, id)) = self.order.pop_front() else {
                break;
            };
            if self.calls.get(&id).is_some_and(|c| c.seq == seq) {
                self.calls.remove(&id);
                self.forgotten += 1;
            }
        }
        // Entries of calls that ended long ago are dropped from the order as it grows.
        if self.order.len() > 2 * MAX_PLACED_CALLS.max(self.calls.len()) {
            let calls = &self.calls;
            self.order
                .retain(|(seq, id)| calls.get(id).is_some_and(|c| c.seq == *seq));
        }
    }
}

/// One attributed part of an event: what it adds to a site's counts in a queue.
#[derive(Debug, Clone, PartialEq)]
pub struct Tally {
    /// The site label ([`Providers::label`]).
    pub site: String,
    /// The call's queue.
    pub queue: String,
    /// What it adds: one offer, or the event counted by [`Counts::add`].
    pub counts: Counts,
}

impl Placements {
    /// [`Self::event`], counted: what `event` (with the routes decided on it) adds to each
    /// site's counts under `profile`'s settings for the call's queue. Empty for a tenant
    /// that declares no sites.
    pub fn count(
        &mut self,
        profile: &ServiceProfile,
        event: &DomainEvent,
        routes: &[Route],
    ) -> Vec<Tally> {
        if profile.providers.is_empty() {
            return Vec::new();
        }
        let a = self.event(event, routes);
        let mut out: Vec<Tally> = a
            .offered_at
            .iter()
            .map(|(place, queue)| offer(profile, place, queue))
            .collect();
        if let (Some(place), Some(queue)) = (&a.counts_at, event.queue()) {
            let mut counts = Counts::default();
            counts.add(event, &profile.sla_for(queue));
            out.push(Tally {
                site: profile.providers.label(place).to_owned(),
                queue: queue.to_owned(),
                counts,
            });
        }
        out
    }

    /// [`Self::reroute`], counted: the offer at the route's place, when it is new there.
    pub fn count_reroute(&mut self, profile: &ServiceProfile, route: &Route) -> Option<Tally> {
        if profile.providers.is_empty() {
            return None;
        }
        self.reroute(route)
            .map(|(place, queue)| offer(profile, &place, &queue))
    }
}

fn offer(profile: &ServiceProfile, place: &Place, queue: &str) -> Tally {
    Tally {
        site: profile.providers.label(place).to_owned(),
        queue: queue.to_owned(),
        counts: Counts {
            offered: 1,
            ..Counts::default()
        },
    }
}

/// The site labels of `providers`' figures: every declared site, then the places that
/// count for no declared site.
pub fn labels(providers: &Providers) -> impl Iterator<Item = &str> {
    providers
        .sites
        .keys()
        .map(String::as_str)
        .chain([ANNOUNCEMENT, UNKNOWN_SITE, OTHER_SITE])
}

#[cfg(test)]
mod tests {
    use super::*;
    use leitstand_contract::domain::{CallLeftQueue, CallOffered, Priority};

    fn at() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-11-19T09:00:00Z")
            .map(|t| t.with_timezone(&Utc))
            .expect("time")
    }

    fn offered(call: &str, site: Option<&str>) -> DomainEvent {
        DomainEvent::CallOffered(CallOffered {
            call_id: call.into(),
            queue: "q".into(),
            site: site.map(Into::into),
            priority: Priority::Normal,
        })
    }

    fn left(call: &str, site: Option<&str>) -> CallLeftQueue {
        CallLeftQueue {
            call_id: call.into(),
            queue: "q".into(),
            wait_seconds: 30.0,
            site: site.map(Into::into),
        }
    }

    fn route(call: &str, place: Place) -> Route {
        Route {
            call_id: call.into(),
            place,
            at: at(),
        }
    }

    fn site(s: &str) -> Place {
        Place::Site(s.into())
    }

    #[test]
    fn a_rerouted_call_is_answered_for_the_second_site_only() {
        let mut p = Placements::default();
        let a = p.event(&offered("c", Some("acd")), &[route("c", site("a"))]);
        assert_eq!(a.offered_at, vec![(site("a"), "q".into())]);
        assert_eq!(a.counts_at, None);
        assert_eq!(
            p.reroute(&route("c", site("b"))),
            Some((site("b"), "q".into()))
        );
        // Back to a site it was offered at already: not offered there twice.
        assert_eq!(p.reroute(&route("c", site("a"))), None);
        assert_eq!(p.reroute(&route("c", site("b"))), None);
        let a = p.event(&DomainEvent::CallAnswered(left("c", Some("b"))), &[]);
        assert_eq!(a.counts_at, Some(site("b")));
        let a = p.event(&DomainEvent::CallAbandoned(left("d", None)), &[]);
        assert_eq!(a.counts_at, Some(Place::Unknown));
    }

    #[test]
    fn an_abandon_counts_where_the_call_waited() {
        let mut p = Placements::default();
        p.event(&offered("x", Some("a")), &[]);
        p.event(&offered("y", Some("a")), &[route("y", site("b"))]);
        p.event(&offered("z", Some("a")), &[]);
        p.event(&offered("w", None), &[]);
        let ab = |p: &mut Placements, c: &str, s: Option<&str>| {
            p.event(&DomainEvent::CallAbandoned(left(c, s)), &[])
                .counts_at
        };
        assert_eq!(ab(&mut p, "x", None), Some(site("a")));
        assert_eq!(ab(&mut p, "y", None), Some(site("b")));
        assert_eq!(ab(&mut p, "z", Some("c")), Some(site("c")));
        assert_eq!(ab(&mut p, "w", None), Some(Place::Unknown));
    }

    #[test]
    fn an_announcement_counts_for_no_site() {
        let mut p = Placements::default();
        let a = p.event(&offered("c", Some("a")), &[route("c", Place::Announcement)]);
        assert_eq!(a.offered_at, vec![(Place::Announcement, "q".into())]);
        let a = p.event(&DomainEvent::CallAbandoned(left("c", None)), &[]);
        assert_eq!(a.counts_at, Some(Place::Announcement));
        let declared = Providers::default();
        assert_eq!(declared.label(&Place::Announcement), ANNOUNCEMENT);
        assert_eq!(declared.label(&site("a")), OTHER_SITE);
    }

    #[test]
    fn an_ended_call_counts_where_it_was_answered() {
        let mut p = Placements::default();
        p.event(&offered("c", Some("a")), &[]);
        p.event(&DomainEvent::CallAnswered(left("c", Some("b"))), &[]);
        // Answered: a late route does not move it.
        assert_eq!(p.reroute(&route("c", site("d"))), None);
        let ended = DomainEvent::CallEnded(leitstand_contract::domain::CallEnded {
            call_id: "c".into(),
            queue: "q".into(),
            talk_seconds: 10.0,
            resolved: Some(true),
        });
        assert_eq!(p.event(&ended, &[]).counts_at, Some(site("b")));
    }
}
