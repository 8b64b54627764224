import datetime as dt

import pandas as pd
import pytest

from tickerpulse.forecasting.accuracy import accuracy_by_version, realized_errors, served_coverage
from tickerpulse.stores.warehouse.base import ROW_KEYS, replace_rows

D = [dt.date(2024, 6, d) for d in (3, 4, 5, 6, 7)]


def forecast(
    as_of: dt.date, target: dt.date, version: str, value: float, last: float = 100.0
) -> dict:
    return {
        "ticker": "AAA",
        "date": as_of,
        "target_date": target,
        "horizon": 1,
        "last_close": last,
        "forecast": value,
        "lower_80": value - 2,
        "upper_80": value + 2,
        "lower_95": value - 4,
        "upper_95": value + 4,
        "model_name": "m-h1",
        "model_version": version,
    }


def test_realized_errors_are_scored_per_version_against_the_random_walk() -> None:
    forecasts = pd.DataFrame(
        [
            forecast(D[0], D[1], "1", 101.0),  # actual 103: error 2, naive 3, inside 80
            forecast(D[1], D[2], "1", 100.0),  # actual 97: error 3, naive 3, outside 80, inside 95
            forecast(D[2], D[3], "2", 99.0),  # actual 99: error 0, naive 1
            forecast(D[3], D[4], "2", 50.0),  # target not closed yet: not scored
        ]
    )
    prices = pd.DataFrame({"ticker": "AAA", "date": D[:4], "close": [100.0, 103.0, 97.0, 99.0]})
    table = accuracy_by_version(realized_errors(forecasts, prices)).set_index("model_version")
    assert table.loc["1", "forecasts"] == 2 and table.loc["2", "forecasts"] == 1
    assert table.loc["1", "mae"] == pytest.approx(2.5)
    assert table.loc["1", "naive_mae"] == pytest.approx(3.0)
    assert table.loc["1", "relative_mae"] == pytest.approx(2.5 / 3.0)
    assert table.loc["1", "coverage_80"] == 0.5 and table.loc["1", "coverage_95"] == 1.0
    assert table.loc["2", "relative_mae"] == 0.0


def test_nothing_realized_yet_is_an_empty_table() -> None:
    forecasts = pd.DataFrame([forecast(D[3], D[4], "1", 100.0)])
    prices = pd.DataFrame({"ticker": "AAA", "date": D[:4], "close": 100.0})
    assert accuracy_by_version(realized_errors(forecasts, prices)).empty


def test_history_keeps_earlier_batches_and_replaces_a_rerun() -> None:
    first = pd.DataFrame([forecast(D[0], D[1], "1", 101.0)]).drop(columns="ticker")
    second = pd.DataFrame([forecast(D[1], D[2], "1", 102.0)]).drop(columns="ticker")
    rerun = pd.DataFrame([forecast(D[1], D[2], "2", 105.0)]).drop(columns="ticker")
    history = pd.DataFrame()
    for batch in (first, second, rerun):
        history = replace_rows(history, batch, ROW_KEYS["price_forecasts"])
    assert list(history["forecast"]) == [101.0, 105.0]
    assert list(history["model_version"]) == ["1", "2"]


def test_served_coverage_is_split_by_the_volatility_tercile_of_the_forecast_session() -> None:
    # Volatility 1..100 over 100 sessions, then 0.5 (below all: low), 50.5 (rank 52 of 102:
    # mid) and 1000 (high). One forecast from each of the last three sessions; the middle one's
    # close lands outside its 80 % interval but inside its 95 % one.
    days = pd.bdate_range("2024-01-01", periods=104).date
    features = pd.DataFrame(
        {"ticker": "AAA", "date": days[:103], "volatility_20": [*range(1, 101), 0.5, 50.5, 1000]}
    )
    served = pd.DataFrame(
        [
            forecast(days[100], days[101], "1", 100.0),
            forecast(days[101], days[102], "1", 100.0),
            forecast(days[102], days[103], "1", 100.0),
        ]
    )
    prices = pd.DataFrame({"ticker": "AAA", "date": days[101:], "close": [101.0, 103.0, 99.0]})
    table = served_coverage(realized_errors(served, prices), features).set_index("horizon")
    row = table.loc[1]
    assert row["forecasts"] == 3
    assert [row[f"coverage_80_{t}_volatility"] for t in ("low", "mid", "high")] == [1, 0, 1]
    assert [row[f"coverage_95_{t}_volatility"] for t in ("low", "mid", "high")] == [1, 1, 1]
    assert row["coverage_80_last_60"] == pytest.approx(2 / 3)
    assert row["coverage_95_last_60"] == 1.0
