"""Model and pipeline quality on /metrics: each figure against the same figure computed here.

The materialized platform has one forecast batch, whose target sessions have not closed yet.
`forecast_history` gives a copy of its warehouse the history that daily price_forecasts runs
over the last sessions would have left (the champions applied to each earlier day's features),
so that forecasts have been realized and there is an error and a coverage to report.
"""

from __future__ import annotations

import datetime as dt
import shutil
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient
from prometheus_client import CollectorRegistry

from orchestration.resources import OperationalStoreResource
from orchestration.sensors import check_results_to_store
from serving.app import create_app
from serving.quality_metrics import QualityCollector
from tickerpulse.calendar import last_completed_session, trading_days
from tickerpulse.features import FEATURES
from tickerpulse.forecasting.champions import champion as champion_of
from tickerpulse.forecasting.champions import load_champion, registered_name
from tickerpulse.forecasting.drift import population_stability_index
from tickerpulse.forecasting.forecast import champion_forecasts
from tickerpulse.settings import Settings
from tickerpulse.stores.operational import OperationalStore
from tickerpulse.stores.registry import ModelRegistry
from tickerpulse.stores.warehouse import Warehouse, open_warehouse
from tickerpulse.stores.warehouse.base import ROW_KEYS, replace_rows

pytestmark = pytest.mark.slow
HISTORY_SESSIONS = 40


def forecast_history(settings: Settings, target: Path, sessions: int = HISTORY_SESSIONS) -> str:
    """Copy the warehouse to `target` and add the forecasts of the last `sessions` sessions
    before each ticker's newest; returns the copy's WAREHOUSE_URL."""
    shutil.copytree(settings.data_dir / "warehouse", target)
    warehouse = open_warehouse(f"chdb://{target}")
    registry = ModelRegistry(settings.mlflow_tracking_uri, settings.mlflow_artifact_uri)
    features = warehouse.read("price_features")
    sessions_back = features.groupby("ticker").cumcount(ascending=False)
    batches = []
    for horizon in settings.horizons:
        champion = champion_of(registry, settings.model_name, horizon)
        assert champion is not None
        loaded = load_champion(registry, champion)
        for back in range(1, sessions + 1):
            made, _ = champion_forecasts(
                # What that day's run saw: the history up to it (the tercile ranks on it).
                loaded,
                features[sessions_back >= back],
                horizon,
                settings.exchange,
            )
            batches.append(made)
    history = pd.concat(batches, ignore_index=True)
    for ticker, rows in history.groupby("ticker"):
        published = warehouse.read("price_forecasts", str(ticker)).drop(columns="ticker")
        merged = replace_rows(rows.drop(columns="ticker"), published, ROW_KEYS["price_forecasts"])
        warehouse.write_partition("price_forecasts", str(ticker), merged)
    return f"chdb://{target}"


@pytest.fixture
def history_url(platform_settings: Settings, tmp_path: Path) -> str:
    return forecast_history(platform_settings, tmp_path / "warehouse")


@pytest.fixture
def collector(platform_settings: Settings, history_url: str) -> QualityCollector:
    settings = platform_settings
    return QualityCollector(
        OperationalStore(settings.raw_db_url),
        open_warehouse(history_url),
        ModelRegistry(settings.mlflow_tracking_uri, settings.mlflow_artifact_uri),
        settings,
    )


def series(collector: QualityCollector, name: str) -> dict[tuple[str, ...], float]:
    """{label values: value} of one metric, as a scrape reads it."""
    found = {}
    for family in collector.collect():
        for sample in family.samples:
            if sample.name == name:
                found[tuple(sample.labels.values())] = sample.value
    return found


def forecasts_and_closes(warehouse: Warehouse) -> tuple[pd.DataFrame, dict[tuple, float]]:
    """The forecast history, and each (ticker, date)'s close to count them against by hand."""
    closes = {
        (row.ticker, row.date): row.close
        for row in warehouse.read("clean_prices", columns="ticker, date, close").itertuples()
    }
    return warehouse.read("price_forecasts"), closes


