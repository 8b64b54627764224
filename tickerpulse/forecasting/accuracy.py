"""Realized accuracy: each published forecast against the close that actually came."""

from __future__ import annotations

import pandas as pd

from tickerpulse.features import SCALE_FEATURE
from tickerpulse.forecasting.coverage import (
    RECENT_DATES,
    TERCILE,
    TERCILES,
    coverage_breakdown,
    volatility_terciles,
)

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


def accuracy_by_version(errors: pd.DataFrame) -> pd.DataFrame:
    """From `realized_errors`: MAE, MAE of the random walk on the same days, their ratio, and
    interval coverage."""
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


def served_coverage(errors: pd.DataFrame, features: pd.DataFrame) -> pd.DataFrame:
    """Per horizon, the realized coverage of the forecasts served (`realized_errors`): by the
    volatility tercile of the session each was made from (ranked as evaluation ranks it, on
    `features`' ticker, date and volatility_20 up to that session) and over the last
    RECENT_DATES such sessions, as evaluation reports it (coverage_breakdown)."""
    columns = [
        "horizon",
        "forecasts",
        *(
            f"coverage_{label}_{name}"
            for label in (80, 95)
            for name in (
                *(f"{tercile}_volatility" for tercile in TERCILES),
                f"last_{RECENT_DATES}",
            )
        ),
    ]
    if errors.empty:
        return pd.DataFrame(columns=columns)
    ranked = features[["ticker", "date", SCALE_FEATURE]].reset_index(drop=True)
    ranked[TERCILE] = volatility_terciles(ranked)
    # A forecast whose session has no feature row (none kept) counts as mid, as unranked rows do.
    errors = errors.merge(ranked[["ticker", "date", TERCILE]], on=["ticker", "date"], how="left")
    errors[TERCILE] = errors[TERCILE].fillna(1).astype(int)
    rows = []
    for horizon, served in errors.groupby("horizon"):
        row: dict[str, object] = {"horizon": horizon, "forecasts": len(served)}
        for label in (80, 95):
            row.update(coverage_breakdown(served[f"inside_{label}"].to_numpy(), served, label))
        rows.append(row)
    return pd.DataFrame(rows, columns=columns)
