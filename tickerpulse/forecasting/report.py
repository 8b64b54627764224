"""One ticker's walk-forward report: what `tickerpulse evaluate` prints."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pandas as pd

from tickerpulse.features import compute_features
from tickerpulse.forecasting.coverage import RECENT_DATES, by_volatility
from tickerpulse.forecasting.evaluation import FOLD_DATES, TEST_SESSIONS
from tickerpulse.forecasting.nested import nested_selection
from tickerpulse.forecasting.promotion import DEFAULT_LEVEL, versus_random_walk
from tickerpulse.forecasting.training import evaluate_candidates
from tickerpulse.quality import missing_sessions

REPORTED = (
    "relative_mae",
    "directional_accuracy",
    "coverage_80",
    "coverage_95",
    "mae",
    "rmse",
    "dm_stat",
    "dm_pvalue",
)


def _rounded(metrics: dict[str, float]) -> dict[str, float]:
    return {key: round(metrics[key], 6) for key in REPORTED}


def conditional_coverage(metrics: dict[str, float]) -> dict[str, Any]:
    """Coverage of the 80 and 95 % intervals per volatility tercile (low to high; terciles of
    each day's volatility_20 among its ticker's previous three years) and over the last
    sessions tested."""
    report: dict[str, Any] = {}
    for label in (80, 95):
        report[f"coverage_{label}_by_volatility"] = [
            round(value, 6) for value in by_volatility(metrics, label)
        ]
        key = f"coverage_{label}_last_{RECENT_DATES}"
        report[key] = round(metrics[key], 6)
    return report


def evaluate_ticker(
    prices: pd.DataFrame,
    ticker: str,
    horizon: int,
    folds: int | None,
    exchange: str = "XNYS",
    train_dates: int | None = None,
    significance: float = DEFAULT_LEVEL,
    test_dates: int = FOLD_DATES,
    test_sessions: int = TEST_SESSIONS,
) -> dict[str, Any]:
    """The nested-selected forecast's skill on top (see nested.py), each candidate's on the same
    days for reference, and whether the gate would put it in the random walk's place.

    Raises NotEnoughHistory with the numbers when the history cannot hold the folds
    (too short, or flat prices whose volatility is zero).
    """
    evaluations = evaluate_candidates(
        compute_features(prices.assign(ticker=ticker)),
        horizon,
        folds,
        train_dates,
        test_dates=test_dates,
        test_sessions=test_sessions,
    )
    nested = nested_selection(evaluations)
    selected = nested.selected
    metrics = selected.metrics
    hindsight = min(nested.candidates, key=lambda name: nested.candidates[name]["relative_mae"])
    gate = versus_random_walk(nested.final.model, metrics, significance)
    gaps = missing_sessions(prices["date"], exchange)
    warnings = [f"{len(gaps)} trading days missing, first {gaps[0]}"] if gaps else []
    test_days = selected.predictions["date"]
    return {
        "ticker": ticker,
        "horizon": horizon,
        "selection": "nested",
        "model": nested.final.model,  # chosen on every fold: what would serve next
        **_rounded(metrics),
        **conditional_coverage(metrics),
        "intervals": "conformal, per volatility tercile, adaptive (ACI)",
        "directional_accuracy_ci95": [
            round(metrics["directional_accuracy_low"], 6),
            round(metrics["directional_accuracy_high"], 6),
        ],
        "promote": gate.promote,
        "gate": gate.reason,
        "significance_level": significance,
        "n_folds": len(evaluations[0].fold_metrics),
        "seed_folds": nested.first_scored_fold,
        "fold_dates": test_dates,
        "test_rows": int(metrics["rows"]),
        "test_window": {"first": str(test_days.min()), "last": str(test_days.max())},
        "fold_choices": dict(Counter(nested.choices).most_common()),
        "best_candidate_in_hindsight": {
            "model": hindsight,
            "relative_mae": round(nested.candidates[hindsight]["relative_mae"], 6),
        },
        "window": {"first": str(prices["date"].min()), "last": str(prices["date"].max())},
        "training": "expanding" if train_dates is None else f"rolling {train_dates} dates",
        "candidates": {
            e.model: {
                **_rounded(nested.candidates[e.model]),
                "relative_mae_all_folds": round(e.metrics["relative_mae"], 6),
            }
            for e in evaluations
        },
        "warnings": warnings,
    }
