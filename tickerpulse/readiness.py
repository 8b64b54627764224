"""What /readyz reports: each dependency, whether it answers, and whether the API needs it.

The raw store and the warehouse are required (no answers without them). The cache, the
event bus and the registry are not: without them the API answers slower, buffers events, or
serves the forecasts already in the warehouse.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import sqlalchemy as sa

from tickerpulse.stores.cache import Cache
from tickerpulse.stores.events import EventBus
from tickerpulse.stores.raw import RawStore
from tickerpulse.stores.registry import ModelRegistry
from tickerpulse.stores.warehouse import Warehouse


def _probe(name: str, required: bool, check: Callable[[], str]) -> dict[str, Any]:
    try:
        return {"name": name, "ok": True, "required": required, "detail": check()}
    except Exception as error:  # a probe reports any failure, it never raises
        return {
            "name": name,
            "ok": False,
            "required": required,
            "detail": f"{type(error).__name__}: {error}"[:300],
        }


def _raw(store: RawStore) -> str:
    with store.engine.connect() as connection:
        connection.execute(sa.text("SELECT 1"))
    return store.engine.dialect.name


def _cache(cache: Cache) -> str:
    if not cache.ping():
        raise ConnectionError("no answer to PING: requests bypass the cache")
    return type(cache).__name__


def _bus(bus: EventBus) -> str:
    stats = bus.stats()
    probe = getattr(bus, "reachable", None)
    if probe is not None and not probe():
        raise ConnectionError(f"broker unreachable; {stats['buffered']} events buffered")
    return f"{type(bus).__name__}: {stats['delivered']} delivered, {stats['buffered']} buffered"


def _registry(registry: ModelRegistry) -> str:
    if registry.tracking_uri.startswith("http"):
        # The MLflow client retries for minutes; a readiness probe must answer in seconds.
        httpx.get(f"{registry.tracking_uri.rstrip('/')}/health", timeout=2).raise_for_status()
        return registry.tracking_uri
    return f"{len(registry.client.search_registered_models())} models"


def check_dependencies(
    raw_store: RawStore,
    warehouse: Warehouse,
    cache: Cache,
    bus: EventBus,
    registry: ModelRegistry,
) -> list[dict[str, Any]]:
    return [
        _probe("raw_store", True, lambda: _raw(raw_store)),
        _probe("warehouse", True, lambda: f"{len(warehouse.summary('clean_prices'))} tickers"),
        _probe("cache", False, lambda: _cache(cache)),
        _probe("events", False, lambda: _bus(bus)),
        _probe("registry", False, lambda: _registry(registry)),
    ]
