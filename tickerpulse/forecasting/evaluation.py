"""Walk-forward evaluation against the random walk, with conformal prediction intervals.

Folds split the calendar: each test block is a run of dates, trained on everything before
it less an embargo of `horizon` dates (their labels would reach into the test block).
A rolling window (`train_dates`) trains each fold on only the last that many dates, for
series whose old regime no longer says much; by default the window expands.
Intervals are normalized conformal: |residual| / (volatility_20 * sqrt(h)) quantiles from
earlier folds only, so the coverage reported is coverage on data the quantiles never saw; per
volatility tercile and adapted as outcomes arrive (coverage.py).
How many folds: by default enough to test the last `test_sessions` dates (2,000, eight years)
or as many as the history holds; each fold retrains once, so `test_dates` is the retraining
schedule (63 sessions, a quarter), not a daily refit.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from sklearn.base import RegressorMixin
from threadpoolctl import threadpool_limits

from tickerpulse.features import SCALE_FEATURE
from tickerpulse.forecasting.coverage import (
    TERCILE,
    TERCILES,
    adaptive_intervals,
    coverage_breakdown,
    quantile_of_sorted,
    scores_by_tercile,
    volatility_terciles,
)
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
    """Rows usable for training, in date then ticker order (usable_positions).

    With `train_dates`, only the last that many dates (the rolling window).
    """
    return recent_rows(dataset.iloc[usable_positions(dataset, features)], train_dates)


def usable_positions(dataset: pd.DataFrame, features: list[str]) -> np.ndarray:
    """Positions of the rows a model can fit on or be scored on (every feature and the label
    present, a positive scale), in date then ticker order: the one rule modelling_rows and
    walk_forward_rows both follow, computed on arrays (no copy of the panel)."""
    usable = dataset[[*features, "target"]].notna().all(axis=1).to_numpy() & (
        dataset[SCALE_FEATURE].to_numpy() > 0
    )
    kept = np.flatnonzero(usable)
    tickers = pd.factorize(dataset["ticker"].to_numpy()[kept], sort=True)[0]
    return kept[np.lexsort((tickers, dataset["date"].to_numpy()[kept]))]


def recent_rows(rows: pd.DataFrame, train_dates: int | None) -> pd.DataFrame:
    """The rows of the last `train_dates` dates (all of them for None)."""
    if train_dates is None:
        return rows
    recent = np.sort(rows["date"].unique())[-train_dates:]
    return rows[rows["date"] >= recent[0]]


def training_sample(rows: pd.DataFrame, max_rows: int | None, seed: int = 0) -> pd.DataFrame:
    """At most `max_rows` of `rows`, drawn uniformly without replacement (seeded) and kept in
    their order: a universe's fit costs what `max_rows` costs, not what its history does.
    Every date and ticker keeps its share in expectation; the test rows are never sampled."""
    if max_rows is None or len(rows) <= max_rows:
        return rows
    picks = np.random.default_rng(seed).choice(len(rows), size=max_rows, replace=False)
    return rows.iloc[np.sort(picks)]


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
    # Conformal score quantiles for the final model: q80, q95 over all scores, and
    # q80_low_volatility etc. per tercile at the adaptive level reached at the end.
    quantiles: dict[str, float]
    predictions: pd.DataFrame = field(repr=False)
    test_dates: int | None = None  # each fold's test block, when walk-forward made it


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


# What a scored prediction row keeps besides fold and prediction: metrics (close, future_close,
# target), the interval's scale and tercile, and where it is (date, ticker).
SCORED_COLUMNS = ["date", "ticker", "close", "future_close", "target", SCALE_FEATURE, TERCILE]


def walk_forward_rows(dataset: pd.DataFrame, features: list[str]) -> pd.DataFrame:
    """The rows walk-forward splits into folds: usable rows (usable_positions),
    only the columns it reads, each with its volatility tercile."""
    # Ranked on the whole history of each ticker, before rows are dropped: the trailing window
    # is sessions, not usable rows.
    terciles = volatility_terciles(dataset)
    scored = [column for column in SCORED_COLUMNS if column != TERCILE]  # the tercile is added
    columns = list(dict.fromkeys([*scored, *features]))
    kept = usable_positions(dataset, features)
    # Each column taken once for the kept rows, in date then ticker order: at 500 tickers the
    # copies of the whole panel that select, assign, dropna, filter and sort made took the
    # process past 3.6 GiB.
    taken = {column: dataset[column].to_numpy()[kept] for column in columns}
    taken[TERCILE] = terciles[kept]
    return pd.DataFrame(taken, index=dataset.index[kept])


def fold_plan(
    usable_dates: int,
    horizon: int,
    test_dates: int = FOLD_DATES,
    test_sessions: int = TEST_SESSIONS,
    max_folds: int | None = None,
) -> tuple[int, int]:
    """(folds, test_dates): `fold_count`'s folds, or with `max_folds` at most that many, each
    wider, so that they still test the last `test_sessions` dates. Every fold refits every
    candidate, so at 500 tickers 33 quarterly folds of five candidates cost tens of minutes;
    wider blocks mean a model is scored further from its fit than the weekly retrain leaves
    it, which can only handicap the models that learn, never flatter them against the random
    walk (which has nothing to refit)."""
    folds = fold_count(usable_dates, horizon, test_dates, test_sessions)
    if max_folds is None or folds <= max_folds:
        return folds, test_dates
    if max_folds < MIN_FOLDS:
        raise ValueError(f"max_folds {max_folds}: nested selection needs {MIN_FOLDS} or more")
    # One fold seeds the nested selection; the others cover the test sessions.
    covered = min(test_sessions, (folds - 1) * test_dates)
    wider = max(test_dates, math.ceil(covered / (max_folds - 1)))
    possible = (usable_dates - MIN_TRAIN_DATES - horizon) // wider
    if possible < MIN_FOLDS:
        return folds, test_dates
    return min(max_folds, possible), wider


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
    max_train_rows: int | None = None,
    prepared: bool = False,
    max_folds: int | None = None,
) -> Evaluation:
    """One candidate's walk-forward (evaluate_folds with one model)."""
    return evaluate_folds(
        dataset,
        features,
        {name: make_model},
        horizon,
        folds=folds,
        test_dates=test_dates,
        train_dates=train_dates,
        test_sessions=test_sessions,
        max_train_rows=max_train_rows,
        prepared=prepared,
        max_folds=max_folds,
    )[0]


