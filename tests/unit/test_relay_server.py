"""The relay's own server (realtime/server.py, picows) keeps /v1/stream's protocol (issue 18).

Two ways in: the real process, `python -m realtime.service` on a free port with the in-process
bus, for what needs no events (refusals and their close codes, the caps, /healthz, /metrics,
SIGTERM); and `RelayServer` on a loop of its own in this process, over a Hub the test
publishes to, for what events do (order, resume, a client that stops reading). Clients are
the `websockets` library's.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import websockets
from prometheus_client import CONTENT_TYPE_LATEST
from websockets.asyncio.client import ClientConnection, connect

from bench.load import free_port
from launcher.services import relay_command
from launcher.supervise import Service, wait_until_ready
from realtime.hub import Hub
from realtime.server import CLOSE_HANDSHAKE_SECONDS, RelayServer
from realtime.stream import MAX_FRAME_BYTES, StreamLimits
from tests.conftest import ROOT
from tickerpulse.stores.api_keys import ApiKeyStore
from tickerpulse.stores.operational import OperationalStore

pytestmark = pytest.mark.slow

MAX_CHANNELS, PER_IP, RATE = 5, 4, 10
PING_SECONDS = 1.0  # in this process; the relay's is 10


@dataclass
class Process:
    base: str
    key: str
    service: Service

    @property
    def ws(self) -> str:
        return self.base.replace("http", "ws", 1) + "/v1/stream"

    def get(self, path: str) -> tuple[int, str, bytes]:
        try:
            with urllib.request.urlopen(self.base + path, timeout=10) as answer:
                return answer.status, answer.headers["Content-Type"], answer.read()
        except urllib.error.HTTPError as error:
            return error.code, error.headers.get("Content-Type", ""), error.read()

    def clients(self) -> int:
        return int(json.loads(self.get("/healthz")[2])["clients"])

    def wait_for_clients(self, count: int, seconds: float = 10.0) -> None:
        deadline = time.monotonic() + seconds
        while self.clients() != count:
            assert time.monotonic() < deadline, f"{self.clients()} clients, not {count}"
            time.sleep(0.05)


def start_process(folder: Path, raw_db: str | None = None) -> Process:
    """The relay's process on a free port; its keys in `raw_db` (a SQLite file by default)."""
    raw_db = raw_db or f"sqlite:///{folder / 'raw.db'}"
    key = ApiKeyStore(OperationalStore(raw_db)).create("relay-server-test")
    port = free_port()
    env = {
        **os.environ,
        "TICKERPULSE_DATA_DIR": str(folder),
        "EVENTS_URL": "memory://",
        "RAW_DB_URL": raw_db,
        "WAREHOUSE_URL": "",
        "STREAM_MAX_CHANNELS": str(MAX_CHANNELS),
        "STREAM_MAX_CONNECTIONS_PER_IP": str(PER_IP),
        "STREAM_MAX_MESSAGES_PER_SECOND": str(RATE),
    }
    base = f"http://127.0.0.1:{port}"
    service = Service("relay", relay_command("127.0.0.1", port), base + "/healthz", folder / "log")
    service.start(env, ROOT)
    wait_until_ready([service], 60, lambda _elapsed: None)
    return Process(base, key, service)


@pytest.fixture(scope="module")
def relay_process(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Process]:
    process = start_process(tmp_path_factory.mktemp("relay"))
    try:
        yield process
    finally:
        process.service.stop()


@pytest.fixture
def relay(relay_process: Process) -> Process:
    relay_process.wait_for_clients(0)  # what an earlier test opened is gone
    return relay_process


async def closed(url: str, *frames: str, **options: Any) -> tuple[int | None, str]:
    """Connect, send `frames`, and read until the relay closes: its code and reason."""
    async with connect(url, open_timeout=10, **options) as client:
        for frame in frames:
            await client.send(frame)
        with pytest.raises(websockets.ConnectionClosed) as ending:
            while True:
                await asyncio.wait_for(client.recv(), 15)
    received = ending.value.rcvd
    return (received.code, received.reason) if received else (None, "")


