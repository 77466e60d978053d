//! The simulated contact center: a discrete-event simulation in event time. Calls arrive,
//! are offered, wait at a site's queue until an agent is free or the caller hangs up, talk
//! and end; sites report their capacity; agents come and go by the staffing plan.
//!
//! The center emits the CloudEvents an ACD would and hands them to the tenant's own
//! plugins ([`Decisions`]: the one pipeline, driven by `leitstand simulate`); their
//! commands act on it. `call.route` puts a call offered a moment ago into a site's queue
//! (or a provider's site with the most free agents) or to an announcement, after which the
//! caller hangs up; for a call already waiting it moves the call. `call.escalate` with a
//! `target` that is one of the scenario's sites moves a waiting call there; any other
//! escalation is counted and the call stays. Timers fire in event time: before the
//! center takes its next step after their due time.
//!
//! When the plugins see `call.offered`, every offer is a decision point: the events so far
//! go through the pipeline and the call waits for its route before it queues (its wait
//! starts at the offer all the same). Otherwise events go in batches. A timer armed by an
//! event inside a batch fires within that batch, in event order, and what it decides acts
//! on the center at the batch's end.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap, VecDeque};

use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;
use serde_json::{Value, json};

use crate::random::Rng;
use crate::scenario::{Arrivals, Scenario};

/// The tenant's plugins, seen from the center.
pub trait Decisions {
    /// Whether a plugin subscribes to `call.offered` (then every offer waits for its route).
    fn decides_offers(&self) -> bool;

    /// Runs `events` (JSON CloudEvents, in order) through the tenant's plugins, then fires
    /// the timers due at or before `fire_until`; returns the commands decided, in order.
    fn decide(&mut self, events: &[Vec<u8>], fire_until: Option<i64>)
    -> anyhow::Result<Vec<Value>>;

    /// When the next pending timer is due, milliseconds since the epoch.
    fn next_timer_ms(&self) -> Option<i64>;
}

/// The most events handed over at once when no decision is waiting.
const BATCH_EVENTS: usize = 1_024;

/// What one run did, beyond the SLA report its events give.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct RunFigures {
    /// Calls offered.
    pub calls: u64,
    /// Calls that found no free agent where they were first queued.
    pub waited: u64,
    /// Calls answered.
    pub answered: u64,
    /// Calls whose callers hung up while waiting.
    pub abandoned: u64,
    /// Calls sent to an announcement.
    pub announcements: u64,
    /// `call.route` targets, by target.
    pub routes: BTreeMap<String, u64>,
    /// Routes to a target that is neither a site of the scenario, a provider with one nor
    /// an announcement: the call stayed where the ACD offered it.
    pub unknown_targets: u64,
    /// Waiting calls moved to another site (a route or an escalation).
    pub moved: u64,
    /// `call.escalate` commands, by target (or by whom they notify).
    pub escalations: BTreeMap<String, u64>,
    /// Commands decided, by type.
    pub commands: BTreeMap<String, u64>,
    /// `booking.requested` events emitted.
    pub bookings: u64,
    /// Events emitted.
    pub events: u64,
    /// Batches handed to the plugins.
    pub batches: u64,
    /// Per site.
    pub sites: BTreeMap<String, SiteRun>,
}

/// One site over one run.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct SiteRun {
    /// Calls answered there.
    pub answered: u64,
    /// Calls abandoned while waiting there.
    pub abandoned: u64,
    /// Agent-hours on shift.
    pub staffed_hours: f64,
    /// Agent-hours talking.
    pub busy_hours: f64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Step {
    Staff { site: usize, agents: u32 },
    Status { site: usize },
    TalkEnd { site: usize, call: usize },
    AnnouncementEnd { call: usize },
    Patience { call: usize },
    Arrival { call: usize },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Deciding,
    Announcement,
    Waiting,
    Talking,
    Done,
}

