"""Asynchronous prediction requests on a real Kafka broker, answered by a consumer group of
two worker processes (`python -m serving.prediction_worker`)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient
from fastapi.testclient import TestClient

from serving.app import create_app
from tests.conftest import (
    ROOT,
    PrivateService,
    copy_platform,
    dead_letters,
    free_port,
    hostile_messages,
    produce_raw,
)
from tests.integration.test_serving_services import consume_ids
from tickerpulse.answering import REQUESTS_TOPIC, WORKER_GROUP
from tickerpulse.settings import Settings, get_settings
from tickerpulse.stores.api_keys import ApiKeyStore
from tickerpulse.stores.operational import OperationalStore

pytestmark = [pytest.mark.integration, pytest.mark.slow]
TICKERS = ["ACME", "GLOBEX", "GOOG", "INITECH", "SPX"]


@contextmanager
def started_workers(data_dir: Path, bootstrap: str, logs: Path) -> Iterator[list[subprocess.Popen]]:
    """Two `python -m serving.prediction_worker` processes on `data_dir`, stopped with SIGTERM."""
    env = os.environ | {"TICKERPULSE_DATA_DIR": str(data_dir), "EVENTS_URL": f"kafka://{bootstrap}"}
    started = []
    for number in range(2):
        log = (logs / f"worker-{number}.log").open("wb")
        started.append(
            subprocess.Popen(
                [sys.executable, "-m", "serving.prediction_worker"],
                cwd=ROOT,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        )
    try:
        yield started
    finally:
        for process in started:
            process.send_signal(signal.SIGTERM)
    for process in started:
        assert process.wait(30) == 0, "a worker did not stop cleanly on SIGTERM"


@pytest.fixture(scope="module")
def kafka_bootstrap(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A broker of this file's own, not the session's: `make up-full` (test_up_full, which
    xdist runs beside this file) starts two prediction workers in the same group on the same
    topic, so a partition these tests write to could be handed to them. One fresh-clone run
    failed so, two of its four dead letters never seen."""
    service = PrivateService(
        "kafka",
        {
            "TP_KAFKA_PORT": str(free_port()),
            "TP_KAFKA_CONTROLLER_PORT": str(free_port()),
            "TP_KAFKA_DIR": str(tmp_path_factory.mktemp("kafka")),
        },
    )
    try:
        yield service.start()
    finally:
        service.stop()


@pytest.fixture
def workers(
    materialized_platform: Path, kafka_bootstrap: str, tmp_path: Path
) -> Iterator[list[subprocess.Popen]]:
    with started_workers(materialized_platform, kafka_bootstrap, tmp_path) as started:
        yield started


@pytest.fixture
def platform_copy(materialized_platform: Path, tmp_path: Path) -> Path:
    """A copy of the demo platform for a test whose processes write to its operational store."""
    copy = tmp_path / "var"
    copy_platform(materialized_platform, copy)
    return copy


def group_members(bootstrap: str, seconds: float) -> int:
    """Members of the worker group once both joined (or what there is after `seconds`)."""
    admin = AdminClient({"bootstrap.servers": bootstrap})
    deadline = time.monotonic() + seconds
    members = 0
    while time.monotonic() < deadline:
        future = admin.describe_consumer_groups([WORKER_GROUP])[WORKER_GROUP]
        try:
            group = future.result(timeout=10)
        except KafkaException:  # on a new broker the group does not exist until one joins
            time.sleep(1)
            continue
        members = len(group.members)
        if members == 2 and str(group.state).endswith("STABLE"):
            return members
        time.sleep(1)
    return members


def request_answered(settings: Settings, key_name: str, tickers: list[str]) -> dict:
    """POST a prediction request through the API on Kafka and poll it until done (or 120 s);
    its last status."""
    settings = settings.model_copy(update={"prediction_worker_in_api": None})
    key = ApiKeyStore(OperationalStore(settings.raw_db_url)).create(key_name)
    with TestClient(create_app(settings), headers={"X-API-Key": key}) as client:
        accepted = client.post("/v1/prediction-requests", json={"tickers": tickers})
        assert accepted.status_code == 202
        status: dict = accepted.json()
        deadline = time.monotonic() + 120
        while status["state"] != "done" and time.monotonic() < deadline:
            time.sleep(0.5)
            status = client.get(f"/v1/prediction-requests/{status['id']}").json()
    return status


def test_a_consumer_group_of_workers_answers_a_request(
    platform_settings: Settings,
    kafka_bootstrap: str,
    workers: list[subprocess.Popen],
) -> None:
    settings = platform_settings.model_copy(
        update={"events_url": f"kafka://{kafka_bootstrap}", "prediction_worker_in_api": None}
    )
    assert not settings.answers_prediction_requests  # on Kafka the workers do
    assert group_members(kafka_bootstrap, 90) == 2
    status = request_answered(settings, "kafka-batch", TICKERS)
    request_id = status["id"]
    assert status["state"] == "done", status
    assert status["done"] == 10 and status["failed"] == 0
    assert {(r["ticker"], r["horizon"]) for r in status["results"]} == {
        (t, h) for t in TICKERS for h in (1, 5)
    }
    # Every answer was also published to `predictions`, for the relay's subscribers.
    wanted = {f"{request_id}-{t}-{h}" for t in TICKERS for h in (1, 5)}
    assert set(consume_ids(kafka_bootstrap, "predictions", wanted, 60)) == wanted
    assert all(process.poll() is None for process in workers)


def test_malformed_requests_go_to_dead_letters_and_the_workers_go_on(
    platform_copy: Path, kafka_bootstrap: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TICKERPULSE_DATA_DIR", str(platform_copy))
    get_settings.cache_clear()
    with started_workers(platform_copy, kafka_bootstrap, tmp_path) as workers:
        assert group_members(kafka_bootstrap, 90) == 2
        tag = uuid.uuid4().hex
        # A message that parses but is no request: an object without a ticker.
        hostile = [*hostile_messages(tag), json.dumps({"request_id": tag}).encode()]
        # One key: the same partition, ahead of the real request (a worker that stops on the first
        # would never answer it).
        produce_raw(kafka_bootstrap, REQUESTS_TOPIC, hostile, key=b"ACME")
        settings = get_settings().model_copy(update={"events_url": f"kafka://{kafka_bootstrap}"})
        status = request_answered(settings, "kafka-hostile", ["ACME"])
        assert (status["state"], status["done"], status["failed"]) == ("done", 2, 0)
        kept = dead_letters(kafka_bootstrap, hostile)
        assert set(kept) == set(hostile)
        assert {kept[m]["topic"] for m in hostile} == {REQUESTS_TOPIC}
        assert "ticker" in kept[hostile[-1]]["reason"]
        assert all(process.poll() is None for process in workers)
