"""The WebSocket side of the relay (ws_monitor): the hub's channels at `/v1/stream`.

    ws://host/v1/stream?channels=predictions:ACME,alerts&last_seq=123

Channels: `predictions` (every prediction), `predictions:<TICKER>`, `metrics` and `alerts`;
the last two need an API key. Send it as the first message, `{"token": "KEY"}` (it then never
appears in a URL or an access log), or as the X-API-Key header; `?token=KEY` works too and is
masked in the server's logs. Messages are JSON: `{"type": "event", "seq", "channel", "data"}`,
`{"type": "heartbeat", "seq"}` every `heartbeat_seconds` so a client can tell a quiet stream
from a dead one, and `{"type": "gap", "from_seq", "to_seq", "seq"}` when a resume reaches back
further than the relay replays. A client may send `{"subscribe": [...]}` or
`{"unsubscribe": [...]}` at any time.

Limits, each answered with a close code and a reason: `max_channels` per connection, frames
of MAX_FRAME_BYTES, `max_messages_per_second` from a client, `max_connections_per_key` and
`max_connections_per_ip`. Close codes: 4400 a
bad channel or message, 4401 no or an invalid token, 4408 no token within TOKEN_WAIT_SECONDS,
4429 too many connections or messages, or a client so slow that its queue overflowed (it resumes with
`last_seq`), 1009 a frame too large, 1001 the relay is shutting down. Peers that vanish
without closing are found by WebSocket pings and by a send that does not complete within
`send_timeout_seconds`.

Two servers speak it: the API's Starlette route here (embedded; uvicorn sends the pings,
`--ws-ping-interval`), and the relay's picows server (realtime/server.py), both through
`Streams` and `_Connection`, which know nothing of either.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from realtime.hub import Hub, Subscriber, needs_token, valid_channel
from tickerpulse.errors import DependencyUnavailable
from tickerpulse.settings import Settings
from tickerpulse.stores.api_keys import ApiKeyStore

if TYPE_CHECKING:  # the relay's process (realtime/server.py) runs without FastAPI and Starlette
    from fastapi import APIRouter, WebSocket
    from starlette.types import ASGIApp, Receive, Scope, Send

log = logging.getLogger(__name__)

BAD_REQUEST, UNAUTHORIZED, TOKEN_TIMEOUT, TOO_MANY = 4400, 4401, 4408, 4429
TOO_SLOW, TOO_BIG = 4429, 1009
TRY_AGAIN_LATER = 1013  # RFC 6455's registry: a dependency is down, the client may retry
INTERNAL_ERROR = 1011  # RFC 6455: the server met a condition it did not expect (a bug)
MAX_FRAME_BYTES = 64 * 1024  # a subscribe of max_channels tickers fits many times over
TOKEN_WAIT_SECONDS = 5.0
CHANNEL_HINT = "use predictions, predictions:<TICKER>, metrics, alerts"
SEND_BURST = 64  # messages a writer sends before it gives the loop back
STREAM_PATH = "/v1/stream"


class StreamRejected(Exception):
    def __init__(self, code: int, reason: str) -> None:
        super().__init__(reason)
        self.code, self.reason = code, reason


@dataclass(frozen=True)
class StreamLimits:
    max_channels: int = 100
    max_connections_per_key: int = 50
    max_connections_per_ip: int = 500
    heartbeat_seconds: float = 15.0
    send_timeout_seconds: float = 10.0
    # Control messages (subscribe, unsubscribe, token) per connection: a client needs a few;
    # a flood of them is cut off before it takes the loop from everyone else's events.
    max_messages_per_second: float = 10.0
    message_burst: int = 20

    @classmethod
    def from_settings(cls, settings: Settings) -> StreamLimits:
        return cls(
            max_channels=settings.stream_max_channels,
            max_connections_per_key=settings.stream_max_connections_per_key,
            max_connections_per_ip=settings.stream_max_connections_per_ip,
            heartbeat_seconds=settings.stream_heartbeat_seconds,
            max_messages_per_second=settings.stream_max_messages_per_second,
        )


class _TokenInLogs(logging.Filter):
    """Masks `token=...` in uvicorn's log lines: a WebSocket's access line carries its query."""

    pattern = re.compile(r"(token=)[^&\s\"']+")

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):  # uvicorn's lines; a mapping's keys stay as they are
            record.args = tuple(
                self.pattern.sub(r"\1***", a) if isinstance(a, str) else a for a in record.args
            )
        record.msg = self.pattern.sub(r"\1***", str(record.msg))
        return True


def mask_tokens_in_server_logs() -> None:
    for name in ("uvicorn.error", "uvicorn.access"):
        logger = logging.getLogger(name)
        if not any(isinstance(f, _TokenInLogs) for f in logger.filters):
            logger.addFilter(_TokenInLogs())


def parse_channels(items: str | list[Any] | None, limit: int) -> set[str]:
    if items is None:
        return set()
    if isinstance(items, str):
        items = items.split(",", limit + 1)  # never split more than could be accepted
    if not isinstance(items, list):
        raise StreamRejected(BAD_REQUEST, f"channels are a list of strings: {CHANNEL_HINT}")
    if len(items) > limit:
        raise StreamRejected(BAD_REQUEST, f"at most {limit} channels per connection")
    channels = {str(item).strip() for item in items if str(item).strip()}
    bad = sorted(c for c in channels if not valid_channel(c))
    if bad:
        raise StreamRejected(BAD_REQUEST, f"unknown channel {bad[0][:40]!r}: {CHANNEL_HINT}")
    return channels


class _Connection:
    """One client's stream: its subscriber, its key once known, and the limits it holds to.
    Nothing of the server it runs on: Starlette's endpoint and the relay's picows server
    (realtime/server.py) both drive it."""

    __slots__ = (
        "allowance",
        "hub",
        "key_prefix",
        "keys",
        "last_message",
        "limits",
        "per_key",
        "subscriber",
    )

    def __init__(
        self, keys: ApiKeyStore | None, hub: Hub, limits: StreamLimits, per_key: Counter[str]
    ) -> None:
        self.keys, self.hub, self.limits, self.per_key = keys, hub, limits, per_key
        self.key_prefix: str | None = None
        self.subscriber: Subscriber | None = None
        self.allowance, self.last_message = float(limits.message_burst), time.monotonic()

    def count_message(self) -> None:
        """A token bucket: `max_messages_per_second`, with bursts of `message_burst`."""
        now = time.monotonic()
        self.allowance = min(
            float(self.limits.message_burst),
            self.allowance + (now - self.last_message) * self.limits.max_messages_per_second,
        )
        self.last_message = now
        if self.allowance < 1:
            rate = f"{self.limits.max_messages_per_second:g}"
            raise StreamRejected(TOO_MANY, f"too many messages: at most {rate} per second")
        self.allowance -= 1

    async def authorize(self, token: str | None) -> None:
        if not token:
            raise StreamRejected(UNAUTHORIZED, 'metrics and alerts need an API key: send {"token"}')
        if self.keys is None:  # an app that keeps no keys accepts none
            raise StreamRejected(UNAUTHORIZED, "the token is not a valid API key")
        try:
            key = await asyncio.to_thread(self.keys.verify, token)  # a database call: off the loop
        except DependencyUnavailable as error:  # the HTTP API's 503, as a close code
            raise StreamRejected(
                TRY_AGAIN_LATER,
                f"{error.dependency} unavailable; try again in {error.retry_after_seconds} s",
            ) from error
        if key is None:
            raise StreamRejected(UNAUTHORIZED, "the token is not a valid API key")
        if self.per_key[key.prefix] >= self.limits.max_connections_per_key:
            raise StreamRejected(TOO_MANY, "too many connections for this API key")
        self.per_key[key.prefix] += 1
        self.key_prefix = key.prefix

    def release(self) -> None:
        if self.key_prefix is not None:
            self.per_key[self.key_prefix] -= 1
            self.key_prefix = None

    def token_of(self, text: str) -> str | None:
        """The token of the client's first message (which must carry one)."""
        token = self.read(text).get("token")
        return token if isinstance(token, str) else None

    def read(self, text: str) -> dict[str, Any]:
        if len(text) > MAX_FRAME_BYTES:
            raise StreamRejected(TOO_BIG, f"frames are at most {MAX_FRAME_BYTES} bytes")
        try:
            message = json.loads(text)
        except json.JSONDecodeError:
            raise StreamRejected(BAD_REQUEST, 'send JSON such as {"subscribe": [...]}') from None
        if not isinstance(message, dict):
            raise StreamRejected(BAD_REQUEST, 'send a JSON object such as {"subscribe": [...]}')
        return message

    def needs_authorizing(self, message: dict[str, Any]) -> bool:
        """A message whose token is still to be checked (a database call, so awaited)."""
        return isinstance(message.get("token"), str) and self.key_prefix is None

    async def change(self, message: dict[str, Any]) -> None:
        if self.needs_authorizing(message):
            await self.authorize(message["token"])
        self.apply(message)

    def apply(self, message: dict[str, Any]) -> None:
        """Apply a subscribe/unsubscribe message: costs what it changes, not what it holds."""
        assert self.subscriber is not None
        added = parse_channels(message.get("subscribe"), self.limits.max_channels)
        removed = parse_channels(message.get("unsubscribe"), self.limits.max_channels)
        added -= self.subscriber.channels
        removed &= self.subscriber.channels  # what it never held makes no room
        if len((self.subscriber.channels - removed) | added) > self.limits.max_channels:
            raise StreamRejected(
                BAD_REQUEST, f"at most {self.limits.max_channels} channels per connection"
            )
        if any(needs_token(c) for c in added) and self.key_prefix is None:
            raise StreamRejected(UNAUTHORIZED, 'metrics and alerts need an API key: send {"token"}')
        self.hub.remove_channels(self.subscriber, removed)
        self.hub.add_channels(self.subscriber, added)


