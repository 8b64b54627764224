"""A relay with a clock for its events: the real /v1/stream over a Hub, fed one event on
`predictions:ACME` every TICK_SECONDS carrying its wall-clock publish time, so a client
measures how late each one reaches it. `uvicorn tests.unit.stream_ticking_app:app`."""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import AsyncIterator

from fastapi import FastAPI

from realtime.hub import Hub
from realtime.stream import stream_router

TICK_SECONDS = 0.02


async def _tick(hub: Hub) -> None:
    while True:
        hub.publish("predictions", {"id": uuid.uuid4().hex, "ticker": "ACME", "at": time.time()})
        await asyncio.sleep(TICK_SECONDS)


@contextlib.asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    ticking = asyncio.create_task(_tick(app.state.hub))
    yield
    ticking.cancel()


hub = Hub()
app = FastAPI(lifespan=_lifespan)
app.state.hub = hub
app.include_router(stream_router(hub))
