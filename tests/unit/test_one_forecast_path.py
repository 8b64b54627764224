"""Batch forecasts and online predictions take one path (champion_forecasts): for the same
champion and features, the API's prediction is the row the price_forecasts asset published.

The expected values are the asset's own output, read back from the warehouse after a real
materialization; the test computes none of them."""

import dagster as dg
import pytest

from orchestration.assets.predictions import price_forecasts
from orchestration.resources import RegistryResource, WarehouseResource
from tests.unit.test_registry_outage import TICKERS, serve_features, train_h1
from tickerpulse.forecasting.forecast import champion_forecasts, forecast_record
from tickerpulse.predicting import Predictor
from tickerpulse.settings import Settings, get_settings
from tickerpulse.stores.operational import OperationalStore
from tickerpulse.stores.registry import ModelRegistry
from tickerpulse.stores.warehouse import open_warehouse

pytestmark = pytest.mark.slow
HORIZON = 1


@pytest.fixture
def one_horizon(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """The embedded platform serving h1 only (one training instead of two)."""
    monkeypatch.setenv("HORIZONS", f"[{HORIZON}]")
    get_settings.cache_clear()
    return get_settings()


def test_an_online_prediction_is_the_batch_forecast_row(one_horizon: Settings) -> None:
    settings = one_horizon
    registry = ModelRegistry(settings.mlflow_tracking_uri, settings.mlflow_artifact_uri)
    train_h1(registry, OperationalStore(settings.raw_db_url), settings.model_name)
    serve_features(settings)
    with dg.instance_for_test() as instance:
        result = dg.materialize(
            [price_forecasts],
            instance=instance,
            resources={"warehouse": WarehouseResource(), "registry": RegistryResource()},
        )
    assert result.success
    warehouse = open_warehouse(settings.warehouse_url)
    batch = warehouse.read("price_forecasts").set_index("ticker")
    assert sorted(batch.index) == sorted(TICKERS)

    predictor = Predictor(registry, warehouse, settings.model_name, [HORIZON], settings.exchange)
    for ticker in TICKERS:
        published = forecast_record(batch.loc[ticker])
        online = predictor.predict(ticker, HORIZON)
        assert online["ticker"] == ticker
        assert (online["model_name"], online["model_version"], online["model"]) == (
            published["model_name"],
            published["model_version"],
            published["model"],
        )
        assert (online["as_of"], online["target_date"]) == (
            published["as_of"],
            published["target_date"],
        )
        assert online["last_close"] == pytest.approx(published["last_close"], rel=1e-12)
        assert online["forecast"] == pytest.approx(published["forecast"], rel=1e-9)
        for interval in ("interval_80", "interval_95"):
            assert online[interval] == pytest.approx(published[interval], rel=1e-9)

        # The online answer is the shared function's, on what the Predictor loaded and read.
        rows, skipped = champion_forecasts(
            predictor.champion(HORIZON), predictor.latest_features(ticker), HORIZON
        )
        assert skipped == []
        assert rows.iloc[0]["forecast"] == pytest.approx(published["forecast"], rel=1e-9)
