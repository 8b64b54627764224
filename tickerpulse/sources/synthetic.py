"""Offline, seeded prices that look like a stock's: fat tails, volatility clusters, real sessions.

Returns follow a GARCH(1,1) with Student-t (df=4) innovations, the textbook model of daily
equity returns; OHLC bars are built around the close so that low <= open, close <= high.
"""

from __future__ import annotations

import datetime as dt
import hashlib

import numpy as np
import pandas as pd

from tickerpulse.calendar import trading_days
from tickerpulse.sources.base import with_row_numbers

_OMEGA, _ALPHA, _BETA = 2e-6, 0.08, 0.90  # long-run daily vol ~ 1.4 %
_T_DF = 4.0
_ANCHOR = dt.date(2000, 1, 3)  # the series starts here so any window is a slice of one history


class SyntheticSource:
    name = "synthetic"

    def __init__(self, seed: int = 7, exchange: str = "XNYS") -> None:
        self.seed = seed
        self.exchange = exchange

    def _streams(self, ticker: str, count: int) -> list[np.random.Generator]:
        """Independent streams per quantity, so a longer window extends, never reshuffles, a series."""
        digest = hashlib.sha256(f"{self.seed}:{ticker}".encode()).digest()
        root = np.random.SeedSequence(int.from_bytes(digest[:8], "little"))
        return [np.random.default_rng(child) for child in root.spawn(count)]

    def fetch(self, ticker: str, start: dt.date, end: dt.date) -> pd.DataFrame:
        days = trading_days(_ANCHOR, end, self.exchange)
        constants, shock_rng, open_rng, high_rng, low_rng, volume_rng = self._streams(ticker, 6)
        n = len(days)
        shocks = shock_rng.standard_t(_T_DF, n) / np.sqrt(_T_DF / (_T_DF - 2))
        variance = np.empty(n)
        returns = np.empty(n)
        variance[0] = _OMEGA / (1 - _ALPHA - _BETA)
        drift, first_close = constants.uniform(0.0, 0.0003), constants.uniform(20, 400)
        for i in range(n):  # the recursion is inherently sequential
            if i:
                variance[i] = _OMEGA + _ALPHA * returns[i - 1] ** 2 + _BETA * variance[i - 1]
            returns[i] = drift + np.sqrt(variance[i]) * shocks[i]
        close = first_close * np.exp(np.cumsum(returns))
        previous_close = np.concatenate([[close[0]], close[:-1]])
        vol = np.sqrt(variance)
        open_ = previous_close * np.exp(open_rng.normal(0, 0.3, n) * vol)
        high = np.maximum(open_, close) * np.exp(np.abs(high_rng.normal(0, 0.6, n)) * vol)
        low = np.minimum(open_, close) * np.exp(-np.abs(low_rng.normal(0, 0.6, n)) * vol)
        volume = np.round(volume_rng.lognormal(14, 0.3, n) * (1 + 25 * np.abs(returns)))
        frame = pd.DataFrame(
            {
                "date": days,
                "open": open_.round(4),
                "high": high.round(4),
                "low": low.round(4),
                "close": close.round(4),
                "volume": volume,
            }
        )
        # Rounding can nudge a bound past the body by 0.0001: keep the bar consistent.
        frame["high"] = frame[["open", "high", "close"]].max(axis=1)
        frame["low"] = frame[["open", "low", "close"]].min(axis=1)
        in_window = (frame["date"] >= start) & (frame["date"] <= end)
        return with_row_numbers(frame[in_window])
