"""The relay's consumers: Kafka topics (or the in-process bus) into the hub, restarted when
they fail. The WebSocket side is realtime/stream.py."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from realtime.hub import TOPIC_CHANNELS, Hub
from tickerpulse.stores.events import EventBus

log = logging.getLogger(__name__)


async def consume_forever(
    bus: EventBus,
    topic: str,
    group: str | None,
    handle: Callable[[dict[str, Any]], Awaitable[None]],
) -> None:
    """Hand every event of `topic` to `handle` until cancelled; a consumer that fails is
    restarted. A group keeps the consumer's place across restarts; a new one starts at the
    end (stream clients resume from the hub's replay ring, not from the topic's start)."""
    while True:
        try:
            async with bus.subscribe(topic, group=group, from_beginning=False) as events:
                async for event in events:  # objects only: the bus refuses anything else
                    await handle(event)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("consumer of %s failed; restarting in 1 s", topic)
            await asyncio.sleep(1)


async def relay_topics(bus: EventBus, hub: Hub, group: str | None) -> None:
    """Feed every topic into the hub until cancelled."""

    def into_hub(topic: str) -> Callable[[dict[str, Any]], Awaitable[None]]:
        async def publish(event: dict[str, Any]) -> None:
            hub.publish(topic, event)

        return publish

    async with asyncio.TaskGroup() as group_tasks:
        for topic in TOPIC_CHANNELS:
            consumer_group = f"{group}-{topic}" if group else None
            group_tasks.create_task(consume_forever(bus, topic, consumer_group, into_hub(topic)))
