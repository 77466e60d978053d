"""The official CloudEvents SDK for Python on both sides of Leitstand, for the
interoperability test (core/leitstand/tests/sdk_interop.rs).

    python cloudevents_sdk.py publish AMQP_URL < events.jsonl

Each input line is one event: {"mode": MODE, "routing_key": ..., "attributes": {...},
"data": {...}}, with `time` (if any) in RFC 3339. The SDK makes the CloudEvent and encodes
it in MODE — "rabbitmq-binary", "rabbitmq-structured" (cloudevents.core.bindings.rabbitmq)
or "amqp-binary", "amqp-structured" (cloudevents.core.bindings.amqp) — and pika publishes
the SDK's message as it is to `leitstand.events`, with publisher confirms. Prints one JSON
line per event: its id, the mode and the Python type of each header the SDK made.

    python cloudevents_sdk.py read AMQP_URL QUEUE COUNT

Takes COUNT messages from QUEUE (waiting up to a minute) and parses each with every SDK
reader that applies to it: a structured message with both bindings' structured readers
and their auto-detecting readers, a binary one with its binding's binary reader and the
auto-detecting one. The readers must agree. Prints one JSON line per message: the routing
key, the mode, the readers, the attributes (`time` as milliseconds since 1970), the Python
type of each attribute and the data. Exits non-zero, saying why, when a reader fails.
"""

import json
import sys
import time
from datetime import datetime, timezone

import pika
from cloudevents.core.bindings import amqp, rabbitmq
from cloudevents.core.v1.event import CloudEvent

EXCHANGE = "leitstand.events"


def connect(url):
    return pika.BlockingConnection(pika.URLParameters(url))


def publish(url, lines):
    connection = connect(url)
    channel = connection.channel()
    channel.confirm_delivery()
    for line in lines:
        if not line.strip():
            continue
        spec = json.loads(line)
        attributes = dict(spec["attributes"])
        if "time" in attributes:
            attributes["time"] = datetime.fromisoformat(attributes["time"])
        event = CloudEvent(attributes, spec["data"])
        mode = spec["mode"]
        if mode == "rabbitmq-binary":
            message = rabbitmq.to_binary_event(event)
            body, content_type, headers = message.body, message.content_type, message.headers
        elif mode == "rabbitmq-structured":
            message = rabbitmq.to_structured_event(event)
            body, content_type, headers = message.body, message.content_type, message.headers
        elif mode == "amqp-binary":
            message = amqp.to_binary_event(event)
            body = message.application_data
            content_type = message.properties.get("content-type")
            headers = message.application_properties
        elif mode == "amqp-structured":
            message = amqp.to_structured_event(event)
            body = message.application_data
            content_type = message.properties.get("content-type")
            headers = message.application_properties
        else:
            sys.exit(f"unknown mode {mode!r}")
        properties = pika.BasicProperties(
            content_type=content_type, headers=headers or None, delivery_mode=2
        )
        channel.basic_publish(EXCHANGE, spec["routing_key"], body, properties)
        sent = {name: type(value).__name__ for name, value in (headers or {}).items()}
        print(json.dumps({"id": event.get_id(), "mode": mode, "headers": sent}), flush=True)
    connection.close()


def millis(instant):
    """`instant` (an aware datetime) in whole milliseconds since 1970, exactly."""
    epoch = datetime(1970, 1, 1, tzinfo=timezone.utc)
    delta = instant - epoch
    return (delta.days * 86_400 + delta.seconds) * 1000 + delta.microseconds // 1000


def summary(event):
    attributes = dict(event.get_attributes())
    instant = attributes.pop("time", None)
    if instant is not None:
        if instant.tzinfo is None:
            raise ValueError("the reader gave `time` without a time zone")
        attributes["time"] = millis(instant)
    types = {name: type(value).__name__ for name, value in event.get_attributes().items()}
    return {"attributes": attributes, "types": types, "data": event.get_data()}


def parse(properties, body):
    """The message's mode and what each applicable SDK reader makes of it."""
    content_type = properties.content_type
    headers = properties.headers or {}
    amqp_message = amqp.AMQPMessage(
        properties={"content-type": content_type} if content_type else {},
        application_properties=headers,
        application_data=body,
    )
    rabbitmq_message = rabbitmq.RabbitMQMessage(
        headers=headers, content_type=content_type, body=body
    )
    if (content_type or "").lower().startswith("application/cloudevents"):
        mode = "structured"
        readers = {
            "amqp.from_structured_event": lambda: amqp.from_structured_event(amqp_message),
            "amqp.from_amqp_event": lambda: amqp.from_amqp_event(amqp_message),
            "rabbitmq.from_structured_event": lambda: rabbitmq.from_structured_event(
                rabbitmq_message
            ),
            "rabbitmq.from_rabbitmq_event": lambda: rabbitmq.from_rabbitmq_event(
                rabbitmq_message
            ),
        }
    elif any(name.startswith("cloudEvents_") for name in headers):
        mode = "amqp-binary"
        readers = {
            "amqp.from_binary_event": lambda: amqp.from_binary_event(amqp_message),
            "amqp.from_amqp_event": lambda: amqp.from_amqp_event(amqp_message),
        }
    elif any(name.lower().startswith("ce-") for name in headers):
        mode = "rabbitmq-binary"
        readers = {
            "rabbitmq.from_binary_event": lambda: rabbitmq.from_binary_event(
                rabbitmq_message
            ),
            "rabbitmq.from_rabbitmq_event": lambda: rabbitmq.from_rabbitmq_event(
                rabbitmq_message
            ),
        }
    else:
        raise ValueError(f"neither structured nor binary: {content_type!r}, {headers!r}")
    results = {}
    for name, reader in readers.items():
        try:
            results[name] = summary(reader())
        except Exception as e:  # noqa: BLE001 - every reader failure is reported
            raise ValueError(f"{mode} message: {name} failed: {e!r}") from e
    first = next(iter(results.values()))
    for name, result in results.items():
        if result != first:
            raise ValueError(f"{mode} message: the readers disagree: {results!r}")
    return mode, list(results), first


def read(url, queue, count):
    connection = connect(url)
    channel = connection.channel()
    deadline = time.monotonic() + 60
    taken = 0
    while taken < count:
        method, properties, body = channel.basic_get(queue, auto_ack=True)
        if method is None:
            if time.monotonic() > deadline:
                sys.exit(f"only {taken} of {count} messages arrived in {queue}")
            time.sleep(0.1)
            continue
        taken += 1
        try:
            mode, readers, result = parse(properties, body)
        except ValueError as e:
            sys.exit(f"message {taken} ({method.routing_key}): {e}")
        line = {"routing_key": method.routing_key, "mode": mode, "readers": readers}
        line.update(result)
        print(json.dumps(line, sort_keys=True), flush=True)
    connection.close()


def main(argv):
    if len(argv) == 3 and argv[1] == "publish":
        publish(argv[2], sys.stdin)
    elif len(argv) == 5 and argv[1] == "read":
        read(argv[2], argv[3], int(argv[4]))
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv)
