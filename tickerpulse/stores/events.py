"""Event bus by URL, after encode/broadcaster: memory:// in-process now, kafka:// later.

Topics are the platform's: prediction-requests, predictions, metrics, alerts.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, Protocol

TOPICS = ("prediction-requests", "predictions", "metrics", "alerts", "forecasts-published")


class EventBus(Protocol):
    async def publish(self, topic: str, event: dict[str, Any]) -> None: ...

    def subscribe(self, topic: str) -> Any:
        """An async context manager yielding an async iterator of events."""
        ...


class MemoryBus:
    """Fan-out to every subscriber's bounded queue; a full queue drops that subscriber's oldest."""

    def __init__(self, queue_size: int = 1000) -> None:
        self._subscribers: dict[str, set[asyncio.Queue[dict[str, Any]]]] = {}
        self.queue_size = queue_size
        self.dropped = 0

    async def publish(self, topic: str, event: dict[str, Any]) -> None:
        json.dumps(event)  # the same contract as Kafka: events must serialize
        for queue in list(self._subscribers.get(topic, ())):
            if queue.full():
                queue.get_nowait()
                self.dropped += 1
            queue.put_nowait(event)

    @asynccontextmanager
    async def subscribe(self, topic: str) -> AsyncIterator[AsyncIterator[dict[str, Any]]]:
        queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue(self.queue_size)
        self._subscribers.setdefault(topic, set()).add(queue)

        async def events() -> AsyncIterator[dict[str, Any]]:
            while True:
                yield await queue.get()

        try:
            yield events()
        finally:
            self._subscribers[topic].discard(queue)


def open_bus(url: str) -> EventBus:
    scheme = url.split("://", 1)[0]
    if scheme == "memory":
        return MemoryBus()
    raise NotImplementedError(
        f"event backend {scheme}:// is not built yet; use EVENTS_URL=memory://"
    )
