"""The platforms a hostile case runs against: the API in this process on the embedded stores,
on PostgreSQL, on private PostgreSQL or Redis instances it may stop, or as a process of its
own on a shared chDB directory. Each is seeded with one ticker (ACME) and an admin key."""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import pandas as pd
import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from bench.load import free_port
from serving.app import create_app
from tests.conftest import ROOT
from tickerpulse.settings import Settings, get_settings
from tickerpulse.stores.api_keys import ApiKeyStore
from tickerpulse.stores.operational import OperationalStore
from tickerpulse.stores.warehouse import open_warehouse

if TYPE_CHECKING:
    from tests.conftest import PrivateService


@dataclass
class Platform:
    settings: Settings
    client: httpx.Client  # a TestClient on the app, or a client of an API process
    admin: dict[str, str]  # headers with an admin key
    engine: sa.Engine  # the test's own connection to the operational database
    services: dict[str, PrivateService] = field(default_factory=dict)
    api_engine: sa.Engine | None = None  # the app's, when it runs in this process


def acme_prices() -> pd.DataFrame:
    days = pd.bdate_range("2026-01-02", periods=30).date
    close = [100.0 + i for i in range(len(days))]
    return pd.DataFrame(
        {
            "date": days,
            "open": close,
            "high": [c + 1 for c in close],
            "low": [c - 1 for c in close],
            "close": close,
            "volume": [1e6] * len(days),
            "adj_close": close,
        }
    )


def acme_forecast() -> pd.DataFrame:
    """One published forecast for ACME, as price_forecasts holds it (without the ticker)."""
    made = dt.date(2026, 2, 12)
    row = {
        "date": made,
        "target_date": made + dt.timedelta(days=1),
        "horizon": 1,
        "last_close": 129.0,
        "forecast": 129.5,
        "lower_80": 127.0,
        "upper_80": 132.0,
        "lower_95": 125.0,
        "upper_95": 134.0,
        "model_name": "tickerpulse-price-h1",
        "model_version": "1",
        "model": "naive",
        "created_at": dt.datetime(2026, 2, 12, 22, 0, tzinfo=dt.UTC),
    }
    return pd.DataFrame([row])


def prepared_settings(monkeypatch: pytest.MonkeyPatch, env: dict[str, str]) -> Settings:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    return get_settings()


def seeded(settings: Settings, warehouse: bool = True) -> tuple[OperationalStore, dict[str, str]]:
    store = OperationalStore(settings.raw_db_url)
    store.add_ticker("ACME", "synthetic", "Acme Corp")
    if warehouse:
        warehouse = open_warehouse(settings.warehouse_url)
        warehouse.write_partition("clean_prices", "ACME", acme_prices())
        warehouse.write_partition("price_forecasts", "ACME", acme_forecast())
    return store, {"X-API-Key": ApiKeyStore(store).create("hostile", role="admin")}


@contextlib.contextmanager
def in_process(
    settings: Settings, services: dict[str, PrivateService] | None = None
) -> Iterator[Platform]:
    store, admin = seeded(settings)
    with TestClient(create_app(settings)) as client:
        api_engine = client.app.state.services.operational_store.engine  # type: ignore[attr-defined]
        yield Platform(settings, client, admin, store.engine, services or {}, api_engine)
    store.engine.dispose()


def data_env(tmp_path: Path) -> dict[str, str]:
    return {"TICKERPULSE_DATA_DIR": str(tmp_path / "var")}


@pytest.fixture
def embedded_platform(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Platform]:
    with in_process(prepared_settings(monkeypatch, data_env(tmp_path))) as platform:
        yield platform


@pytest.fixture
def postgres_platform(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, postgres_database: str
) -> Iterator[Platform]:
    env = data_env(tmp_path) | {"RAW_DB_URL": postgres_database}
    with in_process(prepared_settings(monkeypatch, env)) as platform:
        yield platform


@pytest.fixture
def private_postgres_platform(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, private_postgres: PrivateService
) -> Iterator[Platform]:
    env = data_env(tmp_path) | {"RAW_DB_URL": private_postgres.run("url")}
    settings = prepared_settings(monkeypatch, env)
    with in_process(settings, {"postgres": private_postgres}) as platform:
        yield platform


@pytest.fixture
def redis_platform(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, private_redis: PrivateService
) -> Iterator[Platform]:
    server = private_redis.run("url").rsplit("/", 1)[0]
    env = data_env(tmp_path) | {"CACHE_URL": f"{server}/1", "CELERY_BROKER_URL": f"{server}/0"}
    with in_process(prepared_settings(monkeypatch, env), {"redis": private_redis}) as platform:
        yield platform


@pytest.fixture
def shared_chdb_platform(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Platform]:
    """The API as its own process on a shared chDB directory: chDB opens one engine per
    process, and this test process may already hold the embedded one."""
    directory = tmp_path / "warehouse"
    env = data_env(tmp_path) | {"WAREHOUSE_URL": f"clickhouse+chdb://{directory}?database=hostile"}
    settings = prepared_settings(monkeypatch, env)
    store, admin = seeded(settings, warehouse=False)
    port = free_port()
    log = (tmp_path / "api.log").open("w")
    api = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "serving.app:app", "--port", str(port)],
        cwd=ROOT,
        env={**os.environ, **env},
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60) as client:
            deadline = time.monotonic() + 120
            while True:
                with contextlib.suppress(httpx.TransportError):
                    if client.get("/healthz").status_code == 200:
                        break
                assert api.poll() is None and time.monotonic() < deadline, (
                    tmp_path / "api.log"
                ).read_text()
                time.sleep(0.2)
            yield Platform(settings, client, admin, store.engine)
    finally:
        api.terminate()
        api.wait(30)
        log.close()
        store.engine.dispose()
