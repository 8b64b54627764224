"""API keys on the endpoints that write or compute, and a request budget per key."""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends, Security
from fastapi.security import APIKeyHeader

from serving.deps import ServicesDep
from serving.errors import Forbidden, RateLimited, Unauthorized
from tickerpulse.stores.api_keys import ApiKey
from tickerpulse.stores.cache import MemoryCache

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
        rate_key = f"rate:{found.id}"
        if services.cache is services.local_cache:  # in memory: nothing to wait for
            count = services.cache.hit_count(rate_key, WINDOW_SECONDS)
        else:
            count = await asyncio.to_thread(services.cache.hit_count, rate_key, WINDOW_SECONDS)
        if count is None:
            count = _local_counts.hit_count(rate_key, WINDOW_SECONDS)
        if count is not None and count > found.rate_per_minute:
            retry_after = math.ceil(WINDOW_SECONDS - time.time() % WINDOW_SECONDS)
            raise RateLimited(
                f"the key '{found.name}' is limited to {found.rate_per_minute} requests a minute",
                retry_after,
            )
        return found

    return dependency


ClientKey = Annotated[ApiKey, Depends(require_key("client"))]
AdminKey = Annotated[ApiKey, Depends(require_key("admin"))]
