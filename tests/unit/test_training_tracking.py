"""The Dagster run that trains is an MLflow run (dagster-mlflow), found from either side, and
its process-wide MLflow state leaks into no registry of the same process."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import mlflow
import pandas as pd
import pytest
from dagster_mlflow import end_mlflow_on_run_finished
from dagster_mlflow.resources import MlFlow
from mlflow import MlflowClient
from mlflow.entities import Run
from sklearn.linear_model import LinearRegression

from orchestration.assets.models import price_model
from orchestration.resources import default_resources
from orchestration.tracking import scoped_mlflow_tracking
from tests.conftest import synthetic_panel
from tickerpulse.features import compute_features
from tickerpulse.settings import Settings, get_settings
from tickerpulse.stores.registry import ModelRegistry
from tickerpulse.stores.warehouse import open_warehouse

pytestmark = pytest.mark.slow
TRAINING_EXPERIMENT = "tickerpulse-price-training"  # MODEL_NAME's default + "-training"


@pytest.fixture
def training_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """One horizon and three folds keep a training under a minute."""
    monkeypatch.setenv("TICKERPULSE_DATA_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("HORIZONS", "[1]")
    monkeypatch.setenv("WALK_FORWARD_FOLDS", "3")
    get_settings.cache_clear()
    return get_settings()


@pytest.fixture
def instance() -> Iterator[dg.DagsterInstance]:
    with dg.instance_for_test() as test_instance:
        yield test_instance


@pytest.fixture
def with_features(training_settings: Settings) -> Settings:
    warehouse = open_warehouse(training_settings.warehouse_url)
    features = compute_features(synthetic_panel(("AAA", "BBB"), years=4))
    for ticker, rows in features.groupby("ticker"):
        warehouse.write_partition("price_features", str(ticker), rows.drop(columns="ticker"))
    return training_settings


@dg.asset(deps=[price_model])
def forecasts_that_pass() -> None:
    pass


@dg.asset(deps=[price_model])
def forecasts_that_fail() -> None:
    raise RuntimeError("a step after training failed")


def train(
    instance: dg.DagsterInstance, *after: dg.AssetsDefinition, job_hook: bool = False
) -> dg.ExecuteInProcessResult:
    """price_model and the assets after it: in a job with the hook on every step (as
    train_and_forecast), or as a plain selection where only price_model carries it."""
    hooks = {end_mlflow_on_run_finished} if job_hook else set()
    defs = dg.Definitions(
        assets=[price_model, *after],
        jobs=[dg.define_asset_job("train", hooks=hooks)],
        resources=default_resources(),
    )
    return defs.resolve_job_def("train").execute_in_process(instance=instance, raise_on_error=False)


def training_runs(settings: Settings, dagster_run_id: str) -> list[Run]:
    """What someone with only the Dagster run id finds in MLflow."""
    return MlflowClient(settings.mlflow_tracking_uri).search_runs(
        experiment_ids=[
            ModelRegistry(settings.mlflow_tracking_uri, "").experiment_id(TRAINING_EXPERIMENT)
        ],
        filter_string=f"tags.dagster_run_id = '{dagster_run_id}'",
    )


def test_a_training_run_is_one_mlflow_run_found_from_either_side(
    with_features: Settings, instance: dg.DagsterInstance
) -> None:
    uri_before = mlflow.get_tracking_uri()
    result = train(instance)
    assert result.success

    [run] = training_runs(with_features, result.run_id)
    assert run.info.status == "FINISHED"
    assert run.data.tags["dagster_run_url"] == f"http://127.0.0.1:3000/runs/{result.run_id}"
    # Dagster links back: a run tag, and price_model's metadata.
    tags = instance.get_run_by_id(result.run_id).tags  # type: ignore[union-attr]
    assert tags["mlflow/run_id"] == run.info.run_id
    experiment = run.info.experiment_id
    url = f"http://127.0.0.1:5000/#/experiments/{experiment}/runs/{run.info.run_id}"
    assert tags["mlflow/run_url"] == url
    [materialization] = result.asset_materializations_for_node("price_model")
    assert materialization.metadata["mlflow_training_run"].value == url

    # The registered version's run hangs under it, and the summary reaches the parent.
    registry = ModelRegistry(with_features.mlflow_tracking_uri, with_features.mlflow_artifact_uri)
    version = registry.by_alias("tickerpulse-price-h1", "challenger")
    assert version is not None
    assert version.tags["mlflow.parentRunId"] == run.info.run_id
    assert version.tags["dagster_run_id"] == result.run_id
    assert run.data.tags["h1_mlflow_run_id"] == version.run_id
    assert run.data.metrics["h1_relative_mae"] == version.metrics["relative_mae"]
    # Its experiment keeps artifacts under the configured root, not ./mlruns of the cwd.
    location = MlflowClient(with_features.mlflow_tracking_uri).get_experiment(experiment)
    assert (
        location.artifact_location == f"{with_features.mlflow_artifact_uri}/{TRAINING_EXPERIMENT}"
    )

    # Nothing of the run stays process-wide: not the URI, not an active run.
    assert mlflow.get_tracking_uri() == uri_before
    assert "MLFLOW_TRACKING_URI" not in os.environ and "MLFLOW_EXPERIMENT_ID" not in os.environ
    assert mlflow.active_run() is None


def test_a_failed_training_ends_its_mlflow_run_failed(
    training_settings: Settings, instance: dg.DagsterInstance
) -> None:
    result = train(instance)  # no price_features: price_model itself fails
    assert not result.success
    [run] = training_runs(training_settings, result.run_id)
    assert run.info.status == "FAILED"
    tags = instance.get_run_by_id(result.run_id).tags  # type: ignore[union-attr]
    assert tags["mlflow/run_id"] == run.info.run_id


@pytest.mark.parametrize(
    "job_hook", [True, False], ids=["hook-on-every-step", "hook-on-price_model"]
)
@pytest.mark.parametrize(
    ("after", "success", "status"),
    [(forecasts_that_pass, True, "FINISHED"), (forecasts_that_fail, False, "FAILED")],
    ids=["then-passes", "then-fails"],
)
def test_the_mlflow_run_ends_as_the_steps_after_training_end(
    with_features: Settings,
    instance: dg.DagsterInstance,
    after: dg.AssetsDefinition,
    success: bool,
    status: str,
    job_hook: bool,
) -> None:
    result = train(instance, after, job_hook=job_hook)
    assert result.success is success
    [run] = training_runs(with_features, result.run_id)
    assert run.info.status == status


@dg.asset
def two_registries(mlflow: dg.ResourceParam[MlFlow]) -> None:
    """Registers a model in each of two stores while the Dagster run's MLflow run is active
    on a third, then logs to that run through dagster-mlflow's fluent API."""
    inputs = pd.DataFrame({"x": [0.0, 1.0, 2.0, 3.0]})
    model = LinearRegression().fit(inputs, [0.0, 2.0, 4.0, 6.0])
    for root in ("a", "b"):
        data_dir = Path(os.environ["TICKERPULSE_DATA_DIR"]) / root
        registry = ModelRegistry(f"sqlite:///{data_dir}/mlflow.db", str(data_dir / "mlruns"))
        registry.log_and_register(
            "isolated",
            model,
            params={"store": root},
            metrics={},
            fold_metrics=[],
            input_example=inputs,
            tags={},
        )
    mlflow.log_metric("after_registries", 1.0)


