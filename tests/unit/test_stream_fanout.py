"""The relay's fan-out cost per client (issue 18): an event is encoded once however many
clients receive it, every client is sent that same text, and a client costs one task of the
stream's own (its writer; the server's task for the connection reads), and no timer while it
waits. A client whose queue overflows is still closed with 4429 at once."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from contextlib import ExitStack
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from realtime.hub import Hub, Subscriber
from realtime.stream import StreamLimits, stream_router

EVENT = {"id": "ACME-1", "ticker": "ACME", "forecast": 101.5}


class CountingDumps:
    """json.dumps, counting the calls that encode an event message."""

    def __init__(self) -> None:
        self.events, self.original = 0, json.dumps

    def __call__(self, value: Any, *args: Any, **kwargs: Any) -> str:
        if isinstance(value, dict) and value.get("type") == "event":
            self.events += 1
        return self.original(value, *args, **kwargs)


@pytest.mark.parametrize("subscribers", [1, 1000])
def test_an_event_is_encoded_once_and_shared_whatever_the_audience(
    subscribers: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def scenario() -> None:
        hub = Hub()
        audience = [Subscriber({"predictions:ACME"}) for _ in range(subscribers)]
        for subscriber in audience:
            hub.subscribe(subscriber)
        dumps = CountingDumps()
        monkeypatch.setattr(json, "dumps", dumps)
        hub.publish("predictions", EVENT)
        texts = [subscriber.pending.popleft() for subscriber in audience]
        assert dumps.events == 1
        assert all(text is texts[0] for text in texts)  # one object, not equal copies
        assert json.loads(texts[0])["data"] == EVENT

    asyncio.run(scenario())


class SentFrames:
    """ASGI middleware that keeps every text frame the app hands the server."""

    def __init__(self, app: Any) -> None:
        self.app, self.texts = app, []  # type: ignore[var-annotated]

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        async def keep(message: dict[str, Any]) -> None:
            if message["type"] == "websocket.send" and "text" in message:
                self.texts.append(message["text"])
            await send(message)

        await self.app(scope, receive, keep)


@pytest.fixture
def relay() -> Iterator[tuple[TestClient, Hub, SentFrames]]:
    hub = Hub()
    app = FastAPI()
    app.include_router(stream_router(hub))
    frames = SentFrames(app)
    with TestClient(frames) as client:
        yield client, hub, frames


def stream_tasks() -> int:
    """Tasks running a coroutine of realtime/stream.py (the handler itself runs in the
    server's task, so it is not one of these)."""
    return sum(
        1
        for task in asyncio.all_tasks()
        if task.get_coro().cr_code.co_filename.endswith("realtime/stream.py")  # type: ignore[union-attr]
    )


def test_every_client_is_sent_the_one_encoded_text_and_costs_one_task(
    relay: tuple[TestClient, Hub, SentFrames], monkeypatch: pytest.MonkeyPatch
) -> None:
    client, hub, frames = relay
    clients = 20
    with ExitStack() as stack:
        sockets = [
            stack.enter_context(client.websocket_connect("/v1/stream?channels=predictions:ACME"))
            for _ in range(clients)
        ]
        assert wait_for_subscribers(client, hub, clients)
        # Its writer (the server's task for the connection reads); one heartbeat task for all.
        assert client.portal.call(stream_tasks) == clients + 1  # type: ignore[union-attr]
        dumps = CountingDumps()
        monkeypatch.setattr(json, "dumps", dumps)
        client.portal.call(hub.publish, "predictions", EVENT)  # type: ignore[union-attr]
        received = [websocket.receive_json() for websocket in sockets]
    assert dumps.events == 1
    assert [message["data"] for message in received] == [EVENT] * clients
    assert len(frames.texts) == clients and all(text is frames.texts[0] for text in frames.texts)


def test_a_client_whose_queue_overflows_is_closed_as_too_slow(
    relay: tuple[TestClient, Hub, SentFrames],
) -> None:
    client, hub, _ = relay

    def flood() -> None:  # all at once on the loop: the writer cannot take one off meanwhile
        for number in range(1001):
            hub.publish("predictions", {"id": f"ACME-{number}", "ticker": "ACME"})

    with client.websocket_connect("/v1/stream?channels=predictions:ACME") as websocket:
        assert wait_for_subscribers(client, hub, 1)
        client.portal.call(flood)  # type: ignore[union-attr]
        with pytest.raises(WebSocketDisconnect) as closed:
            for _ in range(1002):
                websocket.receive_json()
        assert wait_for_subscribers(client, hub, 0)  # and it is let go
    assert closed.value.code == 4429
    assert closed.value.reason == "too slow: 1000 messages behind; resume with last_seq"


def wait_for_subscribers(client: TestClient, hub: Hub, count: int) -> bool:
    """Whether the hub comes to hold `count` subscribers within 2 s: a connection is counted
    once its handler has subscribed it, let go once its handler has finished."""
    for _ in range(200):
        if client.portal.call(lambda: hub.subscribers) == count:  # type: ignore[union-attr]
            return True
        client.portal.call(asyncio.sleep, 0.01)  # type: ignore[union-attr]
    return False


def scheduled_timers() -> int:
    return len(asyncio.get_running_loop()._scheduled)  # type: ignore[attr-defined]


def test_idle_streams_hold_no_timer_of_their_own_and_still_hear_heartbeats() -> None:
    """A timer per waiting writer (for its heartbeat) was about 1 KB for every idle connection
    of 10,000; one task now gives every quiet stream its heartbeat."""
    hub = Hub()
    app = FastAPI()
    app.include_router(stream_router(hub, StreamLimits(heartbeat_seconds=0.4)))
    clients = 20
    with TestClient(app) as client, ExitStack() as stack:
        sockets = [
            stack.enter_context(client.websocket_connect("/v1/stream?channels=predictions:ACME"))
            for _ in range(clients)
        ]
        assert wait_for_subscribers(client, hub, clients)
        assert client.portal.call(scheduled_timers) < clients  # type: ignore[union-attr]
        started = time.monotonic()
        beats = [websocket.receive_json() for websocket in sockets]
        assert {message["type"] for message in beats} == {"heartbeat"}
        assert 0.3 < time.monotonic() - started < 2.0
