"""Prometheus metrics of the API, as module-level constants with unit suffixes."""

from __future__ import annotations

import time
from collections.abc import Callable

from prometheus_client import Counter, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from runtime.collectors import dead_letters, replace_collector
from tickerpulse.stores.cache import Cache
from tickerpulse.stores.events import EventBus

REQUESTS_TOTAL = Counter(
    "tickerpulse_http_requests_total",
    "HTTP requests by route and status",
    ["method", "route", "status"],
)
REQUEST_DURATION_SECONDS = Histogram(
    "tickerpulse_http_request_duration_seconds",
    "HTTP request latency by route",
    ["method", "route"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)
CACHE_HITS_TOTAL = Counter(
    "tickerpulse_cache_hits_total", "Responses served from the cache", ["kind"]
)
CACHE_MISSES_TOTAL = Counter(
    "tickerpulse_cache_misses_total", "Responses computed on a cache miss", ["kind"]
)

PREDICTIONS_TOTAL = Counter(
    "tickerpulse_predictions_total",
    "Online predictions served, by model and version",
    ["model_name", "model_version"],
)
MODEL_LOAD_SECONDS = Histogram(
    "tickerpulse_model_load_seconds",
    "Time to load a champion from the registry",
    ["model_name"],
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)


class StoreCollector(Collector):
    """Counts kept by the stores themselves (the domain has no Prometheus), read at scrape."""

    def __init__(self, bus: EventBus, cache: Cache, queue_depth: Callable[[], float]) -> None:
        self.bus, self.cache, self.queue_depth = bus, cache, queue_depth

    def collect(self):
        stats = self.bus.stats()
        events = CounterMetricFamily(
            "tickerpulse_events",
            "Events by outcome: delivered, failed, dropped",
            labels=["outcome"],
        )
        for outcome in ("delivered", "failed", "dropped"):
            events.add_metric([outcome], stats[outcome])
        yield events
        yield GaugeMetricFamily(
            "tickerpulse_events_buffered", "Events waiting for the broker", value=stats["buffered"]
        )
        yield dead_letters(self.bus)
        yield CounterMetricFamily(
            "tickerpulse_cache_errors",
            "Cache calls that failed and were bypassed",
            value=self.cache.errors,
        )
        yield GaugeMetricFamily(
            "tickerpulse_celery_queue_depth",
            "Training tasks waiting in the Celery queue (NaN while the broker is unreachable)",
            value=self.queue_depth(),
        )


def watch_stores(bus: EventBus, cache: Cache, queue_depth: Callable[[], float]) -> None:
    replace_collector("stores", StoreCollector(bus, cache, queue_depth))


class RequestMetrics:
    """Requests and latency per route, as plain ASGI: Starlette's BaseHTTPMiddleware (what
    `app.middleware("http")` builds) costs about a fifth of a cached read's time."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_and_watch(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_and_watch)
        finally:
            # The route template, not the raw path: one series per endpoint, not per ticker.
            route = getattr(scope.get("route"), "path", "unmatched")
            method = scope["method"]
            REQUESTS_TOTAL.labels(method, route, str(status)).inc()
            REQUEST_DURATION_SECONDS.labels(method, route).observe(time.perf_counter() - started)
