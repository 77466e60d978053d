#!/usr/bin/env python3
"""Generate a realistic day of Leitstand input events as JSON Lines.

    python3 examples/generate.py                      # writes examples/day.jsonl
    python3 examples/generate.py --seed 7 --out /tmp/day.jsonl --by-interval

The day is Thursday 2026-11-19 in Europe/Berlin. Three tenants outsource their hotlines:

* ``rlp-impf`` -- a state vaccination-appointment hotline, queue ``impf``, answered by a
  provider at the sites kaiserslautern (primary), pirmasens, saarbruecken and mainz, open
  07:00-20:00. Normal load is about 150 calls an hour. A press conference at 11:00 announces
  new appointments: within minutes arrivals jump to about 1,500 calls an hour, then decay
  exponentially with a half-life of 60 minutes. The rota was planned for a normal day, so the
  service level collapses; from 12:00 the provider adds agents and brings in the overflow sites
  saarbruecken and mainz, and the service level recovers in the early afternoon. About 30 % of
  answered calls book a vaccination appointment (``booking.requested``); about 3 % of those
  bookings are cancelled again later in the day (``booking.cancelled``).
* ``soest`` -- an inter-municipal citizen service centre answering for a city (queue
  ``stadt``) and a district (queue ``kreis``) with one pooled team at the site soest, under the
  115 promise "75 % of calls answered within 30 s". Open Mon-Wed 08-17, Thu 08-18, Fri 08-13,
  so 08:00-18:00 on this Thursday, with a mid-morning peak. Ten callers ring in the 45 minutes
  before opening or after closing, hear the "we are closed" announcement and hang up after
  2-8 s; they count as offered and abandoned like any other call.
* ``notruf-pfalz`` -- a crisis and emergency line, queue ``notruf``, open around the clock,
  staffed from ludwigshafen (one agent at night, three in the evening) with kaiserslautern
  helping out in the evening. A share of the calls, most of those about violence, suicide
  or poisoning, is offered with ``priority: "emergency"``; some of them wait long enough for
  an escalation chain at 30, 60 and 120 s to run. Its draws come from a random stream of its
  own, so the other tenants' events do not change with it.

The call model is a proper queue simulation, one per tenant:

* Arrivals are a non-homogeneous Poisson process drawn by thinning: candidates at the
  maximum rate, each kept with probability rate(t) / max rate. Times are whole seconds, as an
  ACD reports them, so every ``wait_seconds`` is exactly the difference of two event times.
* Agents come from a rota table: agents per site per half hour. Agent k of a site is on shift
  in a half hour when k <= that half hour's figure. The row at closing time is the clearing
  shift that answers calls still queued when the doors close; no new calls arrive then.
* Service is first-come-first-served across all of a tenant's queues and sites: each call,
  in arrival order, goes to the agent who can take it first (ties: the one idle longest).
  An agent who is busy when the shift ends finishes the call first.
* Talk time is lognormal (mean per concern; about 180 s for rlp-impf, 240 s for soest; at
  least 20 s), followed by a fixed wrap-up (15 s / 30 s) during which the agent takes no call.
* Patience is exponential (mean 90 s); 7 % of callers hang up within 1-5 s whatever happens
  (short abandons). A call abandons when no agent is free before its patience runs out.
* Some callers who gave up call again a few minutes later (same ``caller_ref``, new
  ``call_id``), up to four attempts in all; during the surge this feeds the queue further.

Each call yields ``call.offered`` at arrival, then ``call.answered`` or ``call.abandoned``, and
for an answered call ``call.ended``. ``site.status`` is written every 5 minutes for each site
rostered in that half hour, while the tenant is open; it reports the state after all events
of the same second: agents on shift, those of them idle, and the calls waiting whose
``call.offered`` named that site (the site that later answers, or the primary site).

Envelope (CONTRACT §1): ``id`` is ``<tenant>-<n>``, numbered per tenant in file order;
``source`` is ``acd/<site>`` for call and site events and ``booking/<center>`` for booking
events (the vaccination centre's appointment system); ``time`` is RFC 3339 in Berlin local time
with offset, whole seconds; ``subject`` is the call or booking id. Lines are sorted by time, then
by a fixed event-type rank (offered, answered, abandoned, booking, ended, cancelled, status), then
tenant, then creation order. ``caller_ref`` / ``citizen_ref`` are random pseudonyms
``p-xxxxxx``; a citizen who books keeps the pseudonym of the call.

The same ``--seed`` always yields the same file. A summary goes to stderr.
"""

