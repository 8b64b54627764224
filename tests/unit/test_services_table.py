"""The services table (launcher/services.py) is the source of each process's command line:
`tickerpulse up` and scripts/up-full.sh run it as it is; compose cannot be generated from it (its
images, hosts and Dagster's split into webserver, daemon and code server are compose's own), so
this test fails when compose's command for a process disagrees with the table's."""

from __future__ import annotations

import sys
from pathlib import Path

import yaml

from launcher.services import platform_services
from tickerpulse.settings import Settings

ROOT = Path(__file__).parents[2]
# The table's process names and the compose services that run the same process.
COMPOSE_NAME = {
    "API": "api",
    "training worker": "training-worker",
    "relay": "relay",
    "metrics publisher": "metrics-publisher",
    "anomaly detector": "anomaly-detector",
    "prediction worker 1": "prediction-worker",
    "prediction worker 2": "prediction-worker",
}
# Flags whose values are where a process listens or what it scrapes: the table's are this
# machine's loopback ports, compose's are the container network's.
PLACE_FLAGS = {"--host", "--port", "--url"}
# `dagster dev` runs Dagster's webserver, daemon and code server in one process; compose runs
# each as a service of its own, so the table's one line cannot match compose's three.
NOT_IN_ONE_COMPOSE_SERVICE = {"Dagster UI"}


def full_mode_services() -> dict[str, list[str]]:
    settings = Settings(
        events_url="kafka://127.0.0.1:29092",
        mlflow_tracking_uri="http://127.0.0.1:25500",
        raw_db_url="postgresql+psycopg://u:p@127.0.0.1:25432/tickerpulse",
    )
    return {s.name: s.command for s in platform_services(settings, Path("/tmp"))}


def without_places(command: list[str]) -> list[str]:
    """The command with the python interpreter named plainly and listening places left out."""
    kept: list[str] = []
    skip_next = False
    for part in command:
        if skip_next:
            skip_next = False
            continue
        if part in PLACE_FLAGS:
            skip_next = True
            continue
        kept.append("python" if part == sys.executable else part)
    return kept


def test_every_full_mode_process_of_the_table_runs_in_compose_as_the_table_says() -> None:
    compose = yaml.safe_load((ROOT / "docker/compose.yaml").read_text())["services"]
    table = full_mode_services()
    assert set(table) - NOT_IN_ONE_COMPOSE_SERVICE == set(COMPOSE_NAME), (
        "a process was added to or removed from the table: name its compose service here"
    )
    for name, command in table.items():
        if name in NOT_IN_ONE_COMPOSE_SERVICE:
            continue
        composed = compose[COMPOSE_NAME[name]]["command"]
        assert without_places(composed) == without_places(command), (
            f"{name}: compose runs {composed}, the services table {command}"
        )


def test_compose_runs_no_process_of_our_image_that_the_table_lacks() -> None:
    compose = yaml.safe_load((ROOT / "docker/compose.yaml").read_text())["services"]
    ours = {
        name
        for name, service in compose.items()
        if str(service.get("image", "")).startswith("tickerpulse")
    }
    dagster = {"code", "dagster-webserver", "dagster-daemon"}
    # MLflow's tracking server is a service the platform uses (scripts/mlflow.sh without
    # Docker), not one of the table's processes; it runs from our image for its S3 client.
    assert ours - dagster - {"mlflow"} == set(COMPOSE_NAME.values())