def evaluate_folds(
    dataset: pd.DataFrame,
    features: list[str],
    models: Mapping[str, Callable[[], RegressorMixin]],
    horizon: int,
    folds: int | None = None,
    test_dates: int = FOLD_DATES,
    train_dates: int | None = None,
    test_sessions: int = TEST_SESSIONS,
    max_train_rows: int | None = None,
    prepared: bool = False,
    max_folds: int | None = None,
) -> list[Evaluation]:
    """Every model of `models` on the same folds, one Evaluation each, in order.

    `folds` None: as many as `fold_plan` gives for `test_sessions` and `max_folds`.
    `max_train_rows`: each fold fits on a sample of at most that many of its training rows
    (training_sample), drawn once per fold: every model fits on the same rows and is scored
    on the same test rows. `prepared`: `dataset` is already walk_forward_rows' output."""
    if train_dates is not None and train_dates < MIN_TRAIN_DATES:
        raise ValueError(
            f"a rolling window needs at least {MIN_TRAIN_DATES} dates, not {train_dates}"
        )
    rows = dataset if prepared else walk_forward_rows(dataset, features)
    inputs = model_inputs(features)
    dates = np.sort(rows["date"].unique())
    if folds is None:
        folds, test_dates = fold_plan(len(dates), horizon, test_dates, test_sessions, max_folds)
    first_test = len(dates) - folds * test_dates
    if first_test - horizon < MIN_TRAIN_DATES:
        raise NotEnoughHistory(
            f"{len(dates)} usable dates: walk-forward with {folds} folds of {test_dates} dates "
            f"needs at least {MIN_TRAIN_DATES + horizon + folds * test_dates}"
        )
    date_index = np.searchsorted(dates, rows["date"].to_numpy())
    if not np.all(date_index[1:] >= date_index[:-1]):  # a caller's own order: put in date order
        rows = rows.iloc[np.argsort(date_index, kind="stable")]
        date_index = np.sort(date_index, kind="stable")

    def span(first: int, last: int) -> pd.DataFrame:
        # Rows in date order: a run of dates is a slice, not a mask over every row.
        return rows.iloc[np.searchsorted(date_index, first) : np.searchsorted(date_index, last)]

    scored_parts: list[pd.DataFrame] = []
    predicted_parts: dict[str, list[np.ndarray]] = {name: [] for name in models}
    fold_metrics: dict[str, list[dict[str, float]]] = {name: [] for name in models}
    # One thread for BLAS and OpenMP: gradient boosting's OpenMP threads spin on the cores
    # after each fit, and the next two-thread BLAS call then waited seconds for a core (5.6 s
    # for a 250k-row Ridge that takes 0.07 s alone: 24 of 164 s of a 500-ticker profile); on
    # the shared 2-core machine gradient boosting itself fitted 230k rows in 0.7 s on one
    # thread against 0.9-3.8 s on two.
    with threadpool_limits(limits=1):
        for fold in range(folds):
            start = first_test + fold * test_dates
            end = start - horizon
            begin = 0 if train_dates is None else end - train_dates
            train = training_sample(span(begin, end), max_train_rows, seed=fold)
            train_inputs, train_target = train[inputs], train["target"]
            test = span(start, start + test_dates)
            test_inputs = test[inputs]
            # Only what scoring reads is kept per test row (not every feature): at 500 tickers
            # the five candidates' predictions otherwise held over a gigabyte.
            scored = test[SCORED_COLUMNS].assign(fold=fold)
            scored_parts.append(scored)
            for name, make_model in models.items():
                model = make_model().fit(train_inputs, train_target)
                prediction = model.predict(test_inputs)
                predicted_parts[name].append(prediction)
                fold_metrics[name].append(point_metrics(scored.assign(prediction=prediction)))
    # Every model's predictions share one copy of the scored rows, with a prediction column of
    # its own (copy=False): five copies of the same rows held 0.3 GiB at 500 tickers. Nothing
    # writes into a prediction frame's columns; a column is only ever added or replaced.
    shared = pd.concat(scored_parts, ignore_index=True)
    del scored_parts
    columns = {column: shared[column].to_numpy() for column in shared.columns}
    evaluations = []
    for name in models:
        prediction = np.concatenate(predicted_parts.pop(name))
        predictions = pd.DataFrame({**columns, "prediction": prediction}, copy=False)
        predictions["score"] = (predictions["target"] - predictions["prediction"]).abs() / (
            interval_scale(predictions, horizon)
        )
        evaluation = summarize(name, horizon, predictions, fold_metrics[name])
        evaluation.test_dates = test_dates
        evaluations.append(evaluation)
    return evaluations