from __future__ import annotations

import argparse
import bisect
import heapq
import json
import math
import random
import sys
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

BERLIN = ZoneInfo("Europe/Berlin")
DAY = datetime(2026, 11, 19, tzinfo=BERLIN)  # local midnight; a Thursday, CET (+01:00)
HALF_HOUR = 1800
STATUS_EVERY = 300
DEFAULT_SEED = 20261119
DEFAULT_OUT = Path(__file__).resolve().parent / "day.jsonl"


def clock(hhmm: str) -> int:
    """'HH:MM' -> seconds after local midnight."""
    hours, minutes = hhmm.split(":")
    return int(hours) * 3600 + int(minutes) * 60


def parse_rota(table: str) -> tuple[int, dict[str, list[int]]]:
    """A rota table (first column time of a half hour, one column per site) -> start, counts."""
    lines = [ln.split() for ln in table.strip().splitlines() if not ln.lstrip().startswith("#")]
    header, rows = lines[0], lines[1:]
    sites = header[1:]
    start = clock(rows[0][0])
    counts: dict[str, list[int]] = {site: [] for site in sites}
    for i, row in enumerate(rows):
        if clock(row[0]) != start + i * HALF_HOUR or len(row) != len(header):
            raise ValueError(f"rota row {row} is not the next half hour or has the wrong width")
        for site, n in zip(sites, row[1:]):
            counts[site].append(int(n))
    return start, counts


def hourly_curve(points: dict[int, float]):
    """Calls per hour, linear between the given full hours, flat outside them."""
    hours = sorted(points)

    def rate(t: float) -> float:
        h = t / 3600
        if h <= hours[0]:
            return points[hours[0]]
        for a, b in zip(hours, hours[1:]):
            if h <= b:
                return points[a] + (points[b] - points[a]) * (h - a) / (b - a)
        return points[hours[-1]]

    return rate


# --- rlp-impf ---------------------------------------------------------------------------------

RLP_BASE = hourly_curve({7: 120, 8: 180, 9: 190, 10: 180, 11: 170, 12: 155, 13: 160, 14: 155,
                         15: 145, 16: 135, 17: 125, 18: 110, 19: 90, 20: 70})
PRESS_CONFERENCE = clock("11:00")
SURGE_RAMP = 8 * 60          # seconds until the news has spread
SURGE_PEAK = 1330            # extra calls per hour at the end of the ramp (~1,500 in all)
SURGE_HALF_LIFE = 60 * 60    # seconds


def rlp_rate(t: float) -> float:
    surge = 0.0
    since = t - PRESS_CONFERENCE
    if 0 <= since < SURGE_RAMP:
        surge = SURGE_PEAK * since / SURGE_RAMP
    elif since >= SURGE_RAMP:
        surge = SURGE_PEAK * 0.5 ** ((since - SURGE_RAMP) / SURGE_HALF_LIFE)
    return RLP_BASE(t) + surge


# Planned for ~150 calls/hour; from 12:00 the provider calls in staff and the overflow sites.
RLP_ROTA = """
time    kaiserslautern pirmasens saarbruecken mainz
07:00    8  2  0  0
07:30    8  3  0  0
08:00    9  3  0  0
08:30   10  3  0  0
09:00   10  3  0  0
09:30    9  3  0  0
10:00    9  3  0  0
10:30    9  3  0  0
11:00    8  3  0  0
11:30    9  4  0  0
12:00   14  6 10  6
12:30   15  7  9  7
13:00   14  6  8  6
13:30   12  5  6  5
14:00   11  4  4  4
14:30   10  4  3  2
15:00   12  4  0  0
15:30   10  4  0  0
16:00    9  3  0  0
16:30    8  3  0  0
17:00    8  2  0  0
17:30    7  2  0  0
18:00    7  2  0  0
18:30    6  2  0  0
19:00    5  2  0  0
19:30    5  2  0  0
20:00    3  0  0  0
"""

