"""Prometheus config and alert rules with promtool, and every dashboard and rule query on a
real Prometheus (scripts/prometheus.sh) scraping a real API (uvicorn) and relay (picows).

The API serves the materialized platform with a copy of its warehouse that holds some weeks
of forecast history (tests/unit/test_quality_metrics.py), so that forecasts have realized and
the model panels have an error and a coverage to show.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import httpx
import pytest
import yaml

from bench.load import free_port
from launcher.services import relay_command
from launcher.supervise import Service, wait_until_ready
from tests.conftest import ROOT, service_script
from tests.unit.test_quality_metrics import forecast_history
from tickerpulse.settings import Settings

pytestmark = [pytest.mark.integration, pytest.mark.slow]

PROMETHEUS = ROOT / "dashboards" / "prometheus"
RULES = PROMETHEUS / "rules" / "tickerpulse.yml"
UVICORN, LOCAL = [sys.executable, "-m", "uvicorn"], ["--host", "127.0.0.1", "--port"]
GRAFANA = ROOT / "dashboards" / "grafana"
# What Grafana puts for $__rate_interval at a 1 s scrape interval is shorter; a minute covers
# the whole test's traffic so every rate has samples.
RATE_INTERVAL = "1m"
# A comparison with a number, as alert conditions end: stripped, the expression shows what is
# compared (whether or not the condition holds now).
CONDITION = re.compile(r"\s*(?:==|!=|>=|<=|>|<)\s*(?:bool\s+)?-?\d+(?:\.\d+)?")


@pytest.fixture(scope="module")
def promtool() -> str:
    service_script("prometheus", "install")
    return "promtool"


def run(*command: str, cwd: Path = PROMETHEUS) -> str:
    done = subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, f"{' '.join(command)} failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout


def test_config_and_rules_pass_promtool(promtool: str) -> None:
    assert "SUCCESS" in run(promtool, "check", "config", "prometheus.yml")
    assert "SUCCESS: 8 rules found" in run(promtool, "check", "rules", str(RULES))


def test_every_alert_fires_and_stays_quiet_in_the_rule_unit_tests(promtool: str) -> None:
    tests = yaml.safe_load((RULES.parent / "tickerpulse_test.yml").read_text())["tests"]
    tested = {case["alertname"] for test in tests for case in test.get("alert_rule_test", [])}
    assert tested == {rule["alert"] for rule in rules() if "alert" in rule}
    assert "SUCCESS" in run(promtool, "test", "rules", "tickerpulse_test.yml", cwd=RULES.parent)


def rules() -> list[dict]:
    groups = yaml.safe_load(RULES.read_text())["groups"]
    return [rule for group in groups for rule in group["rules"]]


def panel_queries() -> list[tuple[str, str]]:
    """(dashboard / panel title, PromQL) of every panel target in the generated JSON."""
    found = []
    for path in sorted(GRAFANA.glob("*.json")):
        for panel in json.loads(path.read_text())["panels"]:
            for inner in [panel, *panel.get("panels", [])]:
                for target in inner.get("targets", []):
                    expr = target["expr"].replace("$__rate_interval", RATE_INTERVAL)
                    found.append((f"{path.stem} / {inner['title']}", expr))
    return found


@dataclass
class Prometheus:
    url: str
    env: dict[str, str]  # what scripts/prometheus.sh started it with

    def query(self, expr: str) -> dict:
        response = httpx.get(f"{self.url}/api/v1/query", params={"query": expr}, timeout=10)
        body: dict = response.json()
        return body

    def values(self, expr: str) -> list[float]:
        body = self.query(expr)
        assert body["status"] == "success", f"{expr}: {body}"
        return [float(item["value"][1]) for item in body["data"]["result"]]


def start(name: str, command: list[str], port: int, env: dict[str, str], logs: Path) -> Service:
    service = Service(name, command, f"http://127.0.0.1:{port}/healthz", logs / f"{name}.log")
    service.start(env, ROOT)
    return service


def traffic(base: str, stop: threading.Event) -> None:
    """A few cached reads, misses and a 404, over and over, so every rate has requests."""
    paths = ["/v1/tickers", "/v1/forecasts/ACME", "/v1/prices/ACME", "/v1/prices/NOPE"]
    with httpx.Client(base_url=base, timeout=10) as client:
        while not stop.is_set():
            for path in paths:
                client.get(path)
            stop.wait(0.2)


def checked_instance(home: Path) -> str:
    """A Dagster instance holding one passed and one failed asset check, for the API to read."""

    @dg.asset
    def prices() -> int:
        return 1

    @dg.asset_check(asset=prices)
    def rows_fine() -> dg.AssetCheckResult:
        return dg.AssetCheckResult(passed=True)

    @dg.asset_check(asset=prices)
    def no_gaps() -> dg.AssetCheckResult:
        return dg.AssetCheckResult(passed=False, severity=dg.AssetCheckSeverity.WARN)

    home.mkdir(parents=True, exist_ok=True)
    with dg.DagsterInstance.from_config(str(home)) as instance:
        dg.materialize([prices, rows_fine, no_gaps], instance=instance)
    return str(home)


@pytest.fixture(scope="module")
def prometheus(
    promtool: str, materialized_platform: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Prometheus]:
    """Prometheus scraping an API and a relay every second; once for the module's tests."""
    tmp_path = tmp_path_factory.mktemp("prometheus")
    platform = Settings(data_dir=materialized_platform)
    api_port, relay_port = free_port(), free_port()
    env = {
        **os.environ,
        "TICKERPULSE_DATA_DIR": str(materialized_platform),
        "WAREHOUSE_URL": forecast_history(platform, tmp_path / "warehouse"),
        "DAGSTER_HOME": checked_instance(tmp_path / "dagster"),
    }
    services = [
        start("api", [*UVICORN, "serving.app:app", *LOCAL, str(api_port)], api_port, env, tmp_path),
        start("relay", relay_command("127.0.0.1", relay_port), relay_port, env, tmp_path),
    ]
    stop_traffic = threading.Event()
    prometheus_env = {
        **os.environ,
        # A port of its own: `make up-full` (test_up_full, maybe in another worker) runs its
        # Prometheus on the default one and polls its targets until it stops.
        "TP_PROMETHEUS_PORT": str(free_port()),
        "TP_PROMETHEUS_DIR": str(tmp_path / "prometheus"),
        "TP_PROMETHEUS_API_TARGET": f"127.0.0.1:{api_port}",
        "TP_PROMETHEUS_RELAY_TARGET": f"127.0.0.1:{relay_port}",
        "TP_PROMETHEUS_SCRAPE_INTERVAL": "1s",
        "TP_PROMETHEUS_EVALUATION_INTERVAL": "1s",
    }
    script = str(ROOT / "scripts" / "prometheus.sh")
    try:
        wait_until_ready(services, 90, lambda _elapsed: None)
        threading.Thread(
            target=traffic, args=(f"http://127.0.0.1:{api_port}", stop_traffic), daemon=True
        ).start()
        started = subprocess.run(
            [script, "start"], env=prometheus_env, capture_output=True, text=True, timeout=600
        )
        assert started.returncode == 0, f"scripts/prometheus.sh start failed:\n{started.stderr}"
        yield Prometheus(started.stdout.strip().splitlines()[-1], prometheus_env)
    finally:
        stop_traffic.set()
        subprocess.run([script, "stop"], env=prometheus_env, timeout=60, check=False)
        for service in services:
            service.stop()


