"""Walk-forward evaluation against the random walk, with conformal prediction intervals.

Folds split the calendar: each test block is a run of dates, trained on everything before
it less an embargo of `horizon` dates (their labels would reach into the test block).
A rolling window (`train_dates`) trains each fold on only the last that many dates, for
series whose old regime no longer says much; by default the window expands.
Intervals are normalized conformal: |residual| / (volatility_20 * sqrt(h)) quantiles from
earlier folds only, so the coverage reported is coverage on data the quantiles never saw.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from sklearn.base import RegressorMixin

from tickerpulse.features import SCALE_FEATURE
from tickerpulse.forecasting.models import model_inputs

LEVELS = (0.80, 0.95)
MIN_TRAIN_DATES = 250


class NotEnoughHistory(ValueError):
    pass


def modelling_rows(
    dataset: pd.DataFrame, features: list[str], train_dates: int | None = None
) -> pd.DataFrame:
    """Rows usable for training: every feature and the label present, positive scale.

    With `train_dates`, only the last that many dates (the rolling window).
    """
    usable = dataset.dropna(subset=[*features, "target"])
    usable = usable[usable[SCALE_FEATURE] > 0].sort_values(["date", "ticker"])
    if train_dates is not None:
        recent = np.sort(usable["date"].unique())[-train_dates:]
        usable = usable[usable["date"] >= recent[0]]
    return usable


def interval_scale(rows: pd.DataFrame, horizon: int) -> np.ndarray:
    return rows[SCALE_FEATURE].to_numpy() * np.sqrt(horizon)


def conformal_quantile(scores: np.ndarray, level: float) -> float:
    """The finite-sample conformal quantile: the k-th smallest score, k = ceil((n+1) * level).

    With k > n the exact interval is unbounded; the largest score is the closest finite one.
    """
    ordered = np.sort(scores)
    rank = min(len(ordered), int(np.ceil((len(ordered) + 1) * level)))
    return float(ordered[rank - 1])


@dataclass
class Evaluation:
    model: str
    horizon: int
    metrics: dict[str, float]
    fold_metrics: list[dict[str, float]]
    quantiles: dict[str, float]  # conformal score quantiles for the final model
    predictions: pd.DataFrame = field(repr=False)


def walk_forward(
    dataset: pd.DataFrame,
    features: list[str],
    make_model: Callable[[], RegressorMixin],
    name: str,
    horizon: int,
    folds: int = 5,
    test_dates: int = 63,
    train_dates: int | None = None,
) -> Evaluation:
    if train_dates is not None and train_dates < MIN_TRAIN_DATES:
        raise ValueError(
            f"a rolling window needs at least {MIN_TRAIN_DATES} dates, not {train_dates}"
        )
    rows = modelling_rows(dataset, features)
    inputs = model_inputs(features)
    dates = np.sort(rows["date"].unique())
    first_test = len(dates) - folds * test_dates
    if first_test - horizon < MIN_TRAIN_DATES:
        raise NotEnoughHistory(
            f"{len(dates)} usable dates: walk-forward with {folds} folds of {test_dates} dates "
            f"needs at least {MIN_TRAIN_DATES + horizon + folds * test_dates}"
        )
    date_index = np.searchsorted(dates, rows["date"].to_numpy())
    parts, fold_metrics = [], []
    for fold in range(folds):
        start = first_test + fold * test_dates
        end = start - horizon
        begin = 0 if train_dates is None else end - train_dates
        train = rows[(date_index >= begin) & (date_index < end)]
        test = rows[(date_index >= start) & (date_index < start + test_dates)]
        model = make_model().fit(train[inputs], train["target"])
        predicted = test.assign(fold=fold, prediction=model.predict(test[inputs]))
        parts.append(predicted)
        fold_metrics.append(point_metrics(predicted))
    predictions = pd.concat(parts, ignore_index=True)
    predictions["score"] = (predictions["target"] - predictions["prediction"]).abs() / (
        interval_scale(predictions, horizon)
    )
    metrics = point_metrics(predictions)
    metrics.update(coverage_metrics(predictions, horizon))
    fold_ratios = np.array([m["relative_mae"] for m in fold_metrics])
    metrics["relative_mae_stderr"] = float(fold_ratios.std(ddof=1) / np.sqrt(folds))
    metrics["n_folds"] = float(folds)
    quantiles = {
        f"q{int(level * 100)}": conformal_quantile(predictions["score"].to_numpy(), level)
        for level in LEVELS
    }
    return Evaluation(name, horizon, metrics, fold_metrics, quantiles, predictions)


def point_metrics(predicted: pd.DataFrame) -> dict[str, float]:
    """Errors on the price, and against the random walk's on the same rows."""
    forecast_price = predicted["close"] * np.exp(predicted["prediction"])
    error = (forecast_price - predicted["future_close"]).abs()
    naive_error = (predicted["close"] - predicted["future_close"]).abs()
    direction = np.sign(predicted["prediction"])
    moved = np.sign(predicted["target"])
    # A forecast of no change calls no direction: it scores a coin flip, not a miss.
    hits = np.where(direction == 0, 0.5, (direction == moved).astype(float))
    return {
        "mae": float(error.mean()),
        "rmse": float(np.sqrt((error**2).mean())),
        "naive_mae": float(naive_error.mean()),
        "relative_mae": float(error.sum() / naive_error.sum()),
        "directional_accuracy": float(hits.mean()),
        "rows": float(len(predicted)),
    }


def coverage_metrics(predictions: pd.DataFrame, horizon: int) -> dict[str, float]:
    """Coverage of each fold's intervals, calibrated on the folds before it (fold 0 only calibrates)."""
    covered: dict[float, list[np.ndarray]] = {level: [] for level in LEVELS}
    widths: dict[float, list[np.ndarray]] = {level: [] for level in LEVELS}
    for fold in sorted(predictions["fold"].unique())[1:]:
        calibration = predictions.loc[predictions["fold"] < fold, "score"].to_numpy()
        test = predictions[predictions["fold"] == fold]
        scale = interval_scale(test, horizon)
        for level in LEVELS:
            half_width = conformal_quantile(calibration, level) * scale
            covered[level].append(test["score"].to_numpy() * scale <= half_width)
            price = test["close"].to_numpy() * np.exp(test["prediction"].to_numpy())
            widths[level].append(2 * np.sinh(half_width) * price / test["close"].to_numpy())
    metrics = {}
    for level in LEVELS:
        label = int(level * 100)
        metrics[f"coverage_{label}"] = float(np.concatenate(covered[level]).mean())
        metrics[f"width_{label}"] = float(np.concatenate(widths[level]).mean())
    return metrics