class Streams:
    """What the streams of one endpoint share, whichever server runs them: the hub, the
    limits, connections counted per address and per key, and the one heartbeat task."""

    def __init__(self, hub: Hub, limits: StreamLimits | None = None) -> None:
        self.hub, self.limits = hub, limits or StreamLimits()
        self.per_ip: Counter[str] = Counter()
        self.per_key: Counter[str] = Counter()
        self.open: set[Subscriber] = set()
        # Called on every beat with the time: the picows server checks its stalled sends.
        self.on_beat: Callable[[float], None] | None = None
        self._beating: list[asyncio.Task[None]] = []

    def admit(self, address: str) -> bool:
        """Count a connection from `address`, unless it already holds its share."""
        if self.per_ip[address] >= self.limits.max_connections_per_ip:
            return False
        self.per_ip[address] += 1
        return True

    def connection(self, keys: ApiKeyStore | None) -> _Connection:
        return _Connection(keys, self.hub, self.limits, self.per_key)

    async def open_stream(
        self,
        connection: _Connection,
        query: Mapping[str, str],
        header_token: str | None,
        first_text: Callable[[], Awaitable[str]],
        subscriber: Subscriber | None = None,
    ) -> Subscriber:
        """Check the query and the token (from the query, the header, or the first message,
        which `first_text` waits for), then subscribe: `subscriber`, or a plain one."""
        limits = self.limits
        channels = parse_channels(query.get("channels", "predictions"), limits.max_channels)
        last_seq_text = query.get("last_seq")
        if last_seq_text is not None and not (last_seq_text.isdigit() and len(last_seq_text) < 20):
            raise StreamRejected(BAD_REQUEST, "last_seq must be a sequence number")
        token = query.get("token") or header_token
        if token:
            await connection.authorize(token)
        elif any(needs_token(c) for c in channels):
            try:
                text = await asyncio.wait_for(first_text(), TOKEN_WAIT_SECONDS)
            except TimeoutError:
                raise StreamRejected(TOKEN_TIMEOUT, 'send {"token": KEY} first') from None
            await connection.authorize(connection.token_of(text))
        if subscriber is None:
            subscriber = Subscriber(channels)
        else:
            subscriber.channels = channels
        connection.subscriber = subscriber
        self.hub.subscribe(subscriber, int(last_seq_text) if last_seq_text else None)
        self.open.add(subscriber)
        self.keep_beating()
        return subscriber

    def close_stream(self, connection: _Connection, address: str) -> None:
        """Give back what the connection held: its address's and key's counts, its channels."""
        self.per_ip[address] -= 1
        if self.per_ip[address] <= 0:
            del self.per_ip[address]
        connection.release()
        if connection.subscriber is not None:
            self.hub.unsubscribe(connection.subscriber)
            self.open.discard(connection.subscriber)

    async def beat(self) -> None:
        """Heartbeats for every stream given nothing for `heartbeat_seconds`, from one task
        for all of them while any is open. A timer per waiting writer was about 1 KB for every
        idle connection (a Timeout, its handle and uvloop's timer), and a timer set and
        cancelled for every delivery. A quiet stream hears one every 1 to 1.25
        `heartbeat_seconds`."""
        limits, hub = self.limits, self.hub
        while self.open:
            await asyncio.sleep(limits.heartbeat_seconds / 4)
            now = time.monotonic()
            idle_since = now - limits.heartbeat_seconds
            text = hub.heartbeat()
            for subscriber in list(self.open):  # an offer may close a stream
                if subscriber.last_offer <= idle_since:
                    subscriber.offer(text)
            if self.on_beat is not None:
                self.on_beat(now)

    def stop_beating(self) -> None:
        for task in self._beating:
            task.cancel()

    def keep_beating(self) -> None:
        loop = asyncio.get_running_loop()
        beating = self._beating
        if not beating or beating[0].done() or beating[0].get_loop() is not loop:
            beating[:] = [loop.create_task(self.beat())]


