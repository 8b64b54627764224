"""The relay (ws_monitor): Kafka topics to WebSocket clients at `/v1/stream`.

    ws://host/v1/stream?channels=predictions:ACME,alerts&token=KEY&last_seq=123

Channels: `predictions` (every prediction), `predictions:<TICKER>`, `metrics` and `alerts`;
the last two need an API key (`token`, or the X-API-Key header). Messages are JSON:
`{"type": "event", "seq", "channel", "data"}`, `{"type": "heartbeat", "seq"}` every
`heartbeat_seconds` so a client can tell a quiet stream from a dead one, and `{"type": "gap"}`
when a resume reaches back further than the replay ring. A client may send
`{"subscribe": [...]}` or `{"unsubscribe": [...]}` at any time.

Close codes: 4400 a bad channel, 4401 no or an invalid token, 4429 a client so slow that its
queue overflowed (it resumes with `last_seq`), 1001 the relay is shutting down. Peers that
vanish without closing are found by the WebSocket ping uvicorn sends (`--ws-ping-interval`)
and by a send that does not complete within `send_timeout_seconds`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import APIRouter, WebSocket

from realtime.hub import TOPIC_CHANNELS, Hub, Subscriber, needs_token, valid_channel
from tickerpulse.stores.api_keys import ApiKeyStore
from tickerpulse.stores.events import EventBus

log = logging.getLogger(__name__)

BAD_REQUEST, UNAUTHORIZED, TOO_SLOW = 4400, 4401, 4429


class StreamRejected(Exception):
    def __init__(self, code: int, reason: str) -> None:
        super().__init__(reason)
        self.code, self.reason = code, reason


async def consume_forever(
    bus: EventBus,
    topic: str,
    group: str | None,
    handle: Callable[[dict[str, Any]], Awaitable[None]],
) -> None:
    """Hand every event of `topic` to `handle` until cancelled; a consumer that fails is
    restarted. A group keeps the consumer's place across restarts; a new one starts at the
    end (stream clients resume from the hub's replay ring, not from the topic's start)."""
    while True:
        try:
            async with bus.subscribe(topic, group=group, from_beginning=False) as events:
                async for event in events:
                    if isinstance(event, dict):
                        await handle(event)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("consumer of %s failed; restarting in 1 s", topic)
            await asyncio.sleep(1)


async def relay_topics(bus: EventBus, hub: Hub, group: str | None) -> None:
    """Feed every topic into the hub until cancelled."""

    def into_hub(topic: str) -> Callable[[dict[str, Any]], Awaitable[None]]:
        async def publish(event: dict[str, Any]) -> None:
            hub.publish(topic, event)

        return publish

    async with asyncio.TaskGroup() as group_tasks:
        for topic in TOPIC_CHANNELS:
            consumer_group = f"{group}-{topic}" if group else None
            group_tasks.create_task(consume_forever(bus, topic, consumer_group, into_hub(topic)))


def _parse_channels(text: str | list[Any] | None) -> set[str]:
    items = text.split(",") if isinstance(text, str) else (text or [])
    channels = {str(item).strip() for item in items if str(item).strip()}
    bad = sorted(c for c in channels if not valid_channel(c))
    if bad:
        raise StreamRejected(
            BAD_REQUEST,
            f"unknown channel {bad[0]!r}: use predictions, predictions:<TICKER>, metrics, alerts",
        )
    return channels


def stream_router(
    hub: Hub, heartbeat_seconds: float = 15.0, send_timeout_seconds: float = 10.0
) -> APIRouter:
    """The `/v1/stream` route over `hub`. Tokens are checked against the app's
    `state.api_keys` (an ApiKeyStore), which the app sets as it starts."""
    router = APIRouter()

    def authorize(websocket: WebSocket, channels: set[str]) -> None:
        if not any(needs_token(c) for c in channels):
            return
        token = websocket.query_params.get("token") or websocket.headers.get("x-api-key")
        if not token:
            raise StreamRejected(UNAUTHORIZED, "metrics and alerts need an API key as ?token=")
        keys: ApiKeyStore = websocket.app.state.api_keys
        if keys.verify(token) is None:
            raise StreamRejected(UNAUTHORIZED, "the token is not a valid API key")

    async def receive(websocket: WebSocket, hub: Hub, subscriber: Subscriber) -> None:
        while True:
            try:
                message = json.loads(await websocket.receive_text())
            except json.JSONDecodeError:
                raise StreamRejected(
                    BAD_REQUEST, 'send JSON such as {"subscribe": [...]}'
                ) from None
            if not isinstance(message, dict):
                continue
            added = _parse_channels(message.get("subscribe"))
            removed = _parse_channels(message.get("unsubscribe"))
            if added or removed:
                authorize(websocket, added)
                hub.unsubscribe(subscriber)
                subscriber.channels = (subscriber.channels | added) - removed
                hub.subscribe(subscriber)

    async def send(websocket: WebSocket, hub: Hub, subscriber: Subscriber) -> None:
        while True:
            try:
                text = await asyncio.wait_for(subscriber.queue.get(), heartbeat_seconds)
            except TimeoutError:
                text = json.dumps({"type": "heartbeat", "seq": hub.seq})
            await asyncio.wait_for(websocket.send_text(text), send_timeout_seconds)

    async def overflow(subscriber: Subscriber) -> None:
        await subscriber.overflowed.wait()
        raise StreamRejected(
            TOO_SLOW, f"too slow: {subscriber.queue_size} messages behind; resume with last_seq"
        )

    @router.websocket("/v1/stream")
    async def stream(websocket: WebSocket) -> None:
        await websocket.accept()
        try:
            channels = _parse_channels(websocket.query_params.get("channels", "predictions"))
            authorize(websocket, channels)
            last_seq_text = websocket.query_params.get("last_seq")
            if last_seq_text is not None and not last_seq_text.isdigit():
                raise StreamRejected(BAD_REQUEST, "last_seq must be a sequence number")
        except StreamRejected as rejected:
            await websocket.close(rejected.code, rejected.reason)
            return
        subscriber = Subscriber(channels)
        hub.subscribe(subscriber, int(last_seq_text) if last_seq_text else None)
        # Plain tasks, not a TaskGroup: the server (or a test client) may cancel this handler
        # through an anyio cancel scope, which asyncio.TaskGroup on 3.11 does not pass cleanly.
        tasks = [
            asyncio.create_task(receive(websocket, hub, subscriber)),
            asyncio.create_task(send(websocket, hub, subscriber)),
            asyncio.create_task(overflow(subscriber)),
        ]
        try:
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            error = next(iter(done)).exception()
            if isinstance(error, StreamRejected):
                with contextlib.suppress(Exception):
                    await websocket.close(error.code, error.reason)
            elif error is not None:  # disconnected, or a send that never completed
                log.debug("stream client gone: %r", error)
        finally:
            for task in tasks:
                task.cancel()
            hub.unsubscribe(subscriber)

    return router
