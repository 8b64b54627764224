"""What /readyz reports: each dependency, whether it answers, and whether the API needs it.

The operational store and the warehouse are required (no answers without them). The cache, the
event bus and the registry are not: without them the API answers slower, buffers events, or
serves the forecasts already in the warehouse and the champions it has loaded. One of them down
makes the API "degraded": ready, with the reason given.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import sqlalchemy as sa

from tickerpulse.errors import RegistryUnavailable
from tickerpulse.stores.cache import Cache
from tickerpulse.stores.events import EventBus
from tickerpulse.stores.operational import OperationalStore
from tickerpulse.stores.registry import ModelRegistry, shown_uri
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


def _raw(store: OperationalStore) -> str:
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


def _registry(registry: ModelRegistry, loaded: dict[int, str], problem: str | None) -> str:
    """`loaded`: the champions this process serves; `problem`: its last failed registry call."""
    serving = ", ".join(loaded.values()) or "none"
    try:
        if registry.tracking_uri.startswith("http"):
            # A readiness probe answers in seconds, whatever the MLflow client's retries.
            health = f"{registry.tracking_uri.rstrip('/')}/health"
            httpx.get(health, timeout=2).raise_for_status()
            answer = shown_uri(registry.tracking_uri)  # where to look (credentials left out)
        else:
            answer = f"{len(registry.client.search_registered_models())} models"
    except Exception as error:
        raise RegistryUnavailable(
            f"model registry unreachable; serving the champions loaded before ({serving}), "
            f"horizons without one answer 503; {type(error).__name__}: {error}"
        ) from error
    if problem is not None:  # the probe answers, but the last real call did not
        raise RegistryUnavailable(f"serving the champions loaded before ({serving}); {problem}")
    return answer


def readiness(dependencies: list[dict[str, Any]]) -> dict[str, Any]:
    """ready (every dependency answers), degraded (an optional one does not: why, in `reasons`)
    or not ready (a required one does not)."""
    down = [d for d in dependencies if not d["ok"]]
    ready = not any(d["required"] for d in down)
    return {
        "ready": ready,
        "status": ("degraded" if down else "ready") if ready else "not ready",
        "reasons": [f"{d['name']}: {d['detail']}" for d in down],
        "dependencies": dependencies,
    }


def check_dependencies(
    operational_store: OperationalStore,
    warehouse: Warehouse,
    cache: Cache,
    bus: EventBus,
    registry: ModelRegistry,
    loaded: dict[int, str] | None = None,
    registry_problem: str | None = None,
) -> list[dict[str, Any]]:
    return [
        _probe("operational_store", True, lambda: _raw(operational_store)),
        _probe("warehouse", True, lambda: f"{len(warehouse.summary('clean_prices'))} tickers"),
        _probe("cache", False, lambda: _cache(cache)),
        _probe("events", False, lambda: _bus(bus)),
        _probe("registry", False, lambda: _registry(registry, loaded or {}, registry_problem)),
    ]
