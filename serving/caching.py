"""Read-through cache for warehouse reads, keyed on the data's version so rewrites invalidate."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from serving.deps import Services
from serving.metrics import CACHE_HITS_TOTAL, CACHE_MISSES_TOTAL

T = TypeVar("T")


def cached(
    services: Services, kind: str, table: str, ticker: str, key: str, compute: Callable[[], T]
) -> T:
    version = services.warehouse.version(table, ticker)
    full_key = f"{kind}:{ticker}:{key}:{version}"
    hit = services.cache.get(full_key)
    if hit is not None:
        CACHE_HITS_TOTAL.labels(kind).inc()
        return hit
    CACHE_MISSES_TOTAL.labels(kind).inc()
    value = compute()
    services.cache.set(full_key, value, services.settings.cache_ttl_seconds)
    return value
