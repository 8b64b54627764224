"""MLflow registry on its embedded backend, and the training flow that feeds it."""

import numpy as np
import pytest

from tests.conftest import synthetic_panel
from tickerpulse.features import FEATURES, compute_features
from tickerpulse.forecasting.models import CANDIDATES, model_inputs
from tickerpulse.forecasting.training import train_horizon
from tickerpulse.settings import Settings
from tickerpulse.stores.operational import OperationalStore
from tickerpulse.stores.registry import ModelRegistry

pytestmark = pytest.mark.slow
FEATURES_PANEL = compute_features(synthetic_panel(("AAA", "BBB", "CCC"), years=5))


@pytest.fixture
def registry(settings: Settings) -> ModelRegistry:
    return ModelRegistry(settings.mlflow_tracking_uri, settings.mlflow_artifact_uri)


def test_training_registers_a_version_and_records_every_alias_change(
    registry: ModelRegistry, operational_store: OperationalStore, settings: Settings
) -> None:
    outcome = train_horizon(
        FEATURES_PANEL,
        1,
        base_name="test-price",
        folds=4,
        registry=registry,
        operational_store=operational_store,
    )
    assert outcome.version.version == "1"
    # Synthetic random walks: what the selection picked is no significant improvement, so the
    # gate declines it and, there being no champion yet, the random walk is registered and serves.
    assert outcome.nested.selected.metrics["dm_pvalue"] >= 0.05
    assert not outcome.decision.promote and "not a significant" in outcome.decision.reason
    assert outcome.champion is not None and outcome.champion.version == "2"
    assert outcome.champion.params["model"] == "naive"
    assert outcome.version.params["features"] == ",".join(FEATURES)
    assert outcome.version.params["selection"] == "nested"
    assert set(outcome.candidates) == set(CANDIDATES)
    history = operational_store.alias_history("test-price-h1")
    assert [(h["from_alias"], h["to_alias"], h["version"]) for h in history] == [
        (None, "challenger", "1"),
        (None, "champion", "2"),
    ]
    assert history[-1]["reason"].startswith("the random walk serves: relative MAE")
    logged = {a.path for a in registry.client.list_artifacts(outcome.version.run_id, "plots")}
    assert logged == {"plots/skill_by_fold.png", "plots/forecast_vs_actual.png"}
    # Artifacts went to the configured root, not to ./mlruns in the working directory.
    assert list((settings.data_dir / "mlruns").rglob("MLmodel"))

    model = registry.load("test-price-h1", "champion")
    latest = FEATURES_PANEL.dropna(subset=FEATURES).tail(3)
    assert model.predict(latest[model_inputs(FEATURES)]).shape == (3,)

    second = train_horizon(
        FEATURES_PANEL,
        1,
        base_name="test-price",
        folds=4,
        registry=registry,
        operational_store=operational_store,
    )
    assert second.version.version == "3"
    assert registry.by_alias("test-price-h1", "challenger").version == "3"  # type: ignore[union-attr]
    # A champion serves now: a declined challenger leaves it, and no second random walk is made.
    assert not second.decision.promote
    assert registry.by_alias("test-price-h1", "champion").version == "2"  # type: ignore[union-attr]
    assert len(operational_store.alias_history("test-price-h1")) == 3

    assert_the_gate_keeps_the_champion(registry, operational_store, "test-price")


def assert_the_gate_keeps_the_champion(
    registry: ModelRegistry, operational_store: OperationalStore, base_name: str
) -> None:
    """Only the random walk competes: it may not displace a champion, and the reason is kept."""
    name = f"{base_name}-h1"
    before = registry.by_alias(name, "champion")
    assert before is not None
    rejected = train_horizon(
        FEATURES_PANEL.groupby("ticker").tail(900),
        1,
        base_name=base_name,
        folds=4,
        registry=registry,
        operational_store=operational_store,
        candidates={"naive": CANDIDATES["naive"]},
    )
    assert not rejected.decision.promote
    assert registry.by_alias(name, "champion").version == before.version  # type: ignore[union-attr]
    assert registry.by_alias(name, "challenger").version == rejected.version.version  # type: ignore[union-attr]
    last = operational_store.alias_history(name)[-1]
    assert last["to_alias"] == "challenger" and last["version"] == rejected.version.version
    assert last["reason"].startswith("trained naive; not promoted: the random walk only serves")
    tags = registry.client.get_model_version(name, rejected.version.version).tags
    assert tags["promotion"].startswith("not promoted")


def test_an_unknown_model_has_no_alias(registry: ModelRegistry) -> None:
    assert registry.by_alias("never-trained", "champion") is None


def test_the_registry_leaves_the_process_environment_alone(
    registry: ModelRegistry, operational_store: OperationalStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    import os

    import mlflow

    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    uri_before = mlflow.get_tracking_uri()
    train_horizon(
        FEATURES_PANEL,
        5,
        base_name="env",
        folds=4,
        registry=registry,
        operational_store=operational_store,
    )
    assert registry.load("env-h5", "champion") is not None
    assert "MLFLOW_TRACKING_URI" not in os.environ
    # Nor MLflow's own process-wide URI, which set_tracking_uri keeps apart from os.environ.
    assert mlflow.get_tracking_uri() == uri_before != registry.tracking_uri


def test_a_per_ticker_model_saves_and_loads_with_its_routing(registry: ModelRegistry) -> None:
    rows = FEATURES_PANEL.dropna(subset=FEATURES)
    inputs = rows[model_inputs(FEATURES)]
    target = rows["ret_1"].shift(-1).fillna(0.0).to_numpy()
    fitted = CANDIDATES["ridge_per_ticker"](1).fit(inputs, target)
    fitted.own_ = {"BBB": fitted.own_.get("BBB") or fitted.pooled_}  # route one ticker for sure
    registry.log_and_register(
        "per-ticker",
        fitted,
        params={"model": "ridge_per_ticker"},
        metrics={"relative_mae": 0.99},
        fold_metrics=[],
        input_example=inputs.head(5),
        tags={},
    )
    registry.set_alias("per-ticker", "champion", "1")
    loaded = registry.load("per-ticker", "champion")
    assert set(loaded.own_) == {"BBB"}
    assert np.allclose(loaded.predict(inputs.tail(30)), fitted.predict(inputs.tail(30)))
