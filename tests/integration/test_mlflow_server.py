"""Train, register, promote and load through a real MLflow server: PostgreSQL + S3 artifacts."""

import uuid

import boto3
import pytest

from tests.conftest import synthetic_panel
from tests.unit.test_registry_and_training import assert_the_gate_keeps_the_champion
from tickerpulse.features import FEATURES, compute_features
from tickerpulse.forecasting.models import model_inputs
from tickerpulse.forecasting.training import train_horizon
from tickerpulse.stores.raw import RawStore
from tickerpulse.stores.registry import ModelRegistry

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_a_model_travels_through_the_server_and_its_artifacts_land_in_s3(
    mlflow_server: str, s3_endpoint: str, postgres_database: str
) -> None:
    registry = ModelRegistry(mlflow_server, artifact_uri="")
    store = RawStore(postgres_database)
    features = compute_features(synthetic_panel(("AAA", "BBB"), years=4))
    name = f"server-test-{uuid.uuid4().hex[:8]}"  # the server's registry outlives test runs
    outcome = train_horizon(
        features, 1, base_name=name, folds=4, registry=registry, raw_store=store
    )
    # Seeded random walks: the random walk serves. Either the nested selection chose it and
    # it was promoted as trained, or the gate declined the selection (no significant edge) and
    # the random walk was registered as the next version.
    assert outcome.champion is not None and outcome.champion.params["model"] == "naive"
    served = int(outcome.version.version) + (0 if outcome.decision.promote else 1)
    assert outcome.champion.version == str(served)

    champion = registry.by_alias(f"{name}-h1", "champion")
    assert champion is not None and champion.metrics["relative_mae"] <= 1.0
    model = registry.load(f"{name}-h1", "champion")
    latest = features.dropna(subset=FEATURES).tail(2)
    assert model.predict(latest[model_inputs(FEATURES)]).shape == (2,)

    s3 = boto3.client("s3", endpoint_url=s3_endpoint)
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket="tickerpulse-mlflow").get("Contents", [])]
    experiment = registry.experiment_id(f"{name}-h1")
    ours = [key for key in keys if key.startswith(f"{experiment}/")]
    assert any(key.endswith("MLmodel") for key in ours)
    assert f"{experiment}/{outcome.version.run_id}/artifacts/candidates.json" in ours
    history = store.alias_history(f"{name}-h1")
    assert [h["to_alias"] for h in history][-1] == "champion"
    assert_the_gate_keeps_the_champion(registry, store, name)
