"""The hostile-case table (issue 15): hostile inputs and failing dependencies, one row each.

A row says what is done (a fault held while one request is made, or a hostile request), the
answer expected, and what counts the things the platform accepted (tickers, prediction
requests, queued training runs). The count is taken before and after: a refused request
leaves nothing behind, and nothing accepted is lost. A dependency fault must be answered
within LIMIT_SECONDS with 503, Retry-After and a problem+json body naming the dependency;
once the fault is lifted, the same request succeeds again.

Every fault is real: a lock held by another connection or process, a server stopped (a
private instance, started by the project's script, so the session's services never stop).
A request that hangs is given a few seconds more than the limit before the fault is lifted,
so the row fails instead of hanging the suite.
"""

from __future__ import annotations

import contextlib
import fcntl
import socket
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
import redis
import sqlalchemy as sa
from fastapi.testclient import TestClient

from tests.conftest import free_port
from tests.hostile.platforms import Platform
from tickerpulse.errors import WarehouseUnavailable
from tickerpulse.stores.warehouse import open_warehouse

LIMIT_SECONDS = 5.0
PROBLEM = "application/problem+json"


Fault = Callable[[Platform], contextlib.AbstractContextManager[None]]


@dataclass(frozen=True)
class Case:
    name: str
    platform: str  # embedded, postgres, private_postgres, shared_chdb, redis
    fault: Fault | None
    method: str
    path: str
    body: Any
    status: int
    dependency: str | None  # named by the 503
    accepted: str  # SQL counting what was accepted; must not move
    recovered: int | None  # the same request's status once the fault is lifted
    seconds: float = LIMIT_SECONDS


# Faults ------------------------------------------------------------------------------------


@contextlib.contextmanager
def sqlite_write_lock(platform: Platform) -> Iterator[None]:
    """Another connection holds SQLite's write lock, as a long Dagster write does."""
    holder = sqlite3.connect(platform.settings.raw_db_url.removeprefix("sqlite:///"))
    holder.isolation_level = None
    holder.execute("BEGIN IMMEDIATE")
    try:
        yield
    finally:
        holder.execute("ROLLBACK")
        holder.close()


@contextlib.contextmanager
def sqlite_file_unusable(platform: Platform) -> Iterator[None]:
    """The database file cannot be opened (as root, permissions would not stop us: a
    directory takes its name). Pooled connections keep the file they opened, so the pools
    are emptied, as a restart or a new connection under load would find it."""
    path = Path(platform.settings.raw_db_url.removeprefix("sqlite:///"))
    away = path.with_name(path.name + ".away")
    for engine in (platform.engine, platform.api_engine):
        assert engine is not None
        engine.dispose()
    path.rename(away)
    # The app's background tasks may open the database meanwhile, and SQLite then creates an
    # empty file by that name (a fresh-clone run hit FileExistsError here): it goes too.
    for _ in range(100):
        try:
            path.mkdir()
            break
        except FileExistsError:
            path.unlink(missing_ok=True)
    try:
        yield
    finally:
        path.rmdir()
        away.rename(path)


def postgres_lock(statement: str) -> Fault:
    """Another connection holds a PostgreSQL lock, in a transaction left open."""

    @contextlib.contextmanager
    def fault(platform: Platform) -> Iterator[None]:
        with platform.engine.connect() as holder:
            holder.execute(sa.text(statement))
            try:
                yield
            finally:
                holder.rollback()

    return fault


def stopped(service: str) -> Fault:
    """A private server stopped by its script, and started again afterwards."""

    @contextlib.contextmanager
    def fault(platform: Platform) -> Iterator[None]:
        platform.services[service].stop()
        try:
            yield
        finally:
            platform.services[service].start()

    return fault


@contextlib.contextmanager
def redis_paused(platform: Platform) -> Iterator[None]:
    """Redis answers no client for a while (CLIENT PAUSE), like a server stuck on a fork."""
    connection = redis.Redis.from_url(platform.settings.cache_url, socket_timeout=10)
    connection.execute_command("CLIENT", "PAUSE", 3000, "ALL")
    try:
        yield
    finally:  # the pause ends by itself (a paused server answers no UNPAUSE either)
        connection.ping()
        connection.close()


