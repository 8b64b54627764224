"""The ASGI app: `uvicorn serving.app:app`."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib.metadata import version

from fastapi import FastAPI
from fastapi.responses import RedirectResponse

from serving.deps import Services
from serving.errors import install_error_handlers
from serving.metrics import record_request
from serving.routes import forecasts, health, prices, tickers
from tickerpulse.settings import Settings, get_settings

VERSION = version("tickerpulse")


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.services = Services.from_settings(settings)
        yield

    app = FastAPI(
        title="TickerPulse API",
        version=VERSION,
        description="Daily prices, point-in-time features and forecasts measured against the random walk.",
        lifespan=lifespan,
    )
    install_error_handlers(app)
    app.middleware("http")(record_request)
    for module in (tickers, prices, forecasts, health):
        app.include_router(module.router)

    @app.get("/", include_in_schema=False)
    def index() -> RedirectResponse:
        return RedirectResponse("/docs")

    return app


app = create_app()
