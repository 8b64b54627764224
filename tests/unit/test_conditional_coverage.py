"""Conditional coverage: intervals that hold per volatility tercile and recover after a break.

Expected values come from the construction of the series (Gaussian returns of a known
volatility: an honest 80 % interval covers 80 % of them) or from the published nominal levels;
the real series are the shipped demo files.
"""

from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tickerpulse.features import FEATURES, add_targets, compute_features
from tickerpulse.forecasting.coverage import (
    TERCILE,
    VOLATILITY_RANK_DATES,
    volatility_terciles,
)
from tickerpulse.forecasting.evaluation import interval_coverage, walk_forward
from tickerpulse.forecasting.models import BASELINE, CANDIDATES
from tickerpulse.forecasting.report import conditional_coverage

DEMO = Path(__file__).parents[2] / "tickerpulse/data/demo"


def test_a_tercile_is_the_rank_among_the_tickers_own_earlier_days() -> None:
    # 100 days of volatility 1..100, then one day at 0.5: each of the first is the highest
    # its window has seen (high), the last is the lowest (low); the second ticker's calm
    # history does not lower the first's ranks.
    rising = pd.DataFrame(
        {
            "ticker": "A",
            "date": pd.bdate_range("2020-01-01", periods=101).date,
            "volatility_20": [*range(1, 101), 0.5],
        }
    )
    calm = rising.assign(ticker="B", volatility_20=0.001)
    terciles = volatility_terciles(pd.concat([calm, rising], ignore_index=True))[101:]
    # Fewer than 60 earlier days: not ranked yet, counted as mid.
    assert list(terciles[:59]) == [1] * 59
    assert list(terciles[59:100]) == [2] * 41
    assert terciles[100] == 0


def test_a_tercile_never_depends_on_later_days() -> None:
    days = pd.bdate_range("2015-01-01", periods=1000).date
    rng = np.random.default_rng(3)
    frame = pd.DataFrame({"ticker": "A", "date": days, "volatility_20": rng.uniform(0, 1, 1000)})
    before = volatility_terciles(frame)
    changed = frame.copy()
    changed.loc[600:, "volatility_20"] = 10.0  # a storm later on
    after = volatility_terciles(changed)
    assert (before[:600] == after[:600]).all()
    assert (after[600:620] == 2).all()
    assert VOLATILITY_RANK_DATES == 756


def gaussian_panel(tickers: int, calm: int, stormy: int, seed: int = 11) -> pd.DataFrame:
    """Prices whose daily log returns are N(0, 1 %) for `calm` sessions, then N(0, 3 %)."""
    rng = np.random.default_rng(seed)
    sigma = np.r_[np.full(calm, 0.01), np.full(stormy, 0.03)]
    days = pd.bdate_range("2010-01-04", periods=calm + stormy).date
    frames = []
    for ticker in range(tickers):
        close = 100 * np.exp(np.cumsum(rng.normal(0, sigma)))
        frames.append(
            pd.DataFrame(
                {
                    "ticker": f"T{ticker}",
                    "date": days,
                    "open": close,
                    "high": close,
                    "low": close,
                    "close": close,
                    "volume": 1e6,
                }
            )
        )
    return pd.concat(frames, ignore_index=True)


@pytest.mark.parametrize("horizon", [1, 5])
def test_after_a_volatility_break_coverage_recovers_within_20_sessions(horizon: int) -> None:
    calm, stormy, tickers = 1500, 120, 40
    features = compute_features(gaussian_panel(tickers, calm, stormy))
    evaluation = walk_forward(
        add_targets(features, horizon),
        FEATURES,
        partial(CANDIDATES[BASELINE], horizon),
        BASELINE,
        horizon,
        folds=10,
        test_dates=100,
    )
    covered = interval_coverage(evaluation.predictions, horizon)
    days = np.sort(covered["date"].unique())
    break_day = pd.bdate_range("2010-01-04", periods=calm + stormy).date[calm]
    after = np.searchsorted(days, break_day)
    # The forecasts made from the 20th to the 80th session after the break: 60 dates x 40
    # tickers; their coverage should be the nominal one (standard error about 0.8 point at
    # 80 %, 0.4 at 95 %).
    recovered = covered[covered["date"].isin(days[after + 20 : after + 80])]
    assert len(recovered) == 60 * tickers
    assert recovered["covered_80"].mean() == pytest.approx(0.80, abs=0.03)
    assert recovered["covered_95"].mean() == pytest.approx(0.95, abs=0.025)
    # And before the break, calm days were covered at the nominal rates too.
    before = covered[covered["date"] < break_day]
    assert before["covered_80"].mean() == pytest.approx(0.80, abs=0.02)
    assert before["covered_95"].mean() == pytest.approx(0.95, abs=0.015)


def demo_features(ticker: str) -> pd.DataFrame:
    prices = pd.read_csv(DEMO / f"{ticker}.csv")
    prices.columns = prices.columns.str.lower()
    return compute_features(prices.assign(ticker=ticker))


@pytest.mark.parametrize("ticker", ["GOOG", "SPX"])
@pytest.mark.parametrize("horizon", [1, 5])
def test_on_real_series_every_volatility_tercile_is_within_3_points_of_nominal(
    ticker: str, horizon: int
) -> None:
    # The random walk's intervals (the other candidates' forecasts differ from it by far less
    # than the interval width): 2,000 sessions, about 650 a tercile, standard error 1.5 points.
    evaluation = walk_forward(
        add_targets(demo_features(ticker), horizon),
        FEATURES,
        partial(CANDIDATES[BASELINE], horizon),
        BASELINE,
        horizon,
    )
    report = conditional_coverage(evaluation.metrics)
    assert report["coverage_80_by_volatility"] == pytest.approx([0.80] * 3, abs=0.03)
    assert report["coverage_95_by_volatility"] == pytest.approx([0.95] * 3, abs=0.03)
    terciles = evaluation.predictions.loc[evaluation.predictions["fold"] > 0, TERCILE]
    assert terciles.value_counts().min() > 400  # three real terciles, not one and some strays
    assert 0.0 <= report["coverage_80_last_60"] <= report["coverage_95_last_60"] <= 1.0
    # Each scored fold's coverage rides with its errors (the MLflow run charts it by fold); the
    # first fold only calibrates. Weighted by rows they make up the whole.
    folds = evaluation.fold_metrics
    assert "coverage_80" not in folds[0] and all("coverage_80" in fold for fold in folds[1:])
    pooled = sum(f["coverage_80"] * f["rows"] for f in folds[1:]) / sum(
        f["rows"] for f in folds[1:]
    )
    assert pooled == pytest.approx(evaluation.metrics["coverage_80"])
