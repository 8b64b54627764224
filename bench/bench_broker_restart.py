"""No event lost or repeated across broker restarts: the stress check of the Kafka path.

What runs, all on 127.0.0.1:
- Kafka 4 (scripts/kafka.sh, port 29092), which this bench stops and starts again and again;
- the relay, `python -m realtime.service`, in a process of its own and a fresh consumer group;
- this process: the platform's producer (KafkaBus: idempotent, acks=all, the same object the
  API publishes predictions with), writing prediction-shaped events with unique ids for tickers
  T00..T29 (so every partition of `predictions` gets some), and one WebSocket client of the
  relay on `predictions` that records every event id it receives.

Rounds:
- RESTART_ROUNDS x a graceful restart (`scripts/kafka.sh stop`, then `start`): EVENTS_EACH_PHASE
  events before, while the broker is down, and after it is back;
- one kill -9 of the broker's process group in the middle of KILL_EVENTS events produced at
  KILL_RATE events/s, then a start while the producing goes on.
After each round the client waits (up to RECEIVE_SECONDS) until every id has come, then
SETTLE_SECONDS more for a repeat to show itself. `recovery s` is the time from the broker
answering again to the round's last event reaching the client. The producer's counters
(delivered, failed, dropped, still buffered) come from KafkaBus.stats().

python -m bench bench_broker_restart        (about 10 minutes)
BROKER_RESTART_ROUNDS=3 python -m bench bench_broker_restart   (a quicker look)
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

from websockets.sync.client import connect

from bench.load import ROOT, free_port, log_tail
from launcher.services import relay_command
from launcher.supervise import Service, port_in_use, wait_until_ready
from runtime.consuming import consume_forever
from tickerpulse.stores.events import KafkaBus

RESTART_ROUNDS = int(os.environ.get("BROKER_RESTART_ROUNDS", "20"))
EVENTS_EACH_PHASE = 10
# Every LONG_OUTAGE_EVERY-th round the broker stays down longer than a consumer's session
# timeout (45 s), so the relay's groups lose their assignment and rejoin.
LONG_OUTAGE_SECONDS = float(os.environ.get("BROKER_LONG_OUTAGE_SECONDS", "50"))
LONG_OUTAGE_EVERY = 5
KILL_EVENTS, KILL_RATE = 2_000, 200
RECEIVE_SECONDS = 180.0
SETTLE_SECONDS = 3.0
TICKERS = tuple(f"T{number:02d}" for number in range(30))
KAFKA = ROOT / "scripts" / "kafka.sh"
KAFKA_PORT = 29092
KAFKA_PID = ROOT / "var" / "services" / "kafka" / "pid"


def kafka(action: str) -> float:
    """scripts/kafka.sh ACTION; the seconds it took."""
    started = time.monotonic()
    subprocess.run([str(KAFKA), action], check=True, capture_output=True, timeout=300)
    return time.monotonic() - started


def kill_broker() -> None:
    """SIGKILL to the broker's whole session, as an out-of-memory kill or a power cut would."""
    pid = int(KAFKA_PID.read_text())
    os.killpg(pid, signal.SIGKILL)
    while Path(f"/proc/{pid}").exists() and "Z" not in _state(pid):
        time.sleep(0.05)
    KAFKA_PID.unlink()


def _state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return "Z"


class Received:
    """Event ids as they arrive at one receiver, with a wait for a set of them."""

    repeats = "repeated"  # what an id that arrives twice is, at this receiver

    def __init__(self) -> None:
        self.ids: list[str] = []
        self.arrived = threading.Condition()
        self.error: BaseException | None = None

    def add(self, event_id: str) -> None:
        with self.arrived:
            self.ids.append(event_id)
            self.arrived.notify_all()

    def wait_for(self, ids: set[str], seconds: float) -> float | None:
        """Until every id came (the monotonic time the last one did), or None at the deadline."""
        deadline = time.monotonic() + seconds
        with self.arrived:
            while not ids <= set(self.ids):
                remaining = deadline - time.monotonic()
                if remaining <= 0 or self.error is not None:
                    return None
                self.arrived.wait(remaining)
        return time.monotonic()

    def close(self) -> None:
        raise NotImplementedError

    def count(self, ids: list[str]) -> Counter[str]:
        wanted = set(ids)
        with self.arrived:
            return Counter(i for i in self.ids if i in wanted)


