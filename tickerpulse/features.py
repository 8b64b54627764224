"""Point-in-time features for every ticker at once.

Every window looks backwards only, so a feature for day t uses prices up to t. The panel is
laid out ticker after ticker in one flat array, with a gap between tickers, so each window is
one pass of pandas' C loops over all tickers at once: no per-ticker Python and no group
bookkeeping (grouped rolling spent half its time rebuilding indexes).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

RETURN_WINDOWS = (1, 5, 10, 20, 60)
VOLATILITY_WINDOWS = (5, 20, 60)
FEATURES = [
    *(f"ret_{w}" for w in RETURN_WINDOWS),
    "ma_ratio_10",
    "ma_ratio_50",
    "ema_ratio_12_26",
    "macd_hist",
    "rsi_14",
    "bollinger_pct_b",
    "atr_ratio_14",
    *(f"volatility_{w}" for w in VOLATILITY_WINDOWS),
    "volume_z_20",
    "overnight_gap",
    "day_of_week",
    "month",
]
# Volatility scales interval widths; it must exist for every row a model sees.
SCALE_FEATURE = "volatility_20"


# The longest window or shift: a ticker with no more rows than this has no complete feature
# row yet (it is warming up).
LONGEST_WINDOW = max(*RETURN_WINDOWS, *VOLATILITY_WINDOWS, 50)
# NaN rows after each ticker's history, at least as long as the longest window or shift, so
# a window laid over the flat array never reaches from one ticker into the next.
_GAP = LONGEST_WINDOW


class ByTicker:
    """Window operations per ticker on a panel sorted by ticker, then date.

    Each ticker's history is one column of a matrix (row k = its k-th session), followed by
    `_GAP` NaN rows. Rolling windows and shifts run once over the flattened matrix in pandas'
    C loops: with min_periods = window, any window touching the gap is NaN, exactly as a
    per-ticker window at the start of the history would be.
    """

    def __init__(self, tickers: pd.Series) -> None:
        codes, uniques = pd.factorize(tickers, sort=False)
        starts = np.r_[0, np.flatnonzero(np.diff(codes)) + 1]
        row = np.arange(len(codes)) - starts[codes]
        self.rows = (int(row.max()) + 1 if len(codes) else 0) + _GAP
        self.columns = len(uniques)
        self.flat_index = codes * self.rows + row

    def _flat(self, values: pd.Series | np.ndarray) -> np.ndarray:
        flat = np.full(self.rows * self.columns, np.nan)
        flat[self.flat_index] = np.asarray(values, dtype=float)
        return flat

    def rolling(
        self,
        values: pd.Series | np.ndarray,
        window: int,
        how: str,
        min_periods: int | None = None,
        **options: int,
    ) -> np.ndarray:
        """`min_periods` below `window` still never reaches the ticker before: the gap
        between them is at least `window` NaN rows, which a window skips (window <= _GAP)."""
        if window > _GAP:
            raise ValueError(f"a window of {window} would reach across the {_GAP}-row gap")
        minimum = window if min_periods is None else min_periods
        rolled = getattr(pd.Series(self._flat(values)).rolling(window, min_periods=minimum), how)
        return rolled(**options).to_numpy()[self.flat_index]

    def shift(self, values: pd.Series | np.ndarray, periods: int = 1) -> np.ndarray:
        # The first ticker reaches back to negative indexes: the last gap, NaN too.
        return self._flat(values)[self.flat_index - periods]

    def ewm(self, values: pd.Series | np.ndarray, span: int) -> np.ndarray:
        # An average with infinite memory would carry across the gap: one column per ticker.
        wide = pd.DataFrame(self._flat(values).reshape(self.columns, self.rows).T)
        smoothed = wide.ewm(span=span, adjust=False, min_periods=span).mean()
        return smoothed.to_numpy().T.ravel()[self.flat_index]

    def wilder(self, values: pd.Series | np.ndarray, window: int) -> np.ndarray:
        """Wilder's smoothing (New Concepts in Technical Trading Systems, 1978), as his RSI
        and ATR use it: the first value is the mean of the first `window`, then
        average = (previous * (window - 1) + value) / window."""
        wide = pd.DataFrame(self._flat(values).reshape(self.columns, self.rows).T)
        first_mean = wide.rolling(window, min_periods=window).mean()
        started = first_mean.notna().cummax()
        seed = started & ~started.shift(1, fill_value=False)
        seeded = wide.where(started).mask(seed, first_mean)
        smoothed = seeded.ewm(alpha=1 / window, adjust=False).mean()
        return smoothed.to_numpy().T.ravel()[self.flat_index]


def compute_features(prices: pd.DataFrame) -> pd.DataFrame:
    """Features per (ticker, date) from a panel with ticker, date, open, high, low, close, volume."""
    panel = prices.sort_values(["ticker", "date"]).reset_index(drop=True)
    by = ByTicker(panel["ticker"])
    close = panel["close"].to_numpy(dtype=float)
    log_close = np.log(close)
    previous_close = by.shift(close)
    out = panel[["ticker", "date", "close"]].copy()

    for window in RETURN_WINDOWS:
        out[f"ret_{window}"] = log_close - by.shift(log_close, window)
    daily = out["ret_1"].to_numpy()
    out["ma_ratio_10"] = close / by.rolling(close, 10, "mean") - 1
    out["ma_ratio_50"] = close / by.rolling(close, 50, "mean") - 1
    ema_fast, ema_slow = by.ewm(close, 12), by.ewm(close, 26)
    out["ema_ratio_12_26"] = ema_fast / ema_slow - 1
    macd = (ema_fast - ema_slow) / close
    out["macd_hist"] = macd - by.ewm(macd, 9)

    change = close - previous_close
    gains = by.wilder(np.clip(change, 0, None), 14)
    losses = by.wilder(np.clip(-change, 0, None), 14)
    total = gains + losses
    with np.errstate(invalid="ignore", divide="ignore"):
        out["rsi_14"] = np.where(
            total > 0, 100 * gains / total, np.where(np.isnan(total), np.nan, 50.0)
        )

        middle = by.rolling(close, 20, "mean")
        # Bollinger's bands use the population standard deviation.
        spread = by.rolling(close, 20, "std", ddof=0)
        pct_b = (close - (middle - 2 * spread)) / (4 * spread)
        out["bollinger_pct_b"] = np.where(
            spread > 0, pct_b, np.where(np.isnan(spread), np.nan, 0.5)
        )

        high, low = panel["high"].to_numpy(dtype=float), panel["low"].to_numpy(dtype=float)
        true_range = np.maximum.reduce(
            [high - low, np.abs(high - previous_close), np.abs(low - previous_close)]
        )  # NaN on each ticker's first day, as it has no previous close
        out["atr_ratio_14"] = by.wilder(true_range, 14) / close

        for window in VOLATILITY_WINDOWS:
            out[f"volatility_{window}"] = by.rolling(daily, window, "std")
        log_volume = np.log1p(panel["volume"].clip(lower=0).to_numpy(dtype=float))
        volume_spread = by.rolling(log_volume, 20, "std")
        volume_z = (log_volume - by.rolling(log_volume, 20, "mean")) / volume_spread
        out["volume_z_20"] = np.where(
            volume_spread > 0, volume_z, np.where(np.isnan(volume_spread), np.nan, 0.0)
        )
        out["overnight_gap"] = np.log(panel["open"].to_numpy(dtype=float) / previous_close)
    stamps = pd.to_datetime(panel["date"])
    out["day_of_week"] = stamps.dt.dayofweek.astype(float)
    out["month"] = stamps.dt.month.astype(float)
    return out


def add_targets(features: pd.DataFrame, horizon: int) -> pd.DataFrame:
    """The label: log return from t to t+h sessions, and the price it implies (NaN at the end)."""
    frame = features.copy()
    future_close = frame.groupby("ticker", sort=False)["close"].shift(-horizon)
    frame["target"] = np.log(future_close / frame["close"])
    frame["future_close"] = future_close
    return frame


def latest_rows(features: pd.DataFrame) -> pd.DataFrame:
    """Each ticker's last row: what a forecast is made from."""
    ordered = features.sort_values(["ticker", "date"])
    return ordered.groupby("ticker", sort=False).tail(1).reset_index(drop=True)
