"""At universe size each read of a table costs seconds: clean_prices' six checks read it once
between them, price_features' check reads nothing back, and feature_drift reads the columns it
uses."""

from __future__ import annotations

from collections import Counter
from typing import Any

import dagster as dg
import numpy as np
import pandas as pd
import pytest

from orchestration.assets.features import price_features
from orchestration.assets.monitoring import feature_drift
from orchestration.checks import CLEAN_PRICES_CHECKS, clean_prices_checks
from orchestration.resources import WarehouseResource
from tests.conftest import synthetic_panel
from tickerpulse.cleaning import ticker_runs
from tickerpulse.features import FEATURES
from tickerpulse.settings import Settings
from tickerpulse.stores.warehouse import open_warehouse
from tickerpulse.stores.warehouse.base import Warehouse


@pytest.fixture
def reads(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Counter[str]:
    """Warehouse reads by table and columns asked, on the backend the settings choose."""
    counted: Counter[str] = Counter()
    backend = type(open_warehouse(settings.warehouse_url))
    original = backend.read

    def read(self: Warehouse, table: str, *args: Any, **kwargs: Any) -> pd.DataFrame:
        counted[f"{table}:{kwargs.get('columns', '*')}"] += 1
        return original(self, table, *args, **kwargs)

    monkeypatch.setattr(backend, "read", read)
    return counted


def store_clean_prices(settings: Settings, prices: pd.DataFrame) -> None:
    panel = prices.assign(adj_factor=1.0).sort_values(["ticker", "date"]).reset_index(drop=True)
    starts, lengths = ticker_runs(panel["ticker"])
    names = panel["ticker"].to_numpy(dtype=object)[starts]
    spans = {str(n): (int(a), int(c)) for n, a, c in zip(names, starts, lengths, strict=True)}
    open_warehouse(settings.warehouse_url).write_partitions("clean_prices", panel, spans)


def test_clean_prices_checks_read_the_table_once(settings: Settings, reads: Counter[str]) -> None:
    prices = synthetic_panel(("AAA", "BBB", "CCC"), years=2)
    bad = prices.index[prices["ticker"] == "BBB"][100]
    prices.loc[bad, "low"] = prices.loc[bad, "high"] + 1  # an OHLC violation
    prices = prices.drop(index=prices.index[prices["ticker"] == "CCC"][[50, 51]])  # two gaps
    store_clean_prices(settings, prices)

    context = dg.build_asset_check_context(resources={"warehouse": WarehouseResource()})
    results = {r.check_name: r for r in clean_prices_checks(context)}  # type: ignore[union-attr]

    assert sum(reads.values()) == 1  # six checks, one read (each read it before: six)
    assert set(results) == {spec.name for spec in CLEAN_PRICES_CHECKS}
    assert results["clean_prices_ohlc_consistent"].passed is False
    assert results["clean_prices_ohlc_consistent"].metadata["violations"].value == 1
    assert results["clean_prices_calendar_gaps"].passed is False
    assert results["clean_prices_calendar_gaps"].metadata["missing_days"].value == 2
    assert results["clean_prices_schema"].passed and results["clean_prices_unique_days"].passed
    blocking = {spec.name for spec in CLEAN_PRICES_CHECKS if spec.blocking}
    assert blocking == {
        "clean_prices_schema",
        "clean_prices_ohlc_consistent",
        "clean_prices_unique_days",
    }


def test_price_features_check_reads_nothing_back_and_drift_reads_its_columns(
    settings: Settings, reads: Counter[str]
) -> None:
    store_clean_prices(settings, synthetic_panel(("AAA", "BBB"), years=2))
    with dg.instance_for_test() as instance:
        result = dg.materialize(
            [price_features, feature_drift],
            resources={"warehouse": WarehouseResource()},
            instance=instance,
        )
    assert result.success
    checks = {e.check_name: e.passed for e in result.get_asset_check_evaluations()}
    assert checks["price_features_usable"] is True
    assert reads == Counter(
        {"clean_prices:*": 1, f"price_features:{', '.join(['date', *FEATURES])}": 1}
    )
    stored = open_warehouse(settings.warehouse_url).read("price_features", "BBB")
    assert len(stored) > 400
    assert np.isfinite(stored["ret_1"].dropna()).all()