# --- notruf-pfalz ----------------------------------------------------------------------------

NOTRUF_BASE = hourly_curve({0: 7, 4: 4, 8: 6, 12: 8, 16: 10, 19: 14, 22: 12, 24: 8})

# Thin at night, as such a line is: one agent until six, a second one by day, a third in
# the evening peak; the partner site Kaiserslautern helps out in the evening.
NOTRUF_ROTA = """
time    ludwigshafen kaiserslautern
""" + "".join(
    f"{h:02d}:{m:02d}    {1 if h < 6 else 3 if 18 <= h < 23 else 2}  {1 if 19 <= h < 22 else 0}\n"
    for h in range(24) for m in (0, 30)
) + "24:00    1  0\n"

# --- soest ------------------------------------------------------------------------------------

SOEST_OPENING_HOURS = {0: ("08:00", "17:00"), 1: ("08:00", "17:00"), 2: ("08:00", "17:00"),
                       3: ("08:00", "18:00"), 4: ("08:00", "13:00")}  # Monday = 0

SOEST_BASE = hourly_curve({8: 85, 9: 105, 10: 125, 11: 115, 12: 95, 13: 80, 14: 90, 15: 90,
                           16: 85, 17: 95, 18: 80})

SOEST_ROTA = """
time    soest
08:00    9
08:30   10
09:00   11
09:30   11
10:00   11
10:30   11
11:00   11
11:30   10
12:00    9
12:30    8
13:00    8
13:30    9
14:00    9
14:30    9
15:00    9
15:30    9
16:00    9
16:30    9
17:00    9
17:30    9
18:00    2
"""


@dataclass
class Tenant:
    """One tenant's model parameters. Times are seconds after local midnight."""

    name: str
    # queue -> (share of calls, {concern -> (share of the queue's calls, mean talk seconds)})
    queues: dict[str, tuple[float, dict[str, tuple[float, float]]]]
    sites: dict[str, str]            # site -> agent prefix; the first site is the primary one
    opens: int
    closes: int
    rate: Callable[[float], float]   # arrivals per hour at time t while open
    rota: str                        # rota table, see parse_rota
    threshold: int                   # SLA threshold used in the summary, seconds
    wrap_up: int                     # after-call work, seconds
    resolved_share: float            # P(resolved) of an answered call
    transfers: dict[str, str] = field(default_factory=dict)        # concern -> transferred_to
    booking_share: dict[str, float] = field(default_factory=dict)  # concern -> P(booking)
    redial_share: float = 0.3        # P(a caller who gave up calls again)
    closed_calls: int = 0            # calls just before opening or after closing (CLOSED_WINDOW)
    patience_mean: float = 90.0      # seconds
    short_abandon_share: float = 0.07
    talk_sigma: float = 0.6          # sigma of the talk time's lognormal
    emergency_share: dict[str, float] = field(default_factory=dict)  # concern -> P(emergency)

    @property
    def primary(self) -> str:
        return next(iter(self.sites))


soest_open, soest_close = SOEST_OPENING_HOURS[DAY.weekday()]

