"""One model across tickers, and a ticker's own model only where it helps.

Whether a ticker's own model helps is decided inside `fit`, on the last part of that ticker's
training rows (held out behind an embargo), so a walk-forward evaluation of this model stays
honest: the choice never sees the evaluation's test block.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, RegressorMixin, clone
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import Ridge
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits


class PerTickerModel(RegressorMixin, BaseEstimator):
    """Inputs carry a `ticker` column; rows of each ticker come in time order.

    `estimator` is a template (cloned for the pool and each ticker), as in sklearn's own
    meta-estimators, so the fitted model holds estimators only and saves with skops.
    """

    def __init__(
        self,
        estimator: Any,
        embargo: int = 1,
        holdout: float = 0.2,
        min_rows: int = 500,
    ) -> None:
        self.estimator = estimator
        self.embargo = embargo
        self.holdout = holdout
        self.min_rows = min_rows

    def fit(self, X: pd.DataFrame, y: pd.Series | np.ndarray) -> PerTickerModel:
        target = np.asarray(y, dtype=float)
        tickers = X["ticker"].to_numpy()
        self.own_: dict[str, Any] = {}
        self.holdout_mae_: dict[str, tuple[float, float]] = {}
        if len(np.unique(tickers)) == 1:
            # One ticker: its own model is the pooled one, fitted on the same rows, so it could
            # never do better; skipping the comparison saves three fits per walk-forward fold.
            self.pooled_ = clone(self.estimator).fit(X, target)
            return self
        position = X.groupby("ticker").cumcount().to_numpy()
        size = X.groupby("ticker")["ticker"].transform("size").to_numpy()
        cut = (size * (1 - self.holdout)).astype(int)
        # Labels span `embargo` rows: the rows just before the cut would see into the holdout.
        inner_train = position < cut - self.embargo
        inner_test = position >= cut
        pooled = clone(self.estimator).fit(X[inner_train], target[inner_train])
        pooled_error = np.abs(target - pooled.predict(X))
        # Small solves, one per ticker: BLAS threads only wait on each other (on a busy
        # 2-core machine they made 95 % of this fit's time), and the ticker's rows are taken
        # by position from one sort, not by a mask over every row per ticker.
        holdout = _standardized_ridge(self.estimator)
        numeric = X.drop(columns="ticker").to_numpy(dtype=float) if holdout else None
        with threadpool_limits(limits=1, user_api="blas"):
            for ticker, mine in _rows_by_ticker(tickers).items():
                if len(mine) < self.min_rows:
                    continue
                train = mine[inner_train[mine]]
                test = mine[inner_test[mine]]
                if holdout is not None and numeric is not None:
                    # The template's own fit, solved in numpy: sklearn's checks and the
                    # pipeline's frame handling cost 10x the solve, once per ticker and fold.
                    own_predicted = holdout(numeric[train], target[train], numeric[test])
                else:
                    own = clone(self.estimator).fit(X.iloc[train], target[train])
                    own_predicted = own.predict(X.iloc[test])
                own_mae = float(np.abs(target[test] - own_predicted).mean())
                pooled_mae = float(pooled_error[test].mean())
                self.holdout_mae_[str(ticker)] = (own_mae, pooled_mae)
                if own_mae < pooled_mae:
                    self.own_[str(ticker)] = clone(self.estimator).fit(X.iloc[mine], target[mine])
        self.pooled_ = clone(self.estimator).fit(X, target)
        return self

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        predicted = np.asarray(self.pooled_.predict(X), dtype=float)
        if not self.own_:
            return predicted
        with threadpool_limits(limits=1, user_api="blas"):
            for ticker, mine in _rows_by_ticker(X["ticker"].to_numpy()).items():
                model = self.own_.get(str(ticker))
                if model is not None:
                    predicted[mine] = model.predict(X.iloc[mine])
        return predicted


Holdout = Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray]


def _standardized_ridge(estimator: Any) -> Holdout | None:
    """For the ridge_per_ticker template (drop the ticker, StandardScaler, Ridge with an
    intercept), a function fitting it on (X, y) and predicting X_test in numpy, the same
    solution sklearn's Cholesky solver finds; None for any other template (fitted by sklearn).
    Only the holdout comparison uses it: a model that is kept is fitted by sklearn itself."""
    steps = [step for _, step in getattr(estimator, "steps", [])]
    if len(steps) != 3:
        return None
    drop, scaler, ridge = steps
    drops_ticker = (
        isinstance(drop, ColumnTransformer)
        and drop.remainder == "passthrough"
        and [(how, columns) for _, how, columns in drop.transformers] == [("drop", ["ticker"])]
    )
    plain_scaler = type(scaler) is StandardScaler and scaler.with_mean and scaler.with_std
    plain_ridge = (
        type(ridge) is Ridge
        and ridge.fit_intercept
        and not ridge.positive
        and ridge.solver in ("auto", "cholesky")
        and np.ndim(ridge.alpha) == 0
    )
    if not (drops_ticker and plain_scaler and plain_ridge):
        return None
    alpha = float(ridge.alpha)

    def fit_predict(train: np.ndarray, y: np.ndarray, test: np.ndarray) -> np.ndarray:
        mean = train.mean(axis=0)
        scale = train.std(axis=0)
        scale[scale < 10 * np.finfo(float).eps] = 1.0  # a constant column, as StandardScaler
        scaled = (train - mean) / scale
        centred = scaled - scaled.mean(axis=0)
        y_mean = y.mean()
        gram = centred.T @ centred
        gram[np.diag_indices_from(gram)] += alpha
        coef = np.linalg.solve(gram, centred.T @ (y - y_mean))
        intercept = y_mean - scaled.mean(axis=0) @ coef
        return ((test - mean) / scale) @ coef + intercept

    return fit_predict


def _rows_by_ticker(tickers: np.ndarray) -> dict[Any, np.ndarray]:
    """Each ticker's row positions, in their order: one sort instead of a mask per ticker."""
    codes, uniques = pd.factorize(tickers)
    order = np.argsort(codes, kind="stable")
    bounds = np.searchsorted(codes[order], np.arange(1, len(uniques)))
    return dict(zip(uniques, np.split(order, bounds), strict=True))
