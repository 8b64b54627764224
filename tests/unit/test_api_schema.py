"""schemathesis over the OpenAPI spec: generated requests to every operation, 0 server errors.

Runs on a copy of the materialized platform (generated POSTs add tickers), with an admin key
so the write endpoints are exercised past authentication too.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings

from serving.app import create_app
from tests.conftest import copy_platform
from tickerpulse.settings import Settings, get_settings
from tickerpulse.stores.api_keys import ApiKeyStore
from tickerpulse.stores.operational import OperationalStore

pytestmark = pytest.mark.slow


@pytest.fixture
def api_app(
    materialized_platform: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[object]:
    copy = tmp_path / "var"
    copy_platform(materialized_platform, copy, "dagster")
    monkeypatch.setenv("TICKERPULSE_DATA_DIR", str(copy))
    get_settings.cache_clear()
    platform: Settings = get_settings()
    app = create_app(platform)
    # Generous budget: the generator sends hundreds of requests with one key.
    app.admin_key = ApiKeyStore(OperationalStore(platform.raw_db_url)).create(  # type: ignore[attr-defined]
        "schemathesis", role="admin", rate_per_minute=100_000
    )
    with TestClient(app):  # runs the lifespan: the services stay on app.state for every call
        yield app
    get_settings.cache_clear()


def test_no_generated_request_gets_a_server_error(api_app: object) -> None:
    # schemathesis' pytest plugin does not load under pytest 9: drive its strategies directly.
    schema = schemathesis.openapi.from_asgi("/openapi.json", api_app)
    headers = {"X-API-Key": str(api_app.admin_key)}
    server_errors: list[str] = []
    statuses: list[int] = []
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 10

    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(
            max_examples=30,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def call(case: schemathesis.Case) -> None:
            response = case.call(headers=headers)
            statuses.append(response.status_code)
            if response.status_code >= 500:
                server_errors.append(
                    f"{case.method} {case.formatted_path} {case.query} {case.body!r}: "
                    f"{response.status_code} {response.text[:200]}"
                )

        call()
    assert server_errors == []
    # It reached past validation and authentication, not only into 422s.
    assert len(statuses) >= 10 * len(operations) and {200, 404, 422} <= set(statuses)
