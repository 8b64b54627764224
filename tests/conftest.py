"""Shared fixtures: every test gets its own data dir, so state never leaks between tests."""

from __future__ import annotations

import fcntl
import os
import shutil
import socket
import sqlite3
import subprocess
import time
import uuid
from collections.abc import Iterator
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from fastapi.testclient import TestClient

from tickerpulse.settings import Settings, get_settings
from tickerpulse.stores.operational import OperationalStore

FIXTURES = Path(__file__).parent / "fixtures"
ROOT = Path(__file__).parents[1]

# Walk-forward on the last 378 sessions (6 folds of 63) rather than the default 2,000: the
# suite's pipelines, `make up`s and retrains train the demo about fifteen times, and what
# those tests check is the path (registered, gated, served), not the figures a longer
# evaluation gives. Set before any Settings is read, so the processes tests start inherit
# it; the tests about the walk-forward's own figures set their own (test_evaluate.py).
os.environ.setdefault("WALK_FORWARD_TEST_SESSIONS", "378")


@pytest.fixture(autouse=True)
def _fresh_settings() -> Iterator[None]:
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


@pytest.fixture
def settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    monkeypatch.setenv("TICKERPULSE_DATA_DIR", str(tmp_path / "var"))
    get_settings.cache_clear()
    return get_settings()


# The session's services, stopped when the session ends (PostgreSQL is left running: its
# databases are per test). Under pytest-xdist every worker shares them, so only the controller
# stops them, once all workers are done (pytest_sessionfinish below).
STOPPED_AT_THE_END = ("mlflow", "kafka", "redis", "moto")


def xdist_worker() -> bool:
    return "PYTEST_XDIST_WORKER" in os.environ


def pytest_sessionfinish(session: pytest.Session) -> None:
    workers = getattr(session.config.option, "numprocesses", None)
    if workers and not xdist_worker():
        for name in STOPPED_AT_THE_END:
            subprocess.run([str(ROOT / "scripts" / f"{name}.sh"), "stop"], check=False, timeout=120)


# The files whose tests take minutes each (`make up-full`, `make up`, trainings in worker
# processes, the browser): they start first, longest first, so that under xdist they run
# beside the many short files instead of forming the session's tail alone on one worker. The
# sort is stable, so every other file keeps pytest-randomly's order (`make test` passes
# --no-loadscope-reorder: xdist would otherwise order files by how many tests they hold).
STARTS_FIRST = (
    "test_up_full.py",
    "test_up.py",
    "test_training_runs.py",
    "test_web.py",
    "test_mlflow_server.py",
    "test_cli_materialize.py",
)


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    rank = {name: place for place, name in enumerate(STARTS_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(STARTS_FIRST)))


def stop_at_session_end(name: str) -> None:
    """A session fixture's teardown: stop the service unless xdist's controller will."""
    if not xdist_worker():
        service_script(name, "stop")


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str]:
    """A real PostgreSQL, installed and started by the project's own script."""
    yield service_script("postgres")


def service_script(
    name: str, action: str = "start", timeout: int = 600, env: dict[str, str] | None = None
) -> str:
    """Run scripts/NAME.sh ACTION; its last line (the service's address) on success.
    One start at a time per service across processes: xdist's workers ask for the same
    session services together, and a script that installs or starts a server must not race
    itself."""
    locks = ROOT / "var" / "test-locks"
    locks.mkdir(parents=True, exist_ok=True)
    with open(locks / f"{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        done = subprocess.run(
            [str(ROOT / "scripts" / f"{name}.sh"), action],
            capture_output=True,
            text=True,
            timeout=timeout,
            env={**os.environ, **(env or {})},
        )
    assert done.returncode == 0, f"scripts/{name}.sh {action} failed:\n{done.stderr}"
    lines = done.stdout.strip().splitlines()
    return lines[-1] if lines else ""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class PrivateService:
    """scripts/NAME.sh run with `env` (its port and state folder): for a test that stops the
    service, so that stopping it never touches the session's, which other tests (and other
    xdist workers) are using at the same time."""

    name: str
    env: dict[str, str]
    address: str = ""

    def run(self, action: str) -> str:
        return service_script(self.name, action, timeout=600, env=self.env)

    def start(self) -> str:
        self.address = self.run("start")
        return self.address

    def stop(self) -> None:
        self.run("stop")


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[PrivateService]:
    service = PrivateService(
        "redis", {"TP_REDIS_PORT": str(free_port()), "TP_REDIS_DIR": str(tmp_path / "redis")}
    )
    service.start()
    yield service
    service.stop()


