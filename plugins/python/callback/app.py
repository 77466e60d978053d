"""Leitstand plugin `callback`, written in Python: callers who gave up waiting are called back.

Contact centres promise a callback to a citizen who hung up after waiting a while. On
`call.offered` the plugin remembers the call's caller pseudonym and queue; on
`call.abandoned` after at least `min_wait_seconds` it emits `callback.request` — once per
caller and local day — not before `delay_seconds` later. `call.answered` forgets the call.

It uses the contract `leitstand:plugin@0.1.0` through the bindings componentize-py
generates (`wit_world`); see ../README.md.
"""

import json
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo, available_timezones

import wit_world
from componentize_py_types import Err
from wit_world.imports import clock, log, state, types

# A plugin has no files at run time. componentize-py runs this module when it builds the
# component and keeps what it loaded, so the time zones are read here, from the `tzdata`
# package bundled at build time: every European zone and UTC.
ZONES = {
    name: ZoneInfo(name)
    for name in sorted(available_timezones())
    if name.startswith("Europe/") or name == "UTC"
}

DEFAULTS = {"min_wait_seconds": 30, "delay_seconds": 300, "queues": None}


def invalid_config(message: str) -> Err:
    return Err(types.Error_InvalidConfig(message))


def invalid_event(message: str) -> Err:
    return Err(types.Error_InvalidEvent(message))


def parse_config(text: str) -> dict:
    """The configuration with defaults; a wrong key or value raises invalid-config naming it."""
    try:
        raw = json.loads(text)
    except ValueError as e:
        raise invalid_config(f"config: not JSON: {e}")
    if not isinstance(raw, dict):
        raise invalid_config("config: must be a table")
    for key in raw:
        if key not in DEFAULTS:
            raise invalid_config(f"{key}: unknown key (known: {', '.join(DEFAULTS)})")
    config = dict(DEFAULTS, **raw)
    for key in ("min_wait_seconds", "delay_seconds"):
        value = config[key]
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise invalid_config(f"{key}: must be a whole number of seconds ≥ 0, got {value!r}")
    queues = config["queues"]
    if queues is not None and (
        not isinstance(queues, list) or not all(isinstance(q, str) and q for q in queues)
    ):
        raise invalid_config("queues: must be a list of queue names")
    return config


def field(data: dict, event_type: str, name: str, kind: type):
    value = data.get(name)
    if value is None:
        raise invalid_event(f"{event_type}: data.{name} missing")
    if not isinstance(value, kind) or isinstance(value, bool):
        raise invalid_event(f"{event_type}: data.{name} has the wrong type")
    return value


def local_day(ms: int) -> str:
    """The tenant's calendar day of event time `ms`."""
    name = clock.timezone()
    zone = ZONES.get(name)
    if zone is None:
        raise Err(types.Error_Other(f"the tenant's timezone {name} is not built into this plugin"))
    at = datetime.fromtimestamp(ms / 1000, tz=timezone.utc)
    return at.astimezone(zone).date().isoformat()


def rfc3339(ms: int) -> str:
    at = datetime.fromtimestamp(ms // 1000, tz=timezone.utc)
    return at.strftime("%Y-%m-%dT%H:%M:%SZ")


def load(key: str):
    value = state.get(key)
    return None if value is None else json.loads(value)


def store(key: str, value) -> None:
    state.set(key, json.dumps(value).encode())


class WitWorld(wit_world.WitWorld):
    def check_config(self, config: str) -> None:
        parse_config(config)

    def handle(self, config: str, event: types.Event) -> types.Decisions:
        try:
            return self.decide(config, event)
        except Err:
            raise
        except Exception as e:  # a bug here fails the event with its reason, not a trap
            raise Err(types.Error_Other(f"{type(e).__name__}: {e}"))

    def decide(self, config: str, event: types.Event) -> types.Decisions:
        settings = parse_config(config)
        decisions = types.Decisions(commands=[], set_timers=[], cancel_timers=[])
        try:
            data = json.loads(event.data)
        except ValueError as e:
            raise invalid_event(f"{event.type}: data is not JSON: {e}")
        kind = event.type
        if kind == "call.offered":
            call_id = field(data, kind, "call_id", str)
            queue = field(data, kind, "queue", str)
            caller = data.get("caller_ref")
            if isinstance(caller, str) and caller:
                store(f"call/{call_id}", {"caller_ref": caller, "queue": queue})
        elif kind == "call.answered":
            state.delete(f"call/{field(data, kind, 'call_id', str)}")
        elif kind == "call.abandoned":
            call_id = field(data, kind, "call_id", str)
            queue = field(data, kind, "queue", str)
            waited = data.get("wait_seconds")
            if not isinstance(waited, (int, float)) or isinstance(waited, bool) or waited < 0:
                raise invalid_event(f"{kind}: data.wait_seconds must be a number ≥ 0")
            call = load(f"call/{call_id}")
            state.delete(f"call/{call_id}")
            wanted = settings["queues"] is None or queue in settings["queues"]
            if call is None or not wanted or waited < settings["min_wait_seconds"]:
                return decisions
            caller = call["caller_ref"]
            day = local_day(event.time)
            if load(f"caller/{caller}") == day:
                log.log(log.Level.DEBUG, f"call {call_id}: caller already has a callback today")
                return decisions
            store(f"caller/{caller}", day)
            not_before = event.time + settings["delay_seconds"] * 1000
            decisions.commands.append(
                types.Command(
                    type="callback.request",
                    subject=call_id,
                    data=json.dumps(
                        {
                            "call_id": call_id,
                            "queue": call["queue"],
                            "caller_ref": caller,
                            "waited_seconds": waited,
                            "not_before": rfc3339(not_before),
                        }
                    ),
                )
            )
            log.log(log.Level.DEBUG, f"call {call_id}: callback requested")
        return decisions
