"""The relay's full garbage collections do not grow with its open streams (issue 18).

Each open WebSocket held about 170 objects that the cyclic collector walked on every full pass:
at 10,000 clients a pass stopped the relay for 0.5-1.6 s, and the events produced meanwhile
reached every client that much late. The relay now freezes what lives long
(realtime/heap.py), so a full pass walks what was allocated since, not every connection.

Run in a process of its own: freezing the heap is process-wide. The process runs the relay's
own `serve` (what `python -m realtime.service` runs, signal handlers and all) with its clients
on the same loop, so that it can count what a collection walks; SIGTERM ends it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from bench.load import free_port

STREAMS = 40

PROBE = """
import asyncio, gc, json, os, signal, sys, time, urllib.request
import websockets
from realtime.service import serve

PORT, STREAMS = int(sys.argv[1]), int(sys.argv[2])

def walked():  # what a full collection walks: every tracked object outside the frozen ones
    return len(gc.get_objects())

async def settled(predicate, seconds=30.0):  # the relay freezes at most every 5 s
    deadline = time.monotonic() + seconds
    while not predicate() and time.monotonic() < deadline:
        await asyncio.sleep(0.1)

def health():
    with urllib.request.urlopen(f"http://127.0.0.1:{PORT}/healthz", timeout=10) as answer:
        return json.loads(answer.read())

async def main():
    relay = asyncio.create_task(serve("127.0.0.1", PORT))
    await settled(lambda: gc.get_freeze_count() > 0)
    await asyncio.sleep(1.0)  # listening
    before = walked()
    url = f"ws://127.0.0.1:{PORT}/v1/stream?channels=predictions:T"
    streams = [await websockets.connect(f"{url}{number}") for number in range(STREAMS)]
    clients = (await asyncio.to_thread(health))["clients"]
    await settled(lambda: walked() - before < STREAMS * 10)
    after = walked()
    os.kill(os.getpid(), signal.SIGTERM)  # as the launcher stops it
    codes = []
    for stream in streams:
        await stream.wait_closed()
        codes.append(stream.close_code)
    await relay
    print(json.dumps({"before": before, "after": after, "clients": clients, "codes": codes,
                      "frozen_at_exit": gc.get_freeze_count()}))

asyncio.run(main())
"""


def test_a_full_collection_does_not_walk_every_open_stream(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "TICKERPULSE_DATA_DIR": str(tmp_path),
        "EVENTS_URL": "memory://",
        "RAW_DB_URL": "",
        "WAREHOUSE_URL": "",
    }
    done = subprocess.run(
        [sys.executable, "-c", PROBE, str(free_port()), str(STREAMS)],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert done.returncode == 0, done.stderr
    walked = json.loads(done.stdout.strip().splitlines()[-1])
    assert walked["clients"] == STREAMS
    # Unfrozen, each stream (with its client) added a few hundred objects to every pass.
    assert (walked["after"] - walked["before"]) / STREAMS < 10, walked
    assert walked["codes"] == [1001] * STREAMS  # closed as the relay stopped
    assert walked["frozen_at_exit"] == 0  # the relay gave the heap back as it stopped
