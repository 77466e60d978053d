#!/usr/bin/env python3
"""Generate one realistic day of a provider's ACD records, twice: as Asterisk writes them
(queue_log) and as Amazon Connect writes them (contact trace records, one JSON per line).

    python3 examples/acd/generate_acd.py                 # writes examples/acd/queue_log
                                                         # and examples/acd/connect-ctr.jsonl
    python3 examples/acd/generate_acd.py --seed 7 --out-dir /tmp/acd

Standard library only; the same seed gives the same files byte for byte (default seed 1).

The day is Tuesday 2026-11-24 (Europe/Berlin, +01:00 all day) at the citizen service centre of
the tenant ``soest``: one pooled team at the site ``soest`` answers two numbers, the city's
(Asterisk queue ``stadt-115``, Connect queue "Stadt Soest") and the district's (``kreis-115``,
"Kreis Soest"), open 08:00-17:00. The model, one queue simulation in whole seconds:

* Arrivals: a Poisson process drawn by thinning against a half-hourly curve (peak 10-11 h,
  a lunch dip, a rush before closing), 58 % for the city. From 10:20 to 11:10 the city's online
  appointment booking is down and 220 extra calls an hour reach the city's number. A caller
  spends 4-20 s in the IVR before entering the queue; 3 % hang up in the IVR: Connect records
  them as contacts that never queued, Asterisk writes no queue_log line for them (their
  channels still take uniqueids).
* Agents: 17 members (PJSIP/2101-2117) in both queues on staggered shifts, logged in and out
  with AddQueueMember/RemoveQueueMember (ADDMEMBER/REMOVEMEMBER), a 30-minute lunch and short
  breaks (PAUSEALL/UNPAUSEALL and a PAUSE/UNPAUSE per queue). Strategy leastrecent with
  autofill: every waiting caller, oldest first, rings the member idle longest.
* Ringing: the agent answers after 2-8 s; 2.5 % of rings go unanswered for the 15 s member
  timeout (RINGNOANSWER), the member is paused in all queues (autopause=all, "Auto-Pause") and
  back after 1-3 minutes, the caller retries after 5 s. A caller hanging up while a member
  rings gives RINGCANCELED, then ABANDON.
* Talk: lognormal, mean 200 s (city) / 235 s (district), then 20 s wrap-up. 15 % of calls put
  the caller on hold for 10-60 s (Connect reports the hold apart; Asterisk's call time holds
  it). Endings: COMPLETECALLER 62 % / COMPLETEAGENT; 2.5 % blind transfer into the other queue
  (the caller enters it under the same callid: a second queue entry), 4 % blind transfer to a
  department extension (3100/3200/3300@abteilungen), 0.5 % to an outside number, 1 % attended
  transfer to the back office (ATTENDEDTRANSFER|BRIDGE|...).
* Leaving the queue: patience is exponential (mean 200 s), 6 % hang up within 1-5 s
  (ABANDON, most of them at position 1); 15 % of callers press 1 for a callback when it is
  offered after 60-90 s (EXITWITHKEY); the queue timeout is 150 s (EXITWITHTIMEOUT, after
  which the dialplan offers voicemail). At 16:58 the supervisor pauses every member
  ("Dienstschluss"); with leavewhenempty=paused, callers still waiting and those entering
  until the number closes at 17:00 leave with EXITEMPTY within seconds. Agents finish their
  calls and log out.
* Redials: 30 % of callers who hung up (25 % after a timeout) call again 1.5-10 minutes later
  under a new callid with the same number, at most three attempts.
* Asterisk restarted at 06:00 (QUEUESTART; uniqueid counters begin again), an administrator
  reloaded the configuration at 12:31 (CONFIGRELOAD).

Asterisk lines follow app_queue.c and logger.c of current releases field for field:
``epoch|callid|queue|agent|EVENT|data...``. Callids are channel uniqueids ``<epoch>.<n>``, n
counting all channels since the restart (other calls of the PBX included). Connect records
follow AWS's contact record data model: one record per queue entry (ContactId a UUID; a
transfer into the other queue is a new contact, InitiationMethod TRANSFER, linked by
Previous/NextContactId), Queue.Duration = the Asterisk wait, AgentInteractionDuration +
CustomerHoldDuration = the Asterisk call time, AfterContactWorkStartTimestamp = the end of the
conversation, timestamps in UTC. Records carry the fields Leitstand reads and a few more, and
leave out empty ones, to keep the file small. They are written in the order of
LastUpdateTimestamp; 1 % of answered contacts are delivered twice (first before after-contact
work began, then updated), as Connect's at-least-once stream does. Caller numbers are invented,
drawn from number blocks kept free for fiction.
"""