def test_healthz_and_metrics_answer_on_the_stream_port_and_other_paths_are_404(
    relay: Process,
) -> None:
    status, kind, body = relay.get("/healthz")
    health = json.loads(body)
    assert (status, kind) == (200, "application/json")
    assert health["status"] == "ok" and health["clients"] == 0
    assert health["seq"] > 1_700_000_000_000_000  # microseconds since the epoch, counting up
    status, kind, body = relay.get("/metrics")
    assert (status, kind) == (200, CONTENT_TYPE_LATEST)
    assert b"\ntickerpulse_stream_clients 0.0\n" in body
    assert relay.get("/nope")[0] == 404
    assert relay.get("/v1/streams")[0] == 404


def test_compression_offered_is_declined(relay: Process) -> None:
    """permessage-deflate's zlib state was 34 KB per stream whose client offered it (browsers
    do), for frames of a few hundred bytes."""

    async def extensions() -> str | None:
        async with connect(relay.ws, compression="deflate") as client:
            assert client.request is not None and client.response is not None
            assert "permessage-deflate" in client.request.headers["Sec-WebSocket-Extensions"]
            return client.response.headers.get("Sec-WebSocket-Extensions")

    assert asyncio.run(extensions()) is None


def test_a_bad_channel_or_last_seq_is_closed_4400_with_its_reason(relay: Process) -> None:
    assert asyncio.run(closed(relay.ws + "?channels=predictions,bogus")) == (
        4400,
        "unknown channel 'bogus': use predictions, predictions:<TICKER>, metrics, alerts",
    )
    assert asyncio.run(closed(relay.ws + "?last_seq=-3")) == (
        4400,
        "last_seq must be a sequence number",
    )
    too_many = ",".join(f"predictions:T{n}" for n in range(MAX_CHANNELS + 1))
    assert asyncio.run(closed(relay.ws + f"?channels={too_many}")) == (
        4400,
        f"at most {MAX_CHANNELS} channels per connection",
    )
    assert asyncio.run(closed(relay.ws, "not json")) == (
        4400,
        'send JSON such as {"subscribe": [...]}',
    )


def test_metrics_and_alerts_need_a_valid_token_soon(relay: Process) -> None:
    started = time.monotonic()
    assert asyncio.run(closed(relay.ws + "?channels=alerts")) == (
        4408,
        'send {"token": KEY} first',
    )
    assert 4.5 < time.monotonic() - started < 10  # TOKEN_WAIT_SECONDS
    assert asyncio.run(closed(relay.ws + "?channels=metrics", '{"token": "tp_nope"}')) == (
        4401,
        "the token is not a valid API key",
    )
    assert asyncio.run(closed(relay.ws, '{"subscribe": ["alerts"]}')) == (
        4401,
        'metrics and alerts need an API key: send {"token"}',
    )

    async def with_a_key() -> list[str]:
        """The key as the first message, as the header, and with a later subscribe: open."""
        header = {"X-API-Key": relay.key}
        async with (
            connect(relay.ws + "?channels=alerts") as first,
            connect(relay.ws + "?channels=metrics", additional_headers=header) as second,
            connect(relay.ws) as third,
        ):
            await first.send(json.dumps({"token": relay.key}))
            await third.send(json.dumps({"token": relay.key, "subscribe": ["alerts"]}))
            await asyncio.to_thread(relay.wait_for_clients, 3)
            await asyncio.sleep(0.5)  # a refusal would have come by now
            return [str(c.state.name) for c in (first, second, third)]

    assert asyncio.run(with_a_key()) == ["OPEN"] * 3


def test_connections_per_address_are_capped_with_4429(relay: Process) -> None:
    async def one_too_many() -> tuple[int | None, str]:
        async with connect(relay.ws) as a, connect(relay.ws) as b:
            async with connect(relay.ws) as c, connect(relay.ws) as d:
                await asyncio.to_thread(relay.wait_for_clients, PER_IP)
                refused = await closed(relay.ws)
                assert all(s.state.name == "OPEN" for s in (a, b, c, d))
            await asyncio.to_thread(relay.wait_for_clients, 2)
            async with connect(relay.ws):  # room again once two have gone
                await asyncio.to_thread(relay.wait_for_clients, 3)
        return refused

    assert asyncio.run(one_too_many()) == (4429, "too many connections from this address")


