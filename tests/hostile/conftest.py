"""Private instances of the services a hostile case stops: started by the project's own scripts
on a free port with their own state, so stopping one never touches the session's services."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import ROOT
from tests.hostile.platforms import (  # noqa: F401  the platforms, as fixtures of the suite
    embedded_platform,
    postgres_platform,
    private_postgres_platform,
    redis_platform,
    shared_chdb_platform,
)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class PrivateService:
    """scripts/NAME.sh run with `env` (its port and state folder): start, stop, url."""

    name: str
    env: dict[str, str]

    def run(self, action: str) -> str:
        done = subprocess.run(
            [str(ROOT / "scripts" / f"{self.name}.sh"), action],
            capture_output=True,
            text=True,
            timeout=300,
            env={**os.environ, **self.env},
        )
        assert done.returncode == 0, f"scripts/{self.name}.sh {action} failed:\n{done.stderr}"
        lines = done.stdout.strip().splitlines()
        return lines[-1] if lines else ""

    def start(self) -> str:
        return self.run("start")

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
def private_postgres() -> Iterator[PrivateService]:
    # Under /var/tmp like the script's default: the server's user may not enter tmp_path.
    port = free_port()
    data = Path(f"/var/tmp/tickerpulse/postgres-hostile-{port}")
    service = PrivateService("postgres", {"TP_PG_PORT": str(port), "TP_PG_DIR": str(data)})
    service.start()
    yield service
    service.stop()
    shutil.rmtree(data, ignore_errors=True)
