"""Serving under load: TickerPulse's API beside `mlflow models serve` and a bare FastAPI app.

What runs, all on 127.0.0.1 on free ports, one server at a time, in one process of this bench:
- the demo platform, materialized into a temporary TICKERPULSE_DATA_DIR as the tests'
  `materialized_platform` fixture does (bench/serving_platform.py, bounded in time);
- `uvicorn serving.app:app` (uvicorn's defaults, access log on, as `tickerpulse up` and the
  Dockerfile run it): GET /v1/forecasts/ACME, a cached read, and POST /v1/predictions for
  ACME at horizon 1 with a client key, the champion predicting online;
- `mlflow models serve --env-manager local` on the same registered version of the horizon's
  champion, POST /invocations with the one row the API feeds that champion;
- `uvicorn bench.bare_app:app`, one async endpoint returning a constant: the stack's ceiling.

Each is served with 1 and then 2 uvicorn workers (`--workers`), and loaded by wrk (Debian's,
installed by scripts/wrk.sh) with 50 connections on 2 threads (predictions and the bare app also
with 200, to see what a crowd does to each): a warm-up of 3 s rounds until throughput settles (new
connection per request, so every worker loads its model), then a measured run of 12 s on
keep-alive connections.
wrk is C on epoll but still shares the machine's cores with the server. Errors: HTTP responses
with status >= 400 and socket errors (connect, read, write, timeout), each counted by wrk.
`load avg` is the 1-minute load average just before each measured run: the build machine is
shared, and a figure well above 2 (the server and wrk) means other work took cores from it.

At size (issue 14): with BENCH_SERVING_TICKERS=N (500, say) the bench then builds a second
platform of N tickers (the demo's five and N - 5 synthetic, 10 years each) and measures
TickerPulse's reads on it at 1 and 2 workers, rows marked "N tickers", beside the demo's rows
of the same run: forecast and price reads must keep their speed as the universe grows. That
platform trains on WALK_FORWARD_FOLDS=2 (the bench measures serving, not the model).

Peer figures quoted, not run here (issue 18): MLServer's REST endpoint 1,440 req/s (its
benchmarking README), Ray Serve 3-4k QPS on 8 cores; they print beside ours, with our ratio to
each, but were measured on other machines and models. The aims, against the peers of this
run: cached reads at least 80 % of bare FastAPI's throughput; predictions at least 20x
`mlflow models serve`'s, with p99 at most 50 ms under 50 clients, and no collapse under 200.

python -m bench bench_serving
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.load import (
    ROOT,
    Load,
    Result,
    free_port,
    log_tail,
    run_wrk,
    serving,
    wrk_path,
    wrk_version,
)

TICKER = "ACME"
# The last quarter of bars, as the web page's chart asks for it.
PRICES = f"/v1/prices/{TICKER}?start=2026-08-03&end=2026-10-30"
AT_SIZE = int(os.environ.get("BENCH_SERVING_TICKERS", "0"))
CLIENTS = 50
CROWD = 200  # predictions again under this many clients: no collapse
WRK_THREADS = 2
WARMUP_SECONDS = 3
WARMUP_ROUNDS = 6
MEASURED_SECONDS = 12
WORKER_COUNTS = (1, 2)
BUILD_TIMEOUT_SECONDS = 900
BIN = Path(sys.executable).parent
JSON = {"Content-Type": "application/json"}
# (server, req/s low, high, what it was measured on): quoted in issue 18, not run here.
QUOTED = [
    ("MLServer REST", 1440.0, 1440.0, "its benchmarking README"),
    ("Ray Serve", 3000.0, 4000.0, "3-4k QPS on 8 cores"),
]
PREDICTIONS = "POST /v1/predictions"


def server_env(data_dir: Path) -> dict[str, str]:
    """Embedded backends under data_dir, whatever this shell or a .env points elsewhere."""
    overrides = {
        "TICKERPULSE_DATA_DIR": str(data_dir),
        "RAW_DB_URL": "",  # empty: Settings fills the embedded default under the data dir
        "WAREHOUSE_URL": "",
        "MLFLOW_TRACKING_URI": f"sqlite:///{data_dir / 'mlflow.db'}",
        "MLFLOW_ARTIFACT_URI": "",
        "CACHE_URL": "memory://",
        "EVENTS_URL": "memory://",
        # mlflow models serve execs `uvicorn` and imports the champion's classes from here.
        "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        "PYTHONPATH": str(ROOT),
    }
    return {**os.environ, **overrides}


def build_platform(
    data_dir: Path, env: dict[str, str], log_path: Path, tickers: int = 5
) -> dict[str, Any]:
    if tickers > 5:  # the platform at size: its training is not what is measured
        env = {**env, "WALK_FORWARD_FOLDS": "2"}
    with log_path.open("w") as log:
        done = subprocess.run(
            [sys.executable, "-m", "bench.serving_platform", str(data_dir), TICKER, str(tickers)],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=log,
            text=True,
            timeout=BUILD_TIMEOUT_SECONDS,
        )
    if done.returncode != 0:
        raise RuntimeError(f"building the platform failed:\n{log_tail(log_path)}")
    platform: dict[str, Any] = json.loads(done.stdout.splitlines()[-1])
    return platform


def warm_up(wrk: str, load: Load, clients: int, folder: Path) -> int:
    """Rounds of WARMUP_SECONDS until throughput settles (two rounds within 20 %); seconds spent.

    Each warm-up request opens a new connection, so every worker gets some and loads its model:
    a measured run's keep-alive connections may all land on one worker's socket otherwise.
    """
    fresh = Load(load.method, load.url, load.body, {**load.headers, "Connection": "close"})
    rates: list[float] = []
    while len(rates) < WARMUP_ROUNDS:
        rates.append(run_wrk(wrk, fresh, WARMUP_SECONDS, clients, WRK_THREADS, folder).per_second)
        if len(rates) > 1 and rates[-1] > 0 and abs(rates[-1] - rates[-2]) <= 0.2 * rates[-2]:
            break
    return len(rates) * WARMUP_SECONDS


def measure(wrk: str, load: Load, clients: int, folder: Path) -> dict[str, Any]:
    """The measured run, the warm-up before it, and the 1-minute load average between them:
    the machine is shared, and anything above about 2 (this server and wrk) is other work."""
    load.check()
    warm_up_seconds = warm_up(wrk, load, clients, folder)
    load_average = os.getloadavg()[0]
    result = run_wrk(wrk, load, MEASURED_SECONDS, clients, WRK_THREADS, folder)
    return {"result": result, "warm_up": warm_up_seconds, "load": load_average, "clients": clients}


@dataclass(frozen=True)
class Target:
    server: str
    command: list[str]  # without the port
    port_flag: str
    ready_path: str
    loads: dict[str, tuple[Load, int]]  # by request label: URLs are paths on the server; clients


def targets(platform: dict[str, Any], workers: int) -> list[Target]:
    uvicorn = [str(BIN / "uvicorn"), "--host", "127.0.0.1", "--workers", str(workers)]
    mlflow = [str(BIN / "mlflow"), "models", "serve", "-m", platform["model_uri"]]
    mlflow += ["--env-manager", "local", "-h", "127.0.0.1", "-w", str(workers)]
    prediction = json.dumps({"ticker": TICKER, "horizon": platform["horizon"]}).encode()
    client = {**JSON, "X-API-Key": platform["api_key"]}
    return [
        Target(
            "bare FastAPI",
            [*uvicorn, "bench.bare_app:app"],
            "--port",
            "/constant",
            {
                "GET /constant": (Load("GET", "/constant"), CLIENTS),
                f"GET /constant, {CROWD} clients": (Load("GET", "/constant"), CROWD),
            },
        ),
        Target(
            "TickerPulse",
            [*uvicorn, "serving.app:app"],
            "--port",
            "/healthz",
            {
                f"GET /v1/forecasts/{TICKER}": (Load("GET", f"/v1/forecasts/{TICKER}"), CLIENTS),
                f"GET /v1/prices/{TICKER} (a quarter)": (Load("GET", PRICES), CLIENTS),
                PREDICTIONS: (Load("POST", "/v1/predictions", prediction, client), CLIENTS),
                f"{PREDICTIONS}, {CROWD} clients": (
                    Load("POST", "/v1/predictions", prediction, client),
                    CROWD,
                ),
            },
        ),
        Target(
            "mlflow models serve",
            mlflow,
            "-p",
            "/ping",
            {
                "POST /invocations": (
                    Load("POST", "/invocations", json.dumps(platform["invocation"]).encode(), JSON),
                    CLIENTS,
                ),
            },
        ),
    ]


def measure_servers(
    wrk: str,
    platform: dict[str, Any],
    env: dict[str, str],
    workers: int,
    folder: Path,
    only: str | None = None,
) -> list[dict[str, Any]]:
    """One server at a time, so none competes with another for the cores."""
    rows = []
    for target in targets(platform, workers):
        if only and target.server != only:
            continue
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        command = [*target.command, target.port_flag, str(port)]
        log_path = folder / f"{target.server.replace(' ', '_')}-{workers}.log"
        with serving(target.server, command, base + target.ready_path, env, log_path, workers):
            for request, (load, clients) in target.loads.items():
                absolute = Load(load.method, base + load.url, load.body, load.headers)
                measured = measure(wrk, absolute, clients, folder)
                rows.append({"server": target.server, "request": request, **measured})
    return rows


def _ratio(ours: float, low: float, high: float) -> str:
    if low == high:
        return f"{ours / low:.1f}x"
    return f"{ours / high:.1f}-{ours / low:.1f}x"


def versus(request: str, result: Result, peers: dict[str, Result]) -> str:
    """Ours against this run's peer (and the quoted ones for predictions)."""
    if request.startswith(PREDICTIONS):
        mlflow = result.per_second / peers["POST /invocations"].per_second
        quoted = ", ".join(
            f"{_ratio(result.per_second, low, high)} {server}" for server, low, high, _ in QUOTED
        )
        if request == PREDICTIONS:
            return (
                f"{mlflow:.1f}x MLflow at {CLIENTS} (aim >= 20x, p99 <= 50 ms); {quoted} (quoted)"
            )
        bare = peers[f"GET /constant, {CROWD} clients"]
        return (
            f"{mlflow:.1f}x MLflow at {CLIENTS} (aim >= 20x); {quoted} (quoted); "
            f"the bare app at {CROWD}: {bare.per_second:,.0f} req/s, p99 {bare.p99_ms:,.0f} ms"
        )
    if request.startswith(("GET /v1/forecasts", "GET /v1/prices")):
        share = 100 * result.per_second / peers["GET /constant"].per_second
        aim = " (aim >= 80 %)" if request.startswith("GET /v1/forecasts") else ""
        return f"{share:.0f} % of bare{aim}"
    return ""


