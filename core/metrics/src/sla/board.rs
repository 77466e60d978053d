//! A tenant's board: what the operators' wallboard shows of its queues now — the calls
//! waiting and since when, each queue's counts and histograms, its rolling service-level
//! window and the interval behind the staffing gauge, the sites' capacity — and its
//! durable form.
//!
//! The pipeline commits the durable form with every batch that counts events, in the same
//! transaction as the batch's state, timers and processed ids ([ADR 0016]). A daemon that
//! is restarted, killed, or takes the tenant over in cluster mode reads it when it opens
//! the tenant and continues the figures: a surge does not look like an empty queue and a
//! fresh window on the wallboard because a process changed.
//!
//! [ADR 0016]: ../../../docs/adr/0016-plugin-output-timers-watchdog-durable-board.md

use std::collections::{BTreeMap, HashMap, VecDeque};

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

use leitstand_contract::domain::{DomainEvent, Priority};
use leitstand_sla::ServiceProfile;
use leitstand_sla::books::{Counts, Staffing};

use super::{
    Hist, MAX_SITES, MAX_UNDECLARED_QUEUES, MAX_WAITING_CALLS, OTHER, QueueLive, SiteLive,
    TALK_BUCKETS, Waiting, wait_bounds,
};

/// The durable form's format; a form of another format is refused by name.
const FORMAT: u32 = 1;

/// Waiting calls the durable form keeps, the longest-waiting first: the oldest wait stays
/// right, and a form stays small enough to commit with every batch. Beyond it the calls
/// waiting shortest are not kept (a restart then shows fewer calls waiting).
pub const MAX_KEPT_WAITING: usize = 10_000;

/// One tenant's board.
#[derive(Debug, Clone, Default)]
pub(super) struct Board {
    /// Declared queues first; undeclared ones as they come, up to the limit.
    pub(super) queues: BTreeMap<String, QueueLive>,
    pub(super) declared: usize,
    pub(super) waiting: HashMap<String, Waiting>,
    pub(super) sites: BTreeMap<String, SiteLive>,
    pub(super) latest: Option<DateTime<Utc>>,
}

impl Board {
    /// A line for every queue `bundle` declares, with its settings (a reload changes
    /// them; counts so far are kept).
    pub(super) fn declare(&mut self, bundle: &ServiceProfile) {
        for (id, q) in &bundle.queues {
            match self.queues.get_mut(id) {
                Some(live) => live.settle(q.sla),
                None => {
                    self.queues.insert(id.clone(), QueueLive::new(q.sla));
                }
            }
        }
        self.declared = bundle.queues.len();
    }

    /// The label an event's queue counts under.
    fn queue_label(&mut self, bundle: &ServiceProfile, queue: &str) -> String {
        if self.queues.contains_key(queue) {
            return queue.to_owned();
        }
        let undeclared = self.queues.len() - self.declared;
        let label = if undeclared < MAX_UNDECLARED_QUEUES {
            queue
        } else {
            OTHER
        };
        self.queues
            .entry(label.to_owned())
            .or_insert_with(|| QueueLive::new(bundle.sla_for(queue)));
        label.to_owned()
    }

    /// Counts one event at event time `at`.
    pub(super) fn record(
        &mut self,
        bundle: &ServiceProfile,
        domain: &DomainEvent,
        at: DateTime<Utc>,
        tz: Tz,
        window_minutes: i64,
    ) {
        self.latest = Some(self.latest.map_or(at, |l| l.max(at)));
        if let DomainEvent::SiteStatus(s) = domain {
            if self.sites.contains_key(&s.site) || self.sites.len() < MAX_SITES {
                self.sites.insert(
                    s.site.clone(),
                    SiteLive {
                        staffed: s.agents_staffed,
                        available: s.agents_available,
                        calls_waiting: s.calls_waiting,
                    },
                );
            }
            return;
        }
        let Some(queue) = domain.queue() else { return };
        let label = self.queue_label(bundle, queue);
        if let Some(q) = self.queues.get_mut(&label) {
            q.record(domain, at, tz, window_minutes);
        }
        match domain {
            DomainEvent::CallOffered(e) => {
                if self.waiting.len() >= MAX_WAITING_CALLS {
                    forget_oldest(&mut self.waiting);
                }
                self.waiting.insert(
                    e.call_id.clone(),
                    Waiting {
                        queue: label,
                        priority: e.priority,
                        since: at,
                    },
                );
            }
            DomainEvent::CallAnswered(e) | DomainEvent::CallAbandoned(e) => {
                self.waiting.remove(&e.call_id);
            }
            _ => {}
        }
    }

    /// The durable form (JSON).
    pub(super) fn to_bytes(&self) -> Result<Vec<u8>, String> {
        let mut waiting: Vec<(&String, &Waiting)> = self.waiting.iter().collect();
        if waiting.len() > MAX_KEPT_WAITING {
            waiting.select_nth_unstable_by_key(MAX_KEPT_WAITING, |(_, w)| w.since);
            waiting.truncate(MAX_KEPT_WAITING);
        }
        waiting.sort_by(|a, b| (a.1.since, a.0).cmp(&(b.1.since, b.0)));
        let form = FormRef {
            format: FORMAT,
            latest: self.latest,
            queues: self
                .queues
                .iter()
                .map(|(name, q)| {
                    let form = QueueRef {
                        total: &q.total,
                        wait_answered: &q.wait_answered,
                        wait_abandoned: &q.wait_abandoned,
                        talk: &q.talk,
                        minutes: &q.minutes,
                        interval: q.interval.as_ref(),
                        staffing: q.staffing.as_ref(),
                    };
                    (name.as_str(), form)
                })
                .collect(),
            waiting: waiting
                .into_iter()
                .map(|(call, w)| WaitingRow {
                    call: call.clone(),
                    queue: w.queue.clone(),
                    emergency: w.priority == Priority::Emergency,
                    since: w.since,
                })
                .collect(),
            sites: &self.sites,
        };
        serde_json::to_vec(&form).map_err(|e| format!("the live figures cannot be written: {e}"))
    }

