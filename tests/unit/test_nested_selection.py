"""Nested walk-forward: each fold's forecast comes from a choice made on earlier folds only."""

import numpy as np
import pandas as pd
import pytest

from tickerpulse.forecasting.evaluation import Evaluation, NotEnoughHistory, fold_count, fold_plan
from tickerpulse.forecasting.nested import nested_selection

ROWS = 10  # per fold, one ticker, one row a date


def candidate(name: str, errors: list[float]) -> Evaluation:
    """A candidate whose price error in fold k is errors[k] on every row; the random walk's is 1.

    Prices: close 100, future close 101 (the random walk errs by 1); the forecast is placed
    errors[k] above the future close.
    """
    frames, fold_metrics = [], []
    for fold, error in enumerate(errors):
        dates = pd.bdate_range("2020-01-01", periods=len(errors) * ROWS)[
            fold * ROWS : (fold + 1) * ROWS
        ]
        frames.append(
            pd.DataFrame(
                {
                    "date": dates.date,
                    "ticker": "T",
                    "close": 100.0,
                    "future_close": 101.0,
                    "target": np.log(1.01),
                    "prediction": np.log((101.0 + error) / 100.0),
                    "volatility_20": 0.01,
                    "volatility_tercile": 1,
                    "fold": fold,
                    "score": 0.5 + fold / 10,
                }
            )
        )
        fold_metrics.append({"mae": error, "naive_mae": 1.0, "rows": ROWS, "relative_mae": error})
    predictions = pd.concat(frames, ignore_index=True)
    return Evaluation(
        name, 1, {"relative_mae": float(np.mean(errors))}, fold_metrics, {}, predictions
    )


def test_each_fold_is_forecast_by_the_best_candidate_on_the_folds_before_it() -> None:
    # Pooled relative MAE on folds before k (worked by hand):
    #   k=1: a 0.5, b 1.5, naive 1        -> a      k=2: a (0.5+2)/2 = 1.25, b (1.5+0.2)/2 = 0.85 -> b
    #   k=3: a (2.5+2)/3 = 1.5, b (1.7+0.2)/3 = 0.63 -> b
    #   next (all 4 folds): a 6.5/4 = 1.625, b 1.9/4 = 0.475 -> b
    naive = candidate("naive", [1.0, 1.0, 1.0, 1.0])
    a = candidate("a", [0.5, 2.0, 2.0, 2.0])
    b = candidate("b", [1.5, 0.2, 0.2, 0.2])
    nested = nested_selection([naive, a, b])
    assert nested.choices == ["a", "b", "b"]
    assert nested.final.model == "b"
    # Stitched: folds 1-3 errors 2.0, 0.2, 0.2 against the random walk's 1.0 each.
    assert nested.selected.metrics["relative_mae"] == pytest.approx((2.0 + 0.2 + 0.2) / 3)
    assert nested.selected.metrics["rows"] == 3 * ROWS
    assert list(nested.selected.predictions["model"].unique()) == ["a", "b"]
    # Each candidate on the same (scored) folds: b in hindsight 0.2, better than the procedure.
    assert nested.candidates["b"]["relative_mae"] == pytest.approx(0.2)
    assert nested.candidates["naive"]["relative_mae"] == pytest.approx(1.0)


def test_ties_go_to_the_random_walk() -> None:
    nested = nested_selection([candidate("naive", [1.0, 1.0]), candidate("same", [1.0, 0.1])])
    assert nested.choices == ["naive"]


def test_what_a_fold_chose_never_depends_on_that_fold_or_later() -> None:
    naive = candidate("naive", [1.0] * 5)
    steady = candidate("steady", [0.9, 0.9, 0.9, 0.9, 0.9])
    before = nested_selection([naive, steady]).choices
    lucky_late = candidate("steady", [0.9, 0.9, 0.9, 5.0, 5.0])  # collapses from fold 3 on
    after = nested_selection([naive, lucky_late]).choices
    assert before[:3] == after[:3] == ["steady"] * 3  # folds 1-3 chose before the collapse
    assert after[3] == "naive"  # fold 4 has seen fold 3: (0.9 * 3 + 5) / 4 = 1.925 > 1


def test_the_folds_cover_two_thousand_sessions_where_the_history_allows() -> None:
    # 2,000 / 63 -> 32 scored folds, plus one that seeds the selection.
    assert fold_count(8000, horizon=1) == 33
    # 2,100 usable dates: a year (250) and the embargo (1) first, then (2100 - 251) // 63 = 29.
    assert fold_count(2100, horizon=1) == 29
    assert fold_count(2100, horizon=1, test_dates=21, test_sessions=210) == 11
    with pytest.raises(NotEnoughHistory, match="needs at least 377"):
        fold_count(376, horizon=1)  # 250 + 1 + 2 x 63 = 377


def test_a_fold_cap_widens_the_folds_to_keep_testing_the_same_sessions() -> None:
    # 33 quarterly folds of five candidates took over 20 minutes at 500 tickers: at most 8,
    # each wider, still scoring the last 2,000 sessions (7 x 286 = 2,002).
    assert fold_plan(8000, horizon=1, max_folds=8) == (8, 286)
    assert fold_plan(8000, horizon=1) == (33, 63)  # no cap: quarterly, as before
    assert fold_plan(800, horizon=1, max_folds=8) == (8, 63)  # already few enough
    # 2,100 dates: 29 quarterly folds score 28 x 63 = 1,764 sessions; folds of 1,764 / 7 = 252
    # leave room for 7 of them after the first year, (2100 - 251) // 252.
    assert fold_plan(2100, horizon=1, max_folds=8) == (7, 252)
