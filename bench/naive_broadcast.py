"""bench_stream's peer: a WebSocket fan-out as it is often first written.

A list of websockets, and per event from Kafka `for ws in subscribers: await ws.send_text(text)`
to each whose channels match. The same feed as the relay (the `predictions` topic of EVENTS_URL
through KafkaBus, a listener starting at the end) and the same message text per event, but no
per-client queue, no sequence numbers and no replay: every send waits for the one before it.
A client may add channels with `{"subscribe": [...]}` (the bench's slow clients do).

    uvicorn bench.naive_broadcast:app
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
from collections.abc import AsyncIterator

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from tickerpulse.stores.events import open_bus

subscribers: list[tuple[WebSocket, set[str]]] = []


async def broadcast(events_url: str) -> None:
    bus = open_bus(events_url)
    async with bus.subscribe("predictions") as events:
        async for event in events:
            channel = f"predictions:{event['ticker']}"
            text = json.dumps({"type": "event", "channel": channel, "data": event})
            for websocket, wanted in list(subscribers):
                if "predictions" in wanted or channel in wanted:
                    try:
                        await websocket.send_text(text)
                    except Exception:  # gone: forget it
                        with contextlib.suppress(ValueError):
                            subscribers.remove((websocket, wanted))


async def stream(websocket: WebSocket) -> None:
    await websocket.accept()
    entry = (websocket, set(websocket.query_params.get("channels", "predictions").split(",")))
    subscribers.append(entry)
    try:
        while True:  # {"subscribe": [...]} adds channels, as the relay's protocol does
            message = json.loads(await websocket.receive_text())
            entry[1].update(message.get("subscribe", ()) if isinstance(message, dict) else ())
    except WebSocketDisconnect:
        pass
    finally:
        with contextlib.suppress(ValueError):
            subscribers.remove(entry)


async def healthz(_request: Request) -> JSONResponse:
    return JSONResponse({"status": "ok", "clients": len(subscribers)})


@contextlib.asynccontextmanager
async def lifespan(_app: Starlette) -> AsyncIterator[None]:
    feed = asyncio.create_task(broadcast(os.environ["EVENTS_URL"]))
    yield
    feed.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await feed


app = Starlette(
    routes=[Route("/healthz", healthz), WebSocketRoute("/v1/stream", stream)], lifespan=lifespan
)
