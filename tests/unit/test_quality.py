import datetime as dt

import pandas as pd
import pytest

from tests.conftest import synthetic_panel
from tickerpulse.quality import return_outliers, split_candidates, stale_tickers

PANEL = synthetic_panel(("AAA", "BBB"), years=3)


def with_jump(
    factor: float, at: int = 400, ticker: str = "AAA", gap_at_open: bool = True
) -> pd.DataFrame:
    """Scale every bar of `ticker` from row `at` on, as a split (or crash) would."""
    frame = PANEL.copy()
    rows = frame.index[frame["ticker"] == ticker][at:]
    columns = ["open", "high", "low", "close"] if gap_at_open else ["high", "low", "close"]
    frame.loc[rows, columns] = frame.loc[rows, columns] * factor
    return frame


def test_clean_synthetic_prices_have_no_split_and_few_outliers() -> None:
    assert split_candidates(PANEL).empty
    # Fat tails make a rare 8-sigma day real; rare means well under 1 day in 200.
    assert len(return_outliers(PANEL)) < 0.005 * len(PANEL)


@pytest.mark.parametrize(
    ("factor", "label"), [(0.5, "2:1"), (1 / 3, "3:1"), (10.0, "1:10"), (2 / 3, "3:2")]
)
def test_split_jumps_are_detected_with_their_ratio(factor: float, label: str) -> None:
    found = split_candidates(with_jump(factor))
    assert list(found["split"]) == [label]
    assert found["ticker"].iloc[0] == "AAA"
    expected_day = PANEL[PANEL["ticker"] == "AAA"]["date"].iloc[400]
    assert found["date"].iloc[0] == expected_day


def test_a_crash_is_an_outlier_flagged_not_dropped() -> None:
    crashed = with_jump(0.75, gap_at_open=False)  # -29 % in one day, not a split ratio
    flagged = return_outliers(crashed)
    day = PANEL[PANEL["ticker"] == "AAA"]["date"].iloc[400]
    hit = flagged[(flagged["ticker"] == "AAA") & (flagged["date"] == day)]
    assert len(hit) == 1 and hit["z"].iloc[0] < -8
    assert split_candidates(crashed).empty
    assert len(crashed) == len(PANEL)


def test_stale_tickers_are_those_behind_the_last_session() -> None:
    last = {"AAA": dt.date(2024, 6, 7), "BBB": dt.date(2024, 6, 6)}
    assert stale_tickers(last, dt.date(2024, 6, 7)) == {"BBB": dt.date(2024, 6, 6)}


def test_schema_problems_name_what_is_wrong() -> None:
    from tickerpulse.quality import schema_problems

    good = PANEL.assign(adj_factor=1.0)
    expected = ["ticker", "date", "open", "high", "low", "close", "volume", "adj_factor"]
    assert schema_problems(good, expected) == []
    broken = good.drop(columns="volume").assign(close=good["close"].astype(str))
    assert sorted(schema_problems(broken, expected)) == [
        "close is object, not a float",
        "missing column volume",
    ]


def test_ohlc_violations_find_each_broken_rule() -> None:
    from tickerpulse.quality import ohlc_violations

    frame = PANEL.head(6).copy().reset_index(drop=True)
    frame.loc[1, "low"] = frame.loc[1, "close"] + 1  # low above the body
    frame.loc[2, "high"] = frame.loc[2, "open"] - 1  # high below the body
    frame.loc[3, "volume"] = -1
    frame.loc[4, "open"] = 0
    assert list(ohlc_violations(frame).index) == [1, 2, 3, 4]
    assert ohlc_violations(PANEL).empty


def test_ohlc_rules_judge_a_bar_by_the_prices_it_has() -> None:
    """A missing open or close is skipped, not a reason to pass the bar (as min/max skip NaN)."""
    import numpy as np

    from tickerpulse.quality import ohlc_rules

    bars = pd.DataFrame(
        {
            "open": [10.0, np.nan, 10.0],
            "high": [11.0, 9.0, 11.0],
            "low": [10.5, 8.0, 9.0],
            "close": [np.nan, 10.0, 10.5],
            "volume": [1.0, 1.0, 1.0],
        }
    )
    rules = ohlc_rules(bars)
    assert rules["low above open or close"].tolist() == [True, False, False]
    assert rules["high below open or close"].tolist() == [False, True, False]
