"""Private instances of the services a hostile case stops: started by the project's own scripts
on a free port with their own state, so stopping one never touches the session's services."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import PrivateService, free_port
from tests.hostile.platforms import (  # noqa: F401  the platforms, as fixtures of the suite
    embedded_platform,
    postgres_platform,
    private_postgres_platform,
    redis_platform,
    shared_chdb_platform,
)


@pytest.fixture
def private_postgres() -> Iterator[PrivateService]:
    # Under /var/tmp like the script's default: the server's user may not enter tmp_path.
    port = free_port()
    data = Path(f"/var/tmp/tickerpulse/postgres-hostile-{port}")
    service = PrivateService("postgres", {"TP_PG_PORT": str(port), "TP_PG_DIR": str(data)})
    service.start()
    yield service
    service.stop()
    shutil.rmtree(data, ignore_errors=True)
