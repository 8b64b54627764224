"""Point-in-time features for every ticker at once.

Every window looks backwards only, so a feature for day t uses prices up to t. The panel is
grouped by ticker and each feature is one vectorized pandas expression over all tickers.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from pandas.core.groupby import SeriesGroupBy

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


def _rolling(grouped: SeriesGroupBy, window: int, how: str) -> pd.Series:
    rolled = getattr(grouped.rolling(window, min_periods=window), how)()
    return rolled.reset_index(level=0, drop=True)


def _ewm(grouped: SeriesGroupBy, span: int) -> pd.Series:
    return (
        grouped.ewm(span=span, adjust=False, min_periods=span)
        .mean()
        .reset_index(level=0, drop=True)
    )


def compute_features(prices: pd.DataFrame) -> pd.DataFrame:
    """Features per (ticker, date) from a panel with ticker, date, open, high, low, close, volume."""
    panel = prices.sort_values(["ticker", "date"]).reset_index(drop=True)
    by_ticker = panel.groupby("ticker", sort=False)
    close = panel["close"]
    log_close = pd.Series(np.log(close), index=panel.index)
    log_by_ticker = log_close.groupby(panel["ticker"], sort=False)
    previous_close = by_ticker["close"].shift(1)
    out = panel[["ticker", "date", "close"]].copy()

    for window in RETURN_WINDOWS:
        out[f"ret_{window}"] = log_by_ticker.diff(window)
    daily = out["ret_1"].groupby(panel["ticker"], sort=False)
    out["ma_ratio_10"] = close / _rolling(by_ticker["close"], 10, "mean") - 1
    out["ma_ratio_50"] = close / _rolling(by_ticker["close"], 50, "mean") - 1
    ema_fast, ema_slow = _ewm(by_ticker["close"], 12), _ewm(by_ticker["close"], 26)
    out["ema_ratio_12_26"] = ema_fast / ema_slow - 1
    macd = (ema_fast - ema_slow) / close
    out["macd_hist"] = macd - _ewm(macd.groupby(panel["ticker"], sort=False), 9)

    change = by_ticker["close"].diff()
    gains = _rolling(change.clip(lower=0).groupby(panel["ticker"], sort=False), 14, "mean")
    losses = _rolling((-change).clip(lower=0).groupby(panel["ticker"], sort=False), 14, "mean")
    total = gains + losses
    out["rsi_14"] = (100 * gains / total).where(total > 0, 50.0)

    middle = _rolling(by_ticker["close"], 20, "mean")
    spread = _rolling(by_ticker["close"], 20, "std")
    out["bollinger_pct_b"] = ((close - (middle - 2 * spread)) / (4 * spread)).where(spread > 0, 0.5)

    true_range = pd.concat(
        [
            panel["high"] - panel["low"],
            (panel["high"] - previous_close).abs(),
            (panel["low"] - previous_close).abs(),
        ],
        axis=1,
    ).max(axis=1, skipna=False)
    out["atr_ratio_14"] = (
        _rolling(true_range.groupby(panel["ticker"], sort=False), 14, "mean") / close
    )

    for window in VOLATILITY_WINDOWS:
        out[f"volatility_{window}"] = _rolling(daily, window, "std")
    log_volume = pd.Series(np.log1p(panel["volume"].clip(lower=0)), index=panel.index)
    volume_by_ticker = log_volume.groupby(panel["ticker"], sort=False)
    volume_spread = _rolling(volume_by_ticker, 20, "std")
    out["volume_z_20"] = (
        (log_volume - _rolling(volume_by_ticker, 20, "mean")) / volume_spread
    ).where(volume_spread > 0, 0.0)
    out["overnight_gap"] = np.log(panel["open"] / previous_close)
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
