"""Realized accuracy: each published forecast against the close that actually came."""

from __future__ import annotations

import pandas as pd

from tickerpulse.stores.warehouse.base import ROW_KEYS, replace_rows

GROUP = ["model_name", "model_version", "ticker", "horizon"]


def realized_errors(forecasts: pd.DataFrame, prices: pd.DataFrame) -> pd.DataFrame:
    """One row per forecast whose target session has a close, with its error and the naive one."""
    actual = prices[["ticker", "date", "close"]].rename(
        columns={"date": "target_date", "close": "actual"}
    )
    joined = forecasts.merge(actual, on=["ticker", "target_date"], how="inner")
    return joined.assign(
        error=(joined["forecast"] - joined["actual"]).abs(),
        naive_error=(joined["last_close"] - joined["actual"]).abs(),
        inside_80=(joined["lower_80"] <= joined["actual"])
        & (joined["actual"] <= joined["upper_80"]),
        inside_95=(joined["lower_95"] <= joined["actual"])
        & (joined["actual"] <= joined["upper_95"]),
    )


def accuracy_by_version(forecasts: pd.DataFrame, prices: pd.DataFrame) -> pd.DataFrame:
    """MAE, MAE of the random walk on the same days, their ratio, and interval coverage."""
    errors = realized_errors(forecasts, prices)
    columns = [
        *GROUP,
        "forecasts",
        "mae",
        "naive_mae",
        "relative_mae",
        "coverage_80",
        "coverage_95",
    ]
    if errors.empty:
        return pd.DataFrame(columns=columns)
    grouped = errors.groupby(GROUP, as_index=False).agg(
        forecasts=("error", "size"),
        mae=("error", "mean"),
        naive_mae=("naive_error", "mean"),
        coverage_80=("inside_80", "mean"),
        coverage_95=("inside_95", "mean"),
    )
    # A zero naive error (an unchanged close) leaves the ratio undefined, not infinite.
    grouped["relative_mae"] = grouped["mae"] / grouped["naive_mae"].where(grouped["naive_mae"] > 0)
    return grouped[columns]


def merge_history(history: pd.DataFrame, batch: pd.DataFrame) -> pd.DataFrame:
    """Forecast history with a new batch: a re-run for the same session and horizon replaces."""
    return replace_rows(history, batch, ROW_KEYS["price_forecasts"])