def test_a_frame_over_max_frame_bytes_is_closed_1009(relay: Process) -> None:
    frame = '{"subscribe": ["' + "x" * MAX_FRAME_BYTES + '"]}'
    code, reason = asyncio.run(closed(relay.ws, frame, max_size=None))
    assert code == 1009 and str(MAX_FRAME_BYTES) in reason
    # Just under: read, and refused for what it says, not for its size.
    frame = '{"subscribe": ["' + "x" * (MAX_FRAME_BYTES - 100) + '"]}'
    assert asyncio.run(closed(relay.ws, frame))[0] == 4400


def test_a_flood_of_messages_is_closed_4429(relay: Process) -> None:
    change = json.dumps({"subscribe": ["predictions:A"], "unsubscribe": ["predictions:A"]})
    assert asyncio.run(closed(relay.ws, *[change] * 100)) == (
        4429,
        f"too many messages: at most {RATE} per second",
    )


@dataclass
class Ending:
    close: tuple[int, str] | None  # the close frame the relay sent, if one came
    seconds: float  # from the first frame sent until the relay ended the TCP connection


def flood_past_the_close(url: str, frame: str, seconds: float = 30.0) -> Ending:
    """A client that never answers the relay's close and never stops sending: a raw socket
    (handshake and frames from websockets' sans-I/O protocol) whose one frame is written over
    and over from a thread while this one reads until the relay hangs up."""
    from websockets.client import ClientProtocol
    from websockets.frames import Frame, Opcode
    from websockets.uri import parse_uri

    protocol = ClientProtocol(parse_uri(url))
    sock = socket.create_connection(("127.0.0.1", port_of(url)), timeout=10)
    protocol.send_request(protocol.connect())
    sock.sendall(b"".join(protocol.data_to_send()))
    while protocol.handshake_exc is None and protocol.state.name == "CONNECTING":
        answer = sock.recv(65536)
        assert answer, "the relay hung up before answering the handshake"
        protocol.receive_data(answer)
    assert protocol.handshake_exc is None, protocol.handshake_exc
    # Masked as a client's must be; sent even once the relay's close came (the protocol
    # object would refuse to), which is the point.
    burst = Frame(Opcode.TEXT, frame.encode()).serialize(mask=True, extensions=[]) * 20
    close: tuple[int, str] | None = None

    def read_close() -> None:
        nonlocal close
        for event in protocol.events_received():
            if isinstance(event, Frame) and event.opcode == Opcode.CLOSE and close is None:
                close = (int.from_bytes(event.data[:2], "big"), event.data[2:].decode())

    def keep_sending() -> None:
        while True:  # 20 frames per 5 ms: far over any rate, without taking a whole core
            try:
                sock.sendall(burst)
            except OSError:  # the relay reset or ended the connection: the only way out
                return
            time.sleep(0.005)

    read_close()  # a refusal as it connected comes with the handshake's answer
    started = time.monotonic()
    sender = threading.Thread(target=keep_sending, daemon=True)
    sender.start()
    sock.settimeout(seconds)
    try:
        while chunk := sock.recv(65536):
            protocol.receive_data(chunk)
            read_close()
    except ConnectionResetError:
        pass  # a reset after the close frame came is still the relay hanging up
    finally:
        ended = time.monotonic() - started
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)  # the sender's next write fails: it stops
        sender.join(5)
        sock.close()
    return Ending(close, ended)


