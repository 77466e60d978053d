#!/usr/bin/env python3
"""A national information hotline's Thursday, 2026-11-19: examples/national-day.jsonl.

Tenant ``bund-info``, one queue ``info``, open 08:00-20:00, answered by three contracted
providers at five sites (examples/national/bund-info/tenant.toml): ``callando`` (Berlin,
Leipzig; 50 % of the calls), ``hoerwerk`` (Kassel; 30 %) and ``nordkontakt`` (Hamburg,
Kiel; 20 %). The provider pool plugin routes each offered call; no site reports its
status, so it routes by the contracted shares alone (Sainte-Laguë over the day's calls,
ties to the provider listed first) to each provider's first site, and this script assigns
calls to providers by the same rule. Each provider then serves its calls first come, first
served by whichever of its agents is free first, at any of its sites: a call routed to
Leipzig's provider may be answered in Berlin (``call.answered`` names the site that
answered). Callers have an exponential patience (mean 90 s); 7 % hang up within 5 s.

Nordkontakt staffs too few agents from 13:00 to 17:00: its callers wait and hang up, and it
misses its 80 % in 20 s in the afternoon while the others keep theirs.

Standard library only; the output is the same byte for byte every time:

    python3 examples/national.py     # writes examples/national-day.jsonl
"""

import json
import math
import random
from datetime import datetime, timedelta, timezone

TENANT = "bund-info"
QUEUE = "info"
DAY = datetime(2026, 11, 19, tzinfo=timezone(timedelta(hours=1)))
OPEN, CLOSE = 8 * 3600, 20 * 3600
# Providers in the order of their ids (the pool's tie order), share, sites.
PROVIDERS = [
    ("callando", 0.5, ["berlin", "leipzig"]),
    ("hoerwerk", 0.3, ["kassel"]),
    ("nordkontakt", 0.2, ["hamburg", "kiel"]),
]
# Agents per site: (from, to, agents) in local hours.
ROTA = {
    "berlin": [(8, 20, 7)],
    "leipzig": [(8, 20, 4)],
    "kassel": [(8, 20, 6)],
    "hamburg": [(8, 13, 4), (13, 17, 2), (17, 20, 4)],
    "kiel": [(8, 13, 2), (13, 17, 1), (17, 20, 2)],
}
TALK_MEAN = 150.0
WRAP = 20


def rate(t: float) -> float:
    """Calls per second at local second t: a morning peak and a smaller afternoon one."""
    h = t / 3600
    return (220 + 160 * math.exp(-((h - 10.5) ** 2) / 2) + 90 * math.exp(-((h - 15) ** 2) / 3)) / 3600


def agents(site: str, t: int) -> int:
    h = t / 3600
    return sum(n for a, b, n in ROTA[site] if a <= h < b)


def main() -> None:
    rng = random.Random("national/2026-11-19")
    # Arrivals by thinning.
    peak = max(rate(s) for s in range(OPEN, CLOSE, 60))
    t, arrivals = float(OPEN), []
    while True:
        t += rng.expovariate(peak)
        if t >= CLOSE:
            break
        if rng.random() < rate(t) / peak:
            arrivals.append(int(t))
    counts = {p: 0 for p, _, _ in PROVIDERS}
    # Per site, when each agent is free next; agent k works while the rota staffs more than k.
    free: dict[str, list[int]] = {s: [] for s in ROTA}
    events = []  # (time, order, type, data)
    n = 0
    for i, at in enumerate(arrivals):
        call = f"{TENANT}-c{i + 1:05d}"
        provider, _, sites = min(PROVIDERS, key=lambda p: ((counts[p[0]] + 0.5) / p[1], PROVIDERS.index(p)))
        counts[provider] += 1
        events.append((at, n, "call.offered", {"call_id": call, "queue": QUEUE, "priority": "normal"}))
        n += 1
        # The earliest free agent of the provider at any of its sites (staffed at that time).
        best = None
        for s in sites:
            staffed = agents(s, at)
            slots = free[s]
            while len(slots) < staffed:
                slots.append(OPEN)
            # Agents 0..staffed-1 are on shift; the others are off until the rota adds them.
            for k in range(staffed):
                start = max(at, slots[k])
                if best is None or start < best[0]:
                    best = (start, s, k)
        patience = 3 if rng.random() < 0.07 else rng.expovariate(1 / 90)
        if best is None or best[0] - at > patience:
            wait = int(min(patience, CLOSE + 600 - at))
            events.append((at + wait, n, "call.abandoned",
                           {"call_id": call, "queue": QUEUE, "wait_seconds": wait}))
            n += 1
            continue
        start, site, k = best
        talk = max(20, int(rng.lognormvariate(math.log(TALK_MEAN) - 0.18, 0.6)))
        free[site][k] = start + talk + WRAP
        wait = start - at
        events.append((start, n, "call.answered",
                       {"call_id": call, "queue": QUEUE, "wait_seconds": wait, "site": site}))
        n += 1
        events.append((start + talk, n, "call.ended",
                       {"call_id": call, "queue": QUEUE, "talk_seconds": talk,
                        "resolved": rng.random() < 0.72, "site": site}))
        n += 1
    events.sort(key=lambda e: (e[0], e[1]))
    with open("examples/national-day.jsonl", "w", encoding="utf-8") as out:
        for k, (t, _, kind, data) in enumerate(events):
            time = (DAY + timedelta(seconds=t)).isoformat()
            out.write(json.dumps({
                "specversion": "1.0", "id": f"{TENANT}-{k + 1}", "source": "acd/national",
                "type": kind, "tenant": TENANT, "time": time,
                "subject": data["call_id"], "datacontenttype": "application/json", "data": data,
            }, separators=(",", ":")) + "\n")


if __name__ == "__main__":
    main()
