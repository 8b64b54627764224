"""The analytical store: cleaned prices, features and forecasts, one partition per ticker.

Backends share the ClickHouse SQL below and differ only in where a table's rows come from
(`_source`) and how a query runs (`query`): Parquet files read by chDB when embedded, a
ClickHouse server in full mode.
"""

from __future__ import annotations

import datetime as dt
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import pandas as pd

TABLES = ("clean_prices", "price_features", "price_forecasts")
# What identifies a row within a ticker's partition: a merged row replaces the one it matches.
ROW_KEYS = {
    "clean_prices": ("date",),
    "price_features": ("date",),
    "price_forecasts": ("date", "horizon"),
}
# How many tickers a universe-wide step holds at once (read_by_tickers): at 500 tickers x 20
# years the whole price_features panel and its intermediate copies took a step past 2 GiB.
TICKERS_PER_READ = 100
# What a Dagster step or the CLI waits for one warehouse call (a large write, the engine held
# by another process); the API passes its own few seconds.
BATCH_TIMEOUT_SECONDS = 300.0


def ticker_list(tickers: Iterable[str]) -> tuple[str, dict[str, str]]:
    """`tickers` as the items of an SQL `IN (...)`, one bound parameter each (chDB passes an
    Array(String) parameter's items unquoted): the items' text and their parameters."""
    named = {f"ticker_{n}": name for n, name in enumerate(tickers)}
    return ", ".join(f"{{{key}:String}}" for key in named), named


class Warehouse(ABC):
    @abstractmethod
    def write_partition(self, table: str, ticker: str, frame: pd.DataFrame) -> None:
        """Replace every row of `ticker` in `table` with `frame` (idempotent)."""

    def write_partitions(
        self, table: str, panel: pd.DataFrame, spans: dict[str, tuple[int, int]]
    ) -> None:
        """write_partition for many tickers from one panel: `spans` gives each ticker's
        (first row, row count) in `panel`, whose columns are `ticker` and the table's (dates
        as datetime64 or dates). A ticker whose span is empty is left with no rows.
        Backends that can take the panel whole override this; here, one write per ticker."""
        _check_table(table)
        body = panel.drop(columns="ticker")
        if "date" in body and body["date"].dtype.kind == "M":
            body = body.assign(date=body["date"].dt.date)
        for ticker, (first, count) in spans.items():
            self.write_partition(
                table, ticker, body.iloc[first : first + count].reset_index(drop=True)
            )

    @abstractmethod
    def merge_partition(self, table: str, ticker: str, frame: pd.DataFrame) -> None:
        """Add `frame` to the rows of `ticker` in `table`, replacing those with the same
        ROW_KEYS and keeping every other. Atomic against other writers, in any process: two
        writers merging at once both keep their rows (no read-modify-write race)."""

    @abstractmethod
    def _source(self, table: str, ticker: str | None) -> str | None:
        """A FROM clause for the table (one ticker's rows if given); None when it has no rows."""

    @abstractmethod
    def query(self, sql: str, params: dict[str, Any] | None = None) -> pd.DataFrame:
        """Run ClickHouse SQL with {name:Type} parameters."""

    # Whether version() is local and quick (a file stat) rather than a query to a server:
    # callers on an event loop may then call it inline.
    version_is_cheap = False

    def version(self, table: str, ticker: str | None = None) -> str:
        """A token that changes whenever the table (or one ticker's rows) is rewritten."""
        return ""

    def read(
        self,
        table: str,
        ticker: str | None = None,
        start: dt.date | None = None,
        end: dt.date | None = None,
        columns: str = "*",
        date_objects: bool = True,
        tickers: Sequence[str] | None = None,
    ) -> pd.DataFrame:
        """Rows ordered by ticker and date; dates as datetime.date, or with `date_objects`
        False as datetime64 (a date object per row cost seconds at 2.5 M rows). `tickers`:
        only those tickers' rows."""
        _check_table(table)
        source = self._source(table, ticker)
        if source is None:
            return pd.DataFrame()
        conditions, params = ["1"], dict[str, Any]()
        if ticker is not None:
            conditions.append("ticker = {ticker:String}")
            params["ticker"] = ticker
        if tickers is not None:
            listed, named = ticker_list(tickers)
            conditions.append(f"ticker IN ({listed or 'NULL'})")
            params |= named
        if start is not None:
            conditions.append("date >= {start:Date}")
            params["start"] = start.isoformat()
        if end is not None:
            conditions.append("date <= {end:Date}")
            params["end"] = end.isoformat()
        sql = (
            f"SELECT {columns} FROM {source} WHERE {' AND '.join(conditions)} ORDER BY ticker, date"
        )
        rows = self.query(sql, params)
        return _dates_as_dates(rows) if date_objects else rows

    def read_by_tickers(
        self,
        table: str,
        columns: str = "*",
        date_objects: bool = True,
        per_read: int = TICKERS_PER_READ,
    ) -> Iterator[pd.DataFrame]:
        """The whole table, `per_read` tickers at a time, in ticker order: for steps whose
        work is per ticker, so a universe costs one read's memory, not the whole table's."""
        names = self.partitions(table)
        for first in range(0, len(names), per_read):
            yield self.read(
                table,
                columns=columns,
                date_objects=date_objects,
                tickers=names[first : first + per_read],
            )

    def partitions(self, table: str) -> list[str]:
        """The tickers `table` holds rows of, in order."""
        return list(self.summary(table)["ticker"])

    def summary(self, table: str) -> pd.DataFrame:
        """Rows and date range per ticker: what asset metadata and /v1/tickers show."""
        _check_table(table)
        source = self._source(table, None)
        if source is None:
            return pd.DataFrame(columns=["ticker", "rows", "first_date", "last_date"])
        sql = (
            "SELECT ticker, count() AS rows, min(date) AS first_date, max(date) AS last_date "
            f"FROM {source} GROUP BY ticker ORDER BY ticker"
        )
        return _dates_as_dates(self.query(sql))


def replace_rows(history: pd.DataFrame, batch: pd.DataFrame, keys: tuple[str, ...]) -> pd.DataFrame:
    """`history` with `batch` merged in: a batch row replaces the history row with its keys."""
    if history.empty:
        return batch.reset_index(drop=True)
    incoming = set(zip(*(batch[key] for key in keys), strict=True))
    kept = history[[row not in incoming for row in zip(*(history[k] for k in keys), strict=True)]]
    merged = pd.concat([kept[batch.columns], batch], ignore_index=True)
    return merged.sort_values(list(keys)).reset_index(drop=True)


def _check_table(table: str) -> None:
    if table not in TABLES:
        raise ValueError(f"unknown warehouse table {table!r}; tables are {', '.join(TABLES)}")


def _dates_as_dates(frame: pd.DataFrame) -> pd.DataFrame:
    for column in ("date", "first_date", "last_date", "target_date"):
        if column in frame and len(frame):
            frame[column] = pd.to_datetime(frame[column]).dt.date
    return frame
