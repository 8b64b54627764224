"""Request bodies bounded in bytes before anything parses them: 413 problem+json.

Pure ASGI, so it sees the bytes as they arrive: a declared Content-Length over the limit is
refused unread; a body without one (chunked) is counted and cut off at the limit. Whatever
the app answered to a cut-off body (FastAPI turns the error into a 400) is replaced by the 413.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from serving.errors import problem


class BodyTooLarge(Exception):
    pass


class BodySizeLimit:
    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = _content_length(scope)
        if declared is not None and declared > self.max_bytes:
            await self._refuse(scope, receive, send)
            return
        received, exceeded, started = 0, False, False

        async def counted() -> Message:
            nonlocal received, exceeded
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    exceeded = True
                    raise BodyTooLarge
            return message

        async def unless_cut_off(message: Message) -> None:
            nonlocal started
            if exceeded:
                return  # the app's answer to a truncated body: the 413 goes out instead
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted, unless_cut_off)
        except Exception:
            if not exceeded:
                raise
        if exceeded and not started:
            await self._refuse(scope, receive, send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = problem(
            Request(scope),
            413,
            "Request body too large",
            f"the body is larger than {self.max_bytes} bytes, the most this API reads; "
            "send fewer items per request (several requests instead of one)",
        )
        await response(scope, receive, send)


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", []):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None  # not a number: the server refuses it, or the bytes are counted
    return None
