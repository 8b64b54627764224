"""OHLCV rules. Every input row ends up either valid or rejected with a reason: none vanish."""

from __future__ import annotations

import datetime as dt
import json
from collections import Counter
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from tickerpulse.calendar import trading_days

NUMERIC = ["open", "high", "low", "close", "volume"]
VALID_COLUMNS = ["date", "open", "high", "low", "close", "volume", "adj_close"]


@dataclass
class ValidationResult:
    valid: pd.DataFrame  # VALID_COLUMNS, typed, sorted by date, one row per date
    rejected: pd.DataFrame  # row_number, raw, reason
    reasons: Counter[str] = field(default_factory=Counter)

    @property
    def summary(self) -> str:
        if not self.reasons:
            return "none rejected"
        return "; ".join(f"{count} {reason}" for reason, count in self.reasons.most_common())


def _raw_text(row: pd.Series) -> str:
    values = {k: (None if pd.isna(v) else str(v)) for k, v in row.items() if k != "parse_error"}
    return json.dumps(values)


def validate_prices(frame: pd.DataFrame) -> ValidationResult:
    """Type, check and de-duplicate delivered rows; `frame` may hold text as read from a file."""
    frame = frame.reset_index(drop=True)
    if "row_number" not in frame:
        frame["row_number"] = np.arange(1, len(frame) + 1)
    reason = pd.Series(None, index=frame.index, dtype=object)
    if "parse_error" in frame:
        reason = frame["parse_error"].where(frame["parse_error"].notna(), None).astype(object)

    def flag(mask: pd.Series, text: str) -> None:
        reason.loc[mask & reason.isna()] = text

    dates = pd.to_datetime(frame["date"], errors="coerce", format="mixed")
    flag(dates.isna(), "unreadable date")
    typed = pd.DataFrame({"date": dates.dt.date})
    for column in [*NUMERIC, "adj_close"]:
        raw = frame[column] if column in frame else pd.Series(np.nan, index=frame.index)
        typed[column] = pd.to_numeric(raw, errors="coerce").astype(float)
    for column in NUMERIC:
        flag(~np.isfinite(typed[column]), f"missing or non-numeric {column}")
    flag((typed[["open", "high", "low", "close"]] <= 0).any(axis=1), "price <= 0")
    flag(typed["volume"] < 0, "negative volume")
    flag(typed["low"] > typed[["open", "close"]].min(axis=1), "low above open or close")
    flag(typed["high"] < typed[["open", "close"]].max(axis=1), "high below open or close")
    flag(typed["adj_close"] <= 0, "adjusted close <= 0")

    ok = reason.isna()
    # Later rows correct earlier ones (a vendor's re-sent day): keep the last of each date.
    duplicate = ok & typed["date"].duplicated(keep="last") & typed["date"].notna()
    flag(duplicate, "duplicate date (a later row for the same day was kept)")

    ok = reason.isna()
    valid = typed[ok].sort_values("date").reset_index(drop=True)[VALID_COLUMNS]
    bad = frame[~ok]
    rejected = pd.DataFrame(
        {
            "row_number": bad["row_number"].astype(int),
            "raw": bad.apply(_raw_text, axis=1) if len(bad) else pd.Series(dtype=object),
            "reason": reason[~ok],
        }
    ).reset_index(drop=True)
    return ValidationResult(valid, rejected, Counter(rejected["reason"]))


def ohlc_violations(prices: pd.DataFrame) -> pd.DataFrame:
    """Rows of a typed price frame that break OHLC consistency (used by asset checks)."""
    body_low = prices[["open", "close"]].min(axis=1)
    body_high = prices[["open", "close"]].max(axis=1)
    bad = (
        (prices["low"] > body_low)
        | (prices["high"] < body_high)
        | (prices[["open", "high", "low", "close"]] <= 0).any(axis=1)
        | (prices["volume"] < 0)
    )
    return prices[bad]


def missing_sessions(dates: pd.Series, exchange: str = "XNYS") -> list[dt.date]:
    """Trading days between the first and last date that have no row."""
    if dates.empty:
        return []
    present = set(pd.to_datetime(dates).dt.date)
    expected = trading_days(min(present), max(present), exchange)
    return [day for day in expected if day not in present]
