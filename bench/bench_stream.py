"""The relay's fan-out under load: the relay (picows) beside a naive broadcast loop (uvicorn),
in the shape of issue 18: 10,000 WebSocket clients on one server process, 500 ticker channels
at 1 event/s each, and then a tenth of the clients slow.

What runs where, all on 127.0.0.1 and on the same cores:
- Kafka 4 (scripts/kafka.sh on TP_KAFKA_PORT, 29092 by default, with the scripts' other TP_
  settings): started if it is not running, and then stopped at the end; left running if it was;
- this process: the producer, the platform's KafkaBus (idempotent, acks=all, linger 5 ms),
  writing prediction-shaped events for tickers T000..T499 round-robin to the `predictions`
  topic at RATE events/s (1 per ticker per second), each stamped with the wall-clock time of
  its produce call;
- the server under test, one at a time, in its own process: the relay
  (`python -m realtime.service`, on picows, in a fresh consumer group) or its peer,
  bench/naive_broadcast.py (`for ws in subscribers: await ws.send_text(...)`, the same Kafka
  feed through KafkaBus) under uvicorn with the flags the platform gives uvicorn's stream
  servers (launcher/services.py STREAM_SERVER_FLAGS);
- CLIENT_PROCESSES processes of bench/stream_clients.py, together 10,000 WebSocket clients,
  CLIENTS_PER_TICKER on each `predictions:<TICKER>`, so every event is 20 deliveries. A
  client's latency is its receive time minus the event's produce time.

Each server gets two steps. "all fast": RATE events/s for FAST_SECONDS. "10 % slow": two of
each ticker's 20 clients (1,000) subscribe to SLOW_EXTRA_CHANNELS more tickers and from then
on read one message a second, with a 4 KB receive buffer, for SLOW_SECONDS at the same rate;
p50/p99 are the 9,000 fast clients'. After a step's events are produced, the fast clients
get up to DRAIN_SECONDS to receive them; a delivery that has not come by then counts as
infinitely late (p99 reads "lost" when over 1 % never came). CPU % is user+system time over
the producing window (100 % = one core), for the server process and for the client
processes together; RSS is the server's resident memory at the end of the window and its
peak over it, both from /proc. `load avg` is the 1-minute load average as the step starts:
above about 2.5 (server, clients, Kafka) other work was taking the cores.

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
from bench.stream_clients import raise_open_files_limit
from launcher.services import STREAM_SERVER_FLAGS, relay_command
from launcher.supervise import Service, port_in_use, wait_until_ready
from tickerpulse.stores.events import KafkaBus

# The shape by default; BENCH_STREAM_TICKERS, _FAST_SECONDS, _SLOW_SECONDS and
# _SERVERS (a comma list of SERVERS' apps) make a smaller run while developing.
TICKERS = tuple(
    f"T{number:03d}" for number in range(int(os.environ.get("BENCH_STREAM_TICKERS", "500")))
)
CLIENTS_PER_TICKER = 20
SLOW_PER_TICKER = 2  # a tenth of the clients
SLOW_EXTRA_CHANNELS = 9  # so a slow client is sent 10 messages a second and reads 1
CLIENT_PROCESSES = 2
RATE = len(TICKERS)  # 1 event per ticker channel per second
FAST_SECONDS = float(os.environ.get("BENCH_STREAM_FAST_SECONDS", "20"))
SLOW_SECONDS = float(os.environ.get("BENCH_STREAM_SLOW_SECONDS", "40"))
DRAIN_SECONDS = 5.0
P99_LIMIT_MS = 100.0
KAFKA_PORT = int(os.environ.get("TP_KAFKA_PORT", "29092"))  # scripts/kafka.sh reads it too
RELAY = "realtime.service"  # a module that runs its own server; the others are ASGI apps
SERVERS = {
    name: app
    for name, app in {
        "TickerPulse relay": RELAY,
        "naive broadcast loop": "bench.naive_broadcast:app",
    }.items()
    if app in os.environ.get("BENCH_STREAM_SERVERS", app).split(",")
}
# Published figures quoted in issue 18, printed beside ours (other machines, other loads).
PEERS = (
    "Centrifugo (Go): 1 M connections at about 500k msg/s on 20 pods, i.e. about 50k "
    "connections and 25k msg/s per pod",
    "Python `websockets`: about 10k connections on a laptop",
)
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

    def __init__(self, url: str, entries: list[list[Any]], log_path: Path) -> None:
        self.log = log_path.open("w")
        listing = log_path.with_suffix(".json")  # 5,000 clients' channels: too long for argv
        listing.write_text(json.dumps(entries))
        self.process = subprocess.Popen(
            [sys.executable, "-m", "bench.stream_clients", url, str(listing)],
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


def client_entries() -> list[list[Any]]:
    """[channel, slow_channels] per client: the last SLOW_PER_TICKER of each ticker's clients
    take SLOW_EXTRA_CHANNELS of the next tickers when they turn slow."""
    entries: list[list[Any]] = []
    for index, ticker in enumerate(TICKERS):
        extra = [
            f"predictions:{TICKERS[(index + n) % len(TICKERS)]}"
            for n in range(1, SLOW_EXTRA_CHANNELS + 1)
        ]
        for number in range(CLIENTS_PER_TICKER):
            slow = number >= CLIENTS_PER_TICKER - SLOW_PER_TICKER
            entries.append([f"predictions:{ticker}", extra if slow else []])
    return entries


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


def wait_until_flowing(bus: KafkaBus, clients: list[Clients], seconds: float = 180.0) -> None:
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


def closed_codes(reports: list[dict[str, Any]], kind: str) -> dict[str, int]:
    codes: dict[str, int] = {}
    for report in reports:
        for code, count in report["closed"][kind].items():
            codes[code] = codes.get(code, 0) + count
    return codes


def closed_text(codes: dict[str, int]) -> str:
    """`113 (1011: 113)`: clients closed, and by which close code."""
    total = sum(codes.values())
    return f"{total} ({', '.join(f'{c}: {n}' for c, n in sorted(codes.items()))})" if total else "0"


@dataclass
class Step:
    kind: str  # "all fast" or "10 % slow"
    seconds: float
    sent: int
    deliveries: int  # expected at the fast clients: every event to each of its channel's
    latencies_ms: list[float]  # the fast clients'
    slow_received: int
    closed: dict[str, dict[str, int]]  # "fast"/"slow" -> close code -> clients closed so far
    server_cpu: float
    server_rss_mb: float
    server_peak_rss_mb: float
    clients_cpu: float
    load: float

    def percentile(self, share: float) -> float:
        """Over every expected delivery; one that never came counts as infinitely late."""
        rank = int(share * self.deliveries)
        return self.latencies_ms[rank] if rank < len(self.latencies_ms) else float("inf")

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

    def step(self, kind: str, seconds: float, fast_per_ticker: int) -> Step:
        """Produce RATE events/s for `seconds`, then drain; what the clients received."""
        self.steps += 1
        number, load = self.steps, os.getloadavg()[0]
        server_before, clients_before = self.cpu()
        started = time.monotonic()
        sent, peak, next_sample = 0, 0.0, 0.0
        while (elapsed := time.monotonic() - started) < seconds:
            while sent < min(int(elapsed * RATE) + 1, int(seconds * RATE)):
                self.bus.produce("predictions", prediction(TICKERS[sent % len(TICKERS)], number))
                sent += 1
            if elapsed >= next_sample:
                peak, next_sample = max(peak, rss_mb(self.server_pid)), elapsed + 0.5
            time.sleep(0.002)
        window = time.monotonic() - started
        server_after, clients_after = self.cpu()
        rss = rss_mb(self.server_pid)
        deliveries = sent * fast_per_ticker
        drain_until = time.monotonic() + DRAIN_SECONDS
        while time.monotonic() < drain_until and self.received(number) < deliveries:
            time.sleep(0.2)
        reports = [c.ask({"cmd": "report", "step": number}, 60) for c in self.clients]
        return Step(
            kind,
            window,
            sent,
            deliveries,
            sorted(ms for report in reports for ms in report["latencies_ms"]["fast"]),
            sum(len(report["latencies_ms"]["slow"]) for report in reports),
            {kind: closed_codes(reports, kind) for kind in ("fast", "slow")},
            100 * (server_after - server_before) / window,
            rss,
            max(peak, rss),
            100 * (clients_after - clients_before) / window,
            load,
        )

    def turn_slow(self) -> int:
        return sum(c.ask({"cmd": "slow"})["slow"] for c in self.clients)


def run_steps(bench: Bench) -> list[Step]:
    steps = [bench.step("all fast", FAST_SECONDS, CLIENTS_PER_TICKER)]
    slow = bench.turn_slow()
    if slow != len(TICKERS) * SLOW_PER_TICKER:
        raise RuntimeError(f"{slow} clients turned slow, not {len(TICKERS) * SLOW_PER_TICKER}")
    steps.append(bench.step("10 % slow", SLOW_SECONDS, CLIENTS_PER_TICKER - SLOW_PER_TICKER))
    return steps


def measure_server(app: str, bootstrap: str, folder: Path) -> list[Step]:
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
    if app == RELAY:
        command = relay_command("127.0.0.1", port)
    else:
        # --log-level warning: uvicorn's line per accepted WebSocket is 10,000 lines per server.
        command = [sys.executable, "-m", "uvicorn", app, "--host", "127.0.0.1", "--port", str(port)]
        command += ["--log-level", "warning", *STREAM_SERVER_FLAGS]
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
        entries = client_entries()
        clients = []
        for number in range(CLIENT_PROCESSES):
            share = entries[number::CLIENT_PROCESSES]
            log_path = folder / f"{name}-clients-{number}.log"
            clients.append(Clients(f"ws://127.0.0.1:{port}/v1/stream", share, log_path))
            stack.callback(clients[-1].stop)
        for process in clients:
            connected = process.read(timeout=300)
            if connected["failed"]:
                raise RuntimeError(f"{connected['failed']} clients could not connect to {app}")
        try:
            wait_until_flowing(bus, clients)
        except RuntimeError as error:
            raise RuntimeError(f"{error}\n{log_tail(server.log_path)}") from None
        steps = run_steps(Bench(bus, server.process.pid, clients))
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
                    "fast deliveries/s": f"{step.delivered_per_second:,.0f}",
                    "fast delivered": f"{100 * received / max(step.deliveries, 1):.2f} %",
                    "fast p50 ms": milliseconds(step.percentile(0.50)),
                    "fast p99 ms": milliseconds(step.percentile(0.99)),
                    "slow received": f"{step.slow_received:,}",
                    "closed fast / slow": (
                        f"{closed_text(step.closed['fast'])} / {closed_text(step.closed['slow'])}"
                    ),
                    "server CPU": f"{step.server_cpu:.0f} %",
                    "server RSS end/peak": f"{step.server_rss_mb:.0f}/{step.server_peak_rss_mb:.0f} MB",
                    "clients CPU": f"{step.clients_cpu:.0f} %",
                    "load avg": f"{step.load:.1f}",
                }
            )
    return rows


def verdict(server: str, steps: list[Step]) -> str:
    parts = [
        f"{step.kind} p99 {milliseconds(step.percentile(0.99))} ms "
        f"({'under' if step.percentile(0.99) <= P99_LIMIT_MS else 'over'} {P99_LIMIT_MS:.0f})"
        for step in steps
    ]
    peak = max(step.server_peak_rss_mb for step in steps)
    return f"{server}: " + ", ".join(parts) + f", peak RSS {peak:.0f} MB"


def run() -> tuple[str, list[dict[str, object]]]:
    raise_open_files_limit()  # the server under test inherits it: 10,000 sockets of its own
    measured: dict[str, list[Step]] = {}
    with kafka() as bootstrap, tempfile.TemporaryDirectory(prefix="bench-stream-") as name:
        folder = Path(name)
        topic_maker = KafkaBus(bootstrap)
        topic_maker.ensure_topic("predictions")
        topic_maker.close()
        for server, app in SERVERS.items():
            measured[server] = measure_server(app, bootstrap, folder)
    clients = len(client_entries())
    title = (
        f"Stream fan-out: {clients:,} WebSocket clients ({CLIENTS_PER_TICKER} on each of "
        f"{len(TICKERS)} ticker channels) on one server process, in {CLIENT_PROCESSES} client "
        f"processes; events from Kafka `predictions` at {RATE} events/s (1 per channel per "
        f"second) for {FAST_SECONDS:g} s with every client fast, then {SLOW_SECONDS:g} s with "
        f"{SLOW_PER_TICKER * len(TICKERS):,} clients slow ({SLOW_EXTRA_CHANNELS + 1} channels, "
        f"reading 1 message/s); latency from produce to client receive; server, clients, "
        f"producer and Kafka share {os.cpu_count()} CPUs\nTarget p99 <= {P99_LIMIT_MS:.0f} ms: "
        + "; ".join(verdict(server, steps) for server, steps in measured.items())
        + "\nPublished peers (issue 18; not this machine): "
        + "; ".join(PEERS)
    )
    return title, table_rows(measured)
