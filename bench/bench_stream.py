"""The relay's fan-out under load: `uvicorn realtime.service:app` beside a naive broadcast loop.

What runs where, all on 127.0.0.1 and on the same cores:
- Kafka 4 (scripts/kafka.sh, port 29092): started if it is not running, and then stopped at the
  end; left running if it was;
- this process: the producer, the platform's KafkaBus (idempotent, acks=all, linger 5 ms),
  writing prediction-shaped events for tickers T000..T099 round-robin to the `predictions`
  topic at a paced rate, each stamped with the wall-clock time of its produce call;
- the server under test, one at a time, in its own process: the relay (`uvicorn
  realtime.service:app`, in a fresh consumer group) or its peer, bench/naive_broadcast.py
  (`for ws in subscribers: await ws.send_text(...)`, the same Kafka feed through KafkaBus);
- CLIENT_PROCESSES processes of bench/stream_clients.py, together 1,010 WebSocket clients:
  10 on each of `predictions:T000`..`predictions:T099` and 10 on `predictions`, so every event
  is 20 deliveries. A client's latency is its receive time minus the event's produce time.

Each server gets the same steps: a steady MAIN_RATE events/s for MAIN_SECONDS, then a ramp
through CEILING_RATES (x1.5 and x1.33 by turns), CEILING_SECONDS each, until p99 passes
P99_LIMIT_MS: the fan-out ceiling. A ramp step over the limit that still delivered everything runs once more ("again"),
since the build machine is shared and one hiccup should not set the ceiling. After a step's
events are produced, the clients get up to DRAIN_SECONDS to receive them; a delivery that has
not come by then counts as infinitely late (p99 reads "lost" when over 1 % never came).
CPU % is user+system time over the producing window (100 % = one core), for the server process
and for the client processes together; RSS is the server's resident memory at the end of the
window, both from /proc. `load avg` is the 1-minute load average as the step starts: above
about 2.5 (server, clients, Kafka) other work was taking the cores.

python -m bench bench_stream
"""

from __future__ import annotations

import json
import os
import select
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.load import ROOT, free_port, log_tail
from launcher.supervise import Service, port_in_use, wait_until_ready
from tickerpulse.stores.events import KafkaBus

TICKERS = tuple(f"T{number:03d}" for number in range(100))
CLIENTS_PER_TICKER = 10
CLIENTS_ON_ALL = 10
CLIENT_PROCESSES = 2
MAIN_RATE, MAIN_SECONDS = 100, 20
CEILING_RATES = (200, 300, 400, 600, 800, 1200, 1600, 2400, 3200, 4800, 6400)
CEILING_SECONDS = 6
DRAIN_SECONDS = 5.0
P99_LIMIT_MS = 100.0
BUDGET_SECONDS = 330  # the whole bench stays under 6 minutes: later steps are skipped
KAFKA_PORT = 29092
SERVERS = {
    "TickerPulse relay": "realtime.service:app",
    "naive broadcast loop": "bench.naive_broadcast:app",
}
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User + system time of a process, all its threads."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


@contextmanager
def kafka() -> Iterator[str]:
    """The broker's bootstrap address; stopped afterwards only if this bench started it."""
    was_running = port_in_use("127.0.0.1", KAFKA_PORT)
    script = str(ROOT / "scripts" / "kafka.sh")
    started = subprocess.run([script, "start"], capture_output=True, text=True, timeout=300)
    if started.returncode != 0:
        raise RuntimeError(f"scripts/kafka.sh start failed:\n{started.stderr}")
    try:
        yield started.stdout.strip().splitlines()[-1]
    finally:
        if not was_running:
            subprocess.run([script, "stop"], capture_output=True, timeout=60)