@pytest.mark.parametrize("over", ["the message rate", "the connections of an address"])
def test_a_client_that_keeps_sending_after_its_4429_is_cut_off_and_its_places_freed(
    relay: Process, over: str
) -> None:
    change = json.dumps({"subscribe": ["predictions:A"], "unsubscribe": ["predictions:A"]})

    async def past_the_cap() -> Ending:
        """The address's other places all taken while the extra client floods."""
        async with contextlib.AsyncExitStack() as others:
            for _ in range(PER_IP):
                await others.enter_async_context(connect(relay.ws))
            await asyncio.to_thread(relay.wait_for_clients, PER_IP)
            return await asyncio.to_thread(flood_past_the_close, relay.ws, change)

    if over == "the message rate":
        ending = flood_past_the_close(relay.ws, change)
        expected = (4429, f"too many messages: at most {RATE} per second")
    else:
        ending = asyncio.run(past_the_cap())
        expected = (4429, "too many connections from this address")
    assert ending.close == expected
    # The relay hangs up by itself, once its close handshake wait is over (a FIN after what it
    # holds); the abort at the send timeout (10 s) is for a client that does not read.
    assert ending.seconds < CLOSE_HANDSHAKE_SECONDS + 5
    relay.wait_for_clients(0)

    async def every_place() -> list[str]:
        """The address's places are all free again: PER_IP streams open and stay open."""
        async with contextlib.AsyncExitStack() as streams:
            opened = [await streams.enter_async_context(connect(relay.ws)) for _ in range(PER_IP)]
            await asyncio.to_thread(relay.wait_for_clients, PER_IP)
            await asyncio.sleep(0.5)  # a refusal would have come by now
            return [c.state.name for c in opened]

    assert asyncio.run(every_place()) == ["OPEN"] * PER_IP


def test_sigterm_closes_every_stream_1001_and_exits_0(tmp_path: Path) -> None:
    process = start_process(tmp_path)
    assert process.service.process is not None

    async def stopped() -> list[tuple[int | None, str]]:
        async with connect(process.ws) as a, connect(process.ws + "?channels=predictions:X") as b:
            await asyncio.to_thread(process.wait_for_clients, 2)
            assert process.service.process is not None
            process.service.process.send_signal(signal.SIGTERM)
            ends = []
            for client in (a, b):
                await asyncio.wait_for(client.wait_closed(), 10)
                assert client.close_code is not None
                ends.append((client.close_code, client.close_reason))
            return ends

    try:
        assert asyncio.run(stopped()) == [(1001, "the relay is shutting down")] * 2
        assert process.service.process.wait(20) == 0
    finally:
        process.service.stop()


# In this process: events -----------------------------------------------------------------


@dataclass
class InProcess:
    hub: Hub
    url: str
    loop: asyncio.AbstractEventLoop

    def call(self, function: Callable[[], Any]) -> Any:
        """Run `function` on the relay's loop and return what it returns."""

        async def run() -> Any:
            return function()

        return asyncio.run_coroutine_threadsafe(run(), self.loop).result(30)

    def publish(self, count: int, ticker: str = "ACME", size: int = 0) -> list[int]:
        def publish_all() -> list[int]:
            return [
                self.hub.publish("predictions", {"ticker": ticker, "n": n, "pad": "x" * size}) or 0
                for n in range(count)
            ]

        seqs: list[int] = self.call(publish_all)
        return seqs

    def subscribers(self) -> int:
        count: int = self.call(lambda: self.hub.subscribers)
        return count

    def wait_for_subscribers(self, count: int, seconds: float = 10.0) -> None:
        deadline = time.monotonic() + seconds
        while self.subscribers() != count:
            assert time.monotonic() < deadline, f"{self.subscribers()} subscribers, not {count}"
            time.sleep(0.02)


@pytest.fixture
def in_process() -> Iterator[InProcess]:
    with serving_in_process(None) as served:
        yield served


@contextlib.contextmanager
def serving_in_process(keys: Any) -> Iterator[InProcess]:
    """A RelayServer on a loop of its own in this process, checking tokens against `keys`."""
    hub = Hub(replay=20)
    limits = StreamLimits(heartbeat_seconds=0.4, send_timeout_seconds=1.5)
    relay = RelayServer(hub, limits, keys, ping_seconds=PING_SECONDS)
    loop = asyncio.new_event_loop()
    port = free_port()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    asyncio.run_coroutine_threadsafe(relay.start("127.0.0.1", port), loop).result(10)
    try:
        yield InProcess(hub, f"ws://127.0.0.1:{port}/v1/stream", loop)
    finally:
        asyncio.run_coroutine_threadsafe(relay.shutdown(), loop).result(20)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()


async def events(client: ClientConnection, count: int) -> list[dict[str, Any]]:
    """The next `count` events (and gap notices); heartbeats skipped."""
    got: list[dict[str, Any]] = []
    while len(got) < count:
        message = json.loads(await asyncio.wait_for(client.recv(), 15))
        if message["type"] != "heartbeat":
            got.append(message)
    return got