def at_size(rows: list[dict[str, Any]], demo: list[dict[str, Any]], tickers: int) -> None:
    """Marks the rows measured on the platform at size, each against the demo's same row."""
    demo_rate = {row["request"]: row["result"].per_second for row in demo}
    for row in rows:
        row["server"] = f"TickerPulse, {tickers} tickers"
        row["vs demo"] = (
            f"{100 * row['result'].per_second / demo_rate[row['request']]:.0f} % of 5 tickers"
        )


def table_rows(measured: dict[int, list[dict[str, Any]]]) -> list[dict[str, object]]:
    table: list[dict[str, object]] = []
    for workers, rows in measured.items():
        peers = {row["request"]: row["result"] for row in rows}
        for row in rows:
            result: Result = row["result"]
            table.append(
                {
                    "server (this run)": row["server"],
                    "workers": workers,
                    "request": row["request"],
                    "clients": row["clients"],
                    "req/s": f"{result.per_second:,.0f}",
                    "p50 ms": f"{result.p50_ms:.1f}",
                    "p99 ms": f"{result.p99_ms:.1f}",
                    "HTTP errors": result.http_errors,
                    "socket errors": result.socket_errors,
                    "requests": f"{result.requests:,}",
                    "warm-up s": row["warm_up"],
                    "load avg": f"{row['load']:.1f}",
                    "vs peer": row.get("vs demo") or versus(row["request"], result, peers),
                }
            )
    for server, low, high, measured_on in QUOTED:
        table.append(
            {
                "server (this run)": f"{server} (quoted)",
                "workers": "?",
                "request": "predict",
                "clients": "?",
                "req/s": f"{low:,.0f}" if low == high else f"{low:,.0f}-{high:,.0f}",
                "p50 ms": "-",
                "p99 ms": "-",
                "HTTP errors": "-",
                "socket errors": "-",
                "requests": "-",
                "warm-up s": "-",
                "load avg": "-",
                "vs peer": f"quoted in issue 18: {measured_on}",
            }
        )
    return table