#[derive(Debug)]
struct Call {
    id: String,
    queue: usize,
    entry: usize,
    concern: Option<usize>,
    emergency: bool,
    offered_ms: i64,
    answered_ms: i64,
    patience_ms: Option<i64>,
    talk_u: f64,
    book_u: f64,
    state: State,
    site: usize,
    ticket: u32,
}

#[derive(Debug)]
struct Site {
    staffed: u32,
    busy: u32,
    waiting: u32,
    queue: VecDeque<(usize, u32)>,
    urgent: VecDeque<(usize, u32)>,
    last_ms: i64,
    staffed_ms: f64,
    busy_ms: f64,
}

impl Site {
    fn idle(&self) -> u32 {
        self.staffed.saturating_sub(self.busy)
    }

    fn account(&mut self, now: i64) {
        let dt = (now - self.last_ms).max(0) as f64;
        self.staffed_ms += dt * f64::from(self.staffed);
        self.busy_ms += dt * f64::from(self.busy);
        self.last_ms = now;
    }
}

/// One run of a scenario for a tenant.
pub struct Run<'a, D: Decisions> {
    scenario: &'a Scenario,
    tenant: &'a str,
    decisions: &'a mut D,
    providers: &'a BTreeMap<String, Vec<String>>,
    rng: Rng,
    calls: Vec<Call>,
    sites: Vec<Site>,
    steps: BinaryHeap<Reverse<(i64, u64, Step)>>,
    seq: u64,
    now: i64,
    pending: Vec<Vec<u8>>,
    deciding: Vec<usize>,
    live: u64,
    next_event: u64,
    figures: RunFigures,
}

impl<'a, D: Decisions> Run<'a, D> {
    /// Run `run` of `scenario` with `seed`, for `tenant`, whose plugins decide through
    /// `decisions`; `providers` maps the tenant's providers to their sites.
    pub fn new(
        scenario: &'a Scenario,
        tenant: &'a str,
        providers: &'a BTreeMap<String, Vec<String>>,
        seed: u64,
        run: u64,
        decisions: &'a mut D,
    ) -> Self {
        let mut this = Self {
            scenario,
            tenant,
            decisions,
            providers,
            rng: Rng::new(seed, 2 * run + 1),
            calls: Vec::new(),
            sites: scenario
                .sites
                .iter()
                .map(|_| Site {
                    staffed: 0,
                    busy: 0,
                    waiting: 0,
                    queue: VecDeque::new(),
                    urgent: VecDeque::new(),
                    last_ms: scenario.start_ms,
                    staffed_ms: 0.0,
                    busy_ms: 0.0,
                })
                .collect(),
            steps: BinaryHeap::new(),
            seq: 0,
            now: scenario.start_ms,
            pending: Vec::new(),
            deciding: Vec::new(),
            live: 0,
            next_event: 0,
            figures: RunFigures::default(),
        };
        this.arrivals(seed, run);
        for (i, site) in scenario.sites.iter().enumerate() {
            for &(from, agents) in &site.agents {
                this.at(from, Step::Staff { site: i, agents });
            }
            if scenario.status_every_ms > 0 {
                this.at(scenario.start_ms, Step::Status { site: i });
            }
        }
        this
    }