def test_events_reach_each_client_of_their_channel_once_in_sequence(
    in_process: InProcess,
) -> None:
    async def run() -> tuple[list[list[dict[str, Any]]], list[dict[str, Any]], list[int]]:
        url = in_process.url
        async with (
            connect(url + "?channels=predictions:ACME") as a,
            connect(url + "?channels=predictions:ACME,predictions:ZZZ") as b,
            connect(url + "?channels=predictions") as c,
            connect(url + "?channels=predictions:OTHER") as other,
        ):
            await asyncio.to_thread(in_process.wait_for_subscribers, 4)
            seqs = await asyncio.to_thread(in_process.publish, 50)
            await asyncio.to_thread(in_process.publish, 1, "OTHER")
            got = [await events(client, 50) for client in (a, b, c)]
            return got, await events(other, 1), seqs

    got, other, seqs = asyncio.run(run())
    assert seqs == list(range(seqs[0], seqs[0] + 50))
    for received in got:
        assert [m["seq"] for m in received] == seqs
        assert [m["data"]["n"] for m in received] == list(range(50))
        assert {m["channel"] for m in received} == {"predictions:ACME"}
    assert other[0]["channel"] == "predictions:OTHER" and other[0]["seq"] == seqs[-1] + 1


def test_a_resume_replays_what_was_missed_and_names_a_gap(in_process: InProcess) -> None:
    seqs = in_process.publish(30)  # the ring holds the last 20

    async def resume(last_seq: int, count: int) -> list[dict[str, Any]]:
        url = in_process.url + f"?channels=predictions:ACME&last_seq={last_seq}"
        async with connect(url) as client:
            return await events(client, count)

    recent = asyncio.run(resume(seqs[25], 4))
    assert [m["seq"] for m in recent] == seqs[26:]
    old = asyncio.run(resume(seqs[2], 21))
    assert old[0] == {
        "type": "gap",
        "from_seq": seqs[3],
        "to_seq": seqs[9],
        "seq": seqs[-1],
    }
    assert [m["seq"] for m in old[1:]] == seqs[10:]