    /// The board of `bundle`'s tenant from its durable form, with the bundle's queues and
    /// settings as they are now: a queue whose buckets changed since starts its
    /// histograms again, a queue no longer declared counts as undeclared (within the
    /// limit), and calls waiting in a queue without a line are not kept.
    pub(super) fn from_bytes(
        bundle: &ServiceProfile,
        bytes: &[u8],
        window_minutes: i64,
    ) -> Result<Board, String> {
        let form: Form = serde_json::from_slice(bytes)
            .map_err(|e| format!("the live figures kept for the tenant cannot be read: {e}"))?;
        if form.format != FORMAT {
            return Err(format!(
                "the live figures kept for the tenant have format {}, this daemon reads format \
                 {FORMAT}",
                form.format
            ));
        }
        let mut board = Board::default();
        board.declare(bundle);
        board.latest = form.latest;
        for (name, kept) in form.queues {
            if !board.queues.contains_key(&name)
                && board.queues.len() - board.declared >= MAX_UNDECLARED_QUEUES
            {
                continue;
            }
            let live = board
                .queues
                .entry(name.clone())
                .or_insert_with(|| QueueLive::new(bundle.sla_for(&name)));
            live.total = kept.total;
            let wait = wait_bounds(&live.sla);
            if kept.wait_answered.fits(&wait) && kept.wait_abandoned.fits(&wait) {
                live.wait_answered = kept.wait_answered;
                live.wait_abandoned = kept.wait_abandoned;
            }
            if kept.talk.fits(TALK_BUCKETS) {
                live.talk = kept.talk;
            }
            let mut minutes = kept.minutes;
            minutes.sort_by_key(|(m, _)| *m);
            minutes.dedup_by_key(|(m, _)| *m);
            if let Some(&(newest, _)) = minutes.last() {
                minutes.retain(|(m, _)| *m > newest - window_minutes);
            }
            live.minutes = VecDeque::from(minutes);
            live.interval = kept.interval;
            live.staffing = kept.staffing;
        }
        for row in form.waiting.into_iter().take(MAX_WAITING_CALLS) {
            if board.queues.contains_key(&row.queue) {
                let priority = if row.emergency {
                    Priority::Emergency
                } else {
                    Priority::Normal
                };
                board.waiting.insert(
                    row.call,
                    Waiting {
                        queue: row.queue,
                        priority,
                        since: row.since,
                    },
                );
            }
        }
        for (site, s) in form.sites {
            if board.sites.len() < MAX_SITES {
                board.sites.insert(site, s);
            }
        }
        Ok(board)
    }
}

impl Hist {
    /// Whether a kept histogram has exactly `bounds` and a count per bound.
    fn fits(&self, bounds: &[f64]) -> bool {
        self.bounds == bounds && self.counts.len() == bounds.len()
    }
}

/// Drops the longest-waiting tenth of the remembered calls: calls whose answer or abandon
/// never arrived must not grow the map without end.
fn forget_oldest(waiting: &mut HashMap<String, Waiting>) {
    let mut times: Vec<DateTime<Utc>> = waiting.values().map(|w| w.since).collect();
    let cut = times.len() / 10;
    if cut < times.len() {
        let (_, limit, _) = times.select_nth_unstable(cut);
        let limit = *limit;
        waiting.retain(|_, w| w.since > limit);
    }
}

/// The durable form as written, borrowing the board.
#[derive(Serialize)]
struct FormRef<'a> {
    format: u32,
    latest: Option<DateTime<Utc>>,
    queues: BTreeMap<&'a str, QueueRef<'a>>,
    waiting: Vec<WaitingRow>,
    sites: &'a BTreeMap<String, SiteLive>,
}

#[derive(Serialize)]
struct QueueRef<'a> {
    total: &'a Counts,
    wait_answered: &'a Hist,
    wait_abandoned: &'a Hist,
    talk: &'a Hist,
    minutes: &'a VecDeque<(i64, Counts)>,
    interval: Option<&'a (DateTime<Utc>, Counts)>,
    staffing: Option<&'a Staffing>,
}

/// The durable form as read.
#[derive(Deserialize)]
struct Form {
    format: u32,
    latest: Option<DateTime<Utc>>,
    queues: BTreeMap<String, QueueForm>,
    waiting: Vec<WaitingRow>,
    sites: BTreeMap<String, SiteLive>,
}

#[derive(Deserialize)]
struct QueueForm {
    total: Counts,
    wait_answered: Hist,
    wait_abandoned: Hist,
    talk: Hist,
    minutes: Vec<(i64, Counts)>,
    interval: Option<(DateTime<Utc>, Counts)>,
    staffing: Option<Staffing>,
}

/// A waiting call, longest-waiting first.
#[derive(Serialize, Deserialize)]
struct WaitingRow {
    call: String,
    queue: String,
    emergency: bool,
    since: DateTime<Utc>,
}
