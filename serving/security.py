"""API keys on the endpoints that write or compute, and a budget of work per key.

Every request costs one; a request for many predictions costs one per prediction asked for
(tickers x horizons), so a batch cannot buy 10,000 predictions for the price of one call.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Awaitable, Callable
from typing import Annotated, Any, TypeVar

from fastapi import Depends, Security
from fastapi.security import APIKeyHeader

from serving.deps import Services, ServicesDep
from serving.errors import Forbidden, RateLimited, Unauthorized, WorkTooLarge
from tickerpulse.stores.api_keys import ApiKey
from tickerpulse.stores.cache import Cache, MemoryCache

T = TypeVar("T")

KEY_HEADER = APIKeyHeader(
    name="X-API-Key",
    auto_error=False,
    description="Create one with `tickerpulse apikey create NAME`",
)
WINDOW_SECONDS = 60
# Verified keys are remembered briefly so the hot path skips the database; a revoked key
# stops working within this time.
VERIFIED_TTL_SECONDS = 30.0
_local_counts = MemoryCache()  # the budget while the shared cache (Redis) is unreachable


def require_key(role: str) -> Callable[..., Awaitable[ApiKey]]:
    # async: FastAPI runs a sync dependency in a thread, a hop that costs more than the
    # check itself. What may wait (the database, Redis) still goes to a thread.
    async def dependency(
        services: ServicesDep, key: Annotated[str | None, Security(KEY_HEADER)] = None
    ) -> ApiKey:
        return await authorize(services, key, role)

    # What serving.fast_reads reads to make the same decision before answering from memory.
    dependency.role = role  # type: ignore[attr-defined]
    return dependency


async def authorize(services: Services, key: str | None, role: str) -> ApiKey:
    """The key's decision for one request of `role`: its key, or Unauthorized, Forbidden or
    RateLimited. The request is charged one against the key's budget."""
    if not key:
        raise Unauthorized(
            "this endpoint needs an API key in the X-API-Key header; "
            "create one with `tickerpulse apikey create NAME`"
        )
    found = services.verified_keys.get(key)
    if found is None:
        found = await asyncio.to_thread(services.api_keys.verify, key)
        if found is None:
            raise Unauthorized("the API key is not valid: mistyped or revoked")
        services.verified_keys.set(key, found, VERIFIED_TTL_SECONDS)
    if not found.allows(role):
        raise Forbidden(f"the key '{found.name}' has role {found.role}; this needs {role}")
    count, _ = await _charge(services, found, 1)
    if count > found.rate_per_minute:
        raise RateLimited(
            f"the key '{found.name}' is limited to {found.rate_per_minute} requests a minute",
            _retry_after(),
        )
    return found


async def charge_work(services: Services, key: ApiKey, work: int, what: str) -> None:
    """Charge `work` units (the request itself already paid one) against the key's budget.
    Work that does not fit is refused and refunded, so asking too much at once costs a
    client only the request; work larger than the whole budget is refused for good."""
    if work > key.rate_per_minute:
        raise WorkTooLarge(
            f"this request asks for {what}; the key '{key.name}' allows "
            f"{key.rate_per_minute} a minute: split it into requests of at most "
            f"{key.rate_per_minute}"
        )
    extra = work - 1
    if extra <= 0:
        return
    count, counter = await _charge(services, key, extra)
    if count > key.rate_per_minute:
        await _call(services, counter.refund, f"rate:{key.id}", WINDOW_SECONDS, extra)
        raise RateLimited(
            f"this request asks for {what}, more than is left of the key '{key.name}''s "
            f"{key.rate_per_minute} a minute",
            _retry_after(),
        )


async def _call(services: Services, method: Callable[..., T], *args: Any) -> T:
    if services.cache is services.local_cache:  # in memory: nothing to wait for
        return method(*args)
    return await asyncio.to_thread(method, *args)


async def _charge(services: Services, key: ApiKey, cost: int) -> tuple[int, Cache]:
    """The key's count in this window after `cost` more, and the counter that took it."""
    rate_key = f"rate:{key.id}"
    count = await _call(services, services.cache.hit_count, rate_key, WINDOW_SECONDS, cost)
    if count is not None:
        return count, services.cache
    # The shared counter is unreachable: this process counts alone meanwhile.
    return _local_counts.hit_count(rate_key, WINDOW_SECONDS, cost) or 0, _local_counts


def _retry_after() -> int:
    return math.ceil(WINDOW_SECONDS - time.time() % WINDOW_SECONDS)


ClientKey = Annotated[ApiKey, Depends(require_key("client"))]
AdminKey = Annotated[ApiKey, Depends(require_key("admin"))]
