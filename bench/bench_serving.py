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
installed by scripts/wrk.sh) with 50 connections on 2 threads: a warm-up of 3 s rounds until
throughput settles (new connection per request, so every worker loads its model), then a
measured run of 12 s on keep-alive connections.
wrk is C on epoll but still shares the machine's cores with the server. Errors: HTTP responses
with status >= 400 and socket errors (connect, read, write, timeout), each counted by wrk.
`load avg` is the 1-minute load average just before each measured run: the build machine is
shared, and a figure well above 2 (the server and wrk) means other work took cores from it.

Peer figures quoted from the issue (not run here): `mlflow models serve` about 55 req/s with
p99 1.25 s under 50 clients; bare FastAPI 1,000-1,400 req/s. The aim: predictions at least
20x MLflow's throughput, cached reads at least 80 % of bare FastAPI's.

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
CLIENTS = 50
WRK_THREADS = 2
WARMUP_SECONDS = 3
WARMUP_ROUNDS = 6
MEASURED_SECONDS = 12
WORKER_COUNTS = (1, 2)
BUILD_TIMEOUT_SECONDS = 900
BIN = Path(sys.executable).parent
JSON = {"Content-Type": "application/json"}
QUOTED = [
    ("mlflow models serve (issue, quoted)", "55", "-", "1250"),
    ("bare FastAPI (issue, quoted)", "1,000-1,400", "-", "-"),
]


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


def build_platform(data_dir: Path, env: dict[str, str], log_path: Path) -> dict[str, Any]:
    with log_path.open("w") as log:
        done = subprocess.run(
            [sys.executable, "-m", "bench.serving_platform", str(data_dir), TICKER],
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


def warm_up(wrk: str, load: Load, folder: Path) -> int:
    """Rounds of WARMUP_SECONDS until throughput settles (two rounds within 20 %); seconds spent.

    Each warm-up request opens a new connection, so every worker gets some and loads its model:
    a measured run's keep-alive connections may all land on one worker's socket otherwise.
    """
    fresh = Load(load.method, load.url, load.body, {**load.headers, "Connection": "close"})
    rates: list[float] = []
    while len(rates) < WARMUP_ROUNDS:
        rates.append(run_wrk(wrk, fresh, WARMUP_SECONDS, CLIENTS, WRK_THREADS, folder).per_second)
        if len(rates) > 1 and rates[-1] > 0 and abs(rates[-1] - rates[-2]) <= 0.2 * rates[-2]:
            break
    return len(rates) * WARMUP_SECONDS


def measure(wrk: str, load: Load, folder: Path) -> dict[str, Any]:
    """The measured run, the warm-up before it, and the 1-minute load average between them:
    the machine is shared, and anything above about 2 (this server and wrk) is other work."""
    load.check()
    warm_up_seconds = warm_up(wrk, load, folder)
    load_average = os.getloadavg()[0]
    result = run_wrk(wrk, load, MEASURED_SECONDS, CLIENTS, WRK_THREADS, folder)
    return {"result": result, "warm_up": warm_up_seconds, "load": load_average}


@dataclass(frozen=True)
class Target:
    server: str
    command: list[str]  # without the port
    port_flag: str
    ready_path: str
    loads: dict[str, Load]  # by request label; URLs are paths on the server


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
            {"GET /constant": Load("GET", "/constant")},
        ),
        Target(
            "TickerPulse",
            [*uvicorn, "serving.app:app"],
            "--port",
            "/healthz",
            {
                f"GET /v1/forecasts/{TICKER}": Load("GET", f"/v1/forecasts/{TICKER}"),
                "POST /v1/predictions": Load("POST", "/v1/predictions", prediction, client),
            },
        ),
        Target(
            "mlflow models serve",
            mlflow,
            "-p",
            "/ping",
            {
                "POST /invocations": Load(
                    "POST", "/invocations", json.dumps(platform["invocation"]).encode(), JSON
                ),
            },
        ),
    ]


def measure_servers(
    wrk: str, platform: dict[str, Any], env: dict[str, str], workers: int, folder: Path
) -> list[dict[str, Any]]:
    """One server at a time, so none competes with another for the cores."""
    rows = []
    for target in targets(platform, workers):
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        command = [*target.command, target.port_flag, str(port)]
        log_path = folder / f"{target.server.replace(' ', '_')}-{workers}.log"
        with serving(target.server, command, base + target.ready_path, env, log_path, workers):
            for request, load in target.loads.items():
                absolute = Load(load.method, base + load.url, load.body, load.headers)
                rows.append(
                    {"server": target.server, "request": request, **measure(wrk, absolute, folder)}
                )
    return rows


def versus(request: str, result: Result, peers: dict[str, Result]) -> str:
    if request == "POST /v1/predictions":
        return (
            f"{result.per_second / peers['POST /invocations'].per_second:.1f}x MLflow (aim >= 20x)"
        )
    if request.startswith("GET /v1/forecasts"):
        return f"{100 * result.per_second / peers['GET /constant'].per_second:.0f} % of bare (aim >= 80 %)"
    return ""


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
                    "req/s": f"{result.per_second:,.0f}",
                    "p50 ms": f"{result.p50_ms:.1f}",
                    "p99 ms": f"{result.p99_ms:.1f}",
                    "HTTP errors": result.http_errors,
                    "socket errors": result.socket_errors,
                    "requests": f"{result.requests:,}",
                    "warm-up s": row["warm_up"],
                    "load avg": f"{row['load']:.1f}",
                    "vs peer": versus(row["request"], result, peers),
                }
            )
    for server, per_second, p50, p99 in QUOTED:
        table.append(
            {
                "server (this run)": server,
                "workers": "?",
                "request": "-",
                "req/s": per_second,
                "p50 ms": p50,
                "p99 ms": p99,
                "HTTP errors": "-",
                "socket errors": "-",
                "requests": "-",
                "warm-up s": "-",
                "load avg": "-",
                "vs peer": "50 clients",
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
    title = (
        f"Serving: {CLIENTS} clients, wrk {wrk_version(wrk)} -t{WRK_THREADS}, "
        f"warm-up until steady + {MEASURED_SECONDS} s measured per row, uvicorn workers "
        f"{' and '.join(map(str, WORKER_COUNTS))}, {os.cpu_count()} CPUs; champion "
        f"{platform['model_uri']} ({platform['model_class']})"
    )
    return title, table_rows(measured)