import argparse
import heapq
import json
import math
import random
import sys
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

TZ = timezone(timedelta(hours=1))  # Europe/Berlin in November: CET, no change that day
DAY = datetime(2026, 11, 24, tzinfo=TZ)


def at(hh, mm, ss=0):
    """Epoch seconds of a local clock time on the day."""
    return int((DAY + timedelta(hours=hh, minutes=mm, seconds=ss)).timestamp())


OPEN, CLOSE = at(8, 0), at(17, 0)
# The supervisor sends the team home two minutes before the number closes.
CLOSING_PAUSE = at(16, 58)
QUEUES = ["stadt-115", "kreis-115"]
CITY_SHARE = 0.58
CONNECT_NAMES = {"stadt-115": "Stadt Soest", "kreis-115": "Kreis Soest"}
OTHER_QUEUE_EXTEN = {"stadt-115": "kreis", "kreis-115": "stadt"}
TALK_MEAN = {"stadt-115": 200.0, "kreis-115": 235.0}
# First calls per hour in each half hour from 08:00 to 16:30.
HALF_HOURLY = [100, 125, 160, 175, 180, 185, 165, 150, 120, 105, 100, 110, 135, 135, 120, 120, 130, 180]
# The city's online appointment booking fails 10:20-11:10: extra calls to the city's number.
OUTAGE = (at(10, 20), at(11, 10), 220)
IVR_ONLY = 0.03
WRAPUP = 20
RING_TIMEOUT = 15
RETRY = 5
QUEUE_TIMEOUT = 150
KEY_SHARE = 0.15
PATIENCE_MEAN = 200.0
IMPATIENT = 0.06
RNA_SHARE = 0.025
REDIAL = {"ABANDON": 0.30, "EXITWITHTIMEOUT": 0.25}
MAX_ATTEMPTS = 3
DEPARTMENTS = [("3100", "+493023125901"), ("3200", "+493023125902"), ("3300", "+493023125903")]
OUTSIDE = ("03023125999", "+493023125999")
BACK_OFFICE = "+493023125904"
NUMBER_BLOCKS = ["03023125", "06990009", "04066969", "02214710", "08999998"]

# (first member number, how many, shift start, shift end, lunch starts (one per member))
SHIFTS = [
    (2101, 6, at(7, 50), at(16, 0), [at(11, 30 + 15 * i) for i in range(6)]),
    (2107, 6, at(8, 40), CLOSE, [at(12, 45 + 10 * i) for i in range(6)]),
    (2113, 3, at(9, 0), at(13, 0), [None] * 3),
    (2116, 2, at(13, 0), CLOSE, [None] * 2),
]

ACCOUNT = "123456789012"
INSTANCE = "arn:aws:connect:eu-central-1:%s:instance/6a3b0d2e-4f1c-4d8a-9b7e-2c5d8e1f0a93" % ACCOUNT


