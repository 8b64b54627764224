"""The interface every price source implements, and the columns they all deliver."""

from __future__ import annotations

import datetime as dt
from typing import Protocol

import pandas as pd

PRICE_COLUMNS = ["date", "open", "high", "low", "close", "volume", "adj_close"]
REQUIRED_COLUMNS = ["date", "open", "high", "low", "close", "volume"]


class PriceSource(Protocol):
    """Daily bars for one ticker; rows are as delivered, validation happens in quality."""

    name: str

    def fetch(self, ticker: str, start: dt.date, end: dt.date) -> pd.DataFrame:
        """Columns PRICE_COLUMNS (adj_close may be missing) plus `row_number`."""
        ...


def with_row_numbers(frame: pd.DataFrame, first: int = 1) -> pd.DataFrame:
    """Number rows as delivered, so a rejected row can be traced back to its line."""
    frame = frame.reset_index(drop=True)
    frame["row_number"] = range(first, first + len(frame))
    return frame