@pytest.fixture
def private_kafka(tmp_path: Path) -> Iterator[PrivateService]:
    service = PrivateService(
        "kafka",
        {
            "TP_KAFKA_PORT": str(free_port()),
            "TP_KAFKA_CONTROLLER_PORT": str(free_port()),
            "TP_KAFKA_DIR": str(tmp_path / "kafka"),
        },
    )
    service.start()
    yield service
    service.stop()


@pytest.fixture
def private_mlflow(
    postgres_server: str, s3_endpoint: str, tmp_path: Path
) -> Iterator[PrivateService]:
    """An MLflow server of the test's own on the session's PostgreSQL and S3."""
    service = PrivateService(
        "mlflow", {"TP_MLFLOW_PORT": str(free_port()), "TP_MLFLOW_DIR": str(tmp_path / "mlflow")}
    )
    service.start()
    yield service
    service.stop()


def metric_in(text: str, name: str) -> float:
    """A sample's value in Prometheus text: `name` is the metric's name, or its name with
    labels as exposed (`tickerpulse_events_total{outcome="dropped"}`); 0 when absent."""
    for line in text.splitlines():
        if line.startswith(name + " ") or line.startswith(name + "{"):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def metric(client: TestClient, name: str) -> float:
    """A sample's value from the app's /metrics (see metric_in)."""
    return metric_in(client.get("/metrics").text, name)


def hostile_messages(tag: str) -> list[bytes]:
    """Messages no consumer of the platform can handle, each naming `tag` so a test finds its
    own: not JSON, JSON that is not an object, and a 2 MiB object (over the 1 MiB limit)."""
    import json

    padding = "x" * (2 * 1024 * 1024)
    return [
        f"not json {tag}".encode(),
        json.dumps([tag, 1, 2]).encode(),
        json.dumps({"id": tag, "padding": padding}).encode(),
    ]


def produce_raw(bootstrap: str, topic: str, messages: list[bytes], key: bytes | None) -> None:
    """Messages as bytes, as a foreign or broken producer would write them."""
    from confluent_kafka import Producer

    producer = Producer({"bootstrap.servers": bootstrap, "message.max.bytes": 4 * 1024 * 1024})
    for message in messages:
        producer.produce(topic, message, key=key)
    assert producer.flush(30) == 0, "the messages did not reach the broker"


def dead_letters(
    bootstrap: str, wanted: list[bytes], seconds: float = 60
) -> dict[bytes, dict[str, str]]:
    """The headers of each `wanted` message found on the dead-letters topic (by its bytes)."""
    from confluent_kafka import Consumer, KafkaException
    from confluent_kafka.admin import AdminClient, NewTopic

    try:  # a subscription to a topic that does not exist yet would not see it come
        admin = AdminClient({"bootstrap.servers": bootstrap})
        admin.create_topics([NewTopic("dead-letters", num_partitions=1)])["dead-letters"].result(30)
    except KafkaException:
        pass  # it exists
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"test-dead-letters-{uuid.uuid4().hex}",
            "auto.offset.reset": "earliest",
        }
    )
    consumer.subscribe(["dead-letters"])
    found: dict[bytes, dict[str, str]] = {}
    deadline = time.monotonic() + seconds
    try:
        while time.monotonic() < deadline and set(wanted) - set(found):
            message = consumer.poll(0.5)
            if message is None or message.error() or message.value() not in wanted:
                continue
            headers = {k: v.decode() for k, v in message.headers() or []}
            found[message.value()] = headers
    finally:
        consumer.close()
    return found


def new_topic(bootstrap: str, prefix: str) -> str:
    """A topic of its own with one partition (so offsets are known), on the real broker."""
    from confluent_kafka.admin import AdminClient, NewTopic

    name = f"{prefix}-{uuid.uuid4().hex[:12]}"
    admin = AdminClient({"bootstrap.servers": bootstrap})
    admin.create_topics([NewTopic(name, num_partitions=1)])[name].result(30)
    return name


def closed_with(
    client: TestClient, path: str, *frames: object, messages: int = 10
) -> tuple[int, str]:
    """Open the WebSocket at `path`, send `frames` (a str as text, anything else as JSON), and
    read until the server closes, within `messages` messages: its close code and reason."""
    from starlette.websockets import WebSocketDisconnect

    with (
        client.websocket_connect(path) as websocket,
        pytest.raises(WebSocketDisconnect) as closed,
    ):
        for frame in frames:
            websocket.send_text(frame) if isinstance(frame, str) else websocket.send_json(frame)
        for _ in range(messages):
            websocket.receive_json()
    return closed.value.code, closed.value.reason