TENANTS = [
    Tenant(
        name="rlp-impf",
        # concern -> (share, mean talk seconds)
        queues={"impf": (1.0, {"termin": (0.70, 195), "impfstoff": (0.20, 150),
                               "nebenwirkung": (0.10, 140)})},
        sites={"kaiserslautern": "kl", "pirmasens": "ps", "saarbruecken": "sb", "mainz": "mz"},
        opens=clock("07:00"), closes=clock("20:00"), rate=rlp_rate, rota=RLP_ROTA,
        threshold=20, wrap_up=15, resolved_share=0.80,
        booking_share={"termin": 0.40, "impfstoff": 0.10},
        redial_share=0.45,
    ),
    Tenant(
        name="soest",
        queues={
            "stadt": (0.55, {"personalausweis": (0.35, 200), "wohngeld": (0.20, 300),
                             "abfall": (0.25, 150), "bauantrag": (0.20, 320)}),
            "kreis": (0.45, {"kfz-zulassung": (0.45, 260), "wohngeld": (0.20, 300),
                             "abfall": (0.20, 150), "bauantrag": (0.15, 320)}),
        },
        sites={"soest": "so"},
        opens=clock(soest_open), closes=clock(soest_close),
        rate=SOEST_BASE, rota=SOEST_ROTA,
        threshold=30, wrap_up=30, resolved_share=0.70,
        transfers={"kfz-zulassung": "kfz-stelle", "wohngeld": "sozialamt"},
        redial_share=0.25, closed_calls=10,
    ),
    Tenant(
        name="notruf-pfalz",
        queues={"notruf": (1.0, {"allgemein": (0.60, 420), "gewalt": (0.15, 600),
                                 "suizid": (0.12, 900), "vergiftung": (0.13, 300)})},
        sites={"ludwigshafen": "lu", "kaiserslautern": "kl"},
        opens=clock("00:00"), closes=clock("24:00"), rate=NOTRUF_BASE, rota=NOTRUF_ROTA,
        threshold=10, wrap_up=60, resolved_share=0.85, redial_share=0.6,
        patience_mean=150.0, short_abandon_share=0.03,
        emergency_share={"gewalt": 0.8, "suizid": 0.9, "vergiftung": 0.9, "allgemein": 0.05},
    ),
]

# Vaccination centres, their share of bookings and the priority groups of the bookers.
CENTERS = {"impfzentrum-kl": 0.45, "impfzentrum-mainz": 0.30, "impfzentrum-ps": 0.25}
PRIORITY_GROUPS = {"60plus": 0.45, "medical": 0.15, "general": 0.40}
CANCEL_SHARE = 0.03
MAX_ATTEMPTS = 4
CLOSED_WINDOW = 45 * 60  # closed calls come in this long before opening and after closing

# Tie order of events within one second: a call is offered before it is answered, and a
# site.status reflects everything that happened in its second.
RANK = {"call.offered": 0, "call.answered": 1, "call.abandoned": 2, "booking.requested": 3,
        "call.ended": 4, "booking.cancelled": 5, "site.status": 6}


def pick(rng: random.Random, table: dict) -> str:
    """A key of `table`, weighted by its value (or by the value's first item)."""
    weights = [w[0] if isinstance(w, tuple) else w for w in table.values()]
    return rng.choices(list(table), weights=weights)[0]


@dataclass
class Agent:
    site: str
    ref: str
    k: int
    busy_until: int = 0
    starts: list[int] = field(default_factory=list)
    ends: list[int] = field(default_factory=list)

    def busy_at(self, t: int) -> bool:
        i = bisect.bisect_right(self.starts, t) - 1
        return i >= 0 and self.ends[i] > t


@dataclass
class Call:
    arrival: int
    queue: str
    concern: str
    caller_ref: str
    attempt: int = 1
    closed: bool = False   # offered while the tenant is closed
    priority: str = "normal"


