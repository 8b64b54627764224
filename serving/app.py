"""The ASGI app: `uvicorn serving.app:app`."""

from __future__ import annotations

import asyncio
import html
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles
from prometheus_client import generate_latest

from realtime.hub import Hub
from realtime.stream import StreamLimits, mask_tokens_in_server_logs, stream_router
from realtime.tasks import realtime_tasks, stop_tasks, watch_hub
from runtime.heap import freeze_loaded, freeze_startup_heap
from serving import VERSION
from serving.body_limit import BodySizeLimit
from serving.deps import Services
from serving.errors import install_error_handlers
from serving.fast_predictions import FastPredictions
from serving.fast_reads import FastReads
from serving.metrics import MODEL_LOAD_SECONDS, RequestMetrics, watch_stores
from serving.prediction_worker import answer_requests
from serving.quality_metrics import watch_quality
from serving.routes import (
    features,
    forecasts,
    health,
    models,
    prediction_requests,
    predictions,
    prices,
    tickers,
    training_runs,
)
from tickerpulse.calendar import last_completed_session
from tickerpulse.settings import Settings, get_settings

# The web page (dashboards/web), once built by `make web` or `make up`.
WEB_DIST = Path(__file__).resolve().parents[1] / "dashboards" / "web" / "dist"


async def _local_metrics() -> str:
    # Collectors may wait on a broker (the queue depth): not on the event loop.
    return (await asyncio.to_thread(generate_latest)).decode()


def _page_with_stream_url(url: str) -> str:
    meta = f'<meta name="tickerpulse-stream" content="{html.escape(url, quote=True)}" />'
    return (WEB_DIST / "index.html").read_text().replace("</head>", f"    {meta}\n  </head>", 1)


def _model_loaded(name: str, seconds: float) -> None:
    MODEL_LOAD_SECONDS.labels(name).observe(seconds)
    freeze_loaded()  # a champion stays loaded until the next promotion


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    hub = Hub()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        services = Services.from_settings(settings)
        app.state.services = services
        app.state.api_keys = services.api_keys  # what /v1/stream checks tokens against
        watch_stores(services.bus, services.cache, services.queue_depth)
        watch_quality(services)
        services.predictor.on_load = _model_loaded
        background = []
        if settings.runs_realtime_in_api:
            mask_tokens_in_server_logs()
            # Embedded: the relay and the publisher are tasks here; the publisher reads the
            # registry without HTTP.
            watch_hub(hub)
            # In groups, so an in-process consumer that restarts finds what was published
            # meanwhile (the in-memory bus keeps a group's queue), as it does on Kafka.
            background += realtime_tasks(
                services.bus,
                hub,
                settings,
                _local_metrics,
                settings.relay_group,
                services.warehouse,
            )
        if settings.answers_prediction_requests:
            background.append(
                asyncio.create_task(
                    answer_requests(services.bus, services.predictor, services.prediction_requests)
                )
            )
        # The exchange calendar's minutes (built once per process, seconds of CPU) before the
        # first request: profiled under load, the anomaly check on the event loop and the
        # quality figures of the first scrape built them both, while requests waited.
        await asyncio.to_thread(last_completed_session, None, settings.exchange)
        freeze_startup_heap()
        yield
        await stop_tasks(background)
        # Events still buffered get a last chance to reach the broker.
        await asyncio.to_thread(services.bus.close, 10.0)

    app = FastAPI(
        title="TickerPulse API",
        version=VERSION,
        description="Daily prices, point-in-time features and forecasts measured against the random walk.",
        lifespan=lifespan,
    )
    install_error_handlers(app)
    # Innermost: what they answer is still counted by RequestMetrics, bounded by BodySizeLimit
    # and given CORS.
    app.add_middleware(FastReads)
    app.add_middleware(FastPredictions)
    # Inside RequestMetrics and CORS: a 413 is counted and carries the CORS headers.
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_body_bytes)
    app.add_middleware(RequestMetrics)
    app.add_middleware(
        CORSMiddleware,
        allow_origins=settings.cors_origins,
        allow_methods=["GET", "POST", "DELETE"],
        allow_headers=["X-API-Key", "Content-Type"],
    )
    if settings.runs_realtime_in_api:
        app.include_router(stream_router(hub, StreamLimits.from_settings(settings)))
    for module in (
        tickers,
        prices,
        features,
        forecasts,
        predictions,
        prediction_requests,
        models,
        training_runs,
        health,
    ):
        app.include_router(module.router)

    if (WEB_DIST / "index.html").is_file():
        if settings.stream_public_url:
            page = _page_with_stream_url(settings.stream_public_url)

            # The relay is its own service: the page learns where from this meta tag.
            @app.get("/", include_in_schema=False)
            def page_with_stream_url() -> HTMLResponse:
                return HTMLResponse(page)

        # Mounted last: every API route, /docs and /metrics match before it.
        app.mount("/", StaticFiles(directory=WEB_DIST, html=True), name="web")
    else:

        @app.get("/", include_in_schema=False)
        def index() -> RedirectResponse:
            return RedirectResponse("/docs")

    return app


app = create_app()