def test_two_registries_in_one_process_write_to_their_own_stores(
    training_settings: Settings, instance: dg.DagsterInstance
) -> None:
    data_dir = training_settings.data_dir
    for root in ("a", "b"):
        (data_dir / root).mkdir(parents=True)
    tracking_uri = f"sqlite:///{data_dir}/tracking.db"
    uri_before = mlflow.get_tracking_uri()
    result = dg.materialize(
        [two_registries],
        instance=instance,
        resources={
            "mlflow": scoped_mlflow_tracking.configured(
                {"mlflow_tracking_uri": tracking_uri, "artifact_uri": str(data_dir / "tracking")}
            )
        },
    )
    assert result.success

    for root in ("a", "b"):
        client = MlflowClient(f"sqlite:///{data_dir}/{root}/mlflow.db")
        [version] = client.search_model_versions("name = 'isolated'")
        run = client.get_run(str(version.run_id))
        assert run.data.params["store"] == root
        assert "mlflow.parentRunId" not in run.data.tags  # the active run is in another store
        assert list((data_dir / root / "mlruns").rglob("MLmodel"))
    tracking = MlflowClient(tracking_uri)
    assert tracking.search_registered_models() == []
    [training_run] = tracking.search_runs(
        [tracking.get_experiment_by_name(TRAINING_EXPERIMENT).experiment_id],  # type: ignore[union-attr]
        filter_string=f"tags.dagster_run_id = '{result.run_id}'",
    )
    assert training_run.data.metrics["after_registries"] == 1.0
    assert training_run.info.status == "FINISHED"  # by the resource: no hook in this run
    assert mlflow.get_tracking_uri() == uri_before


def test_the_train_and_forecast_job_is_one_finished_mlflow_run(
    platform_settings: Settings,
) -> None:
    """The job as `make up` and the API's training runs launch it, checks and all."""
    client = MlflowClient(platform_settings.mlflow_tracking_uri)
    experiment = client.get_experiment_by_name(TRAINING_EXPERIMENT)
    assert experiment is not None
    [run] = client.search_runs([experiment.experiment_id])
    assert run.data.tags["dagster_job"] == "train_and_forecast"
    assert run.info.status == "FINISHED"
    for horizon in (1, 5):
        child = client.get_run(run.data.tags[f"h{horizon}_mlflow_run_id"])
        assert child.data.tags["dagster_run_id"] == run.data.tags["dagster_run_id"]
        assert child.data.tags["mlflow.parentRunId"] == run.info.run_id
