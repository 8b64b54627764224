"""A consumer that outlives its failures, for every long-running consumer of the bus: the
relay's topics, the anomaly detector, the prediction workers."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from tickerpulse.stores.events import EventBus

log = logging.getLogger(__name__)


async def consume_forever(
    bus: EventBus,
    topic: str,
    group: str | None,
    handle: Callable[[dict[str, Any]], Awaitable[None]],
    from_beginning: bool = False,
) -> None:
    """Hand every event of `topic` to `handle` until cancelled; a consumer that fails is
    restarted. A group keeps the consumer's place across restarts; a new one starts at the
    end (stream clients resume from the hub's replay ring, not from the topic's start), or
    at the beginning with `from_beginning` (work queues: nothing accepted is skipped)."""
    while True:
        try:
            async with bus.subscribe(topic, group=group, from_beginning=from_beginning) as events:
                async for event in events:  # objects only: the bus refuses anything else
                    await handle(event)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("consumer of %s failed; restarting in 1 s", topic)
            await asyncio.sleep(1)
