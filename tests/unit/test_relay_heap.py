"""The relay's full garbage collections do not grow with its open streams (issue 18).

Each open WebSocket held about 170 objects that the cyclic collector walked on every full pass:
at 10,000 clients a pass stopped the relay for 0.5-1.6 s, and the events produced meanwhile
reached every client that much late. The relay now freezes what lives long
(realtime/heap.py), so a full pass walks what was allocated since, not every connection.

Run in a process of its own: freezing the heap is process-wide.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

STREAMS = 40

PROBE = f"""
import gc, json, time
from contextlib import ExitStack
from fastapi.testclient import TestClient
from realtime.service import app

def walked():  # what a full collection walks: every tracked object outside the frozen ones
    return len(gc.get_objects())

def settled(predicate, seconds=30.0):  # the relay freezes at most every 5 s
    deadline = time.monotonic() + seconds
    while not predicate() and time.monotonic() < deadline:
        time.sleep(0.1)

with TestClient(app) as client, ExitStack() as streams:
    settled(lambda: gc.get_freeze_count() > 0)
    before = walked()
    for number in range({STREAMS}):
        streams.enter_context(client.websocket_connect(f"/v1/stream?channels=predictions:T{{number}}"))
    assert client.get("/healthz").json()["clients"] == {STREAMS}
    settled(lambda: walked() - before < {STREAMS} * 10)
    after = walked()
print(json.dumps({{"before": before, "after": after, "frozen_at_exit": gc.get_freeze_count()}}))
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
        [sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=120, env=env
    )
    assert done.returncode == 0, done.stderr
    walked = json.loads(done.stdout.strip().splitlines()[-1])
    # Unfrozen, each stream (with its test client) added a few hundred objects to every pass.
    assert (walked["after"] - walked["before"]) / STREAMS < 10, walked
    assert walked["frozen_at_exit"] == 0  # the relay gave the heap back as it stopped
