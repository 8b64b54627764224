"""The one champion lookup: the version the alias points at, None when there is none, and an
outage that stays an outage (RegistryUnavailable, never "no champion").

Versions are registered and aliased with MLflow's own client, not with the platform's
training, so the expected versions come from outside the code under test."""

import time

import pytest
from mlflow import MlflowClient

from tests.unit.test_registry_outage import LOOKUP_BOUND_SECONDS, unreachable_uri
from tickerpulse.errors import RegistryUnavailable
from tickerpulse.forecasting.champions import challenger, champion
from tickerpulse.settings import Settings
from tickerpulse.stores.registry import ModelRegistry


def register_versions(client: MlflowClient, name: str, count: int) -> None:
    """`count` versions of `name`, each from its own run (what a lookup reads metrics from)."""
    experiment = client.create_experiment(name)
    client.create_registered_model(name)
    for number in range(1, count + 1):
        run = client.create_run(experiment)
        client.log_metric(run.info.run_id, "relative_mae", number / 10)
        client.log_param(run.info.run_id, "model", f"model-{number}")
        client.create_model_version(
            name, source=f"file:///nowhere/{number}", run_id=run.info.run_id
        )


def test_the_champion_is_the_version_its_alias_points_at(settings: Settings) -> None:
    client = MlflowClient(settings.mlflow_tracking_uri, settings.mlflow_tracking_uri)
    register_versions(client, "acme-price-h5", 3)
    client.set_registered_model_alias("acme-price-h5", "champion", "2")
    client.set_registered_model_alias("acme-price-h5", "challenger", "3")
    registry = ModelRegistry(settings.mlflow_tracking_uri, settings.mlflow_artifact_uri)

    found = champion(registry, "acme-price", 5)
    assert found is not None
    assert (found.name, found.version, found.params["model"]) == ("acme-price-h5", "2", "model-2")
    assert found.metrics["relative_mae"] == pytest.approx(0.2)
    assert challenger(registry, "acme-price", 5).version == "3"  # type: ignore[union-attr]


def test_no_model_or_no_alias_is_no_champion(settings: Settings) -> None:
    client = MlflowClient(settings.mlflow_tracking_uri, settings.mlflow_tracking_uri)
    register_versions(client, "acme-price-h1", 1)  # registered, but no alias set
    registry = ModelRegistry(settings.mlflow_tracking_uri, settings.mlflow_artifact_uri)

    assert champion(registry, "acme-price", 1) is None
    assert champion(registry, "never-trained", 1) is None
    assert challenger(registry, "acme-price", 1) is None


def test_a_registry_that_is_down_is_an_outage_not_no_champion() -> None:
    down = ModelRegistry(unreachable_uri(), artifact_uri="")
    started = time.monotonic()
    with pytest.raises(RegistryUnavailable, match="model registry at"):
        champion(down, "acme-price", 1)
    assert time.monotonic() - started < LOOKUP_BOUND_SECONDS