@contextlib.contextmanager
def chdb_directory_held(platform: Platform) -> Iterator[None]:
    """Another process holds the shared chDB directory: this test, through the directory's
    own protocol (the lock file, and the `.want` file that asks the holder to let go)."""
    directory = Path(urlsplit(platform.settings.warehouse_url).path)
    holder = (directory.parent / f"{directory.name}.lock").open("a")
    deadline = time.monotonic() + 30
    while True:
        try:
            fcntl.flock(holder, fcntl.LOCK_EX | fcntl.LOCK_NB)
            break
        except BlockingIOError:
            assert time.monotonic() < deadline, "the API never let go of the chDB directory"
            (directory.parent / f"{directory.name}.want").touch()
            time.sleep(0.02)
    try:
        yield
    finally:
        holder.close()


@contextlib.contextmanager
def chdb_session_busy(platform: Platform) -> Iterator[None]:
    """The process's one chDB session is taken by another query that does not end."""
    from tickerpulse.stores.warehouse import parquet

    assert parquet._session_lock.acquire(timeout=30)
    try:
        yield
    finally:
        parquet._session_lock.release()


# The table ---------------------------------------------------------------------------------

TICKERS = "SELECT count(*) FROM tickers"
ACTIVE_TICKERS = "SELECT count(*) FROM tickers WHERE active"
REQUESTS = "SELECT count(*) FROM prediction_requests"
QUEUED_RUNS = "SELECT count(*) FROM training_runs WHERE state IN ('queued', 'running')"
NEW_TICKER = {"symbol": "NEWT", "source": "synthetic", "name": "New"}
OPERATIONAL_DB = "operational database"

CASES = [
    Case("sqlite write lock held", "embedded", sqlite_write_lock,
         "POST", "/v1/tickers", NEW_TICKER, 503, OPERATIONAL_DB, TICKERS, 201),
    Case("sqlite file cannot be opened", "embedded", sqlite_file_unusable,
         "GET", "/v1/tickers", None, 503, OPERATIONAL_DB, TICKERS, 200),
    Case("postgres table lock held", "postgres",
         postgres_lock("LOCK TABLE tickers IN ACCESS EXCLUSIVE MODE"),
         "GET", "/v1/tickers", None, 503, OPERATIONAL_DB, TICKERS, 200),
    Case("postgres row lock held", "postgres",
         postgres_lock("SELECT symbol FROM tickers WHERE symbol = 'ACME' FOR UPDATE"),
         "POST", "/v1/tickers", {"symbol": "ACME", "source": "synthetic"},
         503, OPERATIONAL_DB, ACTIVE_TICKERS, 200),
    Case("postgres server stopped", "private_postgres", stopped("postgres"),
         "GET", "/v1/tickers", None, 503, OPERATIONAL_DB, TICKERS, 200),
    Case("chdb session busy with another query", "embedded", chdb_session_busy,
         "GET", "/v1/prices/ACME", None, 503, "warehouse", TICKERS, 200),
    # Forecasts are answered before FastAPI's router (serving/fast_reads.py): a miss that
    # reaches a stuck warehouse is still a 503 in time.
    Case("chdb busy under a forecast read", "embedded", chdb_session_busy,
         "GET", "/v1/forecasts/ACME", None, 503, "warehouse", TICKERS, 200),
    Case("chdb directory held by another process", "shared_chdb", chdb_directory_held,
         "GET", "/v1/prices/ACME", None, 503, "warehouse", TICKERS, 200),
    Case("task queue broker stopped", "redis", stopped("redis"),
         "POST", "/v1/training-runs", {}, 503, "task queue", QUEUED_RUNS, 202),
    # A cache outage is not an outage: the API serves uncached, the same data, quickly.
    Case("cache server stopped", "redis", stopped("redis"),
         "GET", "/v1/prices/ACME", None, 200, None, TICKERS, 200, seconds=2.0),
    Case("cache server paused", "redis", redis_paused,
         "GET", "/v1/prices/ACME", None, 200, None, TICKERS, 200, seconds=2.0),
    Case("body over the size limit", "embedded", None,
         "POST", "/v1/prediction-requests", {"tickers": ["ACME" * 5] * 5000},
         413, None, REQUESTS, None),
    Case("more tickers than a request may hold", "embedded", None,
         "POST", "/v1/prediction-requests", {"tickers": ["ACME"] * 501},
         422, None, REQUESTS, None),
]  # fmt: skip

SERVICES = {"postgres", "private_postgres", "redis"}


def count(platform: Platform, sql: str) -> int:
    with platform.engine.connect() as connection:
        return int(connection.execute(sa.text(sql)).scalar_one())


