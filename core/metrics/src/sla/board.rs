//! A tenant's board: what the operators' wallboard shows of its queues now — the calls
//! waiting and since when, each queue's counts and histograms, its rolling service-level
//! window and the interval behind the staffing gauge, the sites' capacity — and its
//! durable form.
//!
//! The pipeline commits what a batch changes of it with the batch, in the same transaction
//! as the batch's state, timers and processed ids ([ADR 0016]): the summary (counts,
//! histograms, the rolling window, the interval, the sites: small) whole, the calls waiting
//! one by one — the calls the batch offers, answers, abandons, or the board forgets — so
//! that a commit costs in proportion to its batch, not to the queue. A daemon that is
//! restarted, killed, or takes the tenant over in cluster mode reads it when it opens the
//! tenant and continues the figures: a surge does not look like an empty queue and a fresh
//! window on the wallboard because a process changed.
//!
//! [ADR 0016]: ../../../docs/adr/0016-plugin-output-timers-watchdog-durable-board.md

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

use leitstand_contract::domain::{DomainEvent, Priority};
use leitstand_contract::journal::{BoardChange, KeptBoard};
use leitstand_sla::ServiceProfile;
use leitstand_sla::books::{Counts, Staffing};

use super::{
    Hist, MAX_SITES, MAX_UNDECLARED_QUEUES, MAX_WAITING_CALLS, OTHER, QueueLive, SiteLive,
    TALK_BUCKETS, Waiting, wait_bounds,
};

/// The durable summary's format; one of another format is refused by name.
const FORMAT: u32 = 1;

/// One tenant's board.
#[derive(Debug, Clone, Default)]
pub(super) struct Board {
    /// Declared queues first; undeclared ones as they come, up to the limit.
    pub(super) queues: BTreeMap<String, QueueLive>,
    pub(super) declared: usize,
    pub(super) waiting: HashMap<String, Waiting>,
    pub(super) sites: BTreeMap<String, SiteLive>,
    pub(super) latest: Option<DateTime<Utc>>,
    /// Calls forgotten here (beyond [`MAX_WAITING_CALLS`], or kept in a form that cannot
    /// be continued) since the last commit: the next one ends them durably too.
    pub(super) forgotten: Vec<String>,
}