def committed_places(bootstrap: str, group: str, topic: str) -> dict[int, int]:
    """`group`'s committed offset on each partition of `topic`, -1 where it has none. Read by a
    consumer of the group that never joins it. Not AdminClient.list_consumer_group_offsets: in
    librdkafka 2.16 its answer to a broker error (a fresh broker still loading its offsets topic)
    reaches rd_kafka_cgrp_op of a client that has no group and the process dies of SIGSEGV."""
    from confluent_kafka import Consumer, KafkaError, KafkaException, TopicPartition

    # Answers of a broker whose group coordinator is still loading or moving: ask again.
    coordinator_moves = {
        KafkaError.COORDINATOR_LOAD_IN_PROGRESS,
        KafkaError.COORDINATOR_NOT_AVAILABLE,
        KafkaError.NOT_COORDINATOR,
    }
    reader = Consumer({"bootstrap.servers": bootstrap, "group.id": group})
    deadline = time.monotonic() + 30
    try:
        partitions = reader.list_topics(topic, timeout=10).topics[topic].partitions
        wanted = [TopicPartition(topic, p) for p in partitions]
        while True:
            try:
                places = reader.committed(wanted, timeout=10)
                return {place.partition: max(place.offset, -1) for place in places}
            except KafkaException as error:
                passing = error.args[0].retriable() or error.args[0].code() in coordinator_moves
                if not passing or time.monotonic() > deadline:
                    raise
                time.sleep(0.5)
    finally:
        reader.close()


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    """A real Redis (Debian package), installed and started by the project's script."""
    yield service_script("redis")
    stop_at_session_end("redis")


# The session's Redis databases, one per user: xdist runs other files' tests beside each other,
# and a Celery worker takes any task in its broker's database (up-full's worker, on database 3,
# once took the task the training-run test had queued in database 3 and was counting).
REDIS_DATABASES = {
    "shared": 0,  # redis_url's: keys under test-specific prefixes
    "training_runs_broker": 4,
    "up_full_cache": 5,  # flushed by up-full at start
    "up_full_broker": 6,
}


def redis_database(redis_url: str, user: str) -> str:
    """The URL of the session Redis's database that belongs to `user` alone."""
    return f"{redis_url.rsplit('/', 1)[0]}/{REDIS_DATABASES[user]}"


@pytest.fixture(scope="session")
def kafka_bootstrap() -> Iterator[str]:
    """A real single-node Kafka in KRaft mode (jars from Maven Central), from the project's script."""
    yield service_script("kafka", timeout=900)
    stop_at_session_end("kafka")


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    """A real S3 endpoint (moto_server, standing in for MinIO), started by the project's script."""
    endpoint = service_script("moto", timeout=120)
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    yield endpoint
    if not xdist_worker():
        subprocess.run([str(ROOT / "scripts" / "moto.sh"), "stop"], check=False, timeout=120)


@pytest.fixture(scope="session")
def mlflow_server(postgres_server: str, s3_endpoint: str) -> Iterator[str]:
    """A real MLflow tracking server (PostgreSQL backend, S3 artifacts) from the project's script."""
    yield service_script("mlflow", timeout=300)
    stop_at_session_end("mlflow")


@dataclass
class S3Inbox:
    resource: Any  # orchestration.resources.InboxResource on the bucket's drop/ prefix
    client: Any  # a boto3 S3 client of the same endpoint
    bucket: str


@pytest.fixture
def s3_inbox(s3_endpoint: str) -> S3Inbox:
    """A new bucket on the real S3 endpoint and the inbox (dagster-aws's S3 resource) on it."""
    from dagster_aws.s3 import S3Resource

    from orchestration.resources import InboxResource

    bucket = f"inbox-{uuid.uuid4().hex[:8]}"
    resource = InboxResource(
        s3_bucket=bucket, s3_prefix="drop/", s3=S3Resource(endpoint_url=s3_endpoint)
    )
    client = S3Resource(endpoint_url=s3_endpoint).get_client()
    client.create_bucket(Bucket=bucket)
    return S3Inbox(resource, client, bucket)


