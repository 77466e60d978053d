#!/usr/bin/env python3
"""Write the worked example of CONTRACT §5 as a trace: examples/worked-example.jsonl.

    python3 examples/worked_example.py [--out PATH]

Tenant ``sla-check``, queue ``q``, threshold T = 20 s, short-abandon limit S = 5 s; 95 calls:

* 70 answered within T: waits spread over 0..20 s, 0 and exactly 20 included;
* 10 answered late: waits spread over 21..120 s;
* 15 abandoned: 5 short (1..5 s, exactly 5 once), 5 after 6..20 s (exactly 20 once) and
  5 after 21..200 s.

Each call is a ``call.offered`` followed by its ``call.answered`` or ``call.abandoned``; there is
no ``call.ended``, so FCR and AHT are null here. The calls arrive 30 s apart from 09:00:00
(Europe/Berlin, 2026-11-19) in a fixed shuffled order, so outcomes interleave; every event lies
between 09:00 and 10:00. Lines are sorted by time (ties: offered first, then call id); ids are
``sla-check-<n>`` in file order, ``source`` is ``acd/lab``, ``subject`` is the call id.

The expected report (CONTRACT §5) is printed to stderr after a recount from the written
events: service level exclude-short 70/90 = 0.7778, count 70/95 = 0.7368,
exclude 70/80 = 0.875, success-within 80/95 = 0.8421; abandon rate 10/90 = 0.1111.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

TENANT, QUEUE, SITE = "sla-check", "q", "lab"
T, S = 20, 5
START = datetime(2026, 11, 19, 9, 0, tzinfo=ZoneInfo("Europe/Berlin"))
DEFAULT_OUT = Path(__file__).resolve().parent / "worked-example.jsonl"


def spread(lo: int, hi: int, n: int) -> list[int]:
    """n whole numbers from lo to hi inclusive, evenly spread, both ends included."""
    return [lo + round(i * (hi - lo) / (n - 1)) for i in range(n)]


# (outcome, wait seconds) per call.
CALLS = (
    [("call.answered", w) for w in spread(0, T, 70)]
    + [("call.answered", w) for w in spread(T + 1, 120, 10)]
    + [("call.abandoned", w) for w in (1, 2, 3, 4, S)]
    + [("call.abandoned", w) for w in (6, 10, 14, 17, T)]
    + [("call.abandoned", w) for w in (21, 45, 90, 140, 200)]
)


def events() -> list[dict]:
    order = list(CALLS)
    random.Random(5).shuffle(order)
    raw = []  # (seconds after 09:00, rank, call_id, type, data)
    for n, (outcome, wait) in enumerate(order, 1):
        call_id = f"q-{n:03d}"
        arrival = (n - 1) * 30
        raw.append((arrival, 0, call_id, "call.offered",
                    {"call_id": call_id, "queue": QUEUE, "site": SITE, "priority": "normal"}))
        left = {"call_id": call_id, "queue": QUEUE, "wait_seconds": wait, "site": SITE}
        if outcome == "call.answered":
            left["agent_ref"] = f"a-lab-{n % 4 + 1:02d}"
        raw.append((arrival + wait, 1, call_id, outcome, left))
    out = []
    for i, (t, _, call_id, etype, data) in enumerate(sorted(raw), 1):
        out.append({"specversion": "1.0", "id": f"{TENANT}-{i}", "source": f"acd/{SITE}",
                    "type": etype, "tenant": TENANT,
                    "time": (START + timedelta(seconds=t)).isoformat(timespec="seconds"),
                    "subject": call_id, "datacontenttype": "application/json", "data": data})
    return out


def report(evs: list[dict]) -> str:
    """Recounts the CONTRACT §5 figures from the events themselves."""
    waits = {"call.answered": [], "call.abandoned": []}
    offered = 0
    for ev in evs:
        if ev["type"] == "call.offered":
            offered += 1
        else:
            waits[ev["type"]].append(ev["data"]["wait_seconds"])
    ans, abd = waits["call.answered"], waits["call.abandoned"]
    within = sum(w <= T for w in ans)
    short = sum(w <= S for w in abd)
    abd_within = sum(w <= T for w in abd)
    base = len(ans) + len(abd) - short
    return "\n".join([
        f"offered {offered}  answered {len(ans)}  answered_within {within}"
        f"  abandoned {len(abd)}  short_abandoned {short}",
        f"service level exclude-short {within}/{base} = {within / base:.4f}",
        f"service level count {within}/{len(ans) + len(abd)} = "
        f"{within / (len(ans) + len(abd)):.4f}",
        f"service level exclude {within}/{len(ans)} = {within / len(ans):.4f}",
        f"service level success-within {within + abd_within}/{len(ans) + len(abd)} = "
        f"{(within + abd_within) / (len(ans) + len(abd)):.4f}",
        f"abandon_rate {len(abd) - short}/{base} = {(len(abd) - short) / base:.4f}",
        f"asa_seconds {sum(ans) / len(ans):.4f}",
        f"lines {len(evs)}",
    ])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT,
                        help="output file (default examples/worked-example.jsonl)")
    args = parser.parse_args()
    evs = events()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("".join(json.dumps(ev, separators=(",", ":")) + "\n" for ev in evs),
                        encoding="utf-8")
    print(report(evs), file=sys.stderr)


if __name__ == "__main__":
    main()
