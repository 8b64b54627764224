"""Two trainings of one model at once, on the real services: PostgreSQL holds the lease and the
alias history, a real MLflow server (PostgreSQL + S3) the registry.

Each door to training is its own process: the API's Celery worker runs the training job in
process (outside Dagster's run queue), the weekly automation and the UI materialize price_model
through Dagster. Here both start at the same moment, each with its own Dagster instance."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from mlflow import MlflowClient

from tests.conftest import ROOT, copy_platform
from tests.unit.test_registry_outage import PANEL, QUICK_CANDIDATES
from tickerpulse.errors import AliasMoved
from tickerpulse.forecasting.training import train_horizon
from tickerpulse.stores.leases import LeaseStore
from tickerpulse.stores.operational import OperationalStore
from tickerpulse.stores.registry import ModelRegistry

pytestmark = [pytest.mark.integration, pytest.mark.slow]

# Waits for the go file, then trains through one door; prints what became of it as JSON.
DOOR = """
import json, sys, time
from pathlib import Path
import dagster as dg
from orchestration.definitions import defs
from tickerpulse.settings import get_settings
from tickerpulse.stores.operational import OperationalStore

door, go = sys.argv[1], Path(sys.argv[2])
settings = get_settings()
print("ready", flush=True)
while not go.exists():
    time.sleep(0.02)
with dg.instance_for_test() as instance:
    if door == "api":  # what the Celery task runs
        from orchestration.requested_training import execute_training_run
        from tickerpulse.stores.training_runs import TrainingRunStore

        store = TrainingRunStore(OperationalStore(settings.raw_db_url))
        run, _ = store.submit(settings.model_name, "the API")
        outcome = execute_training_run(store, run.id, instance)
        finished = store.require(run.id)
        report = {"success": outcome.state == "succeeded", "run_id": outcome.dagster_run_id,
                  "error": finished.error or ""}
    else:  # what the weekly automation and the UI launch
        job = defs.resolve_implicit_global_asset_job_def()
        result = job.execute_in_process(
            instance=instance, asset_selection=[dg.AssetKey("price_model")], raise_on_error=False
        )
        errors = [e.event_specific_data.error.message for e in result.all_events
                  if e.is_step_failure]
        report = {"success": result.success, "run_id": result.run_id, "error": "; ".join(errors)}
print(json.dumps({"door": door, **report}), flush=True)
"""


@pytest.fixture
def door_env(
    materialized_platform: Path, tmp_path: Path, postgres_database: str, mlflow_server: str
) -> dict[str, str]:
    data_dir = tmp_path / "var"
    copy_platform(materialized_platform, data_dir)
    return os.environ | {
        "PYTHONPATH": str(ROOT),
        "TICKERPULSE_DATA_DIR": str(data_dir),
        "RAW_DB_URL": postgres_database,
        "MLFLOW_TRACKING_URI": mlflow_server,
        "MODEL_NAME": f"race-{uuid.uuid4().hex[:8]}",
        "HORIZONS": "[1]",
        "WALK_FORWARD_FOLDS": "2",
    }


def test_two_trainings_started_together_one_trains_and_the_other_is_refused(
    door_env: dict[str, str], tmp_path: Path
) -> None:
    go = tmp_path / "go"
    doors = {
        door: subprocess.Popen(
            [sys.executable, "-c", DOOR, door, str(go)],
            cwd=ROOT,
            env=door_env,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        for door in ("api", "dagster")
    }
    try:
        for process in doors.values():
            assert process.stdout is not None and process.stdout.readline().strip() == "ready"
        go.touch()  # both are imported and waiting: they start training together
        reports = {}
        for door, process in doors.items():
            out, _ = process.communicate(timeout=900)
            reports[door] = json.loads(out.strip().splitlines()[-1])
    finally:
        for process in doors.values():
            if process.poll() is None:
                process.kill()
                process.wait(timeout=30)

    trained = [r for r in reports.values() if r["success"]]
    refused = [r for r in reports.values() if not r["success"]]
    assert len(trained) == 1 and len(refused) == 1, reports
    model = door_env["MODEL_NAME"]
    assert f"refused: another training of {model} is running" in refused[0]["error"]
    assert f"held by Dagster run {trained[0]['run_id']}" in refused[0]["error"]

    # Only the winner registered versions and moved aliases; the lease is free again.
    client = MlflowClient(door_env["MLFLOW_TRACKING_URI"])
    versions = client.search_model_versions(f"name = '{model}-h1'")
    assert versions
    runs = {client.get_run(v.run_id).data.tags.get("dagster_run_id") for v in versions}
    assert runs <= {trained[0]["run_id"], None}  # None: the random walk's fallback version
    store = OperationalStore(door_env["RAW_DB_URL"])
    history = store.alias_history(f"{model}-h1")
    assert [h["to_alias"] for h in history].count("challenger") == 1
    assert LeaseStore(store).holder(f"training/{model}") is None


class MovesTheChampionMeanwhile(ModelRegistry):
    """The registry as training sees it while another writer moves the champion: right after
    the gate read the champion, before it acts on its decision."""

    def tag_version(self, name: str, version: str, key: str, value: str) -> None:
        MlflowClient(self.tracking_uri).set_registered_model_alias(name, "champion", version)
        super().tag_version(name, version, key, value)


def test_the_champion_moves_only_if_it_is_still_the_one_the_gate_compared_against(
    mlflow_server: str, postgres_database: str
) -> None:
    registry = MovesTheChampionMeanwhile(mlflow_server, artifact_uri="")
    store = OperationalStore(postgres_database)
    base = f"cas-{uuid.uuid4().hex[:8]}"
    with pytest.raises(AliasMoved, match=r"champion points at v1, not at no version"):
        train_horizon(
            PANEL,
            1,
            base_name=base,
            folds=3,
            registry=registry,
            operational_store=store,
            candidates=QUICK_CANDIDATES,
        )
    # The other writer's move stands, and no champion change was recorded as made.
    champion = MlflowClient(mlflow_server).get_model_version_by_alias(f"{base}-h1", "champion")
    assert str(champion.version) == "1"
    assert "champion" not in [h["to_alias"] for h in store.alias_history(f"{base}-h1")]
