"""Any candidate that wins the walk-forward can be saved, registered, loaded and served.

Each candidate of the code's own registry (CANDIDATES, so a new one is covered the day it is
added) is made the winner by offering it alone to the training, then travels the path a
champion travels: MLflow save and register, load by alias, batch forecast, online prediction;
on the embedded registry and on a real MLflow server.
"""

import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pytest

from tests.conftest import synthetic_panel
from tickerpulse.features import FEATURES, add_targets, compute_features
from tickerpulse.forecasting.evaluation import modelling_rows
from tickerpulse.forecasting.forecast import LoadedChampion, champion_forecasts, served_quantiles
from tickerpulse.forecasting.models import CANDIDATES
from tickerpulse.forecasting.training import train_horizon
from tickerpulse.predicting import Predictor
from tickerpulse.settings import Settings
from tickerpulse.stores.operational import OperationalStore
from tickerpulse.stores.registry import ModelRegistry
from tickerpulse.stores.warehouse import Warehouse, open_warehouse

pytestmark = pytest.mark.slow
PANEL = compute_features(synthetic_panel(("AAA", "BBB", "CCC"), years=3))


@dataclass
class Deployment:
    registry: ModelRegistry
    operational_store: OperationalStore
    warehouse: Warehouse


@pytest.fixture(params=["embedded", pytest.param("server", marks=pytest.mark.integration)])
def deployment(request: pytest.FixtureRequest, settings: Settings) -> Iterator[Deployment]:
    """The registry each deployment uses; the warehouse stays embedded (not under test here)."""
    if request.param == "server":
        yield Deployment(
            ModelRegistry(request.getfixturevalue("mlflow_server"), artifact_uri=""),
            OperationalStore(request.getfixturevalue("postgres_database")),
            open_warehouse(settings.warehouse_url),
        )
    else:
        yield embedded(settings)


def embedded(settings: Settings) -> Deployment:
    return Deployment(
        ModelRegistry(settings.mlflow_tracking_uri, settings.mlflow_artifact_uri),
        OperationalStore(settings.raw_db_url),
        open_warehouse(settings.warehouse_url),
    )


@pytest.mark.parametrize("candidate", list(CANDIDATES))
def test_the_winner_is_saved_registered_loaded_and_served(
    candidate: str, deployment: Deployment
) -> None:
    base_name = f"winner-{uuid.uuid4().hex[:8]}"  # the server's registry outlives test runs
    outcome = train_horizon(
        PANEL,
        1,
        base_name=base_name,
        folds=4,
        registry=deployment.registry,
        operational_store=deployment.operational_store,
        candidates={candidate: CANDIDATES[candidate]},
    )
    assert outcome.best.model == candidate
    assert outcome.version.params["model"] == candidate
    if not outcome.decision.promote:
        # The gate judges skill, which three tickers of noise may not show; what is under
        # test is that the winner serves once it is champion, so make it champion.
        deployment.registry.set_alias(outcome.model_name, "champion", outcome.version.version)
    assert_the_champion_serves(deployment, PANEL, candidate, outcome.model_name, base_name)


def assert_the_champion_serves(
    deployment: Deployment,
    features: pd.DataFrame,
    candidate: str,
    name: str,
    base_name: str,
    online_tickers: int | None = None,
) -> None:
    """The champion, loaded by alias, predicts what the model fitted in this process predicts;
    the batch forecast is its prediction on each ticker's last row; online equals batch (for
    the first `online_tickers` tickers, or all: each online prediction reads and predicts alone)."""
    horizon = 1
    registry = deployment.registry
    champion = registry.by_alias(name, "champion")
    assert champion is not None and champion.params["model"] == candidate
    loaded = registry.load(name, "champion")

    # Expected values from outside the registry: the same candidate fitted here on the same
    # rows (every candidate is deterministic), and each ticker's last row picked by hand.
    inputs = ["ticker", *FEATURES]
    rows = modelling_rows(add_targets(features, horizon), FEATURES)
    fitted = CANDIDATES[candidate](horizon).fit(rows[inputs], rows["target"])
    last = features.sort_values("date").groupby("ticker").tail(1).sort_values("ticker")
    expected = last["close"].to_numpy() * np.exp(fitted.predict(last[inputs]))
    np.testing.assert_allclose(loaded.predict(last[inputs]), fitted.predict(last[inputs]))

    served = LoadedChampion(
        name, champion.version, candidate, served_quantiles(champion.metrics), loaded
    )
    batch, skipped = champion_forecasts(served, features, horizon)
    assert skipped == []
    batch = batch.sort_values("ticker").reset_index(drop=True)
    assert list(batch["ticker"]) == list(last["ticker"])
    assert list(batch["date"]) == list(last["date"])
    np.testing.assert_allclose(batch["forecast"], expected, rtol=1e-9)
    assert ((batch["lower_95"] < batch["forecast"]) & (batch["forecast"] < batch["upper_95"])).all()

    for ticker, ticker_rows in features.groupby("ticker"):
        deployment.warehouse.write_partition(
            "price_features", str(ticker), ticker_rows.drop(columns="ticker")
        )
    predictor = Predictor(registry, deployment.warehouse, base_name, [horizon])
    for row in batch.head(online_tickers).itertuples():
        online = predictor.predict(str(row.ticker), horizon)
        assert online["model_version"] == champion.version and online["as_of"] == row.date
        assert online["forecast"] == pytest.approx(row.forecast, rel=1e-9)
        assert online["interval_80"]["lower"] == pytest.approx(row.lower_80, rel=1e-9)
        assert online["interval_95"]["upper"] == pytest.approx(row.upper_95, rel=1e-9)
