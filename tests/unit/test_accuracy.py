import datetime as dt

import pandas as pd
import pytest

from tickerpulse.forecasting.accuracy import accuracy_by_version, merge_history

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
    table = accuracy_by_version(forecasts, prices).set_index("model_version")
    assert table.loc["1", "forecasts"] == 2 and table.loc["2", "forecasts"] == 1
    assert table.loc["1", "mae"] == pytest.approx(2.5)
    assert table.loc["1", "naive_mae"] == pytest.approx(3.0)
    assert table.loc["1", "relative_mae"] == pytest.approx(2.5 / 3.0)
    assert table.loc["1", "coverage_80"] == 0.5 and table.loc["1", "coverage_95"] == 1.0
    assert table.loc["2", "relative_mae"] == 0.0


def test_nothing_realized_yet_is_an_empty_table() -> None:
    forecasts = pd.DataFrame([forecast(D[3], D[4], "1", 100.0)])
    prices = pd.DataFrame({"ticker": "AAA", "date": D[:4], "close": 100.0})
    assert accuracy_by_version(forecasts, prices).empty


def test_history_keeps_earlier_batches_and_replaces_a_rerun() -> None:
    first = pd.DataFrame([forecast(D[0], D[1], "1", 101.0)]).drop(columns="ticker")
    second = pd.DataFrame([forecast(D[1], D[2], "1", 102.0)]).drop(columns="ticker")
    rerun = pd.DataFrame([forecast(D[1], D[2], "2", 105.0)]).drop(columns="ticker")
    history = merge_history(merge_history(merge_history(pd.DataFrame(), first), second), rerun)
    assert list(history["forecast"]) == [101.0, 105.0]
    assert list(history["model_version"]) == ["1", "2"]
