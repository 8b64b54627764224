"""The relay's own server: `/v1/stream`, `/healthz` and `/metrics` on picows (issue 18).

The protocol is realtime/stream.py's (`Streams` and `_Connection`), as in the API's Starlette
route; only the transport differs. Under uvicorn each open stream cost about 25 KB (its
WebSocket protocol object, the ASGI coroutines, a writer task) and every frame went through
several awaits: at 10,000 clients the relay held 354 MB and a p99 of 290 ms. Here a stream is
a picows listener and a subscriber that writes each message to the socket as the hub offers
it: no task per client, and each event's text is encoded to bytes once, not once per client.

A client whose socket does not take what it is sent makes its transport pause writing: its
messages then wait in its subscriber's bounded queue (flushed as it resumes), an overflow
closes it 4429, and one paused for longer than `send_timeout_seconds` is dropped (checked by
the one heartbeat task). One task pings the clients it has not heard from for PING_SECONDS
and drops those that do not answer within PING_SECONDS more (uvicorn's --ws-ping-interval
and --ws-ping-timeout did that before): picows's own auto-ping is a task per connection.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import time
from collections import deque
from typing import Any
from urllib.parse import parse_qsl

from picows import (
    WSFrame,
    WSListener,
    WSMsgType,
    WSTransport,
    WSUpgradeRequest,
    WSUpgradeResponse,
    WSUpgradeResponseWithListener,
    ws_create_server,
)
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from realtime.hub import Hub, Subscriber
from realtime.stream import (
    BAD_REQUEST,
    INTERNAL_ERROR,
    MAX_FRAME_BYTES,
    STREAM_PATH,
    TOO_MANY,
    TOO_SLOW,
    StreamLimits,
    StreamRejected,
    Streams,
    _Connection,
)
from tickerpulse.stores.api_keys import ApiKeyStore

log = logging.getLogger(__name__)

GOING_AWAY = 1001
PING_SECONDS = 10.0  # a client not heard from this long is pinged, and dropped if it stays silent
PING_TICK = 0.1
# A slow client's bytes wait in its transport up to here, then as text in its subscriber's
# queue (a reference to the hub's one text per event): asyncio's default of 64 KiB was a
# copy of up to 64 KiB per slow client.
WRITE_BUFFER_HIGH = 16 * 1024
WRITE_BUFFER_LOW = 4 * 1024
READ_BUFFER_BYTES = 1024  # picows rounds it up to its minimum, 2 KiB; frames here are small
SHUTDOWN_SECONDS = 5.0  # for closing handshakes as the relay stops
CLOSE_HANDSHAKE_SECONDS = 2.0  # for a client to answer the relay's close frame

_encoded: list[Any] = [None, b""]  # the last text offered and its bytes


def encoded(text: str) -> bytes:
    """The hub offers one text object to every target of an event in turn: encoded once."""
    if text is not _encoded[0]:
        _encoded[0], _encoded[1] = text, text.encode()
    data: bytes = _encoded[1]
    return data


_NOTHING_PENDING: deque[str] = (
    deque()
)  # shared by every subscriber with nothing queued; never added to


class SocketSubscriber(Subscriber):
    """A subscriber that writes to its client's transport as it is offered a message, and
    queues (boundedly, as any subscriber) only while the transport pauses writing. Its deque
    is made as it first queues, and given up once flushed: an empty deque is 600 bytes, for
    every client, and most never queue."""

    __slots__ = ("paused_since", "transport")

    def __init__(self, transport: WSTransport) -> None:
        super().__init__(set())
        self.pending = _NOTHING_PENDING
        self.transport = transport
        self.paused_since: float | None = None

    def offer(self, text: str) -> None:
        if self.overflowed:
            return
        self.last_offer = time.monotonic()
        if self.paused_since is None and not self.pending:
            self.transport.send(WSMsgType.TEXT, encoded(text))
            return
        if len(self.pending) >= self.queue_size:
            self.overflowed = True  # closed by on_overflow; no message is silently skipped
            if self.on_overflow is not None:
                self.on_overflow()
            return
        if self.pending is _NOTHING_PENDING:
            self.pending = deque()
        self.pending.append(text)

    def flush(self) -> None:
        """Send what queued while paused, until the transport pauses again."""
        pending, send = self.pending, self.transport.send
        while pending and self.paused_since is None and not self.overflowed:
            send(WSMsgType.TEXT, encoded(pending.popleft()))
        if not pending:
            self.pending = _NOTHING_PENDING


class _Stream(WSListener):
    """One client of `/v1/stream`: picows's callbacks onto the shared protocol. Frames that
    arrive while a token is being checked (a database call) wait in `inbox`, in order."""

    __slots__ = (
        "address",
        "connection",
        "header_token",
        "heard",
        "inbox",
        "ping_sent",
        "query",
        "relay",
        "subscriber",
        "task",
        "transport",
        "waiter",
    )

    def __init__(self, relay: RelayServer, query: dict[str, str], header_token: str | None):
        self.relay, self.query, self.header_token = relay, query, header_token
        self.address: str | None = None  # once counted against its address's cap
        self.transport: WSTransport | None = None
        self.subscriber: SocketSubscriber | None = None
        self.connection: _Connection | None = None
        self.inbox: deque[str] | None = deque()  # a deque until it is open and nothing waits
        self.waiter: asyncio.Future[None] | None = None
        self.task: asyncio.Task[None] | None = None
        self.heard = time.monotonic()
        self.ping_sent: float | None = None

    def on_ws_connected(self, transport: WSTransport) -> None:
        relay = self.relay
        self.transport = transport
        # The handshake's headers stay on the transport for as long as it is open: about
        # 700 bytes per client, read by nothing after this (route took the API key).
        transport.request.headers.clear()
        transport.response.headers.clear()
        transport.underlying_transport.set_write_buffer_limits(WRITE_BUFFER_HIGH, WRITE_BUFFER_LOW)
        peer = transport.underlying_transport.get_extra_info("peername")
        address = str(peer[0]) if peer else "unknown"
        if not relay.streams.admit(address):
            # After the handshake, so the client gets a code and a reason it can act on.
            self.close(TOO_MANY, "too many connections from this address")
            return
        self.address = address
        self.subscriber = SocketSubscriber(transport)
        self.subscriber.on_overflow = self.overflowed
        self.connection = relay.streams.connection(relay.keys)
        relay.clients.add(self)
        relay.ring.append(self)
        self.task = asyncio.get_running_loop().create_task(self.open())

    async def open(self) -> None:
        assert self.connection is not None
        try:
            await self.relay.streams.open_stream(
                self.connection, self.query, self.header_token, self.first_text, self.subscriber
            )
        except StreamRejected as rejected:
            self.close(rejected.code, rejected.reason)
            return
        except Exception:
            self.failed()
            return
        self.query.clear()
        await self.work(None)

    async def first_text(self) -> str:
        while not self.inbox:
            self.waiter = asyncio.get_running_loop().create_future()
            try:
                await self.waiter
            finally:
                self.waiter = None
        return self.inbox.popleft()

    async def work(self, message: dict[str, Any] | None) -> None:
        """Apply `message` (its token checked first), then what queued meanwhile."""
        connection = self.connection
        assert connection is not None
        try:
            if message is not None:
                await connection.change(message)
            while self.inbox:
                text = self.inbox.popleft()
                connection.count_message()
                await connection.change(connection.read(text))
            self.inbox = None
        except StreamRejected as rejected:
            self.close(rejected.code, rejected.reason)
        except Exception:
            self.failed()
        finally:
            if self.task is asyncio.current_task():
                self.task = None  # a finished task kept is a few hundred bytes per client

    def failed(self) -> None:
        """What no rejection foresaw (a bug, an error a store did not translate) closes the
        stream 1011, as uvicorn does when the API's route raises, and is logged: a client left
        open with its messages queued behind a dead task would only learn of it from its own
        timeouts."""
        log.exception("a stream from %s failed", self.address)
        self.close(INTERNAL_ERROR, "internal error")

    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        self.heard, self.ping_sent = time.monotonic(), None
        kind = frame.msg_type
        if kind == WSMsgType.CLOSE:
            if not transport.is_close_frame_sent:
                transport.send_close(frame.get_close_code(), frame.get_close_message())
            transport.disconnect()
            return
        if transport.is_close_frame_sent:  # what a client sent before it read the close
            return
        if kind == WSMsgType.PONG or kind == WSMsgType.PING:  # pings are answered by picows
            return
        try:
            if kind != WSMsgType.TEXT or not frame.fin:
                raise StreamRejected(BAD_REQUEST, "send each message as one text frame of JSON")
            try:
                text = frame.get_payload_as_utf8_text()
            except UnicodeDecodeError:
                raise StreamRejected(BAD_REQUEST, "send text as UTF-8") from None
            self.received(text)
        except StreamRejected as rejected:
            self.close(rejected.code, rejected.reason)

    def received(self, text: str) -> None:
        inbox, connection = self.inbox, self.connection
        if connection is None:  # refused as it connected; closing
            return
        if inbox is not None:  # opening, or a token is being checked: in order, after it
            if len(inbox) >= self.relay.streams.limits.message_burst:
                raise StreamRejected(TOO_MANY, "too many messages before the stream opened")
            inbox.append(text)
            if self.waiter is not None and not self.waiter.done():
                self.waiter.set_result(None)
            return
        connection.count_message()
        message = connection.read(text)
        if connection.needs_authorizing(message):
            self.inbox = deque()
            self.task = asyncio.get_running_loop().create_task(self.work(message))
        else:
            connection.apply(message)

    def pause_writing(self) -> None:
        if self.subscriber is not None:
            self.subscriber.paused_since = time.monotonic()
            self.relay.paused.add(self)

    def resume_writing(self) -> None:
        if self.subscriber is not None:
            self.subscriber.paused_since = None
            self.relay.paused.discard(self)
            self.subscriber.flush()

    def overflowed(self) -> None:
        assert self.subscriber is not None
        size = self.subscriber.queue_size
        self.close(TOO_SLOW, f"too slow: {size} messages behind; resume with last_seq")

    def close(self, code: int, reason: str) -> None:
        """Send the close frame after what is buffered, and let the connection go as the
        client answers it. Closing the socket at once lost the frame: a client still sending
        (a flood) was reset by the data it sent meanwhile, before it read the close."""
        transport = self.transport
        assert transport is not None
        self.end()  # no more events for it
        if transport.is_disconnected:
            return
        if not transport.is_close_frame_sent:
            transport.send_close(code, reason.encode())  # type: ignore[arg-type]
        loop = asyncio.get_running_loop()
        # A client that does not answer: FIN after what the transport holds, and if that does
        # not drain (a client that stopped reading), abort.
        loop.call_later(CLOSE_HANDSHAKE_SECONDS, transport.disconnect)
        timeout = self.relay.streams.limits.send_timeout_seconds
        loop.call_later(max(timeout, CLOSE_HANDSHAKE_SECONDS), transport.disconnect, False)

    def end(self) -> None:
        """Give back what the stream holds, once."""
        relay = self.relay
        relay.clients.discard(self)
        relay.paused.discard(self)
        if self.task is not None and not self.task.done():
            self.task.cancel()
        self.task = None
        if self.address is not None and self.connection is not None:
            relay.streams.close_stream(self.connection, self.address)
            self.address = None

    def on_ws_disconnected(self, transport: WSTransport) -> None:
        self.end()


class RelayServer:
    """`/v1/stream` over `hub` on picows, with `/healthz` and `/metrics` on the same port."""

    def __init__(
        self,
        hub: Hub,
        limits: StreamLimits,
        keys: ApiKeyStore | None,
        ping_seconds: float = PING_SECONDS,
    ) -> None:
        self.hub, self.keys, self.ping_seconds = hub, keys, ping_seconds
        self.streams = Streams(hub, limits)
        self.streams.on_beat = self.check
        self.clients: set[_Stream] = set()
        self.ring: deque[_Stream] = deque()  # the clients in the order `ping` visits them
        self.paused: set[_Stream] = set()
        self.server: asyncio.Server | None = None
        self.pinging: asyncio.Task[None] | None = None

    def route(self, request: WSUpgradeRequest) -> _Stream | WSUpgradeResponseWithListener | None:
        """A listener for `/v1/stream`, a response for `/healthz` and `/metrics`, else None
        (picows answers 404)."""
        path, _, query = request.path.decode("latin-1").partition("?")
        if path == STREAM_PATH:
            # The last of a repeated parameter, as Starlette's query_params.get gives it.
            params = dict(parse_qsl(query, keep_blank_values=True))
            return _Stream(self, params, request.headers.get("x-api-key"))
        if request.method != b"GET":
            return None
        if path == "/healthz":
            health = {"status": "ok", "clients": self.hub.subscribers, "seq": self.hub.seq}
            body, kind = json.dumps(health).encode(), "application/json"
        elif path == "/metrics":
            body, kind = generate_latest(), CONTENT_TYPE_LATEST
        else:
            return None
        response = WSUpgradeResponse.create_ok_response(body, {"Content-Type": kind})
        return WSUpgradeResponseWithListener(response, None)

    def check(self, now: float) -> None:
        """On every heartbeat: drop clients whose sends have waited too long."""
        timeout = self.streams.limits.send_timeout_seconds
        for client in list(self.paused):
            since = client.subscriber.paused_since if client.subscriber else None
            if since is not None and now - since > timeout and client.transport is not None:
                log.debug("dropping a client whose send waited %.1f s", now - since)
                client.end()
                client.transport.disconnect(False)

    async def ping(self) -> None:
        """Visit every client once per PING_SECONDS, a slice every PING_TICK: ping one silent
        since the last visit, drop one that has not answered the last visit's ping. Pinging
        from the heartbeat, every client due at one beat was pinged at once and they all
        answered at once: every 11 s a stall of 150-200 ms here, and the clients' own."""
        ring, period = self.ring, self.ping_seconds
        while True:
            await asyncio.sleep(PING_TICK)
            now = time.monotonic()
            for _ in range(math.ceil(len(ring) * PING_TICK / period)):
                client = ring.popleft()
                transport = client.transport
                if client not in self.clients or transport is None:
                    continue  # gone; it leaves the ring here
                ring.append(client)
                if client.ping_sent is not None:
                    if now - client.ping_sent >= period:
                        client.end()
                        transport.disconnect(False)
                elif now - client.heard >= period:
                    client.ping_sent = now
                    transport.send_ping()

    async def start(self, host: str, port: int) -> asyncio.Server:
        # One logger, not picows's default of a child Logger per connection (never freed by
        # logging's registry, so made by hand; still an object per client). Its per-connection
        # info lines (accepted, disconnected) would be 20,000 lines per 10,000 clients.
        logger = logging.LoggerAdapter(logging.getLogger("picows.relay"))
        logging.getLogger("picows").setLevel(logging.WARNING)
        self.server = await ws_create_server(
            self.route,
            host,
            port,
            logger_name=logger,
            # Dead peers are found by `check`'s pings: picows's auto-ping is a task per client.
            enable_auto_ping=False,
            max_frame_size=MAX_FRAME_BYTES,  # larger: picows closes the stream with 1009
            read_buffer_init_size=READ_BUFFER_BYTES,
            use_aiofastnet=False,
        )
        self.pinging = asyncio.get_running_loop().create_task(self.ping())
        return self.server

    async def shutdown(self) -> None:
        """Stop accepting, close every stream with 1001, and wait (boundedly) for them to go."""
        if self.server is not None:
            self.server.close()
        clients = [c.transport for c in self.clients if c.transport is not None]
        for client in list(self.clients):
            client.close(GOING_AWAY, "the relay is shutting down")
        deadline = time.monotonic() + SHUTDOWN_SECONDS
        while any(not t.is_disconnected for t in clients) and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        for transport in clients:
            transport.disconnect(False)
        self.streams.stop_beating()
        if self.pinging is not None:
            self.pinging.cancel()