class WebSocketClient(Received):
    """One WebSocket client of the relay, in a thread."""

    def __init__(self, url: str) -> None:
        super().__init__()
        self._websocket = connect(url, max_size=2**24)
        self._thread = threading.Thread(target=self._listen, daemon=True)
        self._thread.start()

    def _listen(self) -> None:
        try:
            for text in self._websocket:
                message = json.loads(text)
                if message.get("type") == "event":
                    self.add(message["data"]["id"])
        except BaseException as error:  # the relay closed it: the round will say so
            self.error = error

    def close(self) -> None:
        self._websocket.close()
        self._thread.join(5)


class GroupMember(Received):
    """A member of a consumer group of its own on `predictions`, subscribed as the prediction
    workers subscribe to their topic (a group that starts at the beginning): the platform's
    KafkaBus.subscribe in a thread with its own event loop. A group delivers at least once: an
    event handled but not yet committed when the member's session ends comes again, with its
    id (a worker's answer keeps the request's id, and the relay drops what it has seen)."""

    repeats = "redelivered"

    def __init__(self, bootstrap: str) -> None:
        super().__init__()
        self._bus = KafkaBus(bootstrap, client_id="bench-group-member")
        self._group = f"bench-workers-{uuid.uuid4().hex[:12]}"
        self._loop = asyncio.new_event_loop()
        self._task: asyncio.Task[None] | None = None
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()
        self._task = asyncio.run_coroutine_threadsafe(self._start(), self._loop).result()

    async def _start(self) -> asyncio.Task[None]:
        return asyncio.create_task(self._consume())

    async def _consume(self) -> None:
        async def handle(event: dict[str, Any]) -> None:
            self.add(event["id"])

        # As the prediction workers consume: a consumer that fails or is found stuck out of
        # its group is replaced (and logs why).
        await consume_forever(self._bus, "predictions", self._group, handle, from_beginning=True)

    def close(self) -> None:
        async def stop() -> None:
            assert self._task is not None
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

        asyncio.run_coroutine_threadsafe(stop(), self._loop).result(30)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)
        self._bus.close()


def produce(bus: KafkaBus, count: int, rate: float | None = None) -> list[str]:
    """`count` prediction-shaped events, paced at `rate` per second when given; their ids."""
    ids = []
    started = time.monotonic()
    for number in range(count):
        event_id = uuid.uuid4().hex
        ticker = TICKERS[number % len(TICKERS)]
        assert bus.produce("predictions", {"id": event_id, "ticker": ticker, "forecast": 1.0})
        ids.append(event_id)
        if rate:
            time.sleep(max(0.0, started + (number + 1) / rate - time.monotonic()))
    return ids


def verdict(receivers: dict[str, Received], ids: list[str], since: float) -> dict[str, Any]:
    """Wait for a round's ids at every receiver; lost, repeated and the recovery time from
    `since` (the broker answering again) to the last id's arrival, at the slowest receiver."""
    lasts = [receiver.wait_for(set(ids), RECEIVE_SECONDS) for receiver in receivers.values()]
    time.sleep(SETTLE_SECONDS)
    row: dict[str, Any] = {"events": len(ids)}
    for name, receiver in receivers.items():
        counts = receiver.count(ids)
        row[f"lost ({name})"] = len(set(ids) - set(counts))
        row[f"{receiver.repeats} ({name})"] = sum(n - 1 for n in counts.values())
    done = [last for last in lasts if last is not None]
    late = len(done) < len(lasts)
    row["recovery s"] = f">{RECEIVE_SECONDS:.0f}" if late else f"{max(done) - since:.1f}"
    return row


def restart_round(
    bus: KafkaBus, receivers: dict[str, Received], outage: float = 0
) -> dict[str, Any]:
    before = produce(bus, EVENTS_EACH_PHASE)
    for receiver in receivers.values():
        assert receiver.wait_for(set(before), RECEIVE_SECONDS), "events before the stop lost"
    kafka("stop")
    during = produce(bus, EVENTS_EACH_PHASE)
    time.sleep(outage)
    kafka("start")
    back = time.monotonic()
    after = produce(bus, EVENTS_EACH_PHASE)
    name = f"restart, {outage:.0f} s down" if outage else "restart"
    return {"round": name, **verdict(receivers, before + during + after, back)}