def stream_router(hub: Hub, limits: StreamLimits | None = None) -> APIRouter:
    """The `/v1/stream` route over `hub`. Tokens are checked against the app's
    `state.api_keys` (an ApiKeyStore), which the app sets as it starts."""
    from fastapi import APIRouter
    from starlette.routing import WebSocketRoute

    router = APIRouter()
    # A plain Starlette route, not FastAPI's: the handler takes no dependencies, and FastAPI's
    # solving and exit stacks cost about 5 KB for every connection held open (issue 18).
    router.routes.append(WebSocketRoute(STREAM_PATH, stream_endpoint(hub, limits)))
    return router


def stream_endpoint(hub: Hub, limits: StreamLimits | None = None) -> ASGIApp:
    """`/v1/stream` over `hub` as a bare ASGI app, for a router or for a server to call
    directly. Tokens are checked against `scope["app"].state.api_keys`."""
    streams = Streams(hub, limits)
    limits = streams.limits

    async def receive(connection: _Connection, websocket: WebSocket) -> None:
        while True:
            text = await websocket.receive_text()
            connection.count_message()
            await connection.change(connection.read(text))
            # Frames already buffered come back without suspending: yield, or one client's
            # backlog would hold the loop and every other client's events behind it.
            await asyncio.sleep(0)

    async def send(server_send: Send, subscriber: Subscriber) -> None:
        """The client's one writer. It waits, without a timer (heartbeats come from `beat`),
        only when its queue is empty, and sends what queued meanwhile under one send timer: an
        asyncio.wait_for per message made a task and a timer for every get and every send,
        which was most of the relay's CPU per delivery. The hub's text goes out as it is, never
        encoded again here, straight to the ASGI send the endpoint was given (Starlette's
        WebSocket.send checks its state and message type again for every frame)."""
        pending, loop = subscriber.pending, asyncio.get_running_loop()
        while True:
            await subscriber.wait()
            text = pending.popleft()
            async with asyncio.timeout(limits.send_timeout_seconds) as deadline:
                await server_send({"type": "websocket.send", "text": text})
                # A send that the transport takes at once does not suspend: after a burst,
                # give the loop back so one client's backlog does not hold everyone's events.
                for _ in range(SEND_BURST):
                    if not pending:
                        break
                    deadline.reschedule(loop.time() + limits.send_timeout_seconds)
                    await server_send({"type": "websocket.send", "text": pending.popleft()})
            await asyncio.sleep(0)

    async def stream(websocket: WebSocket, server_send: Send) -> None:
        address = websocket.client.host if websocket.client else "unknown"
        if not streams.admit(address):
            # Accepted to be closed with a code and reason a client can act on (a refusal
            # before the handshake reaches it as a bare HTTP 403).
            await websocket.accept()
            await websocket.close(TOO_MANY, "too many connections from this address")
            return
        connection = streams.connection(getattr(websocket.app.state, "api_keys", None))
        try:
            await websocket.accept()
            try:
                await streams.open_stream(
                    connection,
                    websocket.query_params,
                    websocket.headers.get("x-api-key"),
                    websocket.receive_text,  # the first message, which must carry the token
                )
            except StreamRejected as rejected:
                await websocket.close(rejected.code, rejected.reason)
                return
            await _serve(
                connection,
                websocket,
                lambda: receive(connection, websocket),
                lambda subscriber: send(server_send, subscriber),
            )
        finally:
            streams.close_stream(connection, address)

    return _Endpoint(stream)


