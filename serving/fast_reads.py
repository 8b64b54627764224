"""Cache hits answered before FastAPI: plain ASGI between the middlewares and the router.

A GET of a whole cached response (serving.caching.cached_response) that this process's memory
holds is answered here with the stored bytes and the same `body_response` (ETag, 304) the
route would send, without FastAPI's routing, dependency solving and validation: on a cached
read those cost about as much as everything else together (docs/benchmarks.md). Anything
else goes on to FastAPI unchanged, which answers it as before and fills the cache: a miss, a
query string, a path the route would not match, an unknown ticker, a header out of bounds, a
warehouse whose version is not a file stat (a ClickHouse query), a store that fails.

The decision on the key is the route's own: a route that depends on require_key(role) is
answered here only after serving.security.authorize let the request through for that role.
A request it refuses goes on to the route, which refuses it the same way (a rate-limited
one is then counted twice against a budget it has already spent).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from starlette.datastructures import Headers
from starlette.responses import Response
from starlette.routing import BaseRoute
from starlette.types import ASGIApp, Receive, Scope, Send

from serving.caching import MAX_IF_NONE_MATCH_CHARS, body_response, response_key
from serving.metrics import CACHE_HITS_TOTAL
from serving.security import authorize


@dataclass(frozen=True)
class CachedRead:
    """What a route caches whole per ticker, by cached_response(kind, table)."""

    kind: str
    table: str


E = TypeVar("E", bound=Callable[..., Any])


def answered_from_cache(kind: str, table: str) -> Callable[[E], E]:
    """Marks a GET route `.../{ticker}` whose response is cached_response(kind, table, ticker):
    FastReads answers its hits."""

    def mark(endpoint: E) -> E:
        endpoint.cached_read = CachedRead(kind, table)  # type: ignore[attr-defined]
        return endpoint

    return mark


@dataclass(frozen=True)
class FastRoute:
    prefix: str  # the path up to {ticker}
    read: CachedRead
    route: BaseRoute
    role: str | None  # what the route's key must allow; None when it needs none


def route_role(dependant: Dependant) -> str | None:
    """The role a route's require_key dependency asks for, None for an open route."""
    for dependency in dependant.dependencies:
        role = getattr(dependency.call, "role", None) or route_role(dependency)
        if role is not None:
            return str(role)
    return None


def api_routes(routes: list[BaseRoute]) -> Iterator[BaseRoute]:
    """Every route, those of included routers too: FastAPI (0.165) keeps an included router
    as one route that holds it (the app's routes are prefixed with nothing else here)."""
    for route in routes:
        included = getattr(route, "original_router", None)
        yield from api_routes(included.routes) if included is not None else (route,)


def fast_routes(routes: list[BaseRoute]) -> list[FastRoute]:
    found = []
    for route in api_routes(routes):
        read = getattr(getattr(route, "endpoint", None), "cached_read", None)
        if isinstance(route, APIRoute) and read is not None and "GET" in (route.methods or ()):
            prefix = route.path.removesuffix("{ticker}")
            if prefix == route.path or "{" in prefix:
                raise ValueError(f"{route.path}: a cached read is a path ending in {{ticker}}")
            found.append(FastRoute(prefix, read, route, route_role(route.dependant)))
    return found


class FastReads:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self._routes: list[FastRoute] | None = None  # read at the first request: all included

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "GET" and not scope["query_string"]:
            response = await self._hit(scope)
            if response is not None:
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)

    async def _hit(self, scope: Scope) -> Response | None:
        if self._routes is None:
            self._routes = fast_routes(scope["app"].router.routes)
        path: str = scope["path"]
        for fast in self._routes:
            if path.startswith(fast.prefix):
                ticker = path[len(fast.prefix) :]
                if ticker and "/" not in ticker:  # what the route's {ticker} matches
                    return await self._answer(scope, fast, ticker)
        return None

    async def _answer(self, scope: Scope, fast: FastRoute, ticker: str) -> Response | None:
        services = getattr(scope["app"].state, "services", None)  # None before the lifespan
        if services is None or not services.warehouse.version_is_cheap:
            return None
        headers = Headers(scope=scope)
        if_none_match = headers.get("if-none-match")
        if if_none_match is not None and len(if_none_match) > MAX_IF_NONE_MATCH_CHARS:
            return None  # the route's 422
        read = fast.read
        try:
            symbol = services.universe.require(ticker)
            hit = services.local_cache.get(response_key(services, read.kind, read.table, symbol))
            if hit is None:
                return None
            if fast.role is not None:
                await authorize(services, headers.get("x-api-key"), fast.role)
        except Exception:
            # Unknown ticker, a key refused, a store failing: the route answers it as usual.
            return None
        scope["route"] = fast.route  # as the router sets it: RequestMetrics labels by it
        CACHE_HITS_TOTAL.labels(read.kind).inc()
        return body_response(hit, if_none_match)
