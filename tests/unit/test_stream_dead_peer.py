"""A peer that vanishes without closing: uvicorn's WebSocket pings find it and the relay lets
it go, while a live client on the same channel stays. The embedded API served by uvicorn."""

from __future__ import annotations

import asyncio
import base64
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
import websockets

from bench.load import free_port
from tests.conftest import ROOT

pytestmark = pytest.mark.slow


def stream_clients(port: int) -> float:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        for line in response.read().decode().splitlines():
            if line.startswith("tickerpulse_stream_clients "):
                return float(line.split()[1])
    return -1.0


def silent_peer(port: int) -> socket.socket:
    """Completes the WebSocket handshake, then never reads or answers again: a dead peer."""
    peer = socket.create_connection(("127.0.0.1", port), timeout=5)
    key = base64.b64encode(os.urandom(16)).decode()
    peer.sendall(
        (
            "GET /v1/stream?channels=predictions HTTP/1.1\r\n"
            f"Host: 127.0.0.1:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
        ).encode()
    )
    assert b" 101 " in peer.recv(4096).split(b"\r\n", 1)[0]
    return peer


def wait_for(condition, seconds: float) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.25)
    return False


def test_a_silent_peer_is_dropped_and_a_live_one_kept(
    materialized_platform: Path, tmp_path: Path
) -> None:
    port = free_port()
    log = (tmp_path / "api.log").open("wb")
    pings = ["--ws-ping-interval", "1", "--ws-ping-timeout", "1"]
    api = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "serving.app:app", "--port", str(port), *pings],
        cwd=ROOT,
        env=os.environ | {"TICKERPULSE_DATA_DIR": str(materialized_platform)},
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        assert wait_for(lambda: _answers(port), 120), (tmp_path / "api.log").read_text()[-2000:]

        async def scenario() -> tuple[bool, bool]:
            async with websockets.connect(f"ws://127.0.0.1:{port}/v1/stream") as live:
                peer = silent_peer(port)
                try:
                    both = await asyncio.to_thread(wait_for, lambda: stream_clients(port) == 2, 10)
                    # Pings every 1 s, 1 s to answer: the silent one is gone within seconds.
                    dropped = await asyncio.to_thread(
                        wait_for, lambda: stream_clients(port) == 1, 15
                    )
                    await live.ping()  # the live client's connection still works
                finally:
                    peer.close()
            return both, dropped

        both, dropped = asyncio.run(scenario())
        assert both, "the two clients never showed as subscribed"
        assert dropped, "the silent peer was not dropped"
    finally:
        api.terminate()
        api.wait(30)


def _answers(port: int) -> bool:
    try:
        return stream_clients(port) >= 0
    except OSError:
        return False
