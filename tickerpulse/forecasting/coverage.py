"""Intervals that hold their coverage in calm and turbulent markets alike, and after a break.

Scores are |residual| / (volatility_20 * sqrt(h)) (evaluation.py). Scaling by volatility alone
over-corrects: on GOOG and SPX a split-conformal 80 % interval covered about 0.75 of the calm
days and 0.85 of the turbulent ones. Two layers fix it:

- Mondrian by volatility regime (Vovk's Mondrian conformal, as in crepes): each forecast's
  quantile comes from the earlier scores of its own volatility tercile.
- Adaptive conformal inference (Gibbs & Candes 2021), one miscoverage rate per tercile:
  alpha <- alpha + gamma * (nominal miss rate - share missed that date), so a run of misses
  after a volatility break widens the next intervals at once. A forecast h sessions ahead is
  judged h sessions later, so its miss updates the rate only from then on.

A forecast's tercile is the rank of its volatility_20 among the same ticker's last
VOLATILITY_RANK_DATES values up to and including its own date: only what is known when the
forecast is made, no edge taken from the test period or the future.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from tickerpulse.features import SCALE_FEATURE

TERCILES = ("low", "mid", "high")
TERCILE = "volatility_tercile"
VOLATILITY_RANK_DATES = 756  # three years of sessions
MIN_RANK_DATES = 60
GAMMA = 0.02  # ACI step: on GOOG/SPX 0.005 left the calm tercile 2-4 points short
MIN_TERCILE_SCORES = 50  # fewer scores in a tercile: its quantile comes from all of them
RECENT_DATES = 60


def volatility_terciles(frame: pd.DataFrame) -> np.ndarray:
    """0, 1, 2 (low, mid, high) per row of `frame` (ticker, date, volatility_20): the tercile of
    each row's volatility among its ticker's trailing VOLATILITY_RANK_DATES values. Rows
    without MIN_RANK_DATES of history count as mid."""
    ordered = frame[["ticker", "date", SCALE_FEATURE]].sort_values(["ticker", "date"])
    ranks = ordered.groupby("ticker", sort=False)[SCALE_FEATURE].transform(
        lambda volatility: volatility.rolling(
            VOLATILITY_RANK_DATES, min_periods=MIN_RANK_DATES
        ).rank(pct=True)
    )
    tercile = np.clip(np.ceil(ranks.to_numpy() * 3) - 1, 0, 2)
    return (
        pd.Series(np.nan_to_num(tercile, nan=1.0), index=ordered.index)
        .reindex(frame.index)
        .to_numpy(dtype=int)
    )


def quantile_of_sorted(ordered: np.ndarray, level: float) -> float:
    """The finite-sample conformal quantile of sorted scores at `level`, for any level ACI
    reaches: at or below 0 the interval is empty, above n/(n+1) the largest score serves."""
    if level <= 0:
        return 0.0
    rank = min(len(ordered), int(np.ceil((len(ordered) + 1) * level)))
    return float(ordered[max(rank, 1) - 1])


def scores_by_tercile(scores: np.ndarray, terciles: np.ndarray) -> list[np.ndarray]:
    """Sorted calibration scores per tercile, all of them for a tercile with too few."""
    pooled = np.sort(scores)
    return [
        np.sort(scores[terciles == tercile])
        if (terciles == tercile).sum() >= MIN_TERCILE_SCORES
        else pooled
        for tercile in range(len(TERCILES))
    ]


@dataclass
class AdaptiveIntervals:
    half_widths: np.ndarray  # score units, one per prediction row (in the frame's order)
    alphas: np.ndarray  # miscoverage rate per tercile once every outcome is known


def adaptive_intervals(
    predictions: pd.DataFrame,
    horizon: int,
    level: float,
    calibration: dict[int, list[np.ndarray]],
    gamma: float = GAMMA,
) -> AdaptiveIntervals:
    """Walks the test dates in order. `calibration[fold]` holds the sorted scores per tercile
    known before that fold; `predictions` has date, fold, score and volatility_tercile."""
    alphas = np.full(len(TERCILES), 1 - level)
    half_widths = np.full(len(predictions), np.nan)
    dates, date_index = np.unique(predictions["date"].to_numpy(), return_inverse=True)
    order = np.argsort(date_index, kind="stable")
    bounds = np.searchsorted(date_index[order], np.arange(len(dates) + 1))
    folds = predictions["fold"].to_numpy()
    terciles = predictions[TERCILE].to_numpy()
    scores = predictions["score"].to_numpy()

    def learn(rows: np.ndarray) -> None:
        # One step per tercile and date, on the share missed: a panel of many tickers moves
        # the rate as fast as one ticker does, not once per ticker.
        missed = scores[rows] > half_widths[rows]
        counts = np.bincount(terciles[rows], minlength=len(TERCILES))
        misses = np.bincount(terciles[rows], weights=missed, minlength=len(TERCILES))
        present = counts > 0
        alphas[present] += gamma * ((1 - level) - misses[present] / counts[present])

    for day in range(len(dates)):
        if day >= horizon:  # forecasts made `horizon` sessions ago have just realized
            learn(order[bounds[day - horizon] : bounds[day - horizon + 1]])
        rows = order[bounds[day] : bounds[day + 1]]
        by_tercile = calibration[folds[rows[0]]]  # folds split the calendar: one per date
        quantiles = [
            quantile_of_sorted(by_tercile[tercile], 1 - alphas[tercile])
            for tercile in range(len(TERCILES))
        ]
        half_widths[rows] = np.asarray(quantiles)[terciles[rows]]
    for day in range(max(0, len(dates) - horizon), len(dates)):
        learn(order[bounds[day] : bounds[day + 1]])
    return AdaptiveIntervals(half_widths, alphas.copy())


def coverage_breakdown(
    covered: np.ndarray, predictions: pd.DataFrame, label: int
) -> dict[str, float]:
    """Coverage per volatility tercile and over the last RECENT_DATES test dates (flat keys,
    as MLflow logs them; report.py gathers the terciles into a list)."""
    terciles = predictions[TERCILE].to_numpy()
    dates = predictions["date"].to_numpy()
    recent = dates >= np.sort(np.unique(dates))[-RECENT_DATES:][0]
    metrics = {
        f"coverage_{label}_{name}_volatility": float(covered[terciles == tercile].mean())
        if (terciles == tercile).any()
        else float("nan")
        for tercile, name in enumerate(TERCILES)
    }
    metrics[f"coverage_{label}_last_{RECENT_DATES}"] = float(covered[recent].mean())
    return metrics


def by_volatility(metrics: dict[str, float], label: int) -> list[float]:
    """The three tercile coverages, low to high."""
    return [metrics[f"coverage_{label}_{name}_volatility"] for name in TERCILES]
