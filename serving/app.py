"""The ASGI app: `uvicorn serving.app:app`."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import RedirectResponse
from prometheus_client import generate_latest

from realtime.publisher import publish_forever
from serving import VERSION
from serving.deps import Services
from serving.errors import install_error_handlers
from serving.metrics import MODEL_LOAD_SECONDS, record_request, watch_stores
from serving.prediction_worker import answer_requests
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
from tickerpulse.settings import Settings, get_settings


async def _local_metrics() -> str:
    # Collectors may wait on a broker (the queue depth): not on the event loop.
    return (await asyncio.to_thread(generate_latest)).decode()


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        services = Services.from_settings(settings)
        app.state.services = services
        watch_stores(services.bus, services.cache, services.queue_depth)
        services.predictor.on_load = lambda name, seconds: MODEL_LOAD_SECONDS.labels(name).observe(
            seconds
        )
        # Embedded mode: the publisher is a task here, reading the registry without HTTP.
        publisher = asyncio.create_task(
            publish_forever(services.bus, _local_metrics, settings.metrics_interval_seconds)
        )
        background = [publisher]
        if settings.answers_prediction_requests:
            background.append(
                asyncio.create_task(
                    answer_requests(services.bus, services.predictor, services.prediction_requests)
                )
            )
        yield
        for task in background:
            task.cancel()
            with suppress(asyncio.CancelledError):
                await task
        # Events still buffered get a last chance to reach the broker.
        await asyncio.to_thread(services.bus.close, 10.0)

    app = FastAPI(
        title="TickerPulse API",
        version=VERSION,
        description="Daily prices, point-in-time features and forecasts measured against the random walk.",
        lifespan=lifespan,
    )
    install_error_handlers(app)
    app.middleware("http")(record_request)
    app.add_middleware(
        CORSMiddleware,
        allow_origins=settings.cors_origins,
        allow_methods=["GET", "POST", "DELETE"],
        allow_headers=["X-API-Key", "Content-Type"],
    )
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

    @app.get("/", include_in_schema=False)
    def index() -> RedirectResponse:
        return RedirectResponse("/docs")

    return app


app = create_app()
