"""The session Redis's databases that tests take: each has one user. A Celery worker takes any
task in its broker's database, so two users of one database steal each other's tasks."""

from __future__ import annotations

import re

from tests.conftest import REDIS_DATABASES, ROOT


def up_full_defaults() -> set[int]:
    script = (ROOT / "scripts" / "up-full.sh").read_text()
    found = re.findall(r"\$\{TP_FULL_REDIS_(?:CACHE|BROKER)_DB:-(\d+)\}", script)
    assert found, "scripts/up-full.sh names no default Redis database"
    return {int(number) for number in found}


def test_each_database_has_one_user() -> None:
    assert len(set(REDIS_DATABASES.values())) == len(REDIS_DATABASES)


def test_no_test_database_is_one_up_full_takes_by_default() -> None:
    # A user's `make up-full` uses the same Redis port as the tests (26379) and flushes its
    # cache database at start.
    assert up_full_defaults() == {2, 3}
    assert not up_full_defaults() & set(REDIS_DATABASES.values())


def test_the_redis_server_has_the_databases() -> None:
    assert all(0 <= number < 16 for number in REDIS_DATABASES.values())  # redis.conf: databases 16