def slow_socket(url: str) -> socket.socket:
    """A socket to `url`'s server with a 4 KB receive buffer, as a slow phone's: fills after a
    few messages. Set before connecting (the window is agreed then); non-blocking, for asyncio."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect(("127.0.0.1", port_of(url)))
    sock.setblocking(False)
    return sock


def port_of(url: str) -> int:
    return int(url.split(":")[2].split("/")[0])


def test_a_client_that_stops_reading_is_closed_4429_and_the_others_keep_receiving(
    in_process: InProcess,
) -> None:
    async def run() -> tuple[tuple[int | None, str], list[dict[str, Any]], int]:
        url = in_process.url + "?channels=predictions:ACME"
        sock = slow_socket(url)
        # max_queue=1: the library stops reading its socket once one message waits unread.
        async with connect(url, sock=sock, max_queue=1) as slow, connect(url) as fast:
            await asyncio.to_thread(in_process.wait_for_subscribers, 2)
            seqs: list[int] = []
            received: list[dict[str, Any]] = []
            while in_process.subscribers() == 2 and len(seqs) < 20_000:
                seqs += await asyncio.to_thread(in_process.publish, 200, "ACME", 4000)
                received += await events(fast, 200)
            subscribers = in_process.subscribers()
            more = await asyncio.to_thread(in_process.publish, 10)
            received += await events(fast, 10)
            assert [m["seq"] for m in received] == seqs + more
            with pytest.raises(websockets.ConnectionClosed) as ending:
                while True:
                    await asyncio.wait_for(slow.recv(), 15)
            rcvd = ending.value.rcvd
            return (rcvd.code, rcvd.reason) if rcvd else (None, ""), received, subscribers

    (code, reason), received, subscribers = asyncio.run(run())
    assert (code, reason) == (4429, "too slow: 1000 messages behind; resume with last_seq")
    assert subscribers == 1  # gone from the hub as it overflowed
    assert len(received) > 1000


def test_a_client_whose_sends_wait_past_the_send_timeout_is_dropped(
    in_process: InProcess,
) -> None:
    async def run() -> tuple[float, int | None]:
        url = in_process.url + "?channels=predictions:ACME"
        sock = slow_socket(url)
        async with connect(url, sock=sock, max_queue=1) as slow, connect(url) as fast:
            await asyncio.to_thread(in_process.wait_for_subscribers, 2)
            # Enough to fill the socket's buffers and pause the transport, not the queue.
            sent = 0
            while sent < 900:
                await asyncio.to_thread(in_process.publish, 100, "ACME", 40_000)
                await events(fast, 100)
                sent += 100
            paused_at = time.monotonic()
            await asyncio.to_thread(in_process.wait_for_subscribers, 1, 10.0)
            waited = time.monotonic() - paused_at
            with pytest.raises(websockets.ConnectionClosed) as ending:
                while True:
                    await asyncio.wait_for(slow.recv(), 15)
            return waited, ending.value.rcvd.code if ending.value.rcvd else None

    waited, code = asyncio.run(run())
    assert waited < 5.0  # send_timeout_seconds 1.5, checked on each heartbeat (0.1 s)
    assert code is None  # dropped, not closed: its socket would not take a close frame


def silent_peer(port: int) -> socket.socket:
    """Completes the WebSocket handshake, then never reads or answers again: a dead peer."""
    peer = socket.create_connection(("127.0.0.1", port), timeout=5)
    peer.sendall(
        (
            "GET /v1/stream?channels=predictions:ACME HTTP/1.1\r\n"
            f"Host: 127.0.0.1:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
        ).encode()
    )
    assert peer.recv(4096).startswith(b"HTTP/1.1 101")
    return peer


def test_a_peer_that_never_answers_a_ping_is_dropped_and_a_live_one_stays(
    in_process: InProcess,
) -> None:
    port = port_of(in_process.url)

    async def run() -> tuple[float, list[dict[str, Any]]]:
        async with connect(in_process.url + "?channels=predictions:ACME") as live:
            peer = silent_peer(port)
            try:
                await asyncio.to_thread(in_process.wait_for_subscribers, 2)
                started = time.monotonic()
                # Silent for a period, pinged, silent for another: gone within about three.
                await asyncio.to_thread(in_process.wait_for_subscribers, 1, 4 * PING_SECONDS)
                waited = time.monotonic() - started
                await asyncio.to_thread(in_process.publish, 3)
                return waited, await events(live, 3)
            finally:
                peer.close()

    waited, received = asyncio.run(run())
    assert PING_SECONDS <= waited <= 4 * PING_SECONDS
    assert [m["data"]["n"] for m in received] == [0, 1, 2]


class KeysThatFail:
    """A key store whose check fails as nothing foresaw: not DependencyUnavailable (that is
    1013, test_relay_key_store_down), but a bug or an error a store did not translate."""

    def verify(self, token: str) -> None:
        raise RuntimeError("a bug in the key check")


@pytest.mark.parametrize(
    "channels", ["metrics", "predictions"], ids=["token as it opens", "token on an open stream"]
)
def test_an_error_nothing_foresaw_closes_the_stream_1011_and_the_relay_serves_on(
    channels: str,
) -> None:
    async def run(url: str, served: InProcess) -> tuple[tuple[int | None, str], list[int]]:
        # metrics: the token is checked as the stream opens; predictions needs none, so the
        # stream opens and the token comes later, with a subscribe to alerts.
        token = {"token": "tp_any"} | ({} if channels == "metrics" else {"subscribe": ["alerts"]})
        # Bounded as a whole: an open stream's heartbeats would keep `closed` reading for ever.
        failed = await asyncio.wait_for(
            closed(url + f"?channels={channels}", json.dumps(token)), 10
        )
        async with connect(url + "?channels=predictions:ACME") as other:
            await asyncio.to_thread(served.wait_for_subscribers, 1)
            seqs = await asyncio.to_thread(served.publish, 3)
            assert [m["seq"] for m in await events(other, 3)] == seqs
            return failed, seqs

    with serving_in_process(KeysThatFail()) as served:
        failed, seqs = asyncio.run(run(served.url, served))
    assert failed == (1011, "internal error")  # within 10 s, not left to the client's timeouts
    assert len(seqs) == 3
