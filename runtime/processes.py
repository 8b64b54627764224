"""Long-running worker processes: run one task until SIGINT or SIGTERM, then flush the bus."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Coroutine
from typing import Any

from tickerpulse.stores.events import EventBus


async def run_until_stopped(
    work: Coroutine[Any, Any, None], bus: EventBus, close_seconds: float = 10.0
) -> None:
    task = asyncio.create_task(work)
    loop = asyncio.get_running_loop()
    for number in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(number, task.cancel)
    try:
        await task
    except asyncio.CancelledError:
        pass
    finally:
        # Events still buffered get a last chance to reach the broker.
        await asyncio.to_thread(bus.close, close_seconds)