class Clients:
    """One stream_clients process, spoken to in JSON lines."""

    def __init__(self, url: str, channels: list[str], log_path: Path) -> None:
        self.log = log_path.open("w")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "bench.stream_clients", url, json.dumps(channels)],
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self.log,
            text=True,
        )

    def read(self, timeout: float) -> dict[str, Any]:
        assert self.process.stdout is not None
        ready, _, _ = select.select([self.process.stdout], [], [], timeout)
        line = self.process.stdout.readline() if ready else ""
        if not line:
            raise RuntimeError(f"the clients did not answer within {timeout:.0f} s")
        answer: dict[str, Any] = json.loads(line)
        return answer

    def ask(self, command: dict[str, Any], timeout: float = 30.0) -> dict[str, Any]:
        assert self.process.stdin is not None
        self.process.stdin.write(json.dumps(command) + "\n")
        self.process.stdin.flush()
        return self.read(timeout)

    def stop(self) -> None:
        if self.process.poll() is None:
            try:
                assert self.process.stdin is not None
                self.process.stdin.write(json.dumps({"cmd": "stop"}) + "\n")
                self.process.stdin.close()
                self.process.wait(10)
            except (OSError, subprocess.TimeoutExpired):
                self.process.kill()
                self.process.wait()
        self.log.close()


def client_channels() -> list[str]:
    per_ticker = [f"predictions:{t}" for t in TICKERS for _ in range(CLIENTS_PER_TICKER)]
    return per_ticker + ["predictions"] * CLIENTS_ON_ALL


def prediction(ticker: str, step: int) -> dict[str, Any]:
    """An event the size and shape of an online prediction, stamped as it is produced."""
    return {
        "id": uuid.uuid4().hex,
        "ticker": ticker,
        "horizon": 1,
        "as_of": "2026-11-27",
        "target_date": "2026-11-30",
        "last_close": 101.25,
        "forecast": 101.93,
        "interval_80": {"lower": 99.1, "upper": 104.8},
        "interval_95": {"lower": 97.6, "upper": 106.3},
        "model_name": "tickerpulse-price-h1",
        "model_version": "3",
        "model": "ridge",
        "created_at": "2026-11-28T14:30:00+00:00",
        "source": "online",
        "key": "tp_bench",
        "step": step,
        "produced_at": time.time(),
    }