    /// Every call of the day, drawn up front: arrival times per queue from their own
    /// stream, then each call's concern, priority, patience and handling draws in order.
    fn arrivals(&mut self, seed: u64, run: u64) {
        let mut times: Vec<(i64, usize)> = Vec::new();
        for (qi, q) in self.scenario.queues.iter().enumerate() {
            let mut rng = Rng::new(seed, 2 * run + 2 + 1_000_000 * (qi as u64 + 1));
            match &q.arrivals {
                Arrivals::Rate(rate) => {
                    let max = rate.max_per_hour();
                    if max <= 0.0 {
                        continue;
                    }
                    let mut t = self.scenario.start_ms as f64;
                    loop {
                        t += -(1.0 - rng.uniform()).ln() / max * 3_600_000.0;
                        let ms = t as i64;
                        if ms >= rate.end_ms {
                            break;
                        }
                        if rng.uniform() * max < rate.per_hour(ms) {
                            times.push((ms, qi));
                        }
                    }
                }
                Arrivals::Recorded {
                    times: offers,
                    scale,
                } => {
                    for &t in offers {
                        let whole = scale.floor();
                        let n = whole as u64 + u64::from(rng.uniform() < scale - whole);
                        times.extend((0..n).map(|_| (t, qi)));
                    }
                }
            }
        }
        times.sort_unstable();
        for (n, (t, qi)) in times.into_iter().enumerate() {
            let q = &self.scenario.queues[qi];
            let u = self.rng.uniform();
            let concern = q
                .concerns
                .iter()
                .position(|(_, acc)| u < *acc)
                .or_else(|| (!q.concerns.is_empty()).then(|| q.concerns.len() - 1));
            let emergency = self.rng.uniform() < q.emergency_share;
            let patience = q.patience.at(self.rng.uniform());
            let entry = self.site_index(&q.site).unwrap_or(0);
            self.calls.push(Call {
                id: format!("sim-c{:06}", n + 1),
                queue: qi,
                entry,
                concern,
                emergency,
                offered_ms: t,
                answered_ms: 0,
                patience_ms: patience
                    .is_finite()
                    .then(|| (patience * 1000.0).round() as i64),
                talk_u: self.rng.uniform(),
                book_u: self.rng.uniform(),
                state: State::Deciding,
                site: entry,
                ticket: 0,
            });
            self.at(t, Step::Arrival { call: n });
        }
    }

    fn site_index(&self, name: &str) -> Option<usize> {
        self.scenario.sites.iter().position(|s| s.site == name)
    }

    fn at(&mut self, t: i64, step: Step) {
        self.seq += 1;
        self.steps.push(Reverse((t, self.seq, step)));
    }

    /// Runs the day until every call has ended, and reports.
    pub fn run(mut self) -> anyhow::Result<RunFigures> {
        let mut last_fired = i64::MIN;
        loop {
            let next = self.steps.peek().map(|Reverse((t, _, _))| *t);
            if let Some(due) = self.decisions.next_timer_ms()
                && due > last_fired
                && next.is_some_and(|t| due <= t)
                && self.live > 0
            {
                last_fired = due;
                self.now = self.now.max(due);
                self.flush(Some(due))?;
                continue;
            }
            let Some(Reverse((t, _, step))) = self.steps.pop() else {
                break;
            };
            self.now = t;
            self.step(step)?;
            if self.pending.len() >= BATCH_EVENTS {
                self.flush(None)?;
            }
        }
        self.flush(None)?;
        for (i, site) in self.sites.iter_mut().enumerate() {
            site.account(self.now);
            let run = self
                .figures
                .sites
                .entry(self.scenario.sites[i].site.clone())
                .or_default();
            run.staffed_hours = site.staffed_ms / 3_600_000.0;
            run.busy_hours = site.busy_ms / 3_600_000.0;
        }
        Ok(self.figures)
    }