def test_realized_error_and_coverage_match_a_row_by_row_count(
    collector: QualityCollector, history_url: str
) -> None:
    warehouse = open_warehouse(history_url)
    forecasts, closes = forecasts_and_closes(warehouse)
    ratios = series(collector, "tickerpulse_forecast_error_vs_naive_ratio")
    coverage = series(collector, "tickerpulse_forecast_interval_coverage_ratio")
    scored = series(collector, "tickerpulse_forecasts_scored")
    assert len(scored) == forecasts[["ticker", "horizon"]].drop_duplicates().shape[0] == 10
    for (ticker, horizon), rows in forecasts.groupby(["ticker", "horizon"]):
        realized = [
            (row, closes[(ticker, row.target_date)])
            for row in rows.sort_values(["target_date", "date"]).itertuples()
            if (ticker, row.target_date) in closes
        ][-60:]
        # Every forecast made up to `horizon` sessions before the newest close has come true.
        assert len(realized) == HISTORY_SESSIONS - horizon + 1
        model_error = np.mean([abs(row.forecast - actual) for row, actual in realized])
        naive_error = np.mean([abs(row.last_close - actual) for row, actual in realized])
        inside_80 = np.mean([row.lower_80 <= actual <= row.upper_80 for row, actual in realized])
        inside_95 = np.mean([row.lower_95 <= actual <= row.upper_95 for row, actual in realized])
        labels = (str(ticker), str(horizon))
        assert scored[labels] == len(realized)
        assert ratios[labels] == pytest.approx(model_error / naive_error)
        assert coverage[(*labels, "80")] == pytest.approx(inside_80)
        assert coverage[(*labels, "95")] == pytest.approx(inside_95)
        # Plausible: a 95 % interval holds the 80 % one, and neither covers nothing.
        assert 0 < inside_80 <= inside_95 <= 1
    assert all(0.5 < ratio < 2 for ratio in ratios.values())


def tercile_by_hand(volatility: list[float], at: int) -> int:
    """The tercile of volatility[at] among the last 756 up to it; ties share the mean rank."""
    window = volatility[max(0, at - 755) : at + 1]
    if len(window) < 60:
        return 1
    below = sum(value < volatility[at] for value in window)
    equal = sum(value == volatility[at] for value in window)
    share = (below + (equal + 1) / 2) / len(window)
    return min(2, max(0, int(np.ceil(share * 3)) - 1))


def test_served_coverage_by_volatility_tercile_matches_a_row_by_row_count(
    collector: QualityCollector, history_url: str
) -> None:
    warehouse = open_warehouse(history_url)
    forecasts, closes = forecasts_and_closes(warehouse)
    features = warehouse.read("price_features", columns="ticker, date, volatility_20")
    tercile_of = {}
    for ticker, rows in features.sort_values("date").groupby("ticker"):
        volatility = rows["volatility_20"].tolist()
        for at, day in enumerate(rows["date"]):
            tercile_of[(ticker, day)] = tercile_by_hand(volatility, at)
    inside: dict[tuple[str, str, str], list[bool]] = {}
    for row in forecasts.itertuples():
        actual = closes.get((row.ticker, row.target_date))
        if actual is None:
            continue
        tercile = ("low", "mid", "high")[tercile_of[(row.ticker, row.date)]]
        for level in ("80", "95"):
            lower, upper = getattr(row, f"lower_{level}"), getattr(row, f"upper_{level}")
            inside.setdefault((str(row.horizon), level, tercile), []).append(
                lower <= actual <= upper
            )
    served = series(collector, "tickerpulse_served_interval_coverage_by_volatility_ratio")
    assert served.keys() == inside.keys() and len(served) >= 4
    for labels, hits in inside.items():
        assert served[labels] == pytest.approx(np.mean(hits))


def test_champions_drift_freshness_and_rows(
    collector: QualityCollector, platform_settings: Settings, history_url: str
) -> None:
    settings = platform_settings
    registry = ModelRegistry(settings.mlflow_tracking_uri, settings.mlflow_artifact_uri)
    champions = series(collector, "tickerpulse_champion_version")
    expected = {}
    for horizon in settings.horizons:
        name = registered_name(settings.model_name, horizon)
        champion = registry.by_alias(name, "champion")
        assert champion is not None
        expected[(name, str(horizon), champion.params["model"])] = float(champion.version)
    assert champions == expected

    features = open_warehouse(history_url).read("price_features")
    dates = np.sort(features["date"].unique())
    recent = features["date"] >= dates[-63]
    psi = series(collector, "tickerpulse_feature_drift_psi")
    assert set(psi) == {(feature,) for feature in FEATURES}
    for feature in FEATURES:
        values = features[feature].to_numpy(float)
        assert psi[(feature,)] == pytest.approx(
            population_stability_index(values[~recent], values[recent])
        )
        assert psi[(feature,)] >= 0

    store = OperationalStore(settings.raw_db_url)
    prices = store.read_prices()
    newest_session = last_completed_session(exchange=settings.exchange)
    behind = series(collector, "tickerpulse_sessions_behind")
    rows = series(collector, "tickerpulse_raw_price_rows")
    quarantined = series(collector, "tickerpulse_quarantined_rows")
    clean_rows = series(collector, "tickerpulse_clean_price_rows")
    last_dates = series(collector, "tickerpulse_clean_prices_last_date_timestamp_seconds")
    for ticker, ticker_prices in prices.groupby("ticker"):
        newest = ticker_prices["date"].max()
        missed = trading_days(newest + dt.timedelta(days=1), newest_session, settings.exchange)
        assert behind[(ticker,)] == len(missed)
        assert rows[(ticker,)] == len(ticker_prices)
        assert clean_rows[(ticker,)] == len(ticker_prices)  # the demo has no bad row
        assert last_dates[(ticker,)] == pd.Timestamp(newest, tz="UTC").timestamp()
        assert quarantined[(ticker,)] == len(store.quarantined(str(ticker)))
    # The synthetic tickers run up to the last session; the recorded histories end in 2013, 2018.
    assert behind[("ACME",)] == 0 and behind[("GOOG",)] > 3000


