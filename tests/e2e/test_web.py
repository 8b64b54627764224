"""The web page (dashboards/web): its Vitest unit tests, and the page in Debian's Chromium
(driven by playwright-core from web.spec.mjs) against the real API, relay and a Celery worker
on a copy of the materialized demo platform. Screenshots of every step: var/artifacts/web/."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import ROOT, copy_platform, service_script
from tickerpulse.settings import Settings, get_settings
from tickerpulse.stores.api_keys import ApiKeyStore
from tickerpulse.stores.operational import OperationalStore

ARTIFACTS = ROOT / "var" / "artifacts" / "web"


def web_script(action: str, timeout: int = 400) -> str:
    """scripts/web.sh ACTION (npm ci on first use, then build or test); its output."""
    done = subprocess.run(
        [str(ROOT / "scripts" / "web.sh"), action],
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert done.returncode == 0, f"scripts/web.sh {action} failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout + done.stderr


@pytest.mark.slow
def test_web_unit_tests_pass_and_the_client_matches_the_spec() -> None:
    output = web_script("test")  # npm ci first on a fresh checkout (about 10 s)
    assert " passed" in output, output
    assert "src/client matches openapi.json" in output, output


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_for(url: str, seconds: float, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        assert process.poll() is None, f"the API exited:\n{log.read_text()[-3000:]}"
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:
            time.sleep(0.3)
    raise AssertionError(f"{url} did not answer in {seconds:.0f} s:\n{log.read_text()[-3000:]}")


@dataclass
class LiveApi:
    url: str
    admin_key: str
    client_key: str


@pytest.fixture
def live_api(
    materialized_platform: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[LiveApi]:
    web_script("build")  # before the app starts: it mounts dist/ when it exists
    data_dir = tmp_path / "var"
    copy_platform(materialized_platform, data_dir)  # the retrain writes models and forecasts
    (data_dir / "dagster").mkdir(exist_ok=True)
    env = os.environ | {
        "TICKERPULSE_DATA_DIR": str(data_dir),
        "DAGSTER_HOME": str(data_dir / "dagster"),
        "CELERY_BROKER_URL": f"sqla+sqlite:///{data_dir / 'celery.db'}",
        "TP_CELERY_DIR": str(tmp_path / "celery"),
        "METRICS_INTERVAL_SECONDS": "1",  # the sparkline fills in seconds, not minutes
    }
    monkeypatch.setenv("TICKERPULSE_DATA_DIR", str(data_dir))
    get_settings.cache_clear()
    keys = ApiKeyStore(OperationalStore(Settings().raw_db_url))  # type: ignore[call-arg]
    admin_key, client_key = keys.create("web-admin", role="admin"), keys.create("web-client")

    celery = [str(ROOT / "scripts" / "celery.sh")]
    started = subprocess.run(
        [*celery, "start"], env=env, capture_output=True, text=True, timeout=180
    )
    assert started.returncode == 0, f"scripts/celery.sh start:\n{started.stderr}"
    port = free_port()
    log = tmp_path / "api.log"
    with log.open("wb") as output:
        api = subprocess.Popen(
            [
                ROOT / ".venv/bin/uvicorn",
                "serving.app:app",
                "--host",
                "127.0.0.1",
                "--port",
                f"{port}",
            ],
            cwd=ROOT,
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        wait_for(f"http://127.0.0.1:{port}/healthz", 90, api, log)
        yield LiveApi(f"http://127.0.0.1:{port}", admin_key, client_key)
    finally:
        os.killpg(api.pid, signal.SIGTERM)
        try:
            api.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(api.pid, signal.SIGKILL)
            api.wait(timeout=10)
        subprocess.run([*celery, "kill"], env=env, timeout=60, check=False)


@pytest.mark.e2e
@pytest.mark.slow
@pytest.mark.timeout(1200)  # a fresh machine: npm ci, Chromium from Debian, the demo platform
def test_the_page_searches_charts_streams_and_retrains(live_api: LiveApi) -> None:
    run_the_page_in_chromium(live_api)


def run_the_page_in_chromium(live_api: LiveApi, artifacts: Path = ARTIFACTS) -> None:
    """web.spec.mjs against a running platform (embedded here, full in test_up_full)."""
    chromium = service_script("chromium", "install")  # Debian's Chromium; its path
    shutil.rmtree(artifacts, ignore_errors=True)
    done = subprocess.run(
        ["node", str(ROOT / "tests" / "e2e" / "web.spec.mjs")],
        env=os.environ
        | {
            "BASE_URL": live_api.url,
            "ADMIN_KEY": live_api.admin_key,
            "CLIENT_KEY": live_api.client_key,
            "CHROMIUM": chromium,
            "ARTIFACTS": str(artifacts),
        },
        capture_output=True,
        text=True,
        timeout=480,  # the retrain is most of it: about 40 s here
    )
    print(done.stdout)
    assert done.returncode == 0, f"{done.stdout}\n{done.stderr}"
    shots = sorted(path.name for path in artifacts.glob("*.png"))
    assert len(shots) == 10 and not any(name.startswith("failed") for name in shots), shots