def utc(t):
    """A Connect timestamp: UTC, whole seconds."""
    return datetime.fromtimestamp(t, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def compact(record):
    """Leaves out empty fields (a real export writes many of them as null), except Agent and
    Queue, whose null says the contact reached no agent or no queue; keeps the files small."""
    out = {}
    for k, v in record.items():
        if isinstance(v, dict):
            v = compact(v)
        if v is not None or k in ("Agent", "Queue"):
            out[k] = v
    return out


class Channel:
    """An Asterisk channel; its uniqueid is assigned once all channels of the day are known."""

    def __init__(self, created, order):
        self.created = created
        self.order = order
        self.uniqueid = None


class Entry:
    """One caller's entry into one queue."""

    def __init__(self, caller, channel, queue, entered, attempt, previous=None):
        self.caller = caller
        self.channel = channel
        self.queue = queue
        self.entered = entered
        self.attempt = attempt
        self.previous = previous  # the entry whose agent transferred the caller here
        self.opos = 0
        self.state = "waiting"  # waiting, ringing, talking, done
        self.eligible = entered
        self.ringing_agent = None
        self.exit_due = None  # an exit that came while a member was ringing
        self.outcome = None  # (event, time, wait) for an exit
        self.connected = None
        self.hold = self.talk = self.customer_hold = 0
        self.agent = None
        self.ended = None
        self.end_event = None
        self.transfer = None
        self.next_entry = None
        self.abandoned_at = None


class Agent:
    """A queue member (a phone in both queues) and the agent's shift, breaks and state."""

    def __init__(self, number, start, end, lunch):
        self.name = "PJSIP/%d" % number
        self.number = number
        self.start, self.end, self.lunch = start, end, lunch
        self.logged_in = False
        self.paused = None
        self.busy = False
        self.free_at = 0
        self.idle_since = 0
        self.leaving = False
        self.pending_breaks = []
        self.ring = None  # the entry this member's phone rings for
        self.arn = None
        self.username = "soest.%d" % number


class Day:
    """The simulation: events in time order on a heap, the queue_log lines as they happen."""

    def __init__(self, seed):
        self.rng = random.Random(seed)
        self.heap = []
        self.seq = 0
        self.lines = []  # (time, fields) with Channel objects where uniqueids go
        self.channels = []
        self.queues = {q: [] for q in QUEUES}
        self.entries = []
        self.ivr_only = []
        self.agents = []
        self.closed = False
        numbers = [b + "%03d" % n for b in NUMBER_BLOCKS for n in range(1000)]
        self.rng.shuffle(numbers)
        self.numbers = numbers

    # --- plumbing -----------------------------------------------------------------------
    def channel(self, created):
        ch = Channel(created, len(self.channels))
        self.channels.append(ch)
        return ch

    def schedule(self, t, kind, *args):
        self.seq += 1
        heapq.heappush(self.heap, (t, self.seq, kind, args))

    def log(self, t, callid, queue, agent, event, *data):
        self.lines.append((t, [callid, queue, agent, event, *data]))

    # --- agents -------------------------------------------------------------------------
    def add_agents(self):
        rng = self.rng
        for first, count, start, end, lunches in SHIFTS:
            for i in range(count):
                a = Agent(first + i, start + rng.randint(0, 240), end + rng.randint(0, 300), lunches[i])
                if end == CLOSE:
                    a.end = CLOSE + 600  # the late shift stays until the close has cleared
                a.arn = "%s/agent/%s" % (INSTANCE, uuid.UUID(int=rng.getrandbits(128), version=4))
                self.agents.append(a)
                self.schedule(a.start, "login", a)
                if a.lunch:
                    self.schedule(a.lunch + rng.randint(0, 300), "break", a, "Mittagspause", 1800)
                length = a.end - a.start
                if length > 5 * 3600:
                    brk = a.start + rng.randint(int(length * 0.2), int(length * 0.35))
                    self.schedule(brk, "break", a, "Pause", rng.randint(600, 900))
                    brk2 = a.start + rng.randint(int(length * 0.7), int(length * 0.85))
                    self.schedule(brk2, "break", a, "Pause", rng.randint(300, 600))
                self.schedule(a.end, "shift_end", a)

    def available(self, a, t):
        return a.logged_in and a.paused is None and not a.busy and t >= a.free_at and not a.leaving

    def pause_all(self, t, a, reason):
        a.paused = reason
        self.log(t, "NONE", "NONE", a.name, "PAUSEALL", reason)
        for q in QUEUES:
            self.log(t, "NONE", q, a.name, "PAUSE", reason)

    def unpause_all(self, t, a):
        a.paused = None
        a.idle_since = t
        self.log(t, "NONE", "NONE", a.name, "UNPAUSEALL", "")
        for q in QUEUES:
            self.log(t, "NONE", q, a.name, "UNPAUSE", "")

    def log_off(self, t, a):
        ch = self.channel(t)
        for q in QUEUES:
            self.log(t, ch, q, a.name, "REMOVEMEMBER", "")
        a.logged_in = False

    def agent_idle(self, t, a):
        """The agent has finished wrap-up: leave, take a pending break, or take calls."""
        if a.leaving or t >= a.end:
            a.leaving = True
            if a.logged_in:
                self.log_off(t, a)
            return
        if a.pending_breaks and a.paused is None:
            reason, length = a.pending_breaks.pop(0)
            self.pause_all(t, a, reason)
            self.schedule(t + length, "unpause", a, reason)
            return
        a.idle_since = t
        self.dispatch(t)

    # --- callers ------------------------------------------------------------------------
    def arrivals(self):
        rng = self.rng
        peak = (max(HALF_HOURLY) + OUTAGE[2]) / 3600.0
        t = OPEN
        while True:
            t += rng.expovariate(peak)
            if t >= CLOSE:
                break
            base = HALF_HOURLY[int((t - OPEN) // 1800)] / 3600.0
            extra = OUTAGE[2] / 3600.0 if OUTAGE[0] <= t < OUTAGE[1] else 0.0
            u = rng.random() * peak
            if u < base + extra:
                second = int(t)
                if u >= base:
                    queue = QUEUES[0]
                else:
                    queue = QUEUES[0] if rng.random() < CITY_SHARE else QUEUES[1]
                number = "" if rng.random() < 0.04 else self.numbers.pop()
                caller = {"number": number, "queue": queue, "key": rng.random() < KEY_SHARE}
                self.schedule(second, "call", caller, 1)

    def call(self, t, caller, attempt):
        if t >= CLOSE:
            return  # the dialplan plays the closed announcement; no queue
        ivr = self.rng.randint(4, 20)
        ch = self.channel(t)
        if self.rng.random() < IVR_ONLY:
            self.ivr_only.append((caller, t, t + ivr))
            return
        self.schedule(t + ivr, "enter", caller, ch, caller["queue"], attempt, None)

    def enter(self, t, caller, ch, queue, attempt, previous):
        rng = self.rng
        e = Entry(caller, ch, queue, t, attempt, previous)
        if previous is not None:
            previous.next_entry = e
        waiting = self.queues[queue]
        waiting.append(e)
        e.opos = len(waiting)
        self.entries.append(e)
        self.log(t, ch, queue, "NONE", "ENTERQUEUE", "", caller["number"], e.opos)
        if self.closed:
            # Every member is paused: leavewhenempty=paused sends the caller on at once.
            self.schedule(t + rng.randint(1, 4), "empty", e)
            return
        patience = rng.randint(1, 5) if rng.random() < IMPATIENT else max(6, int(rng.expovariate(1 / PATIENCE_MEAN)))
        self.schedule(t + patience, "hangup", e)
        self.schedule(t + QUEUE_TIMEOUT, "timeout", e)
        if caller["key"] and previous is None:
            self.schedule(t + rng.randint(60, 90), "key", e)
        self.dispatch(t)

    def position(self, e):
        return self.queues[e.queue].index(e) + 1

    def leave(self, t, e, event, *data):
        pos = self.position(e)
        e.abandoned_at = pos
        self.queues[e.queue].remove(e)
        e.state = "done"
        wait = t - e.entered
        e.outcome = (event, t, wait)
        if event == "EXITWITHKEY":
            self.log(t, e.channel, e.queue, "NONE", event, "1", pos, e.opos, wait)
        else:
            self.log(t, e.channel, e.queue, "NONE", event, pos, e.opos, wait)
        share = REDIAL.get(event, 0)
        if e.attempt < MAX_ATTEMPTS and self.rng.random() < share:
            self.schedule(t + self.rng.randint(90, 600), "call", e.caller, e.attempt + 1)

    # --- matching waiting callers to members ----------------------------------------------
    def dispatch(self, t):
        waiting = sorted(
            (e for q in QUEUES for e in self.queues[q] if e.state == "waiting" and e.eligible <= t),
            key=lambda e: (e.entered, e.channel.order),
        )
        for e in waiting:
            free = [a for a in self.agents if self.available(a, t)]
            if not free:
                return
            a = min(free, key=lambda a: (a.idle_since, a.number))
            self.ring(t, e, a)

    def ring(self, t, e, a):
        rng = self.rng
        e.state = "ringing"
        e.ringing_agent = a
        a.busy = True
        a.ring = e
        leg = self.channel(t)
        if rng.random() < RNA_SHARE:
            self.schedule(t + RING_TIMEOUT, "no_answer", e, a, t)
        else:
            self.schedule(t + rng.randint(2, 8), "answer", e, a, t, leg)

    def no_answer(self, t, e, a, started):
        if a.ring is not e or e.ringing_agent is not a:
            return  # the caller hung up while it rang
        a.busy = False
        a.ring = None
        self.log(t, e.channel, e.queue, a.name, "RINGNOANSWER", (t - started) * 1000)
        # autopause=all
        self.pause_all(t, a, "Auto-Pause")
        self.schedule(t + self.rng.randint(60, 180), "unpause", a, "Auto-Pause")
        e.state = "waiting"
        e.ringing_agent = None
        e.eligible = t + RETRY
        if e.exit_due:
            self.leave(t, e, e.exit_due)
            return
        self.schedule(t + RETRY, "retry")

    def answer(self, t, e, a, started, leg):
        if a.ring is not e or e.ringing_agent is not a:
            return  # the caller hung up while it rang
        a.ring = None
        rng = self.rng
        self.queues[e.queue].remove(e)
        e.state = "talking"
        e.connected = t
        e.hold = t - e.entered
        e.agent = a
        self.log(t, e.channel, e.queue, a.name, "CONNECT", e.hold, leg, t - started)
        talk = max(20, int(rng.lognormvariate(math.log(TALK_MEAN[e.queue]) - 0.18, 0.6)))
        e.talk = talk
        if rng.random() < 0.15:
            e.customer_hold = min(talk - 10, rng.randint(10, 60))
        self.schedule(t + talk, "end", e, a)

    def end(self, t, e, a):
        rng = self.rng
        e.state = "done"
        e.ended = t
        opos = e.opos
        r = rng.random()
        if r < 0.025 and not self.closed and t < CLOSE:
            exten = OTHER_QUEUE_EXTEN[e.queue]
            e.end_event = "BLINDTRANSFER"
            e.transfer = ("queue", exten)
            self.log(t, e.channel, e.queue, a.name, "BLINDTRANSFER", exten, "queues", e.hold, e.talk, opos)
            other = QUEUES[1] if e.queue == QUEUES[0] else QUEUES[0]
            self.schedule(t + 1, "enter", e.caller, e.channel, other, e.attempt, e)
        elif r < 0.065:
            exten, number = DEPARTMENTS[rng.randrange(len(DEPARTMENTS))]
            e.end_event = "BLINDTRANSFER"
            e.transfer = ("number", number)
            self.log(t, e.channel, e.queue, a.name, "BLINDTRANSFER", exten, "abteilungen", e.hold, e.talk, opos)
        elif r < 0.07:
            e.end_event = "BLINDTRANSFER"
            e.transfer = ("number", OUTSIDE[1])
            self.log(t, e.channel, e.queue, a.name, "BLINDTRANSFER", OUTSIDE[0], "extern", e.hold, e.talk, opos)
        elif r < 0.08:
            e.end_event = "ATTENDEDTRANSFER"
            e.transfer = ("number", BACK_OFFICE)
            bridge = uuid.UUID(int=rng.getrandbits(128), version=4)
            self.log(t, e.channel, e.queue, a.name, "ATTENDEDTRANSFER", "BRIDGE", bridge, e.hold, e.talk, opos)
        else:
            e.end_event = "COMPLETECALLER" if rng.random() < 0.62 else "COMPLETEAGENT"
            self.log(t, e.channel, e.queue, a.name, e.end_event, e.hold, e.talk, opos)
        a.busy = False
        a.free_at = t + WRAPUP
        self.schedule(t + WRAPUP, "wrapped", a)

    # --- the run --------------------------------------------------------------------------
    def run(self):
        self.log(at(6, 0, 3), "NONE", "NONE", "NONE", "QUEUESTART", "")
        self.add_agents()
        self.arrivals()
        self.schedule(at(12, 31, 7), "reload")
        self.schedule(CLOSING_PAUSE, "close")
        while self.heap:
            t, _, kind, args = heapq.heappop(self.heap)
            getattr(self, "on_" + kind)(t, *args)
        self.assign_uniqueids()

    def on_login(self, t, a):
        ch = self.channel(t)
        for q in QUEUES:
            self.log(t, ch, q, a.name, "ADDMEMBER", "")
        a.logged_in = True
        a.idle_since = t
        self.dispatch(t)

    def on_break(self, t, a, reason, length):
        if not a.logged_in or a.leaving or t + length > a.end:
            return
        if a.paused is None and not a.busy and t >= a.free_at:
            self.pause_all(t, a, reason)
            self.schedule(t + length, "unpause", a, reason)
        else:
            a.pending_breaks.append((reason, length))

    def on_unpause(self, t, a, reason):
        if a.paused != reason or not a.logged_in:
            return
        if self.closed:
            return
        self.unpause_all(t, a)
        self.agent_idle(t, a)

    def on_shift_end(self, t, a):
        a.leaving = True
        if a.logged_in and not a.busy and t >= a.free_at:
            self.log_off(t, a)

    def on_wrapped(self, t, a):
        if a.busy or t < a.free_at:
            return
        self.agent_idle(t, a)

    def on_call(self, t, caller, attempt):
        self.call(t, caller, attempt)

    def on_enter(self, t, caller, ch, queue, attempt, previous):
        self.enter(t, caller, ch, queue, attempt, previous)

    def on_hangup(self, t, e):
        if e.state == "ringing":
            a = e.ringing_agent
            self.log(t, e.channel, e.queue, a.name, "RINGCANCELED", self.rng.randint(500, 7000))
            a.busy = False
            a.ring = None
            e.ringing_agent = None
            e.state = "waiting"
            self.leave(t, e, "ABANDON")
            self.agent_idle(t, a)
        elif e.state == "waiting":
            self.leave(t, e, "ABANDON")

    def on_timeout(self, t, e):
        if e.state == "waiting":
            self.leave(t, e, "EXITWITHTIMEOUT")
        elif e.state == "ringing":
            e.exit_due = "EXITWITHTIMEOUT"

    def on_key(self, t, e):
        if e.state == "waiting":
            self.leave(t, e, "EXITWITHKEY")

    def on_no_answer(self, t, e, a, started):
        self.no_answer(t, e, a, started)
        if a.logged_in and a.leaving:
            self.log_off(t, a)

    def on_answer(self, t, e, a, started, leg):
        self.answer(t, e, a, started, leg)

    def on_end(self, t, e, a):
        self.end(t, e, a)

    def on_retry(self, t):
        self.dispatch(t)

    def on_reload(self, t):
        self.log(t, "NONE", "NONE", "NONE", "CONFIGRELOAD", "")

    def on_close(self, t):
        self.closed = True
        for a in self.agents:
            if a.logged_in:
                if a.paused is None:
                    self.pause_all(t, a, "Dienstschluss")
                else:
                    a.paused = "Dienstschluss"
                a.leaving = True
                if not a.busy and t >= a.free_at:
                    self.schedule(t + self.rng.randint(10, 120), "logoff", a)
                else:
                    a.pending_breaks = []
        for q in QUEUES:
            for e in list(self.queues[q]):
                if e.state == "waiting":
                    self.schedule(t + self.rng.randint(1, 4), "empty", e)

    def on_empty(self, t, e):
        if e.state == "waiting":
            self.leave(t, e, "EXITEMPTY")
        elif e.state == "ringing":
            e.exit_due = "EXITEMPTY"

    def on_logoff(self, t, a):
        if a.logged_in:
            self.log_off(t, a)

    def assign_uniqueids(self):
        """Uniqueids count every channel since the restart, other calls of the PBX included."""
        n = 0
        for ch in sorted(self.channels, key=lambda c: (c.created, c.order)):
            n += 1 + int(self.rng.expovariate(1 / 1.5))
            ch.uniqueid = "%d.%d" % (ch.created, n)

    # --- output ---------------------------------------------------------------------------
    def queue_log(self):
        out = []
        for t, fields in self.lines:
            parts = [f.uniqueid if isinstance(f, Channel) else str(f) for f in fields]
            out.append("%d|%s\n" % (t, "|".join(parts)))
        return "".join(out)

    def contact_records(self):
        rng = self.rng
        queue_arn = {
            q: "%s/queue/%s" % (INSTANCE, uuid.UUID(int=rng.getrandbits(128), version=4))
            for q in QUEUES
        }
        ids = {}
        for e in self.entries:
            ids[id(e)] = str(uuid.UUID(int=rng.getrandbits(128), version=4))
        first_of = {}
        records = []
        for e in self.entries:
            first = e if e.previous is None else first_of[id(e.previous)]
            first_of[id(e)] = first
            contact = ids[id(e)]
            initiated = e.previous.ended if e.previous else e.channel.created
            method = "TRANSFER" if e.previous else "INBOUND"
            r = {
                "AWSContactTraceRecordFormatVersion": "2017-03-10",
                "Agent": None,
                "Channel": "VOICE",
                "ContactId": contact,
                "CustomerEndpoint": {"Address": "+49" + e.caller["number"][1:], "Type": "TELEPHONE_NUMBER"}
                if e.caller["number"]
                else None,
                "DisconnectReason": None,
                "DisconnectTimestamp": None,
                "InitialContactId": ids[id(first)] if e.previous else None,
                "InitiationMethod": method,
                "InitiationTimestamp": utc(initiated),
                "LastUpdateTimestamp": None,
                "NextContactId": ids[id(e.next_entry)] if e.next_entry else None,
                "PreviousContactId": ids[id(e.previous)] if e.previous else None,
                "Queue": {
                    "ARN": queue_arn[e.queue],
                    "DequeueTimestamp": None,
                    "Duration": None,
                    "EnqueueTimestamp": utc(e.entered),
                    "Name": CONNECT_NAMES[e.queue],
                },
                "TransferCompletedTimestamp": None,
                "TransferredToEndpoint": None,
            }
            if e.connected is not None:
                a = e.agent
                r["Queue"]["DequeueTimestamp"] = utc(e.connected)
                r["Queue"]["Duration"] = e.hold
                r["Agent"] = {
                    "ARN": a.arn,
                    "AfterContactWorkStartTimestamp": utc(e.ended),
                    "AgentInteractionDuration": e.talk - e.customer_hold,
                    "ConnectedToAgentTimestamp": utc(e.connected),
                    "CustomerHoldDuration": e.customer_hold,
                    "Username": a.username,
                }
                r["DisconnectTimestamp"] = utc(e.ended)
                if e.transfer and e.transfer[0] == "number":
                    r["TransferredToEndpoint"] = {"Address": e.transfer[1], "Type": "TELEPHONE_NUMBER"}
                    r["TransferCompletedTimestamp"] = utc(e.ended)
                    r["DisconnectReason"] = "THIRD_PARTY_DISCONNECT"
                elif e.transfer:
                    r["DisconnectReason"] = "AGENT_DISCONNECT"
                else:
                    r["DisconnectReason"] = (
                        "CUSTOMER_DISCONNECT" if e.end_event == "COMPLETECALLER" else "AGENT_DISCONNECT"
                    )
                updated = e.ended + WRAPUP + rng.randint(5, 40)
            else:
                event, left, wait = e.outcome
                r["Queue"]["DequeueTimestamp"] = utc(left)
                r["Queue"]["Duration"] = wait
                r["DisconnectTimestamp"] = utc(left)
                r["DisconnectReason"] = "CUSTOMER_DISCONNECT" if event == "ABANDON" else "CONTACT_FLOW_DISCONNECT"
                updated = left + rng.randint(5, 40)
            r["LastUpdateTimestamp"] = utc(updated)
            if e.connected is not None and rng.random() < 0.01:
                early = json.loads(json.dumps(r))
                early["Agent"]["AfterContactWorkStartTimestamp"] = None
                early_at = e.ended + rng.randint(2, 10)
                early["LastUpdateTimestamp"] = utc(early_at)
                records.append((early_at, early))
            records.append((updated, r))
        for caller, t, gone in self.ivr_only:
            contact = str(uuid.UUID(int=rng.getrandbits(128), version=4))
            updated = gone + rng.randint(5, 40)
            records.append(
                (
                    updated,
                    {
                        "AWSContactTraceRecordFormatVersion": "2017-03-10",
                        "Agent": None,
                        "Channel": "VOICE",
                        "ContactId": contact,
                        "CustomerEndpoint": {"Address": "+49" + caller["number"][1:], "Type": "TELEPHONE_NUMBER"}
                        if caller["number"]
                        else None,
                        "DisconnectReason": "CUSTOMER_DISCONNECT",
                        "DisconnectTimestamp": utc(gone),
                        "InitiationMethod": "INBOUND",
                        "InitiationTimestamp": utc(t),
                        "LastUpdateTimestamp": utc(updated),
                        "NextContactId": None,
                        "PreviousContactId": None,
                        "Queue": None,
                        "TransferCompletedTimestamp": None,
                        "TransferredToEndpoint": None,
                    },
                )
            )
        records.sort(key=lambda x: x[0])
        return "".join(json.dumps(compact(r), separators=(",", ":"), ensure_ascii=False) + "\n" for _, r in records)

    def summary(self, threshold=30, short=5):
        out = []
        for q in QUEUES:
            es = [e for e in self.entries if e.queue == q]
            answered = [e for e in es if e.connected is not None]
            left = [e for e in es if e.outcome]
            within = sum(1 for e in answered if e.hold <= threshold)
            shorts = sum(1 for e in left if e.outcome[2] <= short)
            exits = {}
            for e in left:
                exits[e.outcome[0]] = exits.get(e.outcome[0], 0) + 1
            denom = len(answered) + len(left) - shorts
            sl = within / denom if denom else float("nan")
            asterisk_abandoned = [e for e in left if e.outcome[0] != "EXITWITHKEY"]
            ab_within = sum(1 for e in asterisk_abandoned if e.outcome[2] <= threshold)
            sl2 = (within + ab_within) / (len(answered) + len(asterisk_abandoned))
            out.append(
                "%s offered %d answered %d answered<=%ds %d abandoned %d short<=%ds %d "
                "service level (exclude-short) %.1f%%  Asterisk SL %.1f%% SL2 %.1f%%  exits %s"
                % (q, len(es), len(answered), threshold, within, len(left), short, shorts,
                   100 * sl, 100 * within / len(answered), 100 * sl2,
                   " ".join("%s %d" % kv for kv in sorted(exits.items())))
            )
        transfers = sum(1 for e in self.entries if e.transfer)
        reentries = sum(1 for e in self.entries if e.previous)
        redials = sum(1 for e in self.entries if e.attempt > 1)
        abandons = [e for e in self.entries if e.outcome and e.outcome[0] == "ABANDON"]
        at_head = sum(1 for e in abandons if e.abandoned_at == 1)
        out.append(
            "queue entries %d, transfers %d (into the other queue %d), redials %d, IVR-only contacts %d, "
            "abandons %d (%d at position 1), queue_log lines %d"
            % (len(self.entries), transfers, reentries, redials, len(self.ivr_only), len(abandons), at_head,
               len(self.lines))
        )
        return "\n".join(out)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--out-dir", type=Path, default=Path(__file__).resolve().parent)
    args = parser.parse_args()
    day = Day(args.seed)
    day.run()
    args.out_dir.mkdir(parents=True, exist_ok=True)
    (args.out_dir / "queue_log").write_text(day.queue_log(), encoding="utf-8")
    (args.out_dir / "connect-ctr.jsonl").write_text(day.contact_records(), encoding="utf-8")
    print(day.summary(), file=sys.stderr)


if __name__ == "__main__":
    main()