    fn step(&mut self, step: Step) -> anyhow::Result<()> {
        match step {
            Step::Arrival { call } => {
                self.live += 1;
                self.figures.calls += 1;
                let c = &self.calls[call];
                let q = &self.scenario.queues[c.queue];
                let mut data = json!({
                    "call_id": c.id,
                    "queue": q.queue,
                    "site": self.scenario.sites[c.entry].site,
                    "priority": if c.emergency { "emergency" } else { "normal" },
                    "caller_ref": format!("p-{:06x}", (c.talk_u * 16_777_215.0) as u32),
                });
                if let Some(i) = c.concern {
                    data["concern"] = json!(q.concerns[i].0);
                }
                let subject = c.id.clone();
                self.emit("call.offered", Some(&subject), data);
                if let Some(patience) = self.calls[call].patience_ms {
                    self.at(self.now + patience, Step::Patience { call });
                }
                if self.decisions.decides_offers() {
                    self.deciding.push(call);
                    self.flush(None)?;
                } else {
                    let entry = self.calls[call].entry;
                    self.enqueue(call, entry);
                }
            }
            Step::Patience { call } => {
                if self.calls[call].state == State::Waiting {
                    let site = self.calls[call].site;
                    self.sites[site].waiting -= 1;
                    self.figures.abandoned += 1;
                    self.site_run(site).abandoned += 1;
                    self.left(call, Some(site));
                }
            }
            Step::AnnouncementEnd { call } => self.left(call, None),
            Step::TalkEnd { site, call } => {
                let c = &self.calls[call];
                let q = &self.scenario.queues[c.queue];
                if let Some(b) = &self.scenario.bookings
                    && c.book_u < b.share
                {
                    let n = self.figures.bookings;
                    let center = &b.centers
                        [(c.book_u / b.share * b.centers.len() as f64) as usize % b.centers.len()];
                    let day =
                        1 + (c.talk_u * f64::from(b.days_ahead)) as i64 % i64::from(b.days_ahead);
                    let slot = self.now - self.now % 900_000 + day * 86_400_000;
                    let booking = format!("{}-b{}", c.id, n + 1);
                    let data = json!({
                        "booking_id": booking,
                        "center": center,
                        "slot": rfc3339(slot),
                        "channel": "phone",
                        "citizen_ref": format!("p-{:06x}", (c.talk_u * 16_777_215.0) as u32),
                    });
                    self.figures.bookings += 1;
                    self.emit("booking.requested", Some(&booking), data);
                }
                let c = &self.calls[call];
                let data = json!({
                    "call_id": c.id,
                    "queue": q.queue,
                    "talk_seconds": seconds(self.now - c.answered_ms),
                    "site": self.scenario.sites[site].site,
                    "resolved": true,
                });
                let subject = c.id.clone();
                self.emit("call.ended", Some(&subject), data);
                self.calls[call].state = State::Done;
                self.live -= 1;
                self.sites[site].account(self.now);
                self.sites[site].busy -= 1;
                self.serve(site);
            }
            Step::Staff { site, agents } => {
                self.sites[site].account(self.now);
                self.sites[site].staffed = agents;
                self.serve(site);
            }
            Step::Status { site } => {
                let s = &self.sites[site];
                let data = json!({
                    "site": self.scenario.sites[site].site,
                    "agents_staffed": s.staffed,
                    "agents_available": s.idle(),
                    "calls_waiting": s.waiting,
                });
                self.emit("site.status", None, data);
                let next = self.now + self.scenario.status_every_ms;
                if next < self.scenario.end_ms || self.live > 0 {
                    self.at(next, Step::Status { site });
                }
            }
        }
        Ok(())
    }

    fn talk_ms(&self, site: usize, u: f64) -> i64 {
        (self.scenario.sites[site].talk.at(u) * 1000.0)
            .round()
            .max(0.0) as i64
    }

    fn site_run(&mut self, site: usize) -> &mut SiteRun {
        self.figures
            .sites
            .entry(self.scenario.sites[site].site.clone())
            .or_default()
    }

    /// The caller hung up (while waiting, or after the announcement).
    fn left(&mut self, call: usize, site: Option<usize>) {
        let c = &self.calls[call];
        let mut data = json!({
            "call_id": c.id,
            "queue": self.scenario.queues[c.queue].queue,
            "wait_seconds": seconds(self.now - c.offered_ms),
        });
        if let Some(site) = site {
            data["site"] = json!(self.scenario.sites[site].site);
        }
        let subject = c.id.clone();
        self.emit("call.abandoned", Some(&subject), data);
        self.calls[call].state = State::Done;
        self.live -= 1;
    }