/// What an event does to the calls waiting.
pub(super) enum WaitingChange {
    /// A call starts waiting.
    Starts(String, Waiting),
    /// A call stops waiting (answered or abandoned).
    Ends(String),
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
        match self.count(bundle, domain, at, tz, window_minutes) {
            Some(WaitingChange::Starts(call, w)) => {
                if self.waiting.len() >= MAX_WAITING_CALLS {
                    self.forgotten.extend(forget_oldest(&mut self.waiting));
                }
                self.waiting.insert(call, w);
            }
            Some(WaitingChange::Ends(call)) => {
                self.waiting.remove(&call);
            }
            None => {}
        }
    }

    /// Counts one event into everything but the calls waiting, and says what it does to
    /// them.
    pub(super) fn count(
        &mut self,
        bundle: &ServiceProfile,
        domain: &DomainEvent,
        at: DateTime<Utc>,
        tz: Tz,
        window_minutes: i64,
    ) -> Option<WaitingChange> {
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
            return None;
        }
        let queue = domain.queue()?;
        let label = self.queue_label(bundle, queue);
        if let Some(q) = self.queues.get_mut(&label) {
            q.record(domain, at, tz, window_minutes);
        }
        match domain {
            DomainEvent::CallOffered(e) => Some(WaitingChange::Starts(
                e.call_id.clone(),
                Waiting {
                    queue: label,
                    priority: e.priority,
                    since: at,
                },
            )),
            DomainEvent::CallAnswered(e) | DomainEvent::CallAbandoned(e) => {
                Some(WaitingChange::Ends(e.call_id.clone()))
            }
            _ => None,
        }
    }

    /// The board without its calls waiting, to count a batch ahead into.
    pub(super) fn summary(&self) -> Board {
        Board {
            queues: self.queues.clone(),
            declared: self.declared,
            waiting: HashMap::new(),
            sites: self.sites.clone(),
            latest: self.latest,
            forgotten: Vec::new(),
        }
    }

    /// What a batch changes of this board, in its durable form: `ahead` is
    /// [`Self::summary`] with the batch counted into it, `changes` what the batch does to
    /// the calls waiting, in order. Calls forgotten since the last commit end durably too.
    pub(super) fn change(
        &self,
        ahead: &Board,
        changes: Vec<WaitingChange>,
    ) -> Result<BoardChange, String> {
        let forgotten: HashSet<&String> = self.forgotten.iter().collect();
        let mut net: BTreeMap<String, Option<Waiting>> = self
            .forgotten
            .iter()
            .map(|call| (call.clone(), None))
            .collect();
        for change in changes {
            match change {
                WaitingChange::Starts(call, w) => {
                    net.insert(call, Some(w));
                }
                // A call kept durably ends there; one only started in this batch, or
                // never seen, leaves nothing to end.
                WaitingChange::Ends(call) => {
                    if self.waiting.contains_key(&call) || forgotten.contains(&call) {
                        net.insert(call, None);
                    } else {
                        net.remove(&call);
                    }
                }
            }
        }
        let mut calls = BTreeMap::new();
        for (call, w) in net {
            let value = match w {
                Some(w) => Some(call_bytes(&w)?),
                None => None,
            };
            calls.insert(call, value);
        }
        Ok(BoardChange {
            summary: ahead.summary_bytes()?,
            calls,
        })
    }

    /// The durable summary (JSON): everything but the calls waiting.
    fn summary_bytes(&self) -> Result<Vec<u8>, String> {
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
            sites: &self.sites,
        };
        serde_json::to_vec(&form).map_err(|e| format!("the live board cannot be written: {e}"))
    }

    /// The board of `bundle`'s tenant as the journal kept it, with the bundle's queues
    /// and settings as they are now: a queue whose buckets changed since starts its
    /// histograms again, a queue no longer declared counts as undeclared (within the
    /// limit). A call waiting that cannot be continued — unreadable, in a queue without a
    /// line, or beyond [`MAX_WAITING_CALLS`] (the longest-waiting go) — is forgotten, and
    /// ended durably with the next commit.
    pub(super) fn restore(
        bundle: &ServiceProfile,
        kept: &KeptBoard,
        window_minutes: i64,
    ) -> Result<Board, String> {
        let form: Form = serde_json::from_slice(&kept.summary)
            .map_err(|e| format!("the live board kept for the tenant cannot be read: {e}"))?;
        if form.format != FORMAT {
            return Err(format!(
                "the live board kept for the tenant has format {}, this daemon reads format \
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
        for (site, s) in form.sites {
            if board.sites.len() < MAX_SITES {
                board.sites.insert(site, s);
            }
        }
        let mut calls: Vec<(String, Waiting)> = Vec::with_capacity(kept.calls.len());
        for (call, bytes) in &kept.calls {
            match serde_json::from_slice::<CallRow>(bytes) {
                Ok(row) if board.queues.contains_key(&row.queue) => {
                    let priority = if row.emergency {
                        Priority::Emergency
                    } else {
                        Priority::Normal
                    };
                    let w = Waiting {
                        queue: row.queue,
                        priority,
                        since: row.since,
                    };
                    calls.push((call.clone(), w));
                }
                _ => board.forgotten.push(call.clone()),
            }
        }
        if calls.len() > MAX_WAITING_CALLS {
            calls.sort_by_key(|(_, w)| std::cmp::Reverse(w.since));
            board
                .forgotten
                .extend(calls.drain(MAX_WAITING_CALLS..).map(|(call, _)| call));
        }
        board.waiting = calls.into_iter().collect();
        Ok(board)
    }
}

/// A call waiting in its durable form (JSON).
fn call_bytes(w: &Waiting) -> Result<Vec<u8>, String> {
    let row = CallRow {
        queue: w.queue.clone(),
        emergency: w.priority == Priority::Emergency,
        since: w.since,
    };
    serde_json::to_vec(&row).map_err(|e| format!("a call waiting cannot be written: {e}"))
}

impl Hist {
    /// Whether a kept histogram has exactly `bounds` and a count per bound.
    fn fits(&self, bounds: &[f64]) -> bool {
        self.bounds == bounds && self.counts.len() == bounds.len()
    }
}

/// Drops the longest-waiting tenth of the remembered calls and returns them: calls whose
/// answer or abandon never arrived must not grow the map without end.
fn forget_oldest(waiting: &mut HashMap<String, Waiting>) -> Vec<String> {
    let mut times: Vec<DateTime<Utc>> = waiting.values().map(|w| w.since).collect();
    let cut = times.len() / 10;
    let mut gone = Vec::new();
    if cut < times.len() {
        let (_, limit, _) = times.select_nth_unstable(cut);
        let limit = *limit;
        waiting.retain(|call, w| {
            let keep = w.since > limit;
            if !keep {
                gone.push(call.clone());
            }
            keep
        });
    }
    gone
}

/// The durable form as written, borrowing the board.
#[derive(Serialize)]
struct FormRef<'a> {
    format: u32,
    latest: Option<DateTime<Utc>>,
    queues: BTreeMap<&'a str, QueueRef<'a>>,
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

/// A call waiting, as one row of the journal keeps it (the call id is the row's key).
#[derive(Serialize, Deserialize)]
struct CallRow {
    queue: String,
    emergency: bool,
    since: DateTime<Utc>,
}
