"""A universe's raw prices as cleaning reads them: typed columns, no Python object a date.

ticker becomes a categorical whose categories are in order (sorting and comparing tickers
then costs integers, not text), date datetime64 (NaT where the stored text is no date), the
fields floats (a field with no value at all arrives as None from the driver).

Not read through ADBC's SQLite driver, though it fetches into Arrow 2x quicker: it links its
own copy of SQLite, and two copies in one process drop each other's POSIX locks on the same
file (sqlite.org/howtocorrupt.html, 2.2.1); a test saw "file is not a database".
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd


def as_panel(frame: pd.DataFrame, fields: Sequence[str]) -> pd.DataFrame:
    panel = pd.DataFrame(
        {
            "ticker": frame["ticker"].astype("category"),  # pandas sorts the categories
            "date": pd.to_datetime(frame["date"], format="ISO8601", errors="coerce"),
        }
    )
    for name in fields:
        panel[name] = frame[name].astype(float)
    return panel