def test_figures_are_kept_between_refreshes_and_through_a_failing_store(
    collector: QualityCollector,
) -> None:
    first = series(collector, "tickerpulse_champion_version")

    class BrokenRegistry:
        def by_alias(self, name: str, alias: str) -> None:
            raise ConnectionError("registry down")

    collector.registry = BrokenRegistry()  # type: ignore[assignment]
    # Within the refresh interval nothing is read again: the figures are the ones kept.
    assert series(collector, "tickerpulse_champion_version") == first
    assert series(collector, "tickerpulse_quality_refresh_errors_total")[("champions",)] == 0
    collector.refresh_seconds = 0
    assert series(collector, "tickerpulse_champion_version") == first
    errors = series(collector, "tickerpulse_quality_refresh_errors_total")
    assert errors[("champions",)] >= 1 and errors[("drift",)] == 0


def test_unchanged_tables_are_not_read_again(
    collector: QualityCollector, monkeypatch: pytest.MonkeyPatch
) -> None:
    warehouse = collector.warehouse
    tables_read: list[str] = []
    read = warehouse.read

    def counting_read(table: str, *args: object, **kwargs: object) -> pd.DataFrame:
        tables_read.append(table)
        return read(table, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(warehouse, "read", counting_read)
    collector.refresh_seconds = 0
    series(collector, "tickerpulse_feature_drift_psi")
    assert {"price_forecasts", "price_features"} <= set(tables_read)
    tables_read.clear()
    series(collector, "tickerpulse_feature_drift_psi")
    assert tables_read == []
    # A materialization rewrites a partition: its table is read again, the others are not.
    acme = read("price_features", "ACME").drop(columns="ticker")
    warehouse.write_partition("price_features", "ACME", acme)
    psi = series(collector, "tickerpulse_feature_drift_psi")
    assert tables_read == ["price_features"] and len(psi) > 0


@pytest.fixture
def app_client(platform_settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(platform_settings)) as client:
        yield client


def test_each_app_registers_its_collector_once(
    app_client: TestClient, platform_settings: Settings
) -> None:
    # A second app in the same process (as every test module makes) replaces the first one's.
    with TestClient(create_app(platform_settings)) as second:
        text = second.get("/metrics").text
    champion_lines = [line for line in text.splitlines() if line.startswith("tickerpulse_champion")]
    assert len(champion_lines) == len(platform_settings.horizons)
    assert "tickerpulse_sessions_behind{" in text and "tickerpulse_raw_price_rows{" in text


def test_registering_reads_no_store(platform_settings: Settings) -> None:
    # The app registers the collector while starting: nothing may be computed then.
    unusable = QualityCollector(None, None, None, platform_settings)  # type: ignore[arg-type]
    CollectorRegistry(auto_describe=True).register(unusable)


def test_the_latest_asset_check_results_reach_metrics_through_the_operational_database(
    settings: Settings, tmp_path: Path
) -> None:
    @dg.asset
    def prices() -> int:
        return 1

    @dg.asset_check(asset=prices)
    def rows_fine() -> dg.AssetCheckResult:
        return dg.AssetCheckResult(passed=True)

    verdicts = iter([True, False])  # the second run's result is the one to report

    @dg.asset_check(asset=prices)
    def no_gaps() -> dg.AssetCheckResult:
        return dg.AssetCheckResult(passed=next(verdicts), severity=dg.AssetCheckSeverity.WARN)

    store = OperationalStore(settings.raw_db_url)
    collector = QualityCollector(store, None, None, settings, refresh_seconds=0)  # type: ignore[arg-type]
    assert series(collector, "tickerpulse_asset_check_failed") == {}  # none recorded yet
    with dg.instance_for_test(temp_dir=str(tmp_path)) as instance:
        for _ in range(2):
            dg.materialize([prices, rows_fine, no_gaps], instance=instance)
        # What the daemon does every 30 s: the sensor copies the latest results.
        context = dg.build_sensor_context(
            instance=instance,
            resources={"operational_store": OperationalStoreResource(url=settings.raw_db_url)},
        )
        skipped = check_results_to_store(context)
    assert "2 checks" in str(skipped)
    failed = series(collector, "tickerpulse_asset_check_failed")
    assert failed == {("prices", "no_gaps", "WARN"): 1.0, ("prices", "rows_fine", "ERROR"): 0.0}
