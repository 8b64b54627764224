"""POST /v1/predictions without FastAPI's routing and dependency solving: plain ASGI between
the middlewares and the router, as serving/fast_reads.py is for cached reads.

Profiled under wrk (py-spy), an online prediction spent most of its own time in FastAPI's
route matching, dependency solving and body handling around a route function of a few
microseconds. Here the same steps run directly, in the route's order and with the route's
code: the body as FastAPI reads it (json.loads, then the PredictionRequest model), the key by
serving.security.authorize, then the route function itself; its errors and the key's
refusals become the app's own exception handlers' answers. Whatever this does not take goes
on to FastAPI with the body replayed, untouched: another content type, a query string, a body
that does not validate (so the route's 422 says why, after the route's key check).
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Callable
from typing import Any

from pydantic import ValidationError
from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from serving.fast_reads import api_routes
from serving.routes.predictions import predict
from serving.schemas import PredictionRequest
from serving.security import authorize

PATH = "/v1/predictions"


class FastPredictions:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self._route: Any = None  # the route, for RequestMetrics' label: found at first use

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or scope["method"] != "POST"
            or scope["path"] != PATH
            or scope["query_string"]
        ):
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        services = getattr(scope["app"].state, "services", None)  # None before the lifespan
        if services is None or headers.get("content-type") != "application/json":
            await self.app(scope, receive, send)
            return
        # Bounded: BodySizeLimit, outside this, refuses a body over the limit as it arrives.
        body = await _read_body(receive)
        try:
            request = PredictionRequest.model_validate(json.loads(body))
        except (ValueError, ValidationError):  # JSONDecodeError and UnicodeError are ValueErrors
            await self.app(scope, _replay(body, receive), send)
            return
        if self._route is None:
            self._route = next(
                r for r in api_routes(scope["app"].router.routes) if getattr(r, "path", "") == PATH
            )
        scope["route"] = self._route  # as the router sets it: RequestMetrics labels by it
        try:
            key = await authorize(services, headers.get("x-api-key"), "client")
            response = await predict(request, services, key)
        except Exception as error:
            handler = _handler(scope["app"], error)
            if handler is None:
                raise  # as from the route: ServerErrorMiddleware's 500
            response = handler(Request(scope), error)
            if inspect.isawaitable(response):
                response = await response
        await response(scope, receive, send)


async def _read_body(receive: Receive) -> bytes:
    chunks = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


def _replay(body: bytes, receive: Receive) -> Receive:
    """The body already read, then whatever the client sends next (a disconnect)."""
    sent = False

    async def replayed() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replayed


def _handler(app: Any, error: Exception) -> Callable[..., Any] | None:
    """The app's handler for `error`, looked up as Starlette's ExceptionMiddleware does."""
    for kind in type(error).__mro__:
        handler = app.exception_handlers.get(kind)
        if handler is not None:
            return handler
    return None