@pytest.mark.parametrize(
    "case",
    [
        pytest.param(c, id=c.name, marks=[pytest.mark.integration] * (c.platform in SERVICES))
        for c in CASES
    ],
)
def test_hostile_case(case: Case, request: pytest.FixtureRequest) -> None:
    platform: Platform = request.getfixturevalue(f"{case.platform}_platform")
    before = count(platform, case.accepted)
    outcome: dict[str, Any] = {}

    def call() -> None:
        started = time.monotonic()
        outcome["response"] = platform.client.request(
            case.method, case.path, json=case.body, headers=platform.admin
        )
        outcome["seconds"] = time.monotonic() - started

    caller = threading.Thread(target=call, daemon=True)
    with case.fault(platform) if case.fault else contextlib.nullcontext():
        caller.start()
        caller.join(LIMIT_SECONDS + 3)  # then the fault is lifted: a hung request ends
    caller.join(120)
    response: httpx.Response = outcome["response"]
    after = count(platform, case.accepted)

    answered = (response.status_code, outcome["seconds"] <= case.seconds)
    assert answered == (case.status, True), f"{response.status_code} in {outcome['seconds']:.1f} s"
    assert after == before, "a refused request left something behind, or something was lost"
    if case.status >= 400:
        assert response.headers["content-type"] == PROBLEM
    if case.dependency is not None:
        assert response.json()["dependency"] == case.dependency
        assert case.dependency in response.json()["title"].lower()
        assert int(response.headers["retry-after"]) > 0
    if case.recovered is not None:
        again = platform.client.request(
            case.method, case.path, json=case.body, headers=platform.admin
        )
        assert again.status_code == case.recovered, again.text
        if case.status == 200:  # served uncached during the fault: the same data
            assert response.json() == again.json()


def test_the_table_names_each_case_once() -> None:
    names = [case.name for case in CASES]
    assert len(names) == len(set(names))


# The ClickHouse server's HTTP path: no server can be installed here, so no API can start on
# one; the store itself is opened against a closed port and against a port that takes the
# connection and never answers (a hung server), with the API's timeout.


@contextlib.contextmanager
def closed_port() -> Iterator[int]:
    yield free_port()


@contextlib.contextmanager
def silent_port() -> Iterator[int]:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)  # connections complete in the backlog; nothing ever answers
        yield int(listener.getsockname()[1])


@pytest.mark.parametrize("server", [closed_port, silent_port], ids=["closed", "silent"])
def test_a_clickhouse_server_that_fails_is_warehouse_unavailable_in_time(
    server: Callable[[], contextlib.AbstractContextManager[int]],
) -> None:
    outcome: dict[str, Any] = {}

    def open_it(port: int) -> None:
        started = time.monotonic()
        try:
            open_warehouse(f"clickhouse://127.0.0.1:{port}/hostile", 2.0)
        except Exception as error:
            outcome["error"] = error
        outcome["seconds"] = time.monotonic() - started

    with server() as port:
        opener = threading.Thread(target=open_it, args=(port,), daemon=True)
        opener.start()
        opener.join(LIMIT_SECONDS + 3)
    assert outcome.get("seconds", float("inf")) <= LIMIT_SECONDS
    assert isinstance(outcome["error"], WarehouseUnavailable)
    assert outcome["error"].dependency == "warehouse"


def test_a_stream_token_check_with_the_database_down_is_closed_to_retry(
    embedded_platform: Platform,
) -> None:
    """The stream's 503: a token that cannot be checked closes with 1013 (try again later),
    naming the dependency, within the limit; once the database is back, it is accepted."""
    from starlette.websockets import WebSocketDisconnect

    client = embedded_platform.client
    assert isinstance(client, TestClient)
    token = embedded_platform.admin["X-API-Key"]
    with sqlite_file_unusable(embedded_platform):
        started = time.monotonic()
        with (
            client.websocket_connect("/v1/stream?channels=metrics") as websocket,
            pytest.raises(WebSocketDisconnect) as closed,
        ):
            websocket.send_json({"token": token})
            websocket.receive_json()
        seconds = time.monotonic() - started
    assert (closed.value.code, seconds <= LIMIT_SECONDS) == (1013, True)
    assert "operational database unavailable" in closed.value.reason
    with client.websocket_connect("/v1/stream?channels=metrics") as websocket:
        websocket.send_json({"token": token})
        # Accepted: a metrics event or a heartbeat comes, not a close.
        assert websocket.receive_json()["type"] in ("event", "heartbeat")
