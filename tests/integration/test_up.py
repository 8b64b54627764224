"""`tickerpulse up` as a newcomer runs it: a served forecast, then Ctrl-C leaves nothing behind."""

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow
BLOCKING_CHECKS = [
    "raw_prices_every_ticker_has_rows",
    "clean_prices_schema",
    "clean_prices_ohlc_consistent",
    "clean_prices_unique_days",
    "price_features_usable",
    "price_model_promotion_gate",
    "price_forecasts_intervals_ordered",
]
ROOT = Path(__file__).parents[2]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def processes_with(marker: str) -> list[int]:
    """PIDs whose environment mentions marker: everything `up` started, at any depth."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and int(entry.name) != os.getpid():
            try:
                if marker.encode() in (entry / "environ").read_bytes():
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


def get_json(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=10) as response:
        return json.loads(response.read())  # type: ignore[no-any-return]


def launch_from_the_ui(port: int) -> str:
    """Materialize `forecast_accuracy` through the webserver's GraphQL API, as the UI's button on
    the asset's page does: a run of its job with the asset selected. The run takes the path every
    launch takes (webserver, run queue, daemon, run worker) without another training: the tests
    that call this check a training elsewhere."""
    from dagster_graphql import DagsterGraphQLClient

    client = DagsterGraphQLClient("127.0.0.1", port_number=port)
    run_id = client.submit_job_execution(
        "train_and_forecast",
        repository_location_name="orchestration.definitions",
        repository_name="__repository__",
        asset_selection=["forecast_accuracy"],
    )
    # A bound, not a measure: a loaded 2-core machine trained this in over 180 s (one run).
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        status = client.get_run_status(run_id).value
        if status in ("SUCCESS", "FAILURE", "CANCELED"):
            return str(status)
        time.sleep(1)
    return "TIMEOUT"


def call(url: str, body: dict | None = None, key: str = "") -> dict:
    """GET, or POST `body` as JSON, with an API key; the JSON answer."""
    request = urllib.request.Request(
        url,
        data=None if body is None else json.dumps(body).encode(),
        method="GET" if body is None else "POST",
        headers={"X-API-Key": key, "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=20) as response:
        return json.loads(response.read())  # type: ignore[no-any-return]


def poll(url: str, done: set[str], seconds: float) -> dict:
    """GET url until its `state` is one of `done` (or the time is up); the last answer."""
    deadline = time.monotonic() + seconds
    state = get_json(url)
    while state["state"] not in done and time.monotonic() < deadline:
        time.sleep(1)
        state = get_json(url)
    return state


def retrain_through_the_api(api: str, key: str, seconds: float) -> dict:
    """The retrain a person asks the API for, as `up`'s own Celery worker takes it: the run as
    the API reports it once the worker's Dagster run has made progress (or ended, or the time
    is up). How a retrain ends is test_training_runs' and test_web's, on the same broker; what
    this adds is that `up` starts a worker that takes it, and that Ctrl-C mid-training stops it:
    Celery's warm shutdown waits for the task, and the launcher kills the worker's group at
    its 20 s stop deadline (launcher/supervise.py stop_all)."""
    run = call(f"{api}/v1/training-runs", {}, key)
    url, deadline = f"{api}/v1/training-runs/{run['id']}", time.monotonic() + seconds
    state = get_json(url)
    while state["state"] in ("queued", "running") and state["progress"] == 0:
        if time.monotonic() > deadline:
            break
        time.sleep(0.5)
        state = get_json(url)
    return state


def make_until_up(
    target: str, env: dict[str, str], seconds: float
) -> tuple[subprocess.Popen[str], str]:
    """`make TARGET` as the README says, in a process group of its own like a terminal's
    foreground job, read until it says it is up; its output so far. Every blocking check passed."""
    process = subprocess.Popen(
        ["make", target],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    output: list[str] = []
    try:
        deadline = time.monotonic() + seconds
        assert process.stdout is not None
        for line in process.stdout:
            output.append(line)
            if "Press Ctrl-C to stop." in line or time.monotonic() > deadline:
                break
        text = "".join(output)
        assert "TickerPulse is up." in text, text
        for check in BLOCKING_CHECKS:
            assert re.search(rf"check {check}\s+passed", text), f"{check} did not pass:\n{text}"
    except BaseException:
        os.killpg(process.pid, signal.SIGINT)
        raise
    return process, text


def test_make_up_serves_a_forecast_and_ctrl_c_stops_everything(tmp_path: Path) -> None:
    data_dir = tmp_path / "up-var"
    api_port, dagster_port, mlflow_port = free_port(), free_port(), free_port()
    env = {
        **os.environ,
        "TICKERPULSE_DATA_DIR": str(data_dir),
        "API_PORT": str(api_port),
        "DAGSTER_PORT": str(dagster_port),
        "MLFLOW_UI_PORT": str(mlflow_port),
    }
    process, text = make_until_up("up", env, 300)
    try:
        if shutil.which("npm"):  # `make up` built the web page, and the API serves it at /
            with urllib.request.urlopen(f"http://127.0.0.1:{api_port}/", timeout=10) as page:
                assert '<div id="root">' in page.read().decode()
            assert re.search(r"Web page\s+http://127\.0\.0\.1:\d+/", text), text
        forecast = get_json(f"http://127.0.0.1:{api_port}/v1/forecasts/ACME")
        assert (
            forecast["forecasts"][0]["interval_80"]["lower"] < forecast["forecasts"][0]["forecast"]
        )
        info = urllib.request.urlopen(f"http://127.0.0.1:{dagster_port}/server_info", timeout=10)
        assert info.status == 200
        # The MLflow UI that price_model's run links point to serves this store's registry.
        champion = get_json(
            f"http://127.0.0.1:{mlflow_port}/api/2.0/mlflow/registered-models/alias"
            "?name=tickerpulse-price-h1&alias=champion"
        )
        assert champion["model_version"]["version"] == forecast["forecasts"][0]["model_version"]
        assert len(processes_with(str(data_dir))) >= 3  # dagster dev and its children, uvicorn
        assert launch_from_the_ui(dagster_port) == "SUCCESS"
        key = subprocess.run(
            [str(ROOT / ".venv/bin/tickerpulse"), "apikey", "create", "ops", "--role", "admin"],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        run = retrain_through_the_api(f"http://127.0.0.1:{api_port}", key, 240)
        assert run["state"] == "running" and run["progress"] > 0 and run["dagster_run_id"], run
    finally:
        os.killpg(process.pid, signal.SIGINT)  # what Ctrl-C in a terminal does
        rest, _ = process.communicate(timeout=60)
    assert "Stopped everything" in rest
    time.sleep(1)
    assert processes_with(str(data_dir)) == []
