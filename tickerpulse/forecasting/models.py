"""Candidate models. Each predicts the log return over the horizon from the feature row.

The random walk (predict no change) is a candidate like any other: when nothing beats it,
it is what serves, so the platform never ships a model that loses to it.
"""

from __future__ import annotations

from collections.abc import Callable

from sklearn.base import RegressorMixin
from sklearn.dummy import DummyRegressor
from sklearn.ensemble import HistGradientBoostingRegressor
from sklearn.linear_model import Ridge
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

BASELINE = "naive"


def _naive() -> RegressorMixin:
    return DummyRegressor(strategy="constant", constant=0.0)


def _drift() -> RegressorMixin:
    return DummyRegressor(strategy="mean")


def _ridge() -> RegressorMixin:
    # Strong shrinkage: daily returns are mostly noise and a loose fit chases it.
    return make_pipeline(StandardScaler(), Ridge(alpha=1000.0))


def _gradient_boosting() -> RegressorMixin:
    # Shallow trees, few of them, and a large leaf: on returns, depth buys noise.
    return HistGradientBoostingRegressor(
        max_iter=100, learning_rate=0.05, max_depth=3, min_samples_leaf=200, random_state=0
    )


CANDIDATES: dict[str, Callable[[], RegressorMixin]] = {
    BASELINE: _naive,
    "drift": _drift,
    "ridge": _ridge,
    "gradient_boosting": _gradient_boosting,
}