def wait_until_flowing(bus: KafkaBus, clients: list[Clients], seconds: float = 60.0) -> None:
    """Probe rounds (one event per ticker, so every partition) until a whole round arrives:
    the servers' consumers start at the end, so nothing before that would reach them."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        probes = {f"probe-{uuid.uuid4().hex}": ticker for ticker in TICKERS}
        for probe, ticker in probes.items():
            bus.produce("predictions", {"id": probe, "ticker": ticker, "probe": True})
        bus.flush(10)
        time.sleep(1.0)
        if all(set(probes) <= set(c.ask({"cmd": "probes"})["probes"]) for c in clients):
            return
    raise RuntimeError(f"no probe round reached the clients within {seconds:.0f} s")


@dataclass
class Step:
    kind: str  # "steady", "ramp", or "again" (a ramp step over the limit, run once more)
    rate: int
    seconds: float
    sent: int
    deliveries: int  # expected: every event to the clients of its channels
    latencies_ms: list[float]
    closed: int
    server_cpu: float
    server_rss_mb: float
    clients_cpu: float
    load: float

    def percentile(self, share: float) -> float:
        """Over every expected delivery; one that never came counts as infinitely late."""
        rank = int(share * self.deliveries)
        return self.latencies_ms[rank] if rank < len(self.latencies_ms) else float("inf")

    @property
    def over(self) -> bool:
        return self.percentile(0.99) > P99_LIMIT_MS

    @property
    def delivered_per_second(self) -> float:
        return len(self.latencies_ms) / self.seconds


@dataclass
class Bench:
    """What one server's steps need: the producer, the server's pid, its clients."""

    bus: KafkaBus
    server_pid: int
    clients: list[Clients]
    steps: int = 0

    def cpu(self) -> tuple[float, float]:
        """CPU seconds so far: the server's, and its client processes' together."""
        pids = [c.process.pid for c in self.clients]
        return cpu_seconds(self.server_pid), sum(cpu_seconds(pid) for pid in pids)

    def received(self, step: int) -> int:
        return sum(c.ask({"cmd": "count", "step": step})["received"] for c in self.clients)

    def step(self, kind: str, rate: int, seconds: float) -> Step:
        """Produce `rate` events/s for `seconds`, then drain; what the clients received."""
        self.steps += 1
        number, load = self.steps, os.getloadavg()[0]
        server_before, clients_before = self.cpu()
        started = time.monotonic()
        sent = 0
        while (elapsed := time.monotonic() - started) < seconds:
            while sent < min(int(elapsed * rate) + 1, int(seconds * rate)):
                self.bus.produce("predictions", prediction(TICKERS[sent % len(TICKERS)], number))
                sent += 1
            time.sleep(0.002)
        window = time.monotonic() - started
        server_after, clients_after = self.cpu()
        rss = rss_mb(self.server_pid)
        deliveries = sent * (CLIENTS_PER_TICKER + CLIENTS_ON_ALL)
        drain_until = time.monotonic() + DRAIN_SECONDS
        while time.monotonic() < drain_until and self.received(number) < deliveries:
            time.sleep(0.2)
        reports = [c.ask({"cmd": "report", "step": number}, 60) for c in self.clients]
        return Step(
            kind,
            rate,
            window,
            sent,
            deliveries,
            sorted(ms for report in reports for ms in report["latencies_ms"]),
            sum(n for report in reports for n in report["closed"].values()),
            100 * (server_after - server_before) / window,
            rss,
            100 * (clients_after - clients_before) / window,
            load,
        )


def ramp(bench: Bench, deadline: float) -> list[Step]:
    """The steady step, then the rate doubled until p99 passes the limit. A ramp step over it
    that still delivered everything is run once more: a shared machine's hiccup can push one
    step's p99 over, and the ceiling should be where the relay's own load does."""
    steps = [bench.step("steady", MAIN_RATE, MAIN_SECONDS)]
    for rate in CEILING_RATES:
        if time.monotonic() + 2 * (CEILING_SECONDS + DRAIN_SECONDS) > deadline:
            break  # out of time: the table shows how far it got
        steps.append(bench.step("ramp", rate, CEILING_SECONDS))
        if steps[-1].over and len(steps[-1].latencies_ms) == steps[-1].deliveries:
            steps.append(bench.step("again", rate, CEILING_SECONDS))
        if steps[-1].over:
            break
    return steps


def measure_server(app: str, bootstrap: str, folder: Path, deadline: float) -> list[Step]:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    name = app.split(":")[0].replace(".", "_")
    env = {
        **os.environ,
        "TICKERPULSE_DATA_DIR": str(folder / "var"),
        "RAW_DB_URL": "",
        "WAREHOUSE_URL": "",
        "EVENTS_URL": f"kafka://{bootstrap}",
        "RELAY_GROUP": f"bench-stream-{uuid.uuid4().hex[:12]}",
        # Every client of this bench comes from 127.0.0.1: lift the per-address cap.
        "STREAM_MAX_CONNECTIONS_PER_IP": "100000",
    }
    command = [sys.executable, "-m", "uvicorn", app, "--host", "127.0.0.1", "--port", str(port)]
    server = Service(name, command, base + "/healthz", folder / f"{name}.log")
    bus = KafkaBus(bootstrap, client_id="bench-stream")
    with ExitStack() as stack:
        stack.callback(bus.close, 5.0)
        stack.callback(server.stop)
        server.start(env, ROOT)
        try:
            wait_until_ready([server], 60, lambda _elapsed: None)
        except RuntimeError as error:
            raise RuntimeError(f"{error}\n{log_tail(server.log_path)}") from None
        assert server.process is not None
        channels = client_channels()
        clients = []
        for number in range(CLIENT_PROCESSES):
            share = channels[number::CLIENT_PROCESSES]
            log_path = folder / f"{name}-clients-{number}.log"
            clients.append(Clients(f"ws://127.0.0.1:{port}/v1/stream", share, log_path))
            stack.callback(clients[-1].stop)
        for process in clients:
            connected = process.read(timeout=60)
            if connected["failed"]:
                raise RuntimeError(f"{connected['failed']} clients could not connect to {app}")
        wait_until_flowing(bus, clients)
        steps = ramp(Bench(bus, server.process.pid, clients), deadline)
    return steps


def milliseconds(value: float) -> str:
    return "lost" if value == float("inf") else f"{value:.1f}"


def table_rows(measured: dict[str, list[Step]]) -> list[dict[str, object]]:
    rows: list[dict[str, object]] = []
    for server, steps in measured.items():
        for step in steps:
            received = len(step.latencies_ms)
            rows.append(
                {
                    "server (this run)": server,
                    "step": step.kind,
                    "events/s": f"{step.sent / step.seconds:,.0f}",
                    "s": f"{step.seconds:.0f}",
                    "deliveries/s": f"{step.delivered_per_second:,.0f}",
                    "delivered": f"{100 * received / max(step.deliveries, 1):.2f} %",
                    "p50 ms": milliseconds(step.percentile(0.50)),
                    "p99 ms": milliseconds(step.percentile(0.99)),
                    "server CPU": f"{step.server_cpu:.0f} %",
                    "server RSS": f"{step.server_rss_mb:.0f} MB",
                    "clients CPU": f"{step.clients_cpu:.0f} %",
                    "closed clients": step.closed,
                    "load avg": f"{step.load:.1f}",
                }
            )
    return rows


def ceiling(server: str, steps: list[Step]) -> str:
    """The fan-out ceiling: the deliveries/s at which p99 passes P99_LIMIT_MS."""
    ramp_steps = [s for s in steps if s.kind != "steady"]
    best = max((s.delivered_per_second for s in ramp_steps if not s.over), default=0.0)
    limit = f"p99 <= {P99_LIMIT_MS:.0f} ms"
    if not ramp_steps or not ramp_steps[-1].over:
        return f"{server}: {limit} at every step run (up to {best:,.0f} deliveries/s)"
    over = ramp_steps[-1]
    asked = over.rate * (CLIENTS_PER_TICKER + CLIENTS_ON_ALL)
    return (
        f"{server}: {limit} up to {best:,.0f} deliveries/s, passed at {over.rate:,} events/s "
        f"({asked:,} deliveries/s asked)"
    )


def run() -> tuple[str, list[dict[str, object]]]:
    deadline = time.monotonic() + BUDGET_SECONDS
    measured: dict[str, list[Step]] = {}
    with kafka() as bootstrap, tempfile.TemporaryDirectory(prefix="bench-stream-") as name:
        folder = Path(name)
        topic_maker = KafkaBus(bootstrap)
        topic_maker.ensure_topic("predictions")
        topic_maker.close()
        for number, (server, app) in enumerate(SERVERS.items()):
            # Each server gets an even share of the time that is left.
            share = (deadline - time.monotonic()) / (len(SERVERS) - number)
            measured[server] = measure_server(app, bootstrap, folder, time.monotonic() + share)
    title = (
        f"Stream fan-out: {len(client_channels()):,} WebSocket clients ({CLIENTS_PER_TICKER} on "
        f"each of {len(TICKERS)} ticker channels + {CLIENTS_ON_ALL} on all) in "
        f"{CLIENT_PROCESSES} client processes, events from Kafka `predictions`; {MAIN_RATE} "
        f"events/s for {MAIN_SECONDS} s, then {CEILING_RATES[0]}, {CEILING_RATES[1]}, "
        f"{CEILING_RATES[2]}... events/s for {CEILING_SECONDS} s each until p99 > "
        f"{P99_LIMIT_MS:.0f} ms; latency from produce to client receive; server, clients, "
        f"producer and Kafka share {os.cpu_count()} CPUs\nFan-out ceiling: "
        + "; ".join(ceiling(server, steps) for server, steps in measured.items())
    )
    return title, table_rows(measured)
