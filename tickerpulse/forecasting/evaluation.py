"""Walk-forward evaluation against the random walk, with conformal prediction intervals.

Folds split the calendar: each test block is a run of dates, trained on everything before
it less an embargo of `horizon` dates (their labels would reach into the test block).
A rolling window (`train_dates`) trains each fold on only the last that many dates, for
series whose old regime no longer says much; by default the window expands.
Intervals are normalized conformal: |residual| / (volatility_20 * sqrt(h)) quantiles from
earlier folds only, so the coverage reported is coverage on data the quantiles never saw.
How many folds: by default enough to test the last `test_sessions` dates (2,000, eight years)
or as many as the history holds; each fold retrains once, so `test_dates` is the retraining
schedule (63 sessions, a quarter), not a daily refit.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from sklearn.base import RegressorMixin

from tickerpulse.features import SCALE_FEATURE
from tickerpulse.forecasting.models import model_inputs
from tickerpulse.forecasting.significance import diebold_mariano, wilson_interval

LEVELS = (0.80, 0.95)
MIN_TRAIN_DATES = 250
FOLD_DATES = 63  # retrain every quarter
TEST_SESSIONS = 2000
MIN_FOLDS = 2  # nested selection needs a fold to choose on and one to score


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


def fold_count(
    usable_dates: int,
    horizon: int,
    test_dates: int = FOLD_DATES,
    test_sessions: int = TEST_SESSIONS,
) -> int:
    """Folds whose scored part covers the last `test_sessions` dates (one more fold seeds the
    nested selection), or as many as leave the first fold a year of training;
    NotEnoughHistory below MIN_FOLDS."""
    wanted = math.ceil(test_sessions / test_dates) + 1
    possible = (usable_dates - MIN_TRAIN_DATES - horizon) // test_dates
    if possible < MIN_FOLDS:
        raise NotEnoughHistory(
            f"{usable_dates} usable dates: walk-forward with {MIN_FOLDS} folds of {test_dates} "
            f"dates needs at least {MIN_TRAIN_DATES + horizon + MIN_FOLDS * test_dates}"
        )
    return min(wanted, possible)


def walk_forward(
    dataset: pd.DataFrame,
    features: list[str],
    make_model: Callable[[], RegressorMixin],
    name: str,
    horizon: int,
    folds: int | None = None,
    test_dates: int = FOLD_DATES,
    train_dates: int | None = None,
    test_sessions: int = TEST_SESSIONS,
) -> Evaluation:
    """`folds` None: as many as `fold_count` gives for `test_sessions`."""
    if train_dates is not None and train_dates < MIN_TRAIN_DATES:
        raise ValueError(
            f"a rolling window needs at least {MIN_TRAIN_DATES} dates, not {train_dates}"
        )
    rows = modelling_rows(dataset, features)
    inputs = model_inputs(features)
    dates = np.sort(rows["date"].unique())
    if folds is None:
        folds = fold_count(len(dates), horizon, test_dates, test_sessions)
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
    return summarize(name, horizon, predictions, fold_metrics)


def summarize(
    name: str,
    horizon: int,
    predictions: pd.DataFrame,
    fold_metrics: list[dict[str, float]],
    calibration: dict[int, np.ndarray] | None = None,
) -> Evaluation:
    """Metrics over every fold of `predictions`, whose `score` column gives the quantiles."""
    metrics = point_metrics(predictions)
    metrics.update(coverage_metrics(predictions, horizon, calibration))
    metrics.update(significance_metrics(predictions, horizon))
    fold_ratios = np.array([m["relative_mae"] for m in fold_metrics])
    metrics["relative_mae_stderr"] = (
        float(fold_ratios.std(ddof=1) / np.sqrt(len(fold_ratios)))
        if len(fold_ratios) > 1
        else float("nan")
    )
    metrics["n_folds"] = float(len(fold_metrics))
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
    hits = directional_hits(predicted)
    return {
        "mae": float(error.mean()),
        "rmse": float(np.sqrt((error**2).mean())),
        "naive_mae": float(naive_error.mean()),
        "relative_mae": float(error.sum() / naive_error.sum()),
        "directional_accuracy": float(hits.mean()),
        "rows": float(len(predicted)),
    }


def losses(predictions: pd.DataFrame) -> pd.DataFrame:
    """Each date's absolute error and the random walk's, as a share of the last close, averaged
    over the tickers of that date: scale-free, so neither a ticker's price level nor a decade
    of growth weights the test, and one value a date, since tickers on a date move together."""
    growth = predictions["future_close"] / predictions["close"]
    per_row = pd.DataFrame(
        {
            "date": predictions["date"],
            "loss": (np.exp(predictions["prediction"]) - growth).abs(),
            "naive_loss": (1 - growth).abs(),
        }
    )
    return per_row.groupby("date").mean().sort_index()


def significance_metrics(predictions: pd.DataFrame, horizon: int) -> dict[str, float]:
    """Diebold-Mariano against the random walk, and a Wilson interval on directional accuracy
    (rows as trials; overlapping h-step rows and tickers on one date are not independent, so
    for h > 1 or a panel the interval is narrower than the truth)."""
    daily = losses(predictions)
    test = diebold_mariano(daily["loss"].to_numpy(), daily["naive_loss"].to_numpy(), horizon)
    hits = directional_hits(predictions)
    low, high = wilson_interval(float(hits.sum()), len(hits))
    return {
        "dm_stat": test.statistic,
        "dm_pvalue": test.pvalue,
        "directional_accuracy_low": low,
        "directional_accuracy_high": high,
    }


def directional_hits(predicted: pd.DataFrame) -> np.ndarray:
    direction = np.sign(predicted["prediction"])
    moved = np.sign(predicted["target"])
    # A forecast of no change calls no direction: it scores a coin flip, not a miss.
    return np.where(direction == 0, 0.5, (direction == moved).astype(float))


def coverage_metrics(
    predictions: pd.DataFrame, horizon: int, calibration: dict[int, np.ndarray] | None = None
) -> dict[str, float]:
    """Coverage of each fold's intervals, calibrated on the folds before it (the first fold only
    calibrates), or on `calibration[fold]` scores when given."""
    covered: dict[float, list[np.ndarray]] = {level: [] for level in LEVELS}
    widths: dict[float, list[np.ndarray]] = {level: [] for level in LEVELS}
    folds = sorted(predictions["fold"].unique())
    for fold in folds if calibration is not None else folds[1:]:
        if calibration is not None:
            earlier = calibration[fold]
        else:
            earlier = predictions.loc[predictions["fold"] < fold, "score"].to_numpy()
        test = predictions[predictions["fold"] == fold]
        scale = interval_scale(test, horizon)
        for level in LEVELS:
            half_width = conformal_quantile(earlier, level) * scale
            covered[level].append(test["score"].to_numpy() * scale <= half_width)
            price = test["close"].to_numpy() * np.exp(test["prediction"].to_numpy())
            widths[level].append(2 * np.sinh(half_width) * price / test["close"].to_numpy())
    metrics = {}
    for level in LEVELS:
        label = int(level * 100)
        metrics[f"coverage_{label}"] = float(np.concatenate(covered[level]).mean())
        metrics[f"width_{label}"] = float(np.concatenate(widths[level]).mean())
    return metrics
