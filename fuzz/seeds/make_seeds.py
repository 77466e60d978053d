#!/usr/bin/env python3
"""Writes the committed seed corpora of the fuzz targets (fuzz/seeds/<target>/) from the
example day, the worked example and the example bundles, plus a few hand-made inputs.
Run from the repository root: python3 fuzz/seeds/make_seeds.py. Deterministic."""

import hashlib
import json
import pathlib
import re

ROOT = pathlib.Path(__file__).resolve().parents[2]
SEEDS = ROOT / "fuzz" / "seeds"


def write(target, name, data):
    d = SEEDS / target
    d.mkdir(parents=True, exist_ok=True)
    (d / name).write_bytes(data if isinstance(data, bytes) else data.encode())


def event_seeds():
    seen = {}
    for line in (ROOT / "examples" / "day.jsonl").read_text().splitlines():
        e = json.loads(line)
        seen.setdefault((e["tenant"], e["type"]), line)
    picked = sorted(seen.items())
    for i, ((tenant, kind), line) in enumerate(picked):
        # Every other one as a delivery with its routing key, the rest as replay lines.
        if i % 2:
            write("event", f"day-{tenant}-{kind}", f">{tenant}.{kind}\ncontent-type: application/cloudevents+json\n\n{line}")
        else:
            write("event", f"day-{tenant}-{kind}", line)
    worked = (ROOT / "examples" / "worked-example.jsonl").read_text().splitlines()
    write("event", "worked-example-answered", worked[2])

    offered = json.loads(seen[("rlp-impf", "call.offered")])
    data = json.dumps(offered["data"], separators=(",", ":"))
    # Binary mode with each prefix and typed headers.
    for prefix, name in [("ce-", "ce"), ("cloudEvents_", "underscore"), ("cloudEvents:", "colon")]:
        write("event", f"binary-{name}",
              f">rlp-impf.call.offered\ncontent-type: application/json\n"
              f"{prefix}specversion: 1.0\n{prefix}id: b-1\n{prefix}source: acd/kl\n"
              f"{prefix}type: call.offered\n{prefix}tenant: rlp-impf\n"
              f"{prefix}time: t:1779184800\nx-retries: i:3\n\n{data}")
    write("event", "binary-answered-typed",
          ">soest.call.answered\ncontent-type: application/json\nce-specversion: 1.0\n"
          "ce-id: b-2\nce-source: acd/soest\nce-type: call.answered\nce-tenant: soest\n"
          "ce-subject: s-1\nx-flag: b:true\nx-weight: d:0.5\n\n"
          '{"call_id":"s-1","queue":"buerger","wait_seconds":12.5}')
    write("event", "binary-bad-header",
          ">soest.x\ncontent-type: application/json\nce-specversion: 1.0\nce-id: a:x\n\n{}")
    # Refusals: another tenant in the routing key, an unknown tenant, a custom type.
    line = seen[("soest", "call.ended")]
    write("event", "tenant-mismatch", f">rlp-impf.call.ended\n\n{line}")
    custom = {"specversion": "1.0", "id": "c-1", "source": "crm", "type": "crm.note",
              "tenant": "unbekannt", "data": {"note": "x", "n": [1, 2.5, None, True]}}
    write("event", "custom-unknown-tenant", json.dumps(custom))
    write("event", "data-base64",
          '{"specversion":"1.0","id":"x","source":"s","type":"t","tenant":"soest","data_base64":"AA=="}')
    write("event", "nested", '{"data":' * 20 + "1" + "}" * 20)


def placeholder_digest(content):
    return hashlib.sha256(content).hexdigest()


def bundle_seeds():
    empty = placeholder_digest(b"")
    header = placeholder_digest(b"\0asm\x0d\0\x01\0")
    for toml in sorted((ROOT / "examples" / "bundles").glob("*/tenant.toml")):
        text = toml.read_text()
        # Point the plugins at the placeholders, with their pins, and drop comments.
        text = re.sub(r'wasm = ".*"', 'wasm = "p.wasm"', text)
        text = re.sub(r'sha256 = ".*"', f'sha256 = "{empty}"', text)
        text = "\n".join(l for l in text.splitlines() if not l.lstrip().startswith("#"))
        write("bundle", f"example-{toml.parent.name}.toml", text + "\n")
    write("bundle", "minimal.toml", 'id = "t1"\ntimezone = "UTC"\n')
    write("bundle", "endpoints.toml", f'''id = "ministerium"
timezone = "Europe/Berlin"
[[plugins]]
name = "ministry"
wasm = "plugin.wasm"
sha256 = "{header}"
subscribe = ["booking.requested", "http.response"]
grant = ["http.post", "booking.confirm"]
on_failure = "ignore"
limits = {{ cpu_ms = 20, wall_ms = 200, memory_mib = 8 }}
[plugins.endpoints.portal]
url = "https://portal.example.invalid/api/bookings"
timeout_ms = 2000
token_env = "PORTAL_TOKEN"
max_attempts = 5
[plugins.fallback]
type = "booking.confirm"
events = ["booking.requested"]
when = {{ channel = "phone" }}
copy = ["booking_id"]
''')
    write("bundle", "calendar.toml", '''id = "soest"
timezone = "Europe/Berlin"
[calendar]
hours = { mon = ["08:00-12:00", "13:00-24:00"], tue = ["00:00-06:00"], sun = ["02:30-10:00"] }
holidays = { state = "DE-BY", local = ["Mariä Himmelfahrt"] }
closed = ["2026-12-25", { date = 2026-12-31, label = "Silvester" }]
[calendar.special.2026-12-24]
hours = ["08:00-12:00"]
label = "Heiligabend"
[calendars.kfz]
inherit = "tenant"
timezone = "Europe/Lisbon"
holidays = "none"
closed = ["2026-11-27"]
[calendars.kfz-nord]
inherit = "kfz"
hours = "24/7"
[queues.buerger]
sla = { threshold_seconds = 30, target = 0.75, max_occupancy = 0.85, shrinkage = 0.3 }
''')


def fixture_seeds():
    a = ['{"time":"2026-11-19T08:00:00+01:00","cause":"e1","type":"call.route","data":{"target":"kl"}}',
         '{"cause":"e2","failure":"timeout","detail":"cpu"}',
         '{"time":"2026-11-19T08:01:00Z","http":"portal","attempt":1,"idempotency_key":"k","status":503,"outcome":"retry"}',
         '{"line":4,"rejected":"malformed-json","detail":"x"}']
    b = [a[0].replace("+01:00", "").replace("08:00", "07:00") + "", a[2], '{"refused":"config"}']
    write("fixture", "same", "\n".join(a) + "\n")
    write("fixture", "differ", "\n".join(a) + "\n---\n" + "\n".join(b) + "\n")


if __name__ == "__main__":
    event_seeds()
    bundle_seeds()
    fixture_seeds()
