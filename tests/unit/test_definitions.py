"""The Dagster code location: it loads, runs end to end, is idempotent, and its checks block."""

import dagster as dg
import pandas as pd
import pytest

from orchestration.definitions import defs
from tickerpulse.settings import Settings
from tickerpulse.stores.raw import RawStore
from tickerpulse.stores.warehouse import open_warehouse

ASSETS = ["raw_prices", "clean_prices", "price_features", "price_model", "price_forecasts"]


def test_the_code_location_loads_with_every_asset_checked() -> None:
    graph = defs.resolve_asset_graph()
    keys = {key.to_user_string() for key in graph.get_all_asset_keys()}
    assert keys == set(ASSETS)
    checked = {key.asset_key.to_user_string() for key in graph.asset_check_keys}
    assert checked == set(ASSETS)
    blocking = {
        spec.asset_key.to_user_string()
        for checks in defs.asset_checks or []
        for spec in checks.check_specs  # type: ignore[union-attr]
        if spec.blocking
    }
    assert blocking == set(ASSETS)
    assert defs.resolve_job_def("refresh_everything") is not None


def run_everything(selection: list[str] | None = None) -> dg.ExecuteInProcessResult:
    job = defs.resolve_implicit_global_asset_job_def()
    with dg.instance_for_test() as instance:
        return job.execute_in_process(
            instance=instance,
            raise_on_error=False,
            asset_selection=[dg.AssetKey(k) for k in selection] if selection else None,
        )


def check_results(result: dg.ExecuteInProcessResult) -> dict[str, bool]:
    return {
        event.event_specific_data.check_name: event.event_specific_data.passed  # type: ignore[union-attr]
        for event in result.all_events
        if event.event_type_value == "ASSET_CHECK_EVALUATION"
    }


@pytest.mark.slow
def test_the_demo_pipeline_passes_every_check(
    materialized_platform: object, platform_settings: Settings
) -> None:
    warehouse = open_warehouse(platform_settings.warehouse_url)
    forecasts = warehouse.read("price_forecasts")
    assert set(forecasts["ticker"]) == {"ACME", "GLOBEX", "GOOG", "INITECH", "SPX"}
    assert sorted(forecasts["horizon"].unique()) == [1, 5]
    store = RawStore(platform_settings.raw_db_url)
    history = store.alias_history()
    assert {h["model_name"] for h in history if h["to_alias"] == "champion"} == {
        "tickerpulse-price-h1",
        "tickerpulse-price-h5",
    }


@pytest.mark.slow
def test_materializing_twice_leaves_identical_rows(
    store_settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = RawStore(store_settings.raw_db_url)
    for ticker in ("AAA", "BBB"):
        store.add_ticker(ticker, "synthetic")
    warehouse = open_warehouse(store_settings.warehouse_url)

    def snapshot() -> dict[str, pd.DataFrame]:
        return {
            "raw": store.read_prices().drop(columns="ingested_at"),
            "clean": warehouse.read("clean_prices"),
            "features": warehouse.read("price_features"),
        }

    first_run = run_everything(["raw_prices", "clean_prices", "price_features"])
    assert first_run.success and all(check_results(first_run).values())
    first = snapshot()
    assert len(first["raw"]) > 2000
    assert run_everything(["raw_prices", "clean_prices", "price_features"]).success
    second = snapshot()
    for name in first:
        pd.testing.assert_frame_equal(first[name], second[name], check_like=True)


@pytest.mark.slow
def test_a_failed_blocking_check_stops_everything_downstream(store_settings: Settings) -> None:
    store = RawStore(store_settings.raw_db_url)
    store.add_ticker("AAA", "synthetic")
    store.add_ticker("EMPTY", "csv")  # registered, but no file ever delivered rows
    result = run_everything()
    assert not result.success
    results = check_results(result)
    assert results["raw_prices_every_ticker_has_rows"] is False
    assert set(results) == {
        "raw_prices_every_ticker_has_rows",
        "raw_prices_fresh",
    }  # none downstream
    materialized = {e.asset_key.to_user_string() for e in result.get_asset_materialization_events()}
    assert materialized == {"raw_prices"}
    assert open_warehouse(store_settings.warehouse_url).read("clean_prices").empty


@pytest.mark.slow
def test_every_asset_to_a_served_forecast_on_each_deployment(store_settings: Settings) -> None:
    from fastapi.testclient import TestClient

    from serving.app import create_app

    store = RawStore(store_settings.raw_db_url)
    for ticker in ("AAA", "BBB"):
        store.add_ticker(ticker, "synthetic")
    result = run_everything()
    assert result.success
    assert all(
        passed for name, passed in check_results(result).items() if name != "raw_prices_fresh"
    )
    with TestClient(create_app(store_settings)) as client:
        body = client.get("/v1/forecasts/BBB").json()
        assert [f["horizon"] for f in body["forecasts"]] == [1, 5]
        assert client.get("/v1/tickers").json()[0]["rows"] > 2000
