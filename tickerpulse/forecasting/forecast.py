"""Forecasts from the champion: price, 80/95 % intervals and the model version behind them."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from tickerpulse.calendar import sessions_after
from tickerpulse.features import FEATURES, latest_rows
from tickerpulse.forecasting.coverage import TERCILE, TERCILES, volatility_terciles
from tickerpulse.forecasting.evaluation import LEVELS, interval_scale
from tickerpulse.forecasting.models import input_frame
from tickerpulse.stores.warehouse import Warehouse

FORECAST_COLUMNS = [
    "ticker",
    "date",  # the session the forecast is made from (its last close)
    "target_date",
    "horizon",
    "last_close",
    "forecast",
    *(f"{side}_{int(level * 100)}" for level in LEVELS for side in ("lower", "upper")),
    "model_name",
    "model_version",
    "model",
    "created_at",
]


def served_quantiles(metrics: dict[str, float]) -> dict[str, float]:
    """The score quantiles a registered version serves with: per volatility tercile where it
    has them; versions registered before those have q80 and q95 only."""
    return {
        key: metrics[key]
        for label in (int(level * 100) for level in LEVELS)
        for key in (f"q{label}", *(f"q{label}_{name}_volatility" for name in TERCILES))
        if key in metrics
    }


def _half_width_quantiles(
    quantiles: dict[str, float], label: int, terciles: np.ndarray
) -> np.ndarray:
    per_tercile = [quantiles.get(f"q{label}_{name}_volatility") for name in TERCILES]
    if any(value is None for value in per_tercile):
        return np.full(len(terciles), quantiles[f"q{label}"])
    return np.asarray(per_tercile, dtype=float)[terciles]


def forecastable(features: pd.DataFrame) -> tuple[pd.DataFrame, list[str]]:
    """Each ticker's latest feature row where every feature is known (a new ticker with a
    short history has warm-up gaps), with its volatility tercile; and the tickers left out."""
    features = features.assign(**{TERCILE: volatility_terciles(features)})
    latest = latest_rows(features)
    complete = latest.dropna(subset=FEATURES)
    complete = complete[complete["volatility_20"] > 0]
    return complete, sorted(set(latest["ticker"]) - set(complete["ticker"]))


@dataclass(frozen=True)
class LoadedChampion:
    """A registered version loaded to forecast with: its estimator and the score quantiles its
    intervals are drawn from."""

    name: str  # registered model name (<base name>-h<horizon>)
    version: str
    model: str  # the candidate it is (ridge, naive, ...)
    quantiles: dict[str, float]
    estimator: Any


def champion_forecasts(
    champion: LoadedChampion, features: pd.DataFrame, horizon: int, exchange: str = "XNYS"
) -> tuple[pd.DataFrame, list[str]]:
    """The one forecasting path: `champion` on each ticker's latest complete features, one row
    per ticker (point forecast, 80/95 % intervals, the version behind them); also the tickers
    it could not forecast. The batch asset calls it with every ticker's features, the API with
    one ticker's."""
    complete, skipped = forecastable(features)
    return latest_forecasts(champion, complete, horizon, exchange), skipped


def forecastable_by_tickers(chunks: Iterable[pd.DataFrame]) -> tuple[pd.DataFrame, list[str]]:
    """forecastable over a universe read a few whole tickers at a time: each ticker's latest
    row and its tercile are its own, so the panel is never held whole. Dates as date objects
    (a chunk read with datetime64 ones converts only the latest rows)."""
    parts, skipped = [], []
    for chunk in chunks:
        complete, left_out = forecastable(chunk)
        parts.append(complete)
        skipped += left_out
    if not parts:
        return pd.DataFrame(), []
    complete = pd.concat(parts, ignore_index=True)
    if complete["date"].dtype.kind == "M":
        complete["date"] = complete["date"].dt.date
    return complete, sorted(skipped)


def latest_forecasts(
    champion: LoadedChampion, complete: pd.DataFrame, horizon: int, exchange: str = "XNYS"
) -> pd.DataFrame:
    """`champion` on forecastable's rows: the forecast table of champion_forecasts."""
    if complete.empty:
        return pd.DataFrame(columns=FORECAST_COLUMNS)
    estimator = champion.estimator
    predicted = estimator.predict(input_frame(estimator, complete, FEATURES))
    scale = interval_scale(complete, horizon)
    close = complete["close"].to_numpy()
    out = pd.DataFrame(
        {
            "ticker": complete["ticker"].to_numpy(),
            "date": complete["date"].to_numpy(),
            "target_date": [sessions_after(day, horizon, exchange) for day in complete["date"]],
            "horizon": horizon,
            "last_close": close,
            "forecast": close * np.exp(predicted),
        }
    )
    for level in LEVELS:
        label = int(level * 100)
        half_width = (
            _half_width_quantiles(champion.quantiles, label, complete[TERCILE].to_numpy()) * scale
        )
        out[f"lower_{label}"] = close * np.exp(predicted - half_width)
        out[f"upper_{label}"] = close * np.exp(predicted + half_width)
    out["model_name"] = champion.name
    out["model_version"] = champion.version
    out["model"] = champion.model
    out["created_at"] = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    return out[FORECAST_COLUMNS]


def forecast_record(row: pd.Series) -> dict[str, Any]:
    """One forecast row as the API serves it: intervals nested, plain Python values."""
    return {
        "horizon": int(row["horizon"]),
        "as_of": row["date"],
        "target_date": row["target_date"],
        "last_close": float(row["last_close"]),
        "forecast": float(row["forecast"]),
        "interval_80": {"lower": float(row["lower_80"]), "upper": float(row["upper_80"])},
        "interval_95": {"lower": float(row["lower_95"]), "upper": float(row["upper_95"])},
        "model_name": row["model_name"],
        "model_version": str(row["model_version"]),
        "model": row["model"],
        "created_at": row["created_at"],
    }


def publish_forecasts(warehouse: Warehouse, forecasts: pd.DataFrame) -> None:
    """Add a batch to each ticker's forecast history, keeping earlier batches (accuracy scores
    them once their target session closes); a re-run for the same session and horizon
    replaces. A merge, not read-then-write: a run publishing at the same time keeps its rows."""
    for ticker, rows in forecasts.groupby("ticker"):
        warehouse.merge_partition("price_forecasts", str(ticker), rows.drop(columns="ticker"))
