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

from realtime.hub import Hub
from realtime.relay import relay_topics
from realtime.stream import StreamLimits, mask_tokens_in_server_logs, stream_router
from realtime.tasks import stop_tasks, watch_hub
from tickerpulse.settings import Settings, get_settings
from tickerpulse.stores.api_keys import ApiKeyStore
from tickerpulse.stores.events import open_bus
from tickerpulse.stores.sql_engine import bounded_engine


def create_relay_app(settings: Settings | None = None) -> FastAPI:
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
        tasks = [asyncio.create_task(relay_topics(bus, hub, settings.relay_group))]
        yield
        await stop_tasks(tasks)
        await asyncio.to_thread(bus.close, 5.0)

    app = FastAPI(title="TickerPulse relay", lifespan=lifespan)
    app.include_router(stream_router(hub, StreamLimits.from_settings(settings)))

    @app.get("/healthz")
    def healthz() -> dict[str, object]:
        return {"status": "ok", "clients": hub.subscribers, "seq": hub.seq}

    @app.get("/metrics")
    def metrics() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    return app


app = create_relay_app()
