"""The relay's consumers: Kafka topics (or the in-process bus) into the hub, restarted when
they fail. The WebSocket side is realtime/stream.py."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from realtime.hub import TOPIC_CHANNELS, Hub
from runtime.consuming import consume_forever
from tickerpulse.stores.events import EventBus


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
