"""Prometheus metrics of the API, as module-level constants with unit suffixes."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

from fastapi import Request, Response
from prometheus_client import Counter, Histogram

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


async def record_request(
    request: Request, call_next: Callable[[Request], Awaitable[Response]]
) -> Response:
    started = time.perf_counter()
    status = 500
    try:
        response = await call_next(request)
        status = response.status_code
        return response
    finally:
        # The route template, not the raw path: one series per endpoint, not per ticker.
        route = getattr(request.scope.get("route"), "path", "unmatched")
        REQUESTS_TOTAL.labels(request.method, route, str(status)).inc()
        REQUEST_DURATION_SECONDS.labels(request.method, route).observe(
            time.perf_counter() - started
        )
