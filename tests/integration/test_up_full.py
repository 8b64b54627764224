"""`make up-full` as a newcomer runs it: the platform in full mode on the real services from
scripts/, every feature of embedded mode working, then Ctrl-C leaves none of its processes."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import boto3
import pytest
import sqlalchemy as sa
from websockets.sync.client import connect

from tests.conftest import FIXTURES, REDIS_DATABASES
from tests.e2e.test_web import LiveApi, run_the_page_in_chromium
from tests.integration.test_up import (
    ROOT,
    call,
    free_port,
    get_json,
    launch_from_the_ui,
    make_until_up,
    poll,
    processes_with,
)

pytestmark = [pytest.mark.integration, pytest.mark.e2e, pytest.mark.slow]


def next_event(websocket, channel: str, seconds: float) -> dict:  # type: ignore[no-untyped-def]
    """The data of the next event on `channel` (heartbeats and other channels skipped)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        message = json.loads(websocket.recv(timeout=max(0.1, deadline - time.monotonic())))
        if message["type"] == "event" and message["channel"] == channel:
            return message["data"]  # type: ignore[no-any-return]
    raise AssertionError(f"no event on {channel} in {seconds:.0f} s")


def read_api(url: str, seconds: float = 60) -> dict:
    """GET an API read as a client told to retry does: in full mode on chDB the warehouse is a
    directory the processes take turns on, and while a pipeline run writes (the inbox file's
    cleaning, the runs automation starts after it) a read that cannot have it in time answers
    503 with Retry-After (as does any store that misses DEPENDENCY_TIMEOUT_SECONDS on a loaded
    machine). Any other error, or a 503 past `seconds`, fails the test."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            return get_json(url)
        except urllib.error.HTTPError as error:
            if error.code != 503 or time.monotonic() > deadline:
                raise
            time.sleep(min(5.0, float(error.headers.get("Retry-After") or 1)))


@pytest.mark.timeout(1800)  # a fresh machine installs Kafka, PostgreSQL, Redis, Chromium first
def test_make_up_full_runs_every_feature_on_the_real_services(
    tmp_path: Path, redis_url: str, kafka_bootstrap: str, mlflow_server: str
) -> None:
    # The session's services are up first (the fixtures install and start them with the same
    # scripts): up-full then leaves them running when it stops, as it does for a user's, and
    # tests running beside this one in other workers keep them.
    run = uuid.uuid4().hex[:8]
    data_dir = tmp_path / "full-var"
    api_port, dagster_port, relay_port = free_port(), free_port(), free_port()
    api, relay = f"http://127.0.0.1:{api_port}", f"ws://127.0.0.1:{relay_port}/v1/stream"
    env = {
        **os.environ,
        "TICKERPULSE_DATA_DIR": str(data_dir),
        "API_PORT": str(api_port),
        "DAGSTER_PORT": str(dagster_port),
        "RELAY_PORT": str(relay_port),
        # Shared servers, private state: databases, registry names and consumer group of this run.
        "TP_FULL_RAW_DB": f"tpfull_raw_{run}",
        "TP_FULL_DAGSTER_DB": f"tpfull_dagster_{run}",
        "MODEL_NAME": f"tpfull-{run}",
        "RELAY_GROUP": f"tpfull-relay-{run}",
        "TP_FULL_REDIS_CACHE_DB": str(REDIS_DATABASES["up_full_cache"]),
        "TP_FULL_REDIS_BROKER_DB": str(REDIS_DATABASES["up_full_broker"]),
        "METRICS_INTERVAL_SECONDS": "2",
    }
    # A fresh machine installs Kafka, PostgreSQL, Redis and Prometheus first.
    process, text = make_until_up("up-full", env, 900)
    try:
        assert "prediction worker 2" in text and "metrics publisher" in text, text

        # Every store is the full-mode one.
        ready = {d["name"]: d for d in get_json(f"{api}/readyz")["dependencies"]}
        assert ready["operational_store"]["detail"] == "postgresql"
        assert ready["cache"]["detail"] == "RedisCache"
        assert ready["events"]["detail"].startswith("KafkaBus")
        assert ready["registry"]["detail"].startswith("http://127.0.0.1:")
        assert ready["warehouse"]["detail"] == "5 tickers"
        assert (data_dir / "clickhouse" / "metadata").is_dir()  # chDB's ClickHouse data dir

        # A CSV dropped into the S3 inbox: the inbox sensor of `dagster dev`'s daemon takes it.
        s3 = boto3.client(
            "s3",
            endpoint_url="http://127.0.0.1:25900",
            aws_access_key_id="testing",  # up-full's defaults for moto_server
            aws_secret_access_key="testing",
            region_name="us-east-1",
        )
        dropped = f"X{run[:6].upper()}"
        s3.upload_file(str(FIXTURES / "dirty.csv"), "tickerpulse", f"inbox/{dropped}.csv")

        forecast = read_api(f"{api}/v1/forecasts/ACME")["forecasts"][0]
        # Prices and features come out of the ClickHouse tables, ending where the forecast starts.
        window = f"start=2026-11-02&end={forecast['as_of']}"
        bars = read_api(f"{api}/v1/prices/ACME?{window}")["prices"]
        assert bars[-1]["date"] == forecast["as_of"]
        assert bars[-1]["close"] == pytest.approx(forecast["last_close"])
        features = read_api(f"{api}/v1/features/ACME?{window}")["rows"]
        assert [row["date"] for row in features] == [bar["date"] for bar in bars]
        assert all(value is not None for value in features[-1]["values"].values())
        champion = get_json(
            f"{ready['registry']['detail']}/api/2.0/mlflow/registered-models/alias"
            f"?name=tpfull-{run}-h1&alias=champion"
        )
        assert champion["model_version"]["version"] == forecast["model_version"]
        with urllib.request.urlopen(f"{api}/", timeout=10) as page:
            assert f'<meta name="tickerpulse-stream" content="{relay}" />' in page.read().decode()

        # The key command `up` prints reaches the same (PostgreSQL) key store as the API.
        hint = re.search(r"API key\s+(.+?)\s+\(predict, retrain\)", text)
        assert hint and f"tpfull_raw_{run}" in hint.group(1), text
        key, client_key = (
            subprocess.run(
                ["bash", "-c", command],
                cwd=ROOT,
                env=os.environ,
                capture_output=True,
                text=True,
                check=True,
            ).stdout.strip()
            for command in (hint.group(1), hint.group(1).replace(" --role admin", ""))
        )

        # The relay service streams a prediction the API makes, and the publisher's metrics.
        with connect(f"{relay}?channels=predictions:ACME,metrics&token={key}") as websocket:
            time.sleep(3)  # the relay's consumers join their groups
            made = call(f"{api}/v1/predictions", {"ticker": "ACME", "horizon": 1}, key)
            assert next_event(websocket, "predictions:ACME", 60)["id"] == made["id"]
            assert "tickerpulse_http_requests_total" in json.dumps(
                next_event(websocket, "metrics", 60)
            )

        # Prediction requests go over Kafka to the two worker processes.
        accepted = call(f"{api}/v1/prediction-requests", {"tickers": ["ACME", "GLOBEX"]}, key)
        answered = poll(f"{api}/v1/prediction-requests/{accepted['id']}", {"done"}, 120)
        assert answered["state"] == "done" and answered["done"] == 4, answered

        # The web page, in Chromium, as in embedded mode: its live feed comes from the relay
        # service the page was told of. Its retrain goes through the API to the Celery worker on
        # Redis, which runs it in Dagster; the page waits for the run to succeed.
        run_the_page_in_chromium(
            LiveApi(api, key, client_key), ROOT / "var" / "artifacts" / "web-full"
        )

        # The Dagster UI's launch goes through the queued run coordinator to the daemon; runs
        # land in PostgreSQL and their compute logs in S3.
        assert launch_from_the_ui(dagster_port) == "SUCCESS"
        dagster_db = sa.create_engine(
            f"postgresql://tickerpulse@127.0.0.1:25432/tpfull_dagster_{run}"
        )
        with dagster_db.connect() as connection:
            run_ids = connection.execute(sa.text("select run_id from runs")).scalars().all()
        dagster_db.dispose()
        assert len(run_ids) >= 5  # four from up's materialization, the retrain, the launch
        logged = {
            item["Key"].split("/")[2]
            for page in s3.get_paginator("list_objects_v2").paginate(
                Bucket="tickerpulse", Prefix="dagster-compute-logs/storage/"
            )
            for item in page.get("Contents", [])
        }
        assert set(run_ids) & logged, (run_ids, sorted(logged)[:5])

        # The dropped file was ingested (its good rows stored, the rest quarantined) and filed.
        report_key = f"inbox/processed/{dropped}.csv.report.json"
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            listed = s3.list_objects_v2(Bucket="tickerpulse", Prefix=report_key)
            if listed.get("KeyCount"):
                break
            time.sleep(2)
        report = json.loads(s3.get_object(Bucket="tickerpulse", Key=report_key)["Body"].read())
        assert (report["stored"], report["rejected"]) == (4, 7), report
        assert dropped in {t["symbol"] for t in read_api(f"{api}/v1/tickers")}

        # Prometheus scrapes this API and relay.
        deadline = time.monotonic() + 60
        health: dict[str, str] = {}
        while time.monotonic() < deadline and set(health.values()) != {"up"}:
            targets = get_json("http://127.0.0.1:29090/api/v1/targets")["data"]["activeTargets"]
            health = {t["scrapeUrl"]: t["health"] for t in targets}
            time.sleep(2)
        assert health == {
            f"{api}/metrics": "up",
            f"http://127.0.0.1:{relay_port}/metrics": "up",
        }, health
    finally:
        os.killpg(process.pid, signal.SIGINT)  # what Ctrl-C in a terminal does
        rest, _ = process.communicate(timeout=120)
    stopped = rest
    assert "Stopped everything `tickerpulse up` started." in stopped, stopped
    deadline = time.monotonic() + 30
    while processes_with(str(data_dir)) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert processes_with(str(data_dir)) == []