def run() -> tuple[str, list[dict[str, object]]]:
    wrk = wrk_path()
    with tempfile.TemporaryDirectory(prefix="bench-serving-") as name:
        folder = Path(name)
        env = server_env(folder / "var")
        platform = build_platform(folder / "var", env, folder / "platform.log")
        measured = {
            workers: measure_servers(wrk, platform, env, workers, folder)
            for workers in WORKER_COUNTS
        }
        if AT_SIZE > 5:
            env = server_env(folder / "var-at-size")
            large = build_platform(folder / "var-at-size", env, folder / "at-size.log", AT_SIZE)
            for workers in WORKER_COUNTS:
                rows = measure_servers(wrk, large, env, workers, folder, only="TickerPulse")
                at_size(rows, measured[workers], AT_SIZE)
                measured[workers] += rows
    title = (
        f"Serving: {CLIENTS} clients ({CROWD} in the crowd rows), wrk {wrk_version(wrk)} -t{WRK_THREADS}, "
        f"warm-up until steady + {MEASURED_SECONDS} s measured per row, uvicorn workers "
        f"{' and '.join(map(str, WORKER_COUNTS))}, {os.cpu_count()} CPUs; champion "
        f"{platform['model_uri']} ({platform['model_class']})"
    )
    return title, table_rows(measured)
