"""The Dagster code location: it loads, runs end to end, is idempotent, and its checks block."""

import dagster as dg
import pandas as pd
import pytest

from orchestration.bootstrap import everything_plan, materialize_everything
from orchestration.definitions import defs
from tickerpulse.calendar import last_completed_session
from tickerpulse.ingestion import ingest_from_source
from tickerpulse.settings import Settings, get_settings
from tickerpulse.sources.synthetic import SyntheticSource
from tickerpulse.stores.operational import OperationalStore
from tickerpulse.stores.warehouse import open_warehouse

ASSETS = ["raw_prices", "clean_prices", "price_features", "price_model", "price_forecasts"]
MONITORING = ["feature_drift", "forecast_accuracy"]  # report on the data; warn, never block


def test_the_code_location_loads_with_every_asset_checked() -> None:
    graph = defs.resolve_asset_graph()
    keys = {key.to_user_string() for key in graph.get_all_asset_keys()}
    assert keys == set(ASSETS + MONITORING)
    checked = {key.asset_key.to_user_string() for key in graph.asset_check_keys}
    assert checked == set(ASSETS + MONITORING)
    # Checks of their own, and those an asset reports on what it writes (price_features').
    blocking = {
        spec.asset_key.to_user_string()
        for definitions in [*(defs.asset_checks or []), *(defs.assets or [])]
        for spec in definitions.check_specs  # type: ignore[union-attr]
        if spec.blocking
    }
    assert blocking == set(ASSETS)
    for job in ("ingest_sessions", "clean_tickers", "train_and_forecast"):
        assert defs.resolve_job_def(job) is not None


def add_synthetic(store: OperationalStore, *symbols: str, years: int = 4) -> None:
    """Tickers with history, as `tickerpulse ingest --source synthetic` leaves them."""
    end = last_completed_session()
    for symbol in symbols:
        ingest_from_source(
            store, SyntheticSource(), symbol, end.replace(year=end.year - years), end
        )
        store.add_ticker(symbol, "synthetic")


def run_everything() -> list[dg.ExecuteInProcessResult]:
    with dg.instance_for_test() as instance:
        return materialize_everything(instance, sessions=5)


def run_through_features() -> list[dg.ExecuteInProcessResult]:
    """Bootstrap's first two runs, then price_features alone: the rows a second run must
    leave as they are, without the two trainings a model and forecasts would cost."""
    store = OperationalStore(get_settings().raw_db_url)
    with dg.instance_for_test() as instance:
        plan = [(job, tags, None) for job, tags, _ in everything_plan(instance, store, 5)]
        plan[-1] = ("train_and_forecast", {}, [dg.AssetKey("price_features")])
        return [
            defs.resolve_job_def(job).execute_in_process(
                instance=instance, tags=tags, asset_selection=selection, raise_on_error=False
            )
            for job, tags, selection in plan
        ]


def check_results(results: list[dg.ExecuteInProcessResult]) -> dict[str, bool]:
    return {
        event.event_specific_data.check_name: event.event_specific_data.passed  # type: ignore[union-attr]
        for result in results
        for event in result.all_events
        if event.event_type_value == "ASSET_CHECK_EVALUATION"
    }


# Freshness is judged against the clock, which may pass a session close mid-run, and drift
# describes the (synthetic, date-dependent) data rather than a defect in it.
DESCRIPTIVE_CHECKS = {"raw_prices_fresh", "no_feature_shifted"}


def failed_checks(results: list[dg.ExecuteInProcessResult]) -> list[str]:
    return sorted(
        name
        for name, passed in check_results(results).items()
        if not passed and name not in DESCRIPTIVE_CHECKS
    )


@pytest.mark.slow
def test_the_demo_pipeline_passes_every_check(
    materialized_platform: object, platform_settings: Settings
) -> None:
    warehouse = open_warehouse(platform_settings.warehouse_url)
    forecasts = warehouse.read("price_forecasts")
    assert set(forecasts["ticker"]) == {"ACME", "GLOBEX", "GOOG", "INITECH", "SPX"}
    assert sorted(forecasts["horizon"].unique()) == [1, 5]
    store = OperationalStore(platform_settings.raw_db_url)
    history = store.alias_history()
    assert {h["model_name"] for h in history if h["to_alias"] == "champion"} == {
        "tickerpulse-price-h1",
        "tickerpulse-price-h5",
    }