class Simulation:
    """One tenant's day: queue simulation plus the events it produces."""

    def __init__(self, tenant: Tenant, seed: int):
        self.t = tenant
        self.rng = random.Random(f"{seed}/{tenant.name}")
        self.rota_start, self.rota = parse_rota(tenant.rota)
        self.agents = [Agent(site, f"a-{prefix}-{k:02d}", k)
                       for site, prefix in tenant.sites.items()
                       for k in range(1, max(self.rota[site]) + 1)]
        self.events: list[tuple] = []   # (t, rank, seq, type, source, subject, data)
        self.refs: set[str] = set()
        self.queued: dict[str, tuple[list[int], list[int]]] = {
            s: ([], []) for s in tenant.sites}   # site -> arrivals, departures (queued calls)

    # -- helpers --

    def staffed(self, site: str, t: int) -> int:
        i = (t - self.rota_start) // HALF_HOUR
        counts = self.rota[site]
        return counts[i] if 0 <= i < len(counts) else 0

    def next_free(self, agent: Agent, t: int) -> float:
        """The first moment >= t at which the agent is idle and on shift."""
        x = max(t, agent.busy_until)
        end = self.rota_start + len(self.rota[agent.site]) * HALF_HOUR
        while x < end:
            if agent.k <= self.staffed(agent.site, x):
                return x
            x = (x // HALF_HOUR + 1) * HALF_HOUR
        return math.inf

    def pseudonym(self) -> str:
        while True:
            ref = f"p-{self.rng.getrandbits(24):06x}"
            if ref not in self.refs:
                self.refs.add(ref)
                return ref

    def emit(self, t: int, etype: str, source: str, subject: str | None, data: dict) -> None:
        self.events.append((t, RANK[etype], len(self.events), etype, source, subject, data))

    def new_call(self, arrival: int, closed: bool = False) -> Call:
        queue = pick(self.rng, self.t.queues)
        concern = pick(self.rng, self.t.queues[queue][1])
        call = Call(arrival, queue, concern, self.pseudonym(), closed=closed)
        # Drawn only for tenants that take emergencies, so other tenants' draws stay as they were.
        if self.t.emergency_share and self.rng.random() < self.t.emergency_share.get(concern, 0):
            call.priority = "emergency"
        return call

    def arrivals(self, start: int, end: int, rate) -> list[int]:
        """Whole-second arrival times of a Poisson process with rate(t) calls/hour, by thinning."""
        peak = max(rate(s) for s in range(start, end, 60)) * 1.01
        out, x = [], float(start)
        while True:
            x += self.rng.expovariate(peak / 3600)
            if x >= end:
                return out
            if self.rng.random() * peak < rate(x):
                out.append(int(x))

    # -- the day --

    def run(self) -> None:
        t = self.t
        seq = 0
        heap: list[tuple[int, int, Call]] = []
        for a in self.arrivals(t.opens, t.closes, t.rate):
            heap.append((a, seq, self.new_call(a)))
            seq += 1
        for i in range(t.closed_calls):  # half before opening, half after closing
            lo = t.opens - CLOSED_WINDOW if i % 2 == 0 else t.closes
            a = self.rng.randrange(lo, lo + CLOSED_WINDOW)
            heap.append((a, seq, self.new_call(a, closed=True)))
            seq += 1
        heapq.heapify(heap)
        n_call = n_booking = 0
        while heap:
            _, _, call = heapq.heappop(heap)
            n_call += 1
            call_id = f"{t.name}-c{n_call:05d}"
            if call.closed:
                wait = self.rng.randint(2, 8)
                self.offer_and_abandon(call, call_id, wait)
                continue
            if self.rng.random() < t.short_abandon_share:
                patience = self.rng.randint(1, 5)
            else:
                patience = max(1, math.ceil(self.rng.expovariate(1 / t.patience_mean)))
            agent = min(self.agents, key=lambda ag: (self.next_free(ag, call.arrival),
                                                     ag.busy_until, ag.ref))
            start = self.next_free(agent, call.arrival)
            if start - call.arrival >= patience:
                self.offer_and_abandon(call, call_id, patience)
                if (call.attempt < MAX_ATTEMPTS and self.rng.random() < t.redial_share):
                    again = call.arrival + patience + 60 + int(self.rng.expovariate(1 / 300))
                    if again < t.closes:
                        redial = Call(again, call.queue, call.concern, call.caller_ref,
                                      call.attempt + 1, priority=call.priority)
                        heapq.heappush(heap, (again, seq, redial))
                        seq += 1
                continue
            start = int(start)
            n_booking += self.answer(call, call_id, agent, start, n_booking)

    def offer_and_abandon(self, call: Call, call_id: str, wait: int) -> None:
        site = self.t.primary
        self.offer(call, call_id, site, call.arrival + wait)
        self.emit(call.arrival + wait, "call.abandoned", f"acd/{site}", call_id,
                  {"call_id": call_id, "queue": call.queue, "wait_seconds": wait, "site": site})

    def offer(self, call: Call, call_id: str, site: str, leaves: int) -> None:
        self.emit(call.arrival, "call.offered", f"acd/{site}", call_id,
                  {"call_id": call_id, "queue": call.queue, "site": site, "priority": call.priority,
                   "concern": call.concern, "caller_ref": call.caller_ref})
        if not call.closed:
            arrivals, departures = self.queued[site]
            arrivals.append(call.arrival)
            departures.append(leaves)

    def answer(self, call: Call, call_id: str, agent: Agent, start: int, n_booking: int) -> int:
        """Emits an answered call's events; returns the number of bookings made (0 or 1)."""
        t, rng, site = self.t, self.rng, agent.site
        mean = t.queues[call.queue][1][call.concern][1]
        sigma = t.talk_sigma
        talk = max(20, round(rng.lognormvariate(math.log(mean) - sigma * sigma / 2, sigma)))
        agent.starts.append(start)
        agent.ends.append(start + talk + t.wrap_up)
        agent.busy_until = start + talk + t.wrap_up
        self.offer(call, call_id, site, start)
        src = f"acd/{site}"
        self.emit(start, "call.answered", src, call_id,
                  {"call_id": call_id, "queue": call.queue, "wait_seconds": start - call.arrival,
                   "site": site, "agent_ref": agent.ref})
        ended = {"call_id": call_id, "queue": call.queue, "talk_seconds": talk, "site": site,
                 "resolved": rng.random() < t.resolved_share}
        if not ended["resolved"] and call.concern in t.transfers and rng.random() < 0.5:
            ended["transferred_to"] = t.transfers[call.concern]
        self.emit(start + talk, "call.ended", src, call_id, ended)
        if rng.random() >= t.booking_share.get(call.concern, 0.0):
            return 0
        booking_id = f"{t.name}-b{n_booking + 1:05d}"
        center = pick(rng, CENTERS)
        when = start + round(talk * 0.8)
        self.emit(when, "booking.requested", f"booking/{center}", booking_id,
                  {"booking_id": booking_id, "center": center, "slot": self.slot(),
                   "citizen_ref": call.caller_ref, "channel": "phone",
                   "priority_group": pick(rng, PRIORITY_GROUPS)})
        if rng.random() < CANCEL_SHARE:
            later = min(when + rng.randint(20 * 60, 5 * 3600), 24 * 3600 - 1)
            self.emit(later, "booking.cancelled", f"booking/{center}", booking_id,
                      {"booking_id": booking_id})
        return 1

    def slot(self) -> str:
        """An appointment in the next 14 days, Mon-Sat 08:00-17:50, on a 10-minute grid."""
        while True:
            day = DAY + timedelta(days=self.rng.randint(1, 14))
            if day.weekday() != 6:
                break
        at = day.replace(hour=self.rng.randint(8, 17), minute=10 * self.rng.randint(0, 5))
        return at.isoformat(timespec="seconds")

    def site_status(self) -> None:
        for now in range(self.t.opens, self.t.closes, STATUS_EVERY):
            for site in self.t.sites:
                staffed = self.staffed(site, now)
                if not staffed:
                    continue
                available = sum(1 for ag in self.agents
                                if ag.site == site and ag.k <= staffed and not ag.busy_at(now))
                arrivals, departures = self.queued[site]
                waiting = bisect.bisect_right(arrivals, now) - bisect.bisect_right(departures, now)
                self.emit(now, "site.status", f"acd/{site}", None,
                          {"site": site, "agents_staffed": staffed,
                           "agents_available": available, "calls_waiting": waiting})

    def simulate(self) -> list[tuple]:
        self.run()
        for arrivals, departures in self.queued.values():
            arrivals.sort()
            departures.sort()
        self.site_status()
        return self.events


def iso(t: int) -> str:
    return (DAY + timedelta(seconds=t)).isoformat(timespec="seconds")


def to_lines(per_tenant: dict[str, list[tuple]]) -> list[dict]:
    merged = sorted((ev[0], ev[1], name, ev[2], ev) for name, evs in per_tenant.items()
                    for ev in evs)
    counters: Counter = Counter()
    out = []
    for _, _, name, _, (t, _, _, etype, source, subject, data) in merged:
        counters[name] += 1
        event = {"specversion": "1.0", "id": f"{name}-{counters[name]}", "source": source,
                 "type": etype, "tenant": name, "time": iso(t)}
        if subject is not None:
            event["subject"] = subject
        event["datacontenttype"] = "application/json"
        event["data"] = data
        out.append(event)
    return out


def summary(events: list[dict], size: int, by_interval: bool) -> str:
    thresholds = {t.name: t.threshold for t in TENANTS}
    stats: dict = defaultdict(Counter)
    halves: dict = defaultdict(Counter)
    offered_at: dict[str, int] = {}
    mix: dict = defaultdict(Counter)
    for ev in events:
        name, d = ev["tenant"], ev["data"]
        mix[name][ev["type"]] += 1
        if not ev["type"].startswith("call.") or ev["type"] == "call.ended":
            continue
        s = stats[(name, d["queue"])]
        if ev["type"] == "call.offered":
            s["offered"] += 1
            offered_at[d["call_id"]] = int(ev["time"][11:13]) * 2 + int(ev["time"][14:16]) // 30
            halves[(name, offered_at[d["call_id"]])]["offered"] += 1
            continue
        h = halves[(name, offered_at[d["call_id"]])]
        wait = d["wait_seconds"]
        if ev["type"] == "call.answered":
            s["answered"] += 1
            h["answered"] += 1
            if wait <= thresholds[name]:
                s["within"] += 1
                h["within"] += 1
        else:
            s["abandoned"] += 1
            h["abandoned"] += 1
            if wait <= 5:
                s["short"] += 1
                h["short"] += 1

    def level(c: Counter) -> str:
        base = c["answered"] + c["abandoned"] - c["short"]
        return f"{c['within'] / base:6.1%}" if base else "     -"

    lines = []
    for (name, queue), c in sorted(stats.items()):
        lines.append(f"{name:9} {queue:6} offered {c['offered']:5}  answered {c['answered']:5}"
                     f"  abandoned {c['abandoned']:5}  answered<={thresholds[name]}s"
                     f" {c['within']:5}  short abandons<=5s {c['short']:4}"
                     f"  service level (exclude-short) {level(c)}")
    for name in sorted(mix):
        parts = "  ".join(f"{k} {v}" for k, v in sorted(mix[name].items()))
        lines.append(f"{name:9} events: {parts}")
    lines.append(f"total lines {len(events)}, {size} bytes")
    if by_interval:
        for name in sorted(mix):
            lines.append(f"{name} by half hour of offer: offered answered abandoned level")
            for (n, half), c in sorted(halves.items()):
                if n == name:
                    lines.append(f"  {half // 2:02d}:{half % 2 * 30:02d} {c['offered']:6}"
                                 f" {c['answered']:6} {c['abandoned']:6}  {level(c)}")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED,
                        help=f"random seed (default {DEFAULT_SEED})")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT,
                        help="output file (default examples/day.jsonl)")
    parser.add_argument("--by-interval", action="store_true",
                        help="also print offered/answered/abandoned per half hour")
    args = parser.parse_args()

    per_tenant = {t.name: Simulation(t, args.seed).simulate() for t in TENANTS}
    events = to_lines(per_tenant)
    text = "".join(json.dumps(ev, separators=(",", ":")) + "\n" for ev in events)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text, encoding="utf-8")
    print(summary(events, len(text.encode()), args.by_interval), file=sys.stderr)


if __name__ == "__main__":
    main()