class _Endpoint:
    """An ASGI app. A class, not a function: Starlette's route calls a function with a
    WebSocket, and an app with the scope, receive and send that the writer needs."""

    def __init__(self, stream: Callable[[WebSocket, Send], Awaitable[None]]) -> None:
        self.stream = stream

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        from starlette.websockets import WebSocket

        await self.stream(WebSocket(scope, receive=receive, send=send), send)


async def _serve(
    connection: _Connection,
    websocket: WebSocket,
    receive: Callable[[], Awaitable[None]],
    send: Callable[[Subscriber], Coroutine[Any, Any, None]],
) -> None:
    """Read and write until one of them ends the stream, or the client's queue overflows.

    The handler reads (in the server's task for the connection) and one task writes: a task of
    its own for the reader, and asyncio.wait over the two, were about 1.5 KB for every open
    stream. The writer's end and an overflow end the read by cancelling the handler, which
    tells that from a cancellation of its own (the server's, a test client's) by `ended`.
    """
    subscriber = connection.subscriber
    assert subscriber is not None
    handler = asyncio.current_task()
    assert handler is not None
    ended: list[BaseException | None] = []  # why the stream ends, once known

    def end(reason: BaseException | None) -> None:
        if not ended:
            ended.append(reason)
            handler.cancel()

    def overflowed() -> None:
        end(
            StreamRejected(
                TOO_SLOW, f"too slow: {subscriber.queue_size} messages behind; resume with last_seq"
            )
        )

    def writer_ended(task: asyncio.Task[None]) -> None:
        end(None if task.cancelled() else task.exception())

    subscriber.on_overflow = overflowed
    # A plain task, not a TaskGroup: the server (or a test client) may cancel this handler
    # through an anyio cancel scope, which asyncio.TaskGroup on 3.11 does not pass cleanly.
    writer = asyncio.create_task(send(subscriber))
    writer.add_done_callback(writer_ended)
    error: BaseException | None = None
    try:
        if subscriber.overflowed:
            overflowed()
        await receive()
    except asyncio.CancelledError:
        if not ended or handler.cancelling() > 1:  # not (only) ours: pass it on
            raise
        handler.uncancel()
        error = ended[0]
    except Exception as raised:  # the reader's end: a disconnect, or a refused message
        error = raised
    finally:
        ended.append(None)  # from here on the writer's end cancels nothing
        subscriber.on_overflow = None
        writer.cancel()
    if isinstance(error, StreamRejected):
        with contextlib.suppress(Exception):
            await websocket.close(error.code, error.reason)
    elif error is not None:  # disconnected, or a send that never completed
        log.debug("stream client gone: %r", error)