def wait_for_scrapes(prometheus: Prometheus, timeout: float = 90) -> None:
    """Both targets up, five scrapes of the API kept, and the recording rules evaluated."""
    deadline = time.monotonic() + timeout
    ready = {
        'up{job="tickerpulse-api"} == 1': 1,
        'up{job="tickerpulse-relay"} == 1': 1,
        'count_over_time(up{job="tickerpulse-api"}[1m]) >= 5': 1,
        # Quality figures come on the scrape after their first computation.
        "tickerpulse_champion_version": 2,
        "horizon:tickerpulse_forecast_coverage_80:ratio": 2,
    }
    while True:
        missing = [expr for expr, count in ready.items() if len(prometheus.values(expr)) < count]
        if not missing:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"after {timeout:.0f} s, still no data for {missing}")
        time.sleep(0.5)


def test_every_panel_and_rule_query_returns_data(prometheus: Prometheus) -> None:
    wait_for_scrapes(prometheus)
    empty = []
    for title, expr in panel_queries():
        values = prometheus.values(expr)  # asserts that it parses and runs
        # NaN alone (a quantile of no requests, a ratio of nothing) is no data either.
        if not any(value == value for value in values):
            empty.append(f"panel {title}: {expr}")
    for rule in rules():
        name = rule.get("alert") or rule["record"]
        prometheus.values(rule["expr"])  # the condition itself parses (it may hold or not)
        signal = CONDITION.sub("", rule["expr"])
        if not prometheus.values(signal):
            empty.append(f"rule {name}: {signal}")
        if "record" in rule and not prometheus.values(rule["record"]):
            empty.append(f"recorded series {name}")
    assert not empty, "queries with no data:\n" + "\n".join(empty)
    assert len(panel_queries()) >= 30


def test_alerts_that_the_data_calls_for_are_pending_or_firing(prometheus: Prometheus) -> None:
    """The recorded demo histories (GOOG ends in 2013) are stale; every target is up."""
    wait_for_scrapes(prometheus)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        alerts = httpx.get(f"{prometheus.url}/api/v1/alerts", timeout=10).json()["data"]["alerts"]
        stale = {
            a["labels"]["ticker"]
            for a in alerts
            if a["labels"]["alertname"] == "TickerPulseDataStale"
        }
        if stale:
            break
        time.sleep(1)
    names = {a["labels"]["alertname"] for a in alerts}
    assert {"GOOG", "SPX"} <= stale, alerts
    assert not stale & {"ACME", "GLOBEX", "INITECH"}
    assert "TickerPulseApiDown" not in names and "TickerPulseApi5xxErrors" not in names
    # The volatility features of the synthetic tickers' last quarter are off their history.
    assert "TickerPulseFeatureDrift" in names


def test_a_start_from_another_state_dir_refuses_a_port_held_by_another_prometheus(
    prometheus: Prometheus, tmp_path: Path
) -> None:
    # Before, the second start printed the held port's URL and exited 0: its caller then
    # scraped the other server's targets, and lost it when the other's owner stopped it.
    env = {**prometheus.env, "TP_PROMETHEUS_DIR": str(tmp_path / "other")}
    script = str(ROOT / "scripts" / "prometheus.sh")
    second = subprocess.run([script, "start"], env=env, capture_output=True, text=True, timeout=120)
    port = prometheus.env["TP_PROMETHEUS_PORT"]
    assert second.returncode == 1, second
    assert f"port {port} answers as a Prometheus not started from {tmp_path / 'other'}" in (
        second.stderr
    )
    assert httpx.get(f"{prometheus.url}/-/ready", timeout=10).status_code == 200  # left running
