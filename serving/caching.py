"""Read-through caching of warehouse reads, keyed on the data's version so rewrites invalidate.

Two levels: this process's memory in front of the shared cache (Redis in full mode; in
embedded mode they are one and the same). Keys carry the version token, so neither level
can serve data older than the warehouse's; the TTL only bounds memory. Whole responses are
kept as JSON text, so a hit costs no validation or serialization; pages of rows are kept as
JSON text too, so the in-process cache's byte bound counts what it really holds.

A whole response carries a strong ETag, a hash of its bytes, so a client that sends it back
in If-None-Match gets 304 and no body until the data changes (the tag changes with the bytes).
serving/fast_reads answers hits with the same `body_response` before FastAPI routes them.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import Callable
from typing import Any, TypeVar

from fastapi import Response
from pydantic import BaseModel

from serving.deps import Services
from serving.metrics import CACHE_HITS_TOTAL, CACHE_MISSES_TOTAL

T = TypeVar("T")
JSON = "application/json"
# If-None-Match lists a client's tags; a few dozen is plenty (the longest header is bounded).
MAX_IF_NONE_MATCH_CHARS = 2048


def _key(services: Services, kind: str, table: str, ticker: str, key: str) -> str:
    return f"{kind}:{ticker}:{key}:{services.warehouse.version(table, ticker)}"


def cached(
    services: Services, kind: str, table: str, ticker: str, key: str, compute: Callable[[], T]
) -> T:
    full_key = _key(services, kind, table, ticker, key)
    ttl = services.settings.cache_ttl_seconds
    hit = services.local_cache.get(full_key)
    if hit is None and services.cache is not services.local_cache:
        hit = services.cache.get(full_key)
        if hit is not None:
            services.local_cache.set(full_key, hit, ttl)
    if hit is not None:
        CACHE_HITS_TOTAL.labels(kind).inc()
        return hit
    CACHE_MISSES_TOTAL.labels(kind).inc()
    value = compute()
    services.cache.set(full_key, value, ttl)
    if services.cache is not services.local_cache:
        services.local_cache.set(full_key, value, ttl)
    return value


def cached_rows(
    services: Services,
    kind: str,
    table: str,
    ticker: str,
    key: str,
    compute: Callable[[], list[dict[str, Any]]],
) -> list[dict[str, Any]]:
    """Rows through the cache as JSON text: dates come back as ISO strings, as from Redis."""
    text = cached(services, kind, table, ticker, key, lambda: json.dumps(compute(), default=str))
    rows: list[dict[str, Any]] = json.loads(text)
    return rows


def entity_tag(body: bytes) -> str:
    """A strong ETag: the same bytes, the same tag; any other bytes, another."""
    return '"' + hashlib.blake2b(body, digest_size=16).hexdigest() + '"'


def not_modified(if_none_match: str | None, tag: str) -> bool:
    """Whether If-None-Match names `tag` (RFC 9110 13.1.2: weak comparison, `*` for any)."""
    if not if_none_match:
        return False
    for listed in if_none_match.split(","):
        listed = listed.strip()
        if listed == "*" or listed.removeprefix("W/") == tag:
            return True
    return False


def body_response(text: str, if_none_match: str | None) -> Response:
    """A cached JSON body with its ETag, or 304 (no body) when the client holds it already."""
    body = text.encode()
    tag = entity_tag(body)
    if not_modified(if_none_match, tag):
        return Response(status_code=304, headers={"ETag": tag})
    return Response(body, media_type=JSON, headers={"ETag": tag})


def response_key(services: Services, kind: str, table: str, ticker: str) -> str:
    return _key(services, kind, table, ticker, "response")


async def cached_response(
    services: Services,
    model: type[BaseModel],
    kind: str,
    table: str,
    ticker: str,
    compute: Callable[[], dict[str, Any]],
    if_none_match: str | None = None,
) -> Response:
    """A whole response from the cache. A hit in this process's memory is answered on the
    event loop when the version is a file stat; anything that may wait goes to a thread."""
    if services.warehouse.version_is_cheap:
        hit = services.local_cache.get(response_key(services, kind, table, ticker))
        if hit is not None:
            CACHE_HITS_TOTAL.labels(kind).inc()
            return body_response(hit, if_none_match)

    def body() -> str:
        return model.model_validate(compute()).model_dump_json()

    text = await asyncio.to_thread(cached, services, kind, table, ticker, "response", body)
    return body_response(text, if_none_match)
