"""One ticker's walk-forward report: what `tickerpulse evaluate` prints."""

from __future__ import annotations

from typing import Any

import pandas as pd

from tickerpulse.features import compute_features
from tickerpulse.forecasting.training import evaluate_candidates
from tickerpulse.quality import missing_sessions

REPORTED = ("relative_mae", "directional_accuracy", "coverage_80", "coverage_95", "mae", "rmse")


def evaluate_ticker(
    prices: pd.DataFrame,
    ticker: str,
    horizon: int,
    folds: int,
    exchange: str = "XNYS",
    train_dates: int | None = None,
) -> dict[str, Any]:
    """Every candidate walk-forward on one ticker; the best (lowest relative MAE) on top.

    Raises NotEnoughHistory with the numbers when the history cannot hold the folds
    (too short, or flat prices whose volatility is zero).
    """
    evaluations = evaluate_candidates(
        compute_features(prices.assign(ticker=ticker)), horizon, folds, train_dates
    )
    best = min(evaluations, key=lambda evaluation: evaluation.metrics["relative_mae"])
    gaps = missing_sessions(prices["date"], exchange)
    warnings = [f"{len(gaps)} trading days missing, first {gaps[0]}"] if gaps else []
    return {
        "ticker": ticker,
        "horizon": horizon,
        "model": best.model,
        **{key: round(best.metrics[key], 6) for key in REPORTED},
        "n_folds": int(best.metrics["n_folds"]),
        "test_rows": int(best.metrics["rows"]),
        "window": {"first": str(prices["date"].min()), "last": str(prices["date"].max())},
        "training": "expanding" if train_dates is None else f"rolling {train_dates} dates",
        "candidates": {
            e.model: {key: round(e.metrics[key], 6) for key in REPORTED} for e in evaluations
        },
        "warnings": warnings,
    }