def kill_round(bus: KafkaBus, receivers: dict[str, Received]) -> dict[str, Any]:
    ids: list[str] = []
    producing = threading.Thread(target=lambda: ids.extend(produce(bus, KILL_EVENTS, KILL_RATE)))
    producing.start()
    time.sleep(KILL_EVENTS / KILL_RATE / 3)
    kill_broker()
    kafka("start")
    back = time.monotonic()
    producing.join()
    return {"round": "kill -9", **verdict(receivers, ids, back)}


def start_relay(bootstrap: str, data_dir: Path) -> tuple[Service, str]:
    port = free_port()
    env = {
        **os.environ,
        "EVENTS_URL": f"kafka://{bootstrap}",
        "TICKERPULSE_DATA_DIR": str(data_dir),
        "RELAY_GROUP": f"bench-relay-{uuid.uuid4().hex[:12]}",
    }
    relay = Service(
        "relay",
        relay_command("127.0.0.1", port),
        f"http://127.0.0.1:{port}/healthz",
        data_dir / "relay.log",
    )
    relay.start(env, ROOT)
    wait_until_ready([relay], 60, lambda _elapsed: None)
    return relay, f"ws://127.0.0.1:{port}/v1/stream?channels=predictions"


def wait_until_assigned(bus: KafkaBus, receivers: dict[str, Received]) -> None:
    """Until an event on every partition reaches every receiver: their groups are assigned."""
    while True:
        ids = produce(bus, len(TICKERS))
        if all(receiver.wait_for(set(ids), 5) for receiver in receivers.values()):
            return


def run() -> tuple[str, list[dict[str, Any]]]:
    was_running = port_in_use("127.0.0.1", KAFKA_PORT)
    bootstrap = subprocess.run(
        [str(KAFKA), "start"], check=True, capture_output=True, text=True, timeout=900
    ).stdout.split()[-1]
    rows: list[dict[str, Any]] = []
    # The relay's state and log stay for a look afterwards (KAFKA_DEBUG=cgrp,... to trace).
    folder = ROOT / "var" / "bench" / f"broker-restart-{time.strftime('%Y%m%d-%H%M%S')}"
    folder.mkdir(parents=True)
    relay, url = start_relay(bootstrap, folder)
    bus = KafkaBus(bootstrap, client_id="bench-broker-restart")
    receivers: dict[str, Received] = {}
    try:
        receivers = {"relay client": WebSocketClient(url), "worker group": GroupMember(bootstrap)}
        wait_until_assigned(bus, receivers)
        for number in range(RESTART_ROUNDS):
            outage = LONG_OUTAGE_SECONDS if number % LONG_OUTAGE_EVERY == 1 else 0
            rows.append(restart_round(bus, receivers, outage))
            print(rows[-1], file=sys.stderr, flush=True)
        rows.append(kill_round(bus, receivers))
        print(rows[-1], file=sys.stderr, flush=True)
        rows.append(total(rows, bus))
    except BaseException:
        print(log_tail(relay.log_path), file=sys.stderr)
        raise
    finally:
        for receiver in receivers.values():
            receiver.close()
        bus.close()
        relay.stop()
    if not was_running:
        kafka("stop")
    return "Broker restarts: events produced, lost and repeated at each receiver", rows


def total(rows: list[dict[str, Any]], bus: KafkaBus) -> dict[str, Any]:
    recoveries = [float(str(row["recovery s"]).lstrip(">")) for row in rows]
    stats = bus.stats()
    summed = {
        column: sum(row[column] for row in rows)
        for column in rows[0]
        if column not in ("round", "recovery s")
    }
    return {
        "round": f"all {len(rows)} (producer: {stats['delivered']} delivered, "
        f"{stats['failed']} failed, {stats['dropped']} dropped, {stats['buffered']} buffered)",
        **summed,
        "recovery s": f"longest {max(recoveries):.1f}",
    }