    /// Puts `call` into `site`'s queue (answered at once when an agent is free and nobody
    /// waits there).
    fn enqueue(&mut self, call: usize, site: usize) {
        let first = self.calls[call].state == State::Deciding;
        self.calls[call].site = site;
        self.calls[call].ticket += 1;
        if self.sites[site].idle() > 0 && self.sites[site].waiting == 0 {
            self.answer(call, site);
            return;
        }
        if first {
            self.figures.waited += 1;
        }
        self.calls[call].state = State::Waiting;
        let ticket = self.calls[call].ticket;
        let s = &mut self.sites[site];
        s.waiting += 1;
        if self.calls[call].emergency {
            s.urgent.push_back((call, ticket));
        } else {
            s.queue.push_back((call, ticket));
        }
    }

    fn answer(&mut self, call: usize, site: usize) {
        self.sites[site].account(self.now);
        self.sites[site].busy += 1;
        self.figures.answered += 1;
        self.site_run(site).answered += 1;
        let c = &mut self.calls[call];
        c.state = State::Talking;
        c.site = site;
        c.answered_ms = self.now;
        let data = json!({
            "call_id": c.id,
            "queue": self.scenario.queues[c.queue].queue,
            "wait_seconds": seconds(self.now - c.offered_ms),
            "site": self.scenario.sites[site].site,
        });
        let subject = c.id.clone();
        let talk = self.talk_ms(site, self.calls[call].talk_u);
        self.emit("call.answered", Some(&subject), data);
        self.at(self.now + talk, Step::TalkEnd { site, call });
    }

    /// Free agents at `site` take the calls waiting there, in order.
    fn serve(&mut self, site: usize) {
        while self.sites[site].idle() > 0 {
            let s = &mut self.sites[site];
            let Some((call, ticket)) = s.urgent.pop_front().or_else(|| s.queue.pop_front()) else {
                break;
            };
            let c = &self.calls[call];
            if c.state != State::Waiting || c.site != site || c.ticket != ticket {
                continue;
            }
            self.sites[site].waiting -= 1;
            self.answer(call, site);
        }
    }

    /// Moves a waiting call to `site`.
    fn move_to(&mut self, call: usize, site: usize) {
        let from = self.calls[call].site;
        if self.calls[call].state != State::Waiting || from == site {
            return;
        }
        self.sites[from].waiting -= 1;
        self.figures.moved += 1;
        self.enqueue(call, site);
    }

    fn emit(&mut self, kind: &str, subject: Option<&str>, data: Value) {
        self.next_event += 1;
        self.figures.events += 1;
        let mut event = json!({
            "specversion": "1.0",
            "id": format!("sim-{}", self.next_event),
            "source": "leitstand/simulate",
            "type": kind,
            "tenant": self.tenant,
            "time": rfc3339(self.now),
            "datacontenttype": "application/json",
            "data": data,
        });
        if let Some(s) = subject {
            event["subject"] = json!(s);
        }
        self.pending.push(event.to_string().into_bytes());
    }

    /// Hands the events so far to the plugins (and fires timers up to `fire_until`), then
    /// acts on their commands; offered calls no route placed queue where they were offered.
    fn flush(&mut self, fire_until: Option<i64>) -> anyhow::Result<()> {
        if self.pending.is_empty() && fire_until.is_none() {
            return Ok(());
        }
        let events = std::mem::take(&mut self.pending);
        self.figures.batches += 1;
        let commands = self.decisions.decide(&events, fire_until)?;
        for command in &commands {
            self.command(command);
        }
        for call in std::mem::take(&mut self.deciding) {
            if self.calls[call].state == State::Deciding {
                let entry = self.calls[call].entry;
                self.enqueue(call, entry);
            }
        }
        Ok(())
    }

    fn call_index(&self, id: &str) -> Option<usize> {
        let n: usize = id.strip_prefix("sim-c")?.parse().ok()?;
        (n >= 1 && n <= self.calls.len()).then(|| n - 1)
    }

