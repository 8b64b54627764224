"""Embedded warehouse: one Parquet file per table and ticker, queried through chDB.

chDB locks a database directory to one process, and Dagster steps, the API and the worker
are separate processes. So nothing shares a chDB directory: files are written atomically
(temp file + rename) and each process queries them with its own in-memory chDB session.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import os
import tempfile
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from tickerpulse.errors import WarehouseUnavailable
from tickerpulse.stores.warehouse.base import (
    BATCH_TIMEOUT_SECONDS,
    ROW_KEYS,
    Warehouse,
    _check_table,
    _dates_as_dates,
    replace_rows,
)
from tickerpulse.symbols import require_symbol

# The tables read whole at universe size (features, checks, training): their files hold the
# table's plain columns, so pyarrow gives what chDB's SELECT gives.
WHOLE_TABLE_READS = ("clean_prices", "price_features")
_session_lock = threading.Lock()
_session: Any = None


def _chdb_session() -> Any:
    """One in-memory chDB session per process (chDB allows no second one); the caller holds
    `_session_lock`."""
    global _session
    if _session is None:
        from chdb import session

        _session = session.Session()
    return _session


class ParquetWarehouse(Warehouse):
    def __init__(self, root: Path, timeout_seconds: float = BATCH_TIMEOUT_SECONDS) -> None:
        self.root = root
        self.timeout_seconds = timeout_seconds

    def _path(self, table: str, ticker: str) -> Path:
        # Tickers arrive as Dagster partition keys and URL segments: only a symbol may
        # become a file name, so "../x" can never address a file outside the table.
        return self.root / table / f"{require_symbol(ticker)}.parquet"

    def write_partition(self, table: str, ticker: str, frame: pd.DataFrame) -> None:
        _check_table(table)
        target = self._path(table, ticker)
        target.parent.mkdir(parents=True, exist_ok=True)
        data = frame.assign(ticker=ticker)
        # One thread: a partition is small, and a pool per call (the default) cost more than
        # the conversion itself when clean_prices writes hundreds of them (cProfile).
        self._write_file(target, pa.Table.from_pandas(data, preserve_index=False, nthreads=1))

    def write_partitions(
        self, table: str, panel: pd.DataFrame, spans: dict[str, tuple[int, int]]
    ) -> None:
        # The panel becomes Arrow once; each ticker's file is a slice of it (no copy), with
        # the same columns and types as write_partition gives (dates as date32).
        _check_table(table)
        targets = {ticker: self._path(table, ticker) for ticker in spans}  # every key checked first
        body = pa.Table.from_pandas(panel.drop(columns="ticker"), preserve_index=False)
        if "date" in body.column_names and pa.types.is_timestamp(body.schema.field("date").type):
            body = body.set_column(
                body.schema.get_field_index("date"), "date", body["date"].cast(pa.date32())
            )
        for ticker, (first, count) in spans.items():
            targets[ticker].parent.mkdir(parents=True, exist_ok=True)
            ticker_column = pa.array([ticker] * count, pa.string())
            self._write_file(
                targets[ticker], body.slice(first, count).append_column("ticker", ticker_column)
            )
        del body
        _release_arrow_memory()

    def _write_file(self, target: Path, arrow: pa.Table) -> None:
        handle, temp = tempfile.mkstemp(dir=target.parent, suffix=".parquet.tmp")
        os.close(handle)
        try:
            pq.write_table(arrow, temp)
            os.replace(temp, target)  # readers see the old file or the new one, never half
        except BaseException:
            Path(temp).unlink(missing_ok=True)
            raise

    def merge_partition(self, table: str, ticker: str, frame: pd.DataFrame) -> None:
        # Read, merge and write under an exclusive lock on the partition: writers in other
        # processes (Dagster runs, the worker) wait for each other instead of each writing
        # back what it read before the other's rows were there.
        _check_table(table)
        target = self._path(table, ticker)
        target.parent.mkdir(parents=True, exist_ok=True)
        with _locked(target.parent / f".{target.stem}.lock"):
            history = self.read(table, ticker).drop(columns="ticker", errors="ignore")
            self.write_partition(table, ticker, replace_rows(history, frame, ROW_KEYS[table]))

    version_is_cheap = True  # a stat of the ticker's file

    def version(self, table: str, ticker: str | None = None) -> str:
        # A rename gives the file a new inode and mtime: caches keyed on it see every rewrite.
        paths = (
            [self._path(table, ticker)] if ticker else sorted((self.root / table).glob("*.parquet"))
        )
        stamps = []
        for path in paths:  # one stat each: this runs on every cached API read
            try:
                found = os.stat(path)
            except FileNotFoundError:
                continue
            stamps.append(f"{found.st_mtime_ns}:{found.st_ino}")
        return ",".join(stamps)

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
        """A table of WHOLE_TABLE_READS (every ticker or the `tickers` given, no date bounds,
        plain column names) is read from its files with pyarrow, in the order chDB's ORDER BY
        gives; anything else goes through chDB. chDB's result for all of price_features
        (551 MiB as a frame) took the process to 2.5 GiB; pyarrow's to 1.5 GiB."""
        names = [name.strip() for name in columns.split(",")]
        whole = (
            table in WHOLE_TABLE_READS
            and ticker is None
            and start is None
            and end is None
            and (columns.strip() == "*" or all(name.isidentifier() for name in names))
        )
        if not whole:
            return super().read(table, ticker, start, end, columns, date_objects, tickers)
        _check_table(table)
        if tickers is None:
            files = sorted((self.root / table).glob("*.parquet"), key=lambda path: path.stem)
        else:
            files = [self._path(table, name) for name in sorted(set(tickers))]
            files = [path for path in files if path.exists()]
        if not files:
            return pd.DataFrame()
        wanted = None if columns.strip() == "*" else list(dict.fromkeys(["ticker", "date", *names]))
        arrow = ds.dataset([str(path) for path in files], format="parquet").to_table(columns=wanted)
        rows = arrow.to_pandas(date_as_object=False, self_destruct=True, split_blocks=True)
        del arrow
        _release_arrow_memory()
        rows["date"] = rows["date"].astype("datetime64[s]")  # as chDB gives a Date
        names_by_row, dates = rows["ticker"].to_numpy(dtype=object), rows["date"].to_numpy()
        same = names_by_row[1:] == names_by_row[:-1]
        later = names_by_row[1:] > names_by_row[:-1]
        if not np.all(later | (same & (dates[1:] >= dates[:-1]))):
            rows = rows.sort_values(["ticker", "date"], kind="stable", ignore_index=True)
        if wanted is not None:
            rows = rows[names]
        return _dates_as_dates(rows) if date_objects else rows

    def partitions(self, table: str) -> list[str]:
        # The file names: no query, and no chDB session started for it.
        _check_table(table)
        return sorted(path.stem for path in (self.root / table).glob("*.parquet"))

    def _source(self, table: str, ticker: str | None) -> str | None:
        if ticker is not None:
            path = self._path(table, ticker)
            return f"file({_quoted(path)}, Parquet)" if path.exists() else None
        folder = self.root / table
        if not folder.is_dir() or not any(folder.glob("*.parquet")):
            return None
        return f"file({_quoted(folder / '*.parquet')}, Parquet)"

    def query(self, sql: str, params: dict[str, Any] | None = None) -> pd.DataFrame:
        # A chDB session runs one query at a time: a query waits its turn, but not forever.
        if not _session_lock.acquire(timeout=self.timeout_seconds):
            raise WarehouseUnavailable(
                f"the warehouse's engine stayed busy with another query for "
                f"{self.timeout_seconds:g} s; try again shortly"
            )
        try:
            result = _chdb_session().query(sql, "DataFrame", params=params or {})
        finally:
            _session_lock.release()
        return result if isinstance(result, pd.DataFrame) else pd.DataFrame()


def _release_arrow_memory() -> None:
    """Arrow's allocator (mimalloc) keeps what a read or write freed for its next one: at 500
    tickers a step that read price_features whole kept about half a gigabyte of it after."""
    pa.default_memory_pool().release_unused()


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    """An exclusive lock on `path` across processes (flock: freed when its holder dies)."""
    with open(path, "a+b") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _quoted(path: Path) -> str:
    """A path as a ClickHouse string literal."""
    return "'" + str(path).replace("\\", "\\\\").replace("'", "\\'") + "'"
