"""Training runs through the API, a real Redis broker and a real Celery worker process that
materializes the training job in the Dagster instance; the worker is killed mid-run."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import dagster as dg
import pytest
from fastapi.testclient import TestClient

from serving.app import create_app
from tests.conftest import ROOT, copy_platform, redis_database
from tickerpulse.settings import Settings
from tickerpulse.stores.api_keys import ApiKeyStore
from tickerpulse.stores.operational import OperationalStore
from tickerpulse.stores.registry import ModelRegistry

pytestmark = pytest.mark.slow
VISIBILITY_SECONDS = 20  # how soon Redis hands a killed worker's task out again


@pytest.fixture
def platform_copy(materialized_platform: Path, tmp_path: Path) -> Path:
    """Training writes models and forecasts: each test trains on its own copy."""
    data_dir = tmp_path / "var"
    copy_platform(materialized_platform, data_dir)
    (data_dir / "dagster").mkdir(exist_ok=True)
    return data_dir


@pytest.fixture
def broker(request: pytest.FixtureRequest, platform_copy: Path) -> str:
    """The Celery broker a test names by indirect parametrization: each broker's test trains
    once (a training is the suite's costliest step), the embedded SQLite one to the end, Redis
    through a killed worker and its replacement to the end."""
    if request.param == "embedded":
        return f"sqla+sqlite:///{platform_copy / 'celery.db'}"
    # Redis, in a database of its own: no other test's tasks, no other test's workers.
    return redis_database(str(request.getfixturevalue("redis_url")), "training_runs_broker")


@pytest.fixture
def worker_env(platform_copy: Path, broker: str, tmp_path: Path) -> dict[str, str]:
    return os.environ | {
        "TICKERPULSE_DATA_DIR": str(platform_copy),
        "DAGSTER_HOME": str(platform_copy / "dagster"),
        "CELERY_BROKER_URL": broker,
        "CELERY_VISIBILITY_TIMEOUT_SECONDS": str(VISIBILITY_SECONDS),
        "TP_CELERY_DIR": str(tmp_path / "celery"),
    }


@pytest.fixture
def worker(worker_env: dict[str, str]) -> Iterator[Callable[[str], None]]:
    def run(action: str) -> None:
        done = subprocess.run(
            [str(ROOT / "scripts" / "celery.sh"), action],
            env=worker_env,
            capture_output=True,
            text=True,
            timeout=180,
        )
        assert done.returncode == 0, f"scripts/celery.sh {action}:\n{done.stderr}"

    if worker_env["CELERY_BROKER_URL"].startswith("redis"):
        import redis

        redis.Redis.from_url(worker_env["CELERY_BROKER_URL"]).flushdb()
    yield run
    run("kill")


@pytest.fixture
def client(worker_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Iterator[TestClient]:
    for name in ("TICKERPULSE_DATA_DIR", "CELERY_BROKER_URL", "CELERY_VISIBILITY_TIMEOUT_SECONDS"):
        monkeypatch.setenv(name, worker_env[name])
    settings = Settings()  # type: ignore[call-arg]
    key = ApiKeyStore(OperationalStore(settings.raw_db_url)).create("trainer", role="admin")
    with TestClient(create_app(settings), headers={"X-API-Key": key}) as test_client:
        yield test_client


def poll(client: TestClient, run_id: str, until: Callable[[dict], bool], seconds: float) -> dict:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        run = client.get(f"/v1/training-runs/{run_id}").json()
        if until(run):
            return run
        time.sleep(1)
    raise AssertionError(f"training run never got there in {seconds:.0f} s; last seen: {run}")


def queue_depth(client: TestClient, expected: float) -> float:
    """The gauge once it shows `expected` (it is read at most every 2 s), or its last value."""
    for _ in range(10):
        text = client.get("/metrics").text
        line = next(x for x in text.splitlines() if x.startswith("tickerpulse_celery_queue_depth"))
        value = float(line.rsplit(" ", 1)[1])
        if value == expected:
            break
        time.sleep(0.5)
    return value


def follow(client: TestClient, run_id: str, first: dict, seconds: float = 600) -> list[dict]:
    """The run as seen every half second from `first` until it is no longer running."""
    seen, deadline = [first], time.monotonic() + seconds
    while seen[-1]["state"] == "running":
        assert time.monotonic() < deadline, f"still running after {seconds:.0f} s: {seen[-1]}"
        time.sleep(0.5)
        seen.append(client.get(f"/v1/training-runs/{run_id}").json())
    return seen


def assert_progress_moved_forward(seen: list[dict]) -> None:
    progress = [r["progress"] for r in seen]
    assert progress == sorted(progress), "progress went backwards"
    assert any(0 < p < 1 for p in progress), f"no progress seen between 0 and 1: {progress}"


@pytest.mark.parametrize("broker", ["embedded"], indirect=True)
def test_a_training_run_is_a_dagster_run_with_progress_and_mlflow_runs(
    client: TestClient, worker: Callable[[str], None], worker_env: dict[str, str]
) -> None:
    worker("start")
    run = client.post("/v1/training-runs", json={}).json()
    seen = follow(client, run["id"], poll(client, run["id"], lambda r: r["state"] != "queued", 120))
    done = seen[-1]
    assert done["state"] == "succeeded", done["error"]
    assert done["attempts"] == 1 and done["progress"] == 1.0 and done["error"] is None
    assert_progress_moved_forward(seen)
    assert_finished_in_dagster_and_mlflow(done, run["id"], worker_env)


def assert_finished_in_dagster_and_mlflow(
    done: dict, run_id: str, worker_env: dict[str, str]
) -> None:
    assert done["dagster_run_url"].endswith(f"/runs/{done['dagster_run_id']}")
    assert set(done["mlflow_run_ids"]) == {"h1", "h5"}
    with dg.DagsterInstance.from_config(worker_env["DAGSTER_HOME"]) as instance:
        finished = instance.get_run_by_id(done["dagster_run_id"])
        assert finished is not None and finished.status == dg.DagsterRunStatus.SUCCESS
        assert finished.tags["tickerpulse/training_run"] == run_id
    # The MLflow runs it names are this training's: finished, after the run was requested.
    settings = Settings()  # type: ignore[call-arg]
    registry = ModelRegistry(settings.mlflow_tracking_uri, settings.mlflow_artifact_uri)
    for mlflow_run_id in done["mlflow_run_ids"].values():
        mlflow_run = registry.client.get_run(mlflow_run_id)
        assert mlflow_run.info.status == "FINISHED"
        assert (
            mlflow_run.info.start_time / 1000
            >= dt.datetime.fromisoformat(done["created_at"]).replace(tzinfo=dt.UTC).timestamp() - 1
        )


@pytest.mark.integration
@pytest.mark.parametrize("broker", ["redis"], indirect=True)  # SQLite's does not redeliver
def test_a_training_run_survives_its_worker_being_killed(
    client: TestClient, worker: Callable[[str], None], worker_env: dict[str, str]
) -> None:
    submitted = client.post("/v1/training-runs", json={})
    assert submitted.status_code == 202, submitted.text
    run = submitted.json()
    assert run["state"] == "queued" and submitted.headers["location"].endswith(run["id"])
    assert queue_depth(client, 1) == 1  # no worker yet

    again = client.post("/v1/training-runs", json={"scope": "tickerpulse-price"})
    assert again.status_code == 200 and again.json()["id"] == run["id"]

    worker("start")
    running = poll(client, run["id"], lambda r: r["progress"] > 0, 240)
    assert running["state"] == "running" and running["attempts"] == 1
    first_dagster_run = running["dagster_run_id"]
    worker("kill")  # mid-task: the task was never acknowledged

    time.sleep(3)
    stalled = client.get(f"/v1/training-runs/{run['id']}").json()
    assert stalled["state"] == "running" and stalled["dagster_run_id"] == first_dagster_run

    worker("start")  # a new worker; Redis hands the task out again after the visibility timeout
    retried = poll(client, run["id"], lambda r: r["attempts"] == 2 or r["state"] != "running", 600)
    seen = follow(client, run["id"], retried)
    done = seen[-1]
    assert done["state"] == "succeeded", done["error"]
    assert_progress_moved_forward(seen)  # the second attempt's, from its own start
    assert done["attempts"] == 2 and done["progress"] == 1.0 and done["error"] is None
    assert done["dagster_run_id"] != first_dagster_run
    assert_finished_in_dagster_and_mlflow(done, run["id"], worker_env)
    # The killed attempt is marked failed in the instance, not left "started" for ever.
    with dg.DagsterInstance.from_config(worker_env["DAGSTER_HOME"]) as instance:
        lost = instance.get_run_by_id(first_dagster_run)
        assert lost is not None and lost.status == dg.DagsterRunStatus.FAILURE
    assert queue_depth(client, 0) == 0

    # The scope is free again: a new submission is a new run.
    assert client.post("/v1/training-runs", json={}).json()["id"] != run["id"]