@pytest.mark.slow
def test_materializing_twice_leaves_identical_rows(
    store_settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = OperationalStore(store_settings.raw_db_url)
    add_synthetic(store, "AAA", "BBB")
    warehouse = open_warehouse(store_settings.warehouse_url)

    def snapshot() -> dict[str, pd.DataFrame]:
        return {
            "raw": store.read_prices().drop(columns="ingested_at"),
            "clean": warehouse.read("clean_prices"),
            "features": warehouse.read("price_features"),
        }

    first_run = run_through_features()
    assert all(r.success for r in first_run) and failed_checks(first_run) == []
    first = snapshot()
    assert len(first["raw"]) > 2000 and len(first["features"]) == len(first["clean"]) > 2000
    assert all(r.success for r in run_through_features())
    second = snapshot()
    for name in first:
        pd.testing.assert_frame_equal(first[name], second[name], check_like=True)


@pytest.mark.slow
def test_a_failed_blocking_check_stops_everything_downstream(store_settings: Settings) -> None:
    store = OperationalStore(store_settings.raw_db_url)
    add_synthetic(store, "AAA", years=1)
    store.add_ticker("EMPTY", "csv")  # registered, but no file ever delivered rows
    results = run_everything()
    assert len(results) == 1 and not results[0].success  # nothing after the failed run
    checks = check_results(results)
    assert checks["raw_prices_every_ticker_has_rows"] is False
    assert set(checks) == {"raw_prices_every_ticker_has_rows", "raw_prices_fresh"}
    materialized = {
        e.asset_key.to_user_string() for e in results[0].get_asset_materialization_events()
    }
    assert materialized == {"raw_prices"}
    assert open_warehouse(store_settings.warehouse_url).read("clean_prices").empty


@pytest.mark.slow
def test_a_ticker_too_new_to_forecast_is_reported_not_blocking(store_settings: Settings) -> None:
    """A CSV of a few days (the inbox takes such files) leaves warm-up gaps in its features:
    it gets no forecast yet, and that must not fail every retrain from then on."""
    import datetime as dt

    store = OperationalStore(store_settings.raw_db_url)
    add_synthetic(store, "AAA", years=4)
    end = last_completed_session()
    ingest_from_source(store, SyntheticSource(), "NEWCO", end - dt.timedelta(days=10), end)
    store.add_ticker("NEWCO", "csv")
    results = run_everything()
    assert len(results) == 3 and all(r.success for r in results)
    assert failed_checks(results) == []
    forecasts = open_warehouse(store_settings.warehouse_url).read("price_forecasts")
    assert set(forecasts["ticker"]) == {"AAA"}
    metadata = {
        e.event_specific_data.check_name: e.event_specific_data.metadata  # type: ignore[union-attr]
        for r in results
        for e in r.all_events
        if e.event_type_value == "ASSET_CHECK_EVALUATION"
    }
    assert metadata["price_features_usable"]["tickers_warming_up"].value == "NEWCO"
    assert metadata["price_forecasts_intervals_ordered"]["tickers_not_forecastable_yet"].value == (
        "NEWCO"
    )


@pytest.mark.slow
def test_every_asset_to_a_served_forecast_on_each_deployment(store_settings: Settings) -> None:
    from fastapi.testclient import TestClient

    from serving.app import create_app

    add_synthetic(OperationalStore(store_settings.raw_db_url), "AAA", "BBB", years=10)
    results = run_everything()
    assert len(results) == 3 and all(r.success for r in results)
    assert failed_checks(results) == []
    assert "no_feature_shifted" in check_results(results)
    with TestClient(create_app(store_settings)) as client:
        body = client.get("/v1/forecasts/BBB").json()
        assert [f["horizon"] for f in body["forecasts"]] == [1, 5]
        assert client.get("/v1/tickers").json()[0]["rows"] > 2000