def summarize(
    name: str,
    horizon: int,
    predictions: pd.DataFrame,
    fold_metrics: list[dict[str, float]],
    calibration: dict[int, pd.DataFrame] | None = None,
) -> Evaluation:
    """Metrics over every fold of `predictions`, whose `score` column gives the quantiles.

    `calibration[fold]`: the scores (score, volatility_tercile) the fold's intervals come from;
    by default the folds before it, the first fold only calibrating."""
    metrics = point_metrics(predictions)
    coverage, quantiles, by_fold = coverage_metrics(predictions, horizon, calibration)
    metrics.update(coverage)
    # Each fold's coverage beside its errors: MLflow charts them by step, coverage over time.
    folds = sorted(predictions["fold"].unique())
    fold_metrics = [
        {**values, **by_fold.get(fold, {})}
        for values, fold in zip(fold_metrics, folds, strict=True)
    ]
    metrics.update(significance_metrics(predictions, horizon))
    fold_ratios = np.array([m["relative_mae"] for m in fold_metrics])
    metrics["relative_mae_stderr"] = (
        float(fold_ratios.std(ddof=1) / np.sqrt(len(fold_ratios)))
        if len(fold_ratios) > 1
        else float("nan")
    )
    metrics["n_folds"] = float(len(fold_metrics))
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


