"""The relay's own process with its API keys on PostgreSQL: while the database refuses every
connection, a stream whose token must be checked is closed 1013 (try again later) in time,
naming the dependency; once the database takes connections again, the same token opens."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from websockets.asyncio.client import connect

from tests.unit.test_relay_server import Process, closed, start_process

pytestmark = [pytest.mark.integration, pytest.mark.slow]
LIMIT_SECONDS = 5.0  # what the hostile cases allow a store that is down (tests/hostile)


@pytest.fixture
def relay_on_postgres(postgres_database: str, tmp_path: Path) -> Iterator[Process]:
    process = start_process(tmp_path, raw_db=postgres_database)
    try:
        yield process
    finally:
        process.service.stop()


def refuse_connections(admin_url: str, database: str, refuse: bool) -> None:
    """The database takes no new connection and drops the ones it has (as a server restarting
    or full would), or takes them again."""
    admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        allow = "false" if refuse else "true"
        connection.execute(sa.text(f'ALTER DATABASE "{database}" ALLOW_CONNECTIONS {allow}'))
        if refuse:
            connection.execute(
                sa.text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                    " WHERE datname = :name AND pid <> pg_backend_pid()"
                ),
                {"name": database},
            )
    admin.dispose()


def test_a_token_check_with_the_key_database_down_is_closed_1013_and_works_once_it_is_back(
    relay_on_postgres: Process, postgres_server: str, postgres_database: str
) -> None:
    relay, database = relay_on_postgres, postgres_database.rsplit("/", 1)[1]
    token = json.dumps({"token": relay.key})
    refuse_connections(postgres_server, database, refuse=True)
    try:
        started = time.monotonic()
        code, reason = asyncio.run(closed(relay.ws + "?channels=metrics", token))
        seconds = time.monotonic() - started
    finally:
        refuse_connections(postgres_server, database, refuse=False)
    assert code == 1013 and "operational database unavailable" in reason, (code, reason)
    assert seconds <= LIMIT_SECONDS

    async def accepted() -> str:
        async with connect(relay.ws + "?channels=metrics") as stream:
            await stream.send(token)
            await asyncio.to_thread(relay.wait_for_clients, 1)
            await asyncio.sleep(0.5)  # a refusal would have come by now
            return stream.state.name

    assert asyncio.run(accepted()) == "OPEN"
