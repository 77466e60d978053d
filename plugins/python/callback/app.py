"""Leitstand plugin `callback` ("Rückruf"), in Python: callers who gave up waiting are called back.

Contact centres promise a callback to a citizen who hung up after waiting a while. On
`call.offered` the plugin remembers the call's caller pseudonym and queue; on
`call.abandoned` after at least `min_wait_seconds` it emits `callback.request` — once per
caller and local day — not before `delay_seconds` later. `call.answered` forgets the call.

It uses the contract `leitstand:plugin@0.1.0` through the bindings componentize-py
generates (`wit_world`); see ../README.md.
"""

import io
import json
import os
from datetime import datetime, timezone
from zoneinfo import ZoneInfo

import tzdata  # bundled by build.sh; read here, at build time only
import wit_world
from componentize_py_types import Err
from wit_world.imports import clock, log, metrics, state, types


def _read_time_zones() -> dict:
    """Every IANA zone's TZif data by name, from the `tzdata` package.

    A plugin has no files at run time. componentize-py runs this module when it builds the
    component and keeps what it loaded, so the zones are read here (about 350 kB) and only
    the tenant's zone is parsed when an event needs it.
    """
    base = os.path.dirname(tzdata.__file__)
    with open(os.path.join(base, "zones"), encoding="utf-8") as names:
        zones = [line.strip() for line in names if line.strip()]
    tzif = {}
    for name in zones:
        with open(os.path.join(base, "zoneinfo", *name.split("/")), "rb") as data:
            tzif[name] = data.read()
    return tzif


TZIF = _read_time_zones()

DEFAULTS = {"min_wait_seconds": 30, "delay_seconds": 300, "queues": None}

# The event types this plugin decides on; every other type gets no decisions.
HANDLED = ("call.offered", "call.answered", "call.abandoned")


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
            raise invalid_config(
                f"{key}: must be a whole number of seconds ≥ 0, got {json.dumps(value)}"
            )
    queues = config["queues"]
    if queues is not None:
        if not isinstance(queues, list) or not all(isinstance(q, str) and q for q in queues):
            raise invalid_config(
                f"queues: must be a list of queue names, got {json.dumps(queues)}"
            )
        if not queues:
            raise invalid_config(
                "queues: name at least one queue, or leave the key out for every queue"
            )
    return config


def text_field(data: dict, event_type: str, name: str) -> str:
    value = data.get(name)
    if value is None:
        raise invalid_event(f"{event_type}: data.{name} missing")
    if not isinstance(value, str) or not value:
        raise invalid_event(f"{event_type}: data.{name} must be a non-empty string")
    return value


def seconds_field(data: dict, event_type: str, name: str):
    value = data.get(name)
    if value is None:
        raise invalid_event(f"{event_type}: data.{name} missing")
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
        raise invalid_event(f"{event_type}: data.{name} must be a number ≥ 0")
    return value


def local_day(ms: int) -> str:
    """The tenant's calendar day (YYYY-MM-DD) of event time `ms`."""
    name = clock.timezone()
    tzif = TZIF.get(name)
    if tzif is None:
        message = f"the tenant's timezone {name!r} is not an IANA zone this plugin knows"
        raise Err(types.Error_Other(message))
    zone = ZoneInfo.from_file(io.BytesIO(tzif), key=name)
    return datetime.fromtimestamp(ms / 1000, tz=timezone.utc).astimezone(zone).date().isoformat()


def rfc3339(ms: int) -> str:
    """Event time `ms` as RFC 3339 in UTC; milliseconds only when there are any."""
    at = datetime.fromtimestamp(ms // 1000, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")
    return f"{at}Z" if ms % 1000 == 0 else f"{at}.{ms % 1000:03d}Z"


def load(key: str):
    value = state.get(key)
    return None if value is None else json.loads(value)


def store(key: str, value) -> None:
    state.set(key, json.dumps(value).encode())


class WitWorld(wit_world.WitWorld):
    """The world's two exports; the host makes a fresh instance for every call."""

    def check_config(self, config: str) -> None:
        parse_config(config)

    def handle(self, config: str, event: types.Event) -> types.Decisions:
        try:
            return decide(parse_config(config), event)
        except Err:
            raise
        except Exception as e:  # a bug fails the event with its reason instead of a bare trap
            raise Err(types.Error_Other(f"{type(e).__name__}: {e}"))


def decide(config: dict, event: types.Event) -> types.Decisions:
    decisions = types.Decisions(commands=[], set_timers=[], cancel_timers=[])
    kind = event.type
    if kind not in HANDLED:
        return decisions
    try:
        data = json.loads(event.data)
    except ValueError as e:
        raise invalid_event(f"{kind}: data is not JSON: {e}")
    if not isinstance(data, dict):
        raise invalid_event(f"{kind}: data must be an object")
    call_id = text_field(data, kind, "call_id")
    call_key = f"call/{call_id}"

    if kind == "call.offered":
        queue = text_field(data, kind, "queue")
        caller = data.get("caller_ref")
        if isinstance(caller, str) and caller:
            # The queue offered in is kept for diagnosis; a callback goes to the queue the
            # caller gave up in (that of call.abandoned).
            store(call_key, {"caller_ref": caller, "queue": queue})
        return decisions

    if kind == "call.answered":
        state.delete(call_key)
        return decisions

    # call.abandoned
    queue = text_field(data, kind, "queue")
    waited = seconds_field(data, kind, "wait_seconds")
    call = load(call_key)
    state.delete(call_key)
    if call is None:
        return decisions  # offered without a caller_ref, or before the plugin was there
    if waited < config["min_wait_seconds"]:
        return decisions
    if config["queues"] is not None and queue not in config["queues"]:
        return decisions
    caller = call["caller_ref"]
    day = local_day(event.time)
    if load(f"caller/{caller}") == day:
        log.log(log.Level.DEBUG, f"call {call_id}: the caller has a callback today already")
        return decisions
    store(f"caller/{caller}", day)
    decisions.commands.append(
        types.Command(
            type="callback.request",
            subject=call_id,
            data=json.dumps(
                {
                    "call_id": call_id,
                    "queue": queue,
                    "caller_ref": caller,
                    "waited_seconds": waited,
                    "not_before": rfc3339(event.time + config["delay_seconds"] * 1000),
                }
            ),
        )
    )
    metrics.counter_add("callbacks_requested", 1)
    log.log(log.Level.DEBUG, f"call {call_id}: callback requested")
    return decisions
