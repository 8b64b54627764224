"""Event bus by URL, after encode/broadcaster: memory:// in-process, kafka:// for real.

One interface (`publish`, `subscribe`, `stats`, `close`) and a module per backend. Topics are
the platform's: prediction-requests, predictions, metrics, alerts; dead-letters holds what no
consumer could handle.
"""

from __future__ import annotations

from typing import Any, Protocol

from tickerpulse.stores.events.kafka import KafkaBus
from tickerpulse.stores.events.memory import MemoryBus
from tickerpulse.stores.events.wire import (
    DEAD_LETTERS,
    MAX_EVENT_BYTES,
    TOPICS,
    decode_event,
    encode_event,
)

__all__ = [
    "DEAD_LETTERS",
    "MAX_EVENT_BYTES",
    "TOPICS",
    "EventBus",
    "KafkaBus",
    "MemoryBus",
    "decode_event",
    "encode_event",
    "open_bus",
]


class EventBus(Protocol):
    async def publish(self, topic: str, event: dict[str, Any]) -> None: ...

    def subscribe(
        self, topic: str, group: str | None = None, from_beginning: bool | None = None
    ) -> Any:
        """An async context manager yielding an async iterator of events.

        With a group, subscribers share the topic's events (a consumer group); without, each
        gets every event published from now on. `from_beginning` says where a group that has
        no committed place yet starts (default: the beginning for a group).
        """
        ...

    def stats(self) -> dict[str, int]:
        """delivered, failed (gave up after the delivery timeout), dropped (refused: buffer
        full; the publisher was told), buffered."""
        ...

    async def reject(self, topic: str, event: dict[str, Any], reason: str) -> None:
        """Put an event its consumer cannot handle (a request with no ticker, say) on
        DEAD_LETTERS with the reason, and count it: the consumer goes on to the next."""
        ...

    def close(self, timeout_seconds: float = 5.0) -> None: ...


def open_bus(url: str) -> EventBus:
    scheme = url.split("://", 1)[0]
    if scheme == "memory":
        return MemoryBus()
    if scheme == "kafka":
        return KafkaBus(url.split("://", 1)[1].rstrip("/"))
    raise ValueError(f"EVENTS_URL={url!r}: use memory:// or kafka://host:port[,host:port]")
