"""The one wire format of every bus, and the bounds a consumer holds each message to."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any


def _iso(value: object) -> str:
    if isinstance(value, dt.date):  # datetimes too
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON: events carry plain values and dates")


def encode_event(event: dict[str, Any]) -> bytes:
    """The one wire format of every bus: JSON, dates as ISO strings."""
    return json.dumps(event, default=_iso).encode()


TOPICS = ("prediction-requests", "predictions", "metrics", "alerts")
# Where a consumer puts a message it cannot handle (not JSON, not an object, too large), with
# the reason in its headers and its bytes as they came, so one bad message stops nothing.
DEAD_LETTERS = "dead-letters"
# Events are small JSON objects (a prediction is under 1 KiB): anything larger is refused.
MAX_EVENT_BYTES = 1024 * 1024
# What the broker and our producers carry (scripts/kafka.sh, compose): room for a refused
# message to travel to the dead letters whole.
MAX_MESSAGE_BYTES = 4 * 1024 * 1024


def decode_event(value: bytes | None) -> dict[str, Any] | str:
    """A message's event, or the reason it is not one."""
    value = value or b""
    if len(value) > MAX_EVENT_BYTES:
        return f"{len(value)} bytes, over the {MAX_EVENT_BYTES}-byte limit of an event"
    try:
        event = json.loads(value)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        return f"not JSON: {error}"
    if not isinstance(event, dict):
        return f"JSON {type(event).__name__}, not an object"
    return event