    fn command(&mut self, command: &Value) {
        let kind = command["type"].as_str().unwrap_or_default();
        *self.figures.commands.entry(kind.to_owned()).or_default() += 1;
        let data = &command["data"];
        let call = data["call_id"].as_str().and_then(|id| self.call_index(id));
        match kind {
            "call.route" => {
                let target = data["target"].as_str().unwrap_or_default().to_owned();
                *self.figures.routes.entry(target.clone()).or_default() += 1;
                let Some(call) = call else { return };
                if data["announcement"].as_bool() == Some(true) {
                    if self.calls[call].state == State::Deciding {
                        self.figures.announcements += 1;
                        self.calls[call].state = State::Announcement;
                        self.at(
                            self.now + self.scenario.announcement_ms,
                            Step::AnnouncementEnd { call },
                        );
                    }
                    return;
                }
                match self.place(&target) {
                    Some(site) if self.calls[call].state == State::Deciding => {
                        self.enqueue(call, site)
                    }
                    Some(site) => self.move_to(call, site),
                    None => self.figures.unknown_targets += 1,
                }
            }
            "call.escalate" => {
                let target = data["target"]
                    .as_str()
                    .or_else(|| data["notify"].as_str())
                    .unwrap_or("-");
                *self
                    .figures
                    .escalations
                    .entry(target.to_owned())
                    .or_default() += 1;
                if let (Some(call), Some(site)) = (
                    call,
                    data["target"].as_str().and_then(|t| self.site_index(t)),
                ) {
                    self.move_to(call, site);
                }
            }
            _ => {}
        }
    }

    /// The site a route target names: a site of the scenario, or a provider's site of the
    /// scenario with the most free agents (then the fewest waiting, then the first named).
    fn place(&self, target: &str) -> Option<usize> {
        if let Some(i) = self.site_index(target) {
            return Some(i);
        }
        self.providers
            .get(target)?
            .iter()
            .filter_map(|s| self.site_index(s))
            .max_by_key(|&i| {
                (
                    self.sites[i].idle(),
                    Reverse(self.sites[i].waiting),
                    Reverse(i),
                )
            })
    }
}

fn rfc3339(ms: i64) -> String {
    DateTime::<Utc>::from_timestamp_millis(ms)
        .unwrap_or_default()
        .to_rfc3339_opts(SecondsFormat::Millis, true)
}

