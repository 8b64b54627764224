"""The realtime parts as tasks, and the relay as its own service: `uvicorn realtime.service:app`.

Embedded, the API runs `realtime_tasks` itself on the in-process bus and mounts the stream.
In full mode this module's app is the ws_monitor: it consumes `predictions`, `metrics` and
`alerts` from Kafka in the consumer groups `<RELAY_GROUP>-<topic>` and serves `/v1/stream`,
`/healthz` and `/metrics`; `python -m realtime.publisher` scrapes the API into `metrics`, and
`python -m realtime.detector` (a process of its own: it needs pandas and the warehouse, which
would more than double the relay's memory) turns them into `alerts`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.routing import WebSocketRoute
from starlette.types import ASGIApp, Receive, Scope, Send

from realtime.heap import keep_heap_frozen
from realtime.hub import Hub
from realtime.relay import relay_topics
from realtime.stream import STREAM_PATH, StreamLimits, mask_tokens_in_server_logs, stream_endpoint
from realtime.tasks import stop_tasks, watch_hub
from tickerpulse.settings import Settings, get_settings
from tickerpulse.stores.api_keys import ApiKeyStore
from tickerpulse.stores.events import open_bus
from tickerpulse.stores.sql_engine import bounded_engine


def streams_first(app: FastAPI, stream: ASGIApp) -> ASGIApp:
    """`/v1/stream` straight to the stream, everything else (the lifespan, /healthz, /metrics)
    to the FastAPI app. Through FastAPI, each layer of its middleware stack held a coroutine
    and a wrapper of the connection's send for as long as the stream stayed open (about 8 KB
    of the 33 KB an open stream cost; issue 18), and every frame was handed down through each
    of those wrappers."""

    async def relay(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket" and scope["path"] == STREAM_PATH:
            scope["app"] = app  # where the stream finds app.state.api_keys, as under Starlette
            await stream(scope, receive, send)
        else:
            await app(scope, receive, send)

    return relay


def create_relay_app(settings: Settings | None = None) -> ASGIApp:
    settings = settings or get_settings()
    hub = Hub()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # uvicorn sets up only its own loggers: without this the relay's own lines (where a
        # group starts, a consumer restarted) went nowhere.
        logging.basicConfig(
            level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s"
        )
        mask_tokens_in_server_logs()
        bus = open_bus(settings.events_url)
        app.state.api_keys = ApiKeyStore(
            bounded_engine(settings.raw_db_url, settings.dependency_timeout_seconds)
        )
        watch_hub(hub, bus)
        tasks = [
            asyncio.create_task(relay_topics(bus, hub, settings.relay_group)),
            # 10,000 open streams made every full garbage collection a stall of seconds.
            asyncio.create_task(keep_heap_frozen(hub)),
        ]
        yield
        await stop_tasks(tasks)
        await asyncio.to_thread(bus.close, 5.0)

    app = FastAPI(title="TickerPulse relay", lifespan=lifespan)
    stream = stream_endpoint(hub, StreamLimits.from_settings(settings))
    # Routed by FastAPI too: a path that streams_first does not match (under --root-path, say).
    app.router.routes.append(WebSocketRoute(STREAM_PATH, stream))

    @app.get("/healthz")
    def healthz() -> dict[str, object]:
        return {"status": "ok", "clients": hub.subscribers, "seq": hub.seq}

    @app.get("/metrics")
    def metrics() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    return streams_first(app, stream)


app = create_relay_app()