@pytest.fixture
def postgres_database(postgres_server: str) -> Iterator[str]:
    """A fresh database per test, dropped afterwards."""
    import sqlalchemy as sa

    name = f"test_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(postgres_server, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
    yield postgres_server.rsplit("/", 1)[0] + f"/{name}"
    with admin.connect() as connection:
        connection.execute(sa.text(f'DROP DATABASE "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(params=["embedded", pytest.param("full", marks=pytest.mark.integration)])
def store_settings(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Settings:
    """Settings for each deployment in turn, so the same test runs on both: embedded
    (SQLite + Parquet/chDB) and full (PostgreSQL + ClickHouse via clickhouse-connect, on
    chDB's engine in-process since no modern ClickHouse server can be installed here)."""
    monkeypatch.setenv("TICKERPULSE_DATA_DIR", str(tmp_path / "var"))
    if request.param == "full":
        monkeypatch.setenv("RAW_DB_URL", request.getfixturevalue("postgres_database"))
        monkeypatch.setenv("WAREHOUSE_URL", f"clickhouse+chdb://memory/t{uuid.uuid4().hex[:12]}")
    get_settings.cache_clear()
    return get_settings()


@pytest.fixture
def operational_store(store_settings: Settings) -> OperationalStore:
    return OperationalStore(store_settings.raw_db_url)


def build_platform(data_dir: Path) -> None:
    """The demo universe run through every asset once, in a temporary Dagster instance."""
    import dagster as dg

    from orchestration.bootstrap import materialize_everything
    from tickerpulse.demo import load_demo_universe

    previous = os.environ.get("TICKERPULSE_DATA_DIR")
    os.environ["TICKERPULSE_DATA_DIR"] = str(data_dir)
    get_settings.cache_clear()
    try:
        load_demo_universe(OperationalStore(get_settings().raw_db_url))
        with dg.instance_for_test() as instance:
            results = materialize_everything(instance)
            assert len(results) == 3 and all(r.success for r in results)
    finally:
        if previous is None:
            os.environ.pop("TICKERPULSE_DATA_DIR", None)
        else:
            os.environ["TICKERPULSE_DATA_DIR"] = previous
        get_settings.cache_clear()


@pytest.fixture(scope="session")
def materialized_platform(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo universe run through every asset once, in a temporary Dagster instance.

    Under xdist the pipeline runs once for the whole session, not once per worker (it is
    the suite's most expensive fixture): the first worker to ask builds it in the session's
    shared temporary folder, under a lock, and every worker then reads a copy of its own,
    since tests write to the platform's stores (keys, requests, forecasts)."""
    own = tmp_path_factory.mktemp("platform") / "var"
    if not xdist_worker():
        build_platform(own)
        return own
    shared = tmp_path_factory.getbasetemp().parent / "shared-platform"
    shared.mkdir(exist_ok=True)
    with open(shared / "build.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (shared / "built").exists():
            build_platform(shared / "var")
            (shared / "built").touch()
    copy_platform(shared / "var", own)
    return own


def copy_platform(source: Path, target: Path, *leave_out: str) -> None:
    """A copy of a built platform's data dir. Its SQLite databases go through SQLite's backup
    API, not a file copy: the worker that built the platform keeps them open in WAL mode, with
    most of their pages in the -wal file, and a copy of the files (its -shm with them) gave
    two workers in CI a "disk I/O error" on their first write to raw.db. `leave_out`: more
    name patterns not to copy."""
    databases = ("*.db", "*.db-wal", "*.db-shm", "*.db-journal")
    shutil.copytree(source, target, ignore=shutil.ignore_patterns(*databases, *leave_out))
    for database in source.rglob("*.db"):
        if any(part in leave_out for part in database.relative_to(source).parts):
            continue
        copied = target / database.relative_to(source)
        with (
            closing(sqlite3.connect(database)) as reader,
            closing(sqlite3.connect(copied)) as writer,
        ):
            reader.backup(writer)


@pytest.fixture
def platform_settings(materialized_platform: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    monkeypatch.setenv("TICKERPULSE_DATA_DIR", str(materialized_platform))
    get_settings.cache_clear()
    return get_settings()


def synthetic_panel(
    tickers: tuple[str, ...] = ("AAA", "BBB", "CCC"), years: int = 6
) -> pd.DataFrame:
    import datetime as dt

    from tickerpulse.sources.synthetic import SyntheticSource

    source = SyntheticSource(seed=11)
    end = dt.date(2026, 10, 30)
    start = end.replace(year=end.year - years)
    frames = [source.fetch(t, start, end).assign(ticker=t) for t in tickers]
    return pd.concat(frames, ignore_index=True).drop(columns="row_number")
