"""The registry trusts exactly the types that the candidates' fitted models need skops to trust:
a missing one makes MLflow refuse to save that candidate when it wins; a stale one trusts a
type no model of ours holds."""

import os
from pathlib import Path
from typing import Any

import mlflow
import pytest
import skops.io
from sklearn.preprocessing import FunctionTransformer

from tests.conftest import synthetic_panel
from tickerpulse.errors import UntrustedModel
from tickerpulse.features import FEATURES, add_targets, compute_features
from tickerpulse.forecasting.evaluation import modelling_rows
from tickerpulse.forecasting.models import CANDIDATES
from tickerpulse.settings import Settings
from tickerpulse.stores.registry import TRUSTED_TYPES, ModelRegistry, mlflow_process_state_kept


def test_the_trust_list_is_what_the_candidates_need() -> None:
    panel = compute_features(synthetic_panel(("AAA", "BBB"), years=3))
    rows = modelling_rows(add_targets(panel, 1), FEATURES)
    inputs = rows[["ticker", *FEATURES]]
    needed = {
        name: set(
            skops.io.get_untrusted_types(
                data=skops.io.dumps(make_model(1).fit(inputs, rows["target"]))
            )
        )
        for name, make_model in CANDIDATES.items()
    }
    assert set().union(*needed.values()) == set(TRUSTED_TYPES), needed
    assert len(TRUSTED_TYPES) == len(set(TRUSTED_TYPES))


class Tripwire:
    """A pickle that makes a directory when it is loaded: proof that loading ran its code."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, ...]:
        return (os.mkdir, (str(self.marker),))


def _register(settings: Settings, name: str, model: Any, **save: Any) -> str:
    """What anyone who can write to the registry and its artifact store could put there."""
    with mlflow_process_state_kept():
        mlflow.set_tracking_uri(settings.mlflow_tracking_uri)
        registry = ModelRegistry(settings.mlflow_tracking_uri, settings.mlflow_artifact_uri)
        with mlflow.start_run(experiment_id=registry.experiment_id(name)):
            info = mlflow.sklearn.log_model(model, name="model", registered_model_name=name, **save)
    return str(info.registered_model_version)


def test_a_model_holding_a_type_outside_the_trust_list_is_refused(
    settings: Settings, tmp_path: Path
) -> None:
    # Calls os.system when it transforms: its MLmodel file lists that function as trusted.
    hostile = FunctionTransformer(func=os.system).fit([[0]])
    listed = skops.io.get_untrusted_types(data=skops.io.dumps(hostile))
    assert any("system" in name for name in listed)
    version = _register(settings, "hostile", hostile, skops_trusted_types=listed)
    registry = ModelRegistry(settings.mlflow_tracking_uri, settings.mlflow_artifact_uri)
    with pytest.raises(UntrustedModel, match="does not trust"):
        registry.load_version("hostile", version)


def test_a_pickled_model_is_refused_without_running_it(settings: Settings, tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    version = _register(settings, "pickled", Tripwire(marker), serialization_format="pickle")
    registry = ModelRegistry(settings.mlflow_tracking_uri, settings.mlflow_artifact_uri)
    with pytest.raises(UntrustedModel, match="'pickle', not skops"):
        registry.load_version("pickled", version)
    assert not marker.exists()
