"""`tickerpulse evaluate`: walk-forward metrics for one ticker, and clear refusals."""

import datetime as dt
import json

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from launcher.cli import app
from tickerpulse.cleaning import clean_ticker_prices
from tickerpulse.features import FEATURES, add_targets, compute_features
from tickerpulse.forecasting.evaluation import modelling_rows
from tickerpulse.forecasting.models import CANDIDATES
from tickerpulse.settings import Settings, get_settings
from tickerpulse.sources.synthetic import SyntheticSource
from tickerpulse.stores.operational import OperationalStore
from tickerpulse.stores.warehouse import open_warehouse

pytestmark = pytest.mark.slow
runner = CliRunner()
END = dt.date(2026, 10, 30)


def store_clean(settings: Settings, ticker: str, prices: pd.DataFrame) -> None:
    OperationalStore(settings.raw_db_url).add_ticker(ticker, "synthetic")
    open_warehouse(settings.warehouse_url).write_partition(
        "clean_prices", ticker, clean_ticker_prices(prices)
    )


def synthetic(years: int) -> pd.DataFrame:
    return SyntheticSource().fetch("EVAL", END.replace(year=END.year - years), END)


def evaluate(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, ["evaluate", *args])
    return result.exit_code, result.output


def test_json_report_gives_the_nested_selection_its_significance_and_the_gate(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The default walk-forward, not the suite's shorter one (tests/conftest.py).
    monkeypatch.delenv("WALK_FORWARD_TEST_SESSIONS")
    get_settings.cache_clear()
    store_clean(settings, "EVAL", synthetic(6))
    code, output = evaluate("--ticker", "eval", "--horizon", "5", "--json")
    assert code == 0, output
    report = json.loads(output)
    for key in (
        "relative_mae",
        "directional_accuracy",
        "coverage_80",
        "coverage_95",
        "n_folds",
        "model",
        "dm_stat",
        "dm_pvalue",
    ):
        assert key in report
    assert report["selection"] == "nested" and report["horizon"] == 5
    # Six years, about 1,450 usable dates: (1450 - 250 - 5) // 63 = 18-19 folds, not 2,000 days.
    assert 17 <= report["n_folds"] <= 20 and report["seed_folds"] == 1
    assert report["test_rows"] == (report["n_folds"] - 1) * 63
    assert sum(report["fold_choices"].values()) == report["n_folds"] - 1
    candidates = report["candidates"]
    assert set(candidates) == set(CANDIDATES)
    assert candidates["naive"]["relative_mae"] == 1.0
    # The model that would serve next is chosen on every fold.
    assert report["model"] == min(
        candidates, key=lambda name: candidates[name]["relative_mae_all_folds"]
    )
    # A synthetic random walk has nothing to find: the gate leaves the random walk serving.
    assert report["promote"] is False and 0.0 <= report["dm_pvalue"] <= 1.0
    low, high = report["directional_accuracy_ci95"]
    assert low < report["directional_accuracy"] < high and high - low < 0.1
    assert 0.6 < report["coverage_80"] < 0.95 and report["coverage_95"] > report["coverage_80"]
    for label in (80, 95):
        by_volatility = report[f"coverage_{label}_by_volatility"]
        assert len(by_volatility) == 3 and all(0.0 <= value <= 1.0 for value in by_volatility)
        assert 0.0 <= report[f"coverage_{label}_last_60"] <= 1.0
    assert report["warnings"] == []


def test_a_fixed_fold_count_is_honoured(settings: Settings) -> None:
    store_clean(settings, "EVAL", synthetic(6))
    code, output = evaluate("--ticker", "EVAL", "--folds", "5", "--json")
    assert code == 0, output
    report = json.loads(output)
    assert report["n_folds"] == 5 and report["test_rows"] == 4 * 63


def test_too_little_history_is_refused_with_the_numbers(settings: Settings) -> None:
    store_clean(settings, "EVAL", synthetic(1))
    code, output = evaluate("--ticker", "EVAL")
    assert code == 1
    assert "usable dates: walk-forward with 2 folds of 63 dates needs at least 377" in output


def test_constant_prices_are_refused_not_divided_by_zero(settings: Settings) -> None:
    days = synthetic(6)["date"]
    flat = pd.DataFrame(
        {"date": days, "open": 10.0, "high": 10.0, "low": 10.0, "close": 10.0, "volume": 100.0}
    )
    store_clean(settings, "FLAT", flat)
    code, output = evaluate("--ticker", "FLAT", "--json")
    assert code == 1 and "0 usable dates" in output


def test_a_gap_of_months_is_reported_and_the_rest_evaluated(settings: Settings) -> None:
    prices = synthetic(6)
    gap = (prices["date"] >= dt.date(2023, 2, 1)) & (prices["date"] < dt.date(2023, 6, 1))
    store_clean(settings, "GAPPY", prices[~gap])
    code, output = evaluate("--ticker", "GAPPY", "--json")
    assert code == 0, output
    report = json.loads(output)
    assert report["warnings"] == [f"{int(gap.sum())} trading days missing, first 2023-02-01"]


def test_unknown_and_unmaterialized_tickers_are_named(settings: Settings) -> None:
    code, output = evaluate("--ticker", "NOPE")
    assert code == 1 and "no ticker 'NOPE'" in output
    OperationalStore(settings.raw_db_url).add_ticker("BARE", "synthetic")
    code, output = evaluate("--ticker", "BARE")
    assert code == 1 and "has no clean prices yet" in output


def test_nan_features_drop_rows_instead_of_poisoning_the_fit() -> None:
    features = add_targets(compute_features(synthetic(4).assign(ticker="EVAL")), 1)
    complete = len(modelling_rows(features, FEATURES))
    features.loc[features.index[300:350], "rsi_14"] = np.nan
    assert len(modelling_rows(features, FEATURES)) == complete - 50
