"""Candidate models. Each predicts the log return over the horizon from the feature row.

Every model takes the feature columns plus `ticker`: pooled models drop the ticker, the
per-ticker model routes on it. The random walk (predict no change) is a candidate like any
other: when nothing beats it, it is what serves, so the platform never ships a model that
loses to it. A factory takes the horizon, which sets any embargo the model keeps inside.
"""

from __future__ import annotations

from collections.abc import Callable

import pandas as pd
from sklearn.base import RegressorMixin
from sklearn.compose import ColumnTransformer
from sklearn.dummy import DummyRegressor
from sklearn.ensemble import HistGradientBoostingRegressor
from sklearn.linear_model import Ridge
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler

from tickerpulse.forecasting.per_ticker import PerTickerModel

BASELINE = "naive"


def _pooled(*steps: object) -> Pipeline:
    drop_ticker = ColumnTransformer(
        [("ticker", "drop", ["ticker"])], remainder="passthrough", verbose_feature_names_out=False
    )
    return make_pipeline(drop_ticker, *steps)


def _naive(horizon: int) -> RegressorMixin:
    return _pooled(DummyRegressor(strategy="constant", constant=0.0))


def _drift(horizon: int) -> RegressorMixin:
    return _pooled(DummyRegressor(strategy="mean"))


def _ridge(horizon: int) -> RegressorMixin:
    # Strong shrinkage: daily returns are mostly noise and a loose fit chases it.
    return _pooled(StandardScaler(), Ridge(alpha=1000.0))


def _ridge_per_ticker(horizon: int) -> RegressorMixin:
    return PerTickerModel(_ridge(horizon), embargo=horizon)


def _gradient_boosting(horizon: int) -> RegressorMixin:
    # Shallow trees, few of them, and a large leaf: on returns, depth buys noise.
    return _pooled(
        HistGradientBoostingRegressor(
            max_iter=100, learning_rate=0.05, max_depth=3, min_samples_leaf=200, random_state=0
        )
    )


CANDIDATES: dict[str, Callable[[int], RegressorMixin]] = {
    BASELINE: _naive,
    "drift": _drift,
    "ridge": _ridge,
    "ridge_per_ticker": _ridge_per_ticker,
    "gradient_boosting": _gradient_boosting,
}


def model_inputs(features: list[str]) -> list[str]:
    return ["ticker", *features]


def input_frame(estimator: object, rows: pd.DataFrame, features: list[str]) -> pd.DataFrame:
    """The columns this estimator was fitted on: models registered before the ticker column
    joined the inputs still serve until a new champion replaces them."""
    fitted = getattr(estimator, "feature_names_in_", None)
    return rows[list(fitted)] if fitted is not None else rows[model_inputs(features)]
