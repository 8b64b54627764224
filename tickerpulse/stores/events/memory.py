"""The in-process bus of the embedded default: asyncio queues with backpressure."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from tickerpulse.errors import EventBusUnavailable
from tickerpulse.stores.events.wire import DEAD_LETTERS, encode_event

log = logging.getLogger(__name__)


class MemoryBus:
    """Fan-out to every subscriber's bounded queue, with backpressure.

    A full queue holds the publisher back until there is room; after `publish_timeout_seconds`
    it refuses the event (EventBusUnavailable) instead of dropping one: a bus that loses events
    silently is what the relay and the workers cannot live with. A group's queue outlives its
    consumers, so a consumer that is restarted (consume_forever) finds the events published
    meanwhile, as a Kafka group would.
    """

    def __init__(self, queue_size: int = 1000, publish_timeout_seconds: float = 5.0) -> None:
        self._subscribers: dict[str, set[asyncio.Queue[dict[str, Any]]]] = {}
        self._groups: dict[tuple[str, str], asyncio.Queue[dict[str, Any]]] = {}
        self.queue_size = queue_size
        self.publish_timeout_seconds = publish_timeout_seconds
        self.delivered = 0
        self.refused = 0
        self.dead_letters = 0

    async def publish(self, topic: str, event: dict[str, Any]) -> None:
        event = json.loads(encode_event(event))  # what a Kafka consumer would get
        queues = list(self._subscribers.get(topic, ()))
        queues += [queue for (name, _), queue in self._groups.items() if name == topic]
        for queue in queues:
            if queue.full():
                try:
                    await asyncio.wait_for(queue.put(event), self.publish_timeout_seconds)
                except TimeoutError:
                    self.refused += 1
                    raise EventBusUnavailable(
                        f"a consumer of {topic} has not taken an event for "
                        f"{self.publish_timeout_seconds:g} s; try again later"
                    ) from None
            else:
                queue.put_nowait(event)
        self.delivered += 1

    def stats(self) -> dict[str, int]:
        return {
            "delivered": self.delivered,
            "failed": 0,
            "dropped": self.refused,
            "buffered": 0,
            "dead_letters": self.dead_letters,
        }

    async def reject(self, topic: str, event: dict[str, Any], reason: str) -> None:
        self.dead_letters += 1
        log.warning("dead letter from %s: %s", topic, reason)
        await self.publish(DEAD_LETTERS, {"reason": reason, "topic": topic, "event": event})

    def close(self, timeout_seconds: float = 5.0) -> None:
        pass

    @asynccontextmanager
    async def subscribe(
        self, topic: str, group: str | None = None, from_beginning: bool | None = None
    ) -> AsyncIterator[AsyncIterator[dict[str, Any]]]:
        if group is not None:
            # Members of a group share one queue: each event reaches one of them.
            queue = self._groups.setdefault((topic, group), asyncio.Queue(self.queue_size))

            async def shared() -> AsyncIterator[dict[str, Any]]:
                while True:
                    yield await queue.get()

            yield shared()
            return
        queue = asyncio.Queue(self.queue_size)
        self._subscribers.setdefault(topic, set()).add(queue)

        async def events() -> AsyncIterator[dict[str, Any]]:
            while True:
                yield await queue.get()

        try:
            yield events()
        finally:
            self._subscribers[topic].discard(queue)