fn seconds(ms: i64) -> f64 {
    ms as f64 / 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::Recorded;
    use crate::testing::profile;

    /// Plugins scripted by call: a route per call id, and for concern `x` a timer 30 s
    /// after the offer that escalates the call to `ps`.
    #[derive(Default)]
    struct Script {
        routes: BTreeMap<String, Value>,
        timers: Vec<(i64, String)>,
        seen: Vec<Value>,
    }

    impl Decisions for Script {
        fn decides_offers(&self) -> bool {
            true
        }

        fn decide(
            &mut self,
            events: &[Vec<u8>],
            fire_until: Option<i64>,
        ) -> anyhow::Result<Vec<Value>> {
            let mut out = Vec::new();
            for e in events {
                let e: Value = serde_json::from_slice(e)?;
                if e["type"] == "call.offered" {
                    let id = e["data"]["call_id"].as_str().unwrap_or_default().to_owned();
                    if let Some(data) = self.routes.get(&id) {
                        let mut data = data.clone();
                        data["call_id"] = json!(id);
                        out.push(json!({"type": "call.route", "data": data}));
                    }
                    if e["data"]["concern"] == "x" {
                        let t = chrono::DateTime::parse_from_rfc3339(
                            e["time"].as_str().unwrap_or_default(),
                        )?;
                        self.timers.push((t.timestamp_millis() + 30_000, id));
                    }
                }
                self.seen.push(e);
            }
            if let Some(until) = fire_until {
                for (_, id) in self.timers.iter().filter(|(due, _)| *due <= until) {
                    out.push(json!({"type": "call.escalate", "data": {"call_id": id, "step": 1, "target": "ps"}}));
                }
                self.timers.retain(|(due, _)| *due > until);
            }
            Ok(out)
        }

        fn next_timer_ms(&self) -> Option<i64> {
            self.timers.iter().map(|(due, _)| *due).min()
        }
    }

    #[test]
    fn commands_route_announce_move_and_escalate_calls() {
        let t0 = 1_795_071_600_000; // 2026-11-19 08:00 Berlin
        let recorded = Recorded {
            offers: BTreeMap::from([(
                "impf".to_owned(),
                vec![t0, t0 + 10_000, t0 + 20_000, t0 + 30_000, t0 + 40_000],
            )]),
            ..Recorded::default()
        };
        let text = r#"
day = "2026-11-19"
status_every_seconds = 0
announcement_seconds = 8
[queues.impf]
site = "kl"
concerns = { x = 1.0 }
[handling]
talk = { distribution = "fixed", mean_seconds = 100 }
[sites.kl]
agents = 1
[sites.ps]
agents = 1
[sites.sb]
agents = [{ from = "08:00", agents = 2 }]
"#;
        let scenario = Scenario::parse(text, "t", &profile(), Some(&recorded)).expect("valid");
        let mut script = Script::default();
        let route = |target: &str, announcement: bool| json!({"target": target, "announcement": announcement});
        script
            .routes
            .insert("sim-c000001".into(), route("kl", false));
        script
            .routes
            .insert("sim-c000002".into(), route("kl", false));
        script
            .routes
            .insert("sim-c000003".into(), route("geschlossen", true));
        script
            .routes
            .insert("sim-c000004".into(), route("nowhere", false));
        script
            .routes
            .insert("sim-c000005".into(), route("saarcall", false));
        let providers = BTreeMap::from([(
            "saarcall".to_owned(),
            vec!["sb".to_owned(), "mz".to_owned()],
        )]);
        let figures = Run::new(&scenario, "t", &providers, 1, 0, &mut script)
            .run()
            .expect("runs");
        let fate = |id: &str| -> Vec<(String, Option<String>, Option<f64>)> {
            script
                .seen
                .iter()
                .filter(|e| e["data"]["call_id"] == id && e["type"] != "call.offered")
                .map(|e| {
                    (
                        e["type"].as_str().unwrap_or_default().to_owned(),
                        e["data"]["site"].as_str().map(str::to_owned),
                        e["data"]["wait_seconds"].as_f64(),
                    )
                })
                .collect()
        };
        let answered = |site: &str, wait: f64| {
            (
                "call.answered".to_owned(),
                Some(site.to_owned()),
                Some(wait),
            )
        };
        let ended = |site: &str| ("call.ended".to_owned(), Some(site.to_owned()), None);
        // The first call finds Kaiserslautern's agent free.
        assert_eq!(fate("sim-c000001"), [answered("kl", 0.0), ended("kl")]);
        // The second waits there; its escalation 30 s after the offer moves it to Pirmasens.
        assert_eq!(fate("sim-c000002"), [answered("ps", 30.0), ended("ps")]);
        // The third hears the announcement and hangs up after 8 s, at no site.
        assert_eq!(
            fate("sim-c000003"),
            [("call.abandoned".to_owned(), None, Some(8.0))]
        );
        // The fourth is routed nowhere the center knows: it stays where it was offered and
        // is answered when Kaiserslautern's agent is free (its own escalation finds it
        // waiting and moves it to Pirmasens, busy until 140 s; Kaiserslautern frees at 100).
        assert_eq!(fate("sim-c000004"), [answered("ps", 110.0), ended("ps")]);
        // The fifth goes to the provider's site with the most agents free.
        assert_eq!(fate("sim-c000005"), [answered("sb", 0.0), ended("sb")]);
        assert_eq!(figures.calls, 5);
        assert_eq!(figures.announcements, 1);
        assert_eq!(figures.unknown_targets, 1);
        assert_eq!(figures.moved, 2);
        // Every call's timer fired (the script cancels none); two found their call waiting.
        assert_eq!(figures.escalations["ps"], 5);
        assert_eq!(figures.answered, 4);
        assert_eq!(figures.sites["ps"].answered, 2);
    }
}