def interval_coverage(
    predictions: pd.DataFrame, horizon: int, calibration: dict[int, pd.DataFrame] | None = None
) -> pd.DataFrame:
    """Each scored row's adaptive intervals (coverage.py): covered_80, covered_95 and the
    half-widths in log-price units. `calibration[fold]`: the scores (score, volatility_tercile)
    the fold's intervals come from; by default the folds before it, the first fold only
    calibrating. The final miscoverage rates per tercile are in `.attrs["alphas"]`."""
    folds = sorted(predictions["fold"].unique())
    if calibration is None:
        # Only what calibrates (score, tercile): a whole-row copy of the earlier folds for each
        # fold held 0.35 GiB at 500 tickers, per candidate.
        earlier = predictions[["fold", "score", TERCILE]]
        calibration = {
            fold: earlier.loc[earlier["fold"] < fold, ["score", TERCILE]] for fold in folds[1:]
        }
        scored = predictions[predictions["fold"] > folds[0]]
    else:
        scored = predictions
    by_tercile = {
        fold: scores_by_tercile(frame["score"].to_numpy(), frame[TERCILE].to_numpy())
        for fold, frame in calibration.items()
    }
    out = scored[["date", "ticker", "fold", TERCILE]].copy()
    scale = interval_scale(scored, horizon)
    out.attrs["alphas"] = {}
    for level in LEVELS:
        label = int(level * 100)
        adaptive = adaptive_intervals(scored, horizon, level, by_tercile)
        out[f"covered_{label}"] = scored["score"].to_numpy() <= adaptive.half_widths
        out[f"half_width_{label}"] = adaptive.half_widths * scale
        out.attrs["alphas"][label] = adaptive.alphas
    return out


def coverage_metrics(
    predictions: pd.DataFrame, horizon: int, calibration: dict[int, pd.DataFrame] | None = None
) -> tuple[dict[str, float], dict[str, float], dict[int, dict[str, float]]]:
    """Coverage and width of the adaptive intervals overall, per volatility tercile and over
    the last sessions; the score quantiles the next forecasts would use; each fold's coverage."""
    intervals = interval_coverage(predictions, horizon, calibration)
    growth = np.exp(predictions.loc[intervals.index, "prediction"].to_numpy())
    everything = scores_by_tercile(predictions["score"].to_numpy(), predictions[TERCILE].to_numpy())
    metrics: dict[str, float] = {}
    quantiles: dict[str, float] = {}
    for level in LEVELS:
        label = int(level * 100)
        covered = intervals[f"covered_{label}"].to_numpy()
        # Width of the price interval as a share of the last close.
        widths = 2 * np.sinh(intervals[f"half_width_{label}"].to_numpy()) * growth
        metrics[f"coverage_{label}"] = float(covered.mean())
        metrics[f"width_{label}"] = float(widths.mean())
        metrics.update(coverage_breakdown(covered, intervals, label))
        quantiles[f"q{label}"] = conformal_quantile(predictions["score"].to_numpy(), level)
        alphas = intervals.attrs["alphas"][label]
        for tercile, tercile_name in enumerate(TERCILES):
            quantiles[f"q{label}_{tercile_name}_volatility"] = quantile_of_sorted(
                everything[tercile], 1 - alphas[tercile]
            )
    scored_folds = intervals["fold"].to_numpy()
    by_fold = {
        int(fold): {
            f"coverage_{label}": float(intervals[f"covered_{label}"].to_numpy()[in_fold].mean())
            for label in (int(level * 100) for level in LEVELS)
        }
        for fold in np.unique(scored_folds)
        for in_fold in [scored_folds == fold]
    }
    return metrics, quantiles, by_fold
