"""Server warehouse: ClickHouse through clickhouse-connect, ReplacingMergeTree tables.

Rows carry a `_version` (write time in microseconds); reads use FINAL so a re-written key
shows once, with its newest values. Replacing a ticker inserts the new rows first, then
deletes that ticker's older versions, so a reader sees the old rows or the new, never none.
The same code runs in-process on chDB (`clickhouse+chdb://`), which is how the tests and
`make up-full` reach a modern ClickHouse engine on a machine where no server can be installed.
chDB lets one process at a time hold a data directory: an on-disk chDB warehouse shared by the
API, Dagster runs and workers is handed between them (shared_chdb.py).
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import numpy as np
import pandas as pd

from tickerpulse.errors import WarehouseUnavailable
from tickerpulse.stores.warehouse.base import (
    BATCH_TIMEOUT_SECONDS,
    Warehouse,
    _check_table,
    ticker_list,
)

log = logging.getLogger(__name__)

ORDER_KEYS = {
    "clean_prices": ("ticker", "date"),
    "price_features": ("ticker", "date"),
    "price_forecasts": ("ticker", "horizon", "date"),
}


def _column_type(name: str, series: pd.Series) -> str:
    if name == "ticker":
        return "LowCardinality(String)"
    if name in ("date", "target_date"):
        return "Date"
    if pd.api.types.is_datetime64_any_dtype(series):
        return "DateTime64(6)"
    if pd.api.types.is_integer_dtype(series):
        return "Int64"
    if pd.api.types.is_float_dtype(series):
        return "Nullable(Float64)"
    return "String"


class ClickHouseWarehouse(Warehouse):
    def __init__(
        self,
        connect: Callable[[], contextlib.AbstractContextManager[Any]],
        database: str,
        timeout_seconds: float = BATCH_TIMEOUT_SECONDS,
        serialize: bool = True,
    ) -> None:
        # `connect` yields a clickhouse-connect client for one operation: the same long-lived
        # client for a server, a freshly opened engine for a shared chDB directory. It bounds
        # its own waits (the server's timeouts, the directory's lock).
        self._connect = connect
        self.database = database
        self.timeout_seconds = timeout_seconds
        self._known: set[str] = set()
        # One client at a time per process; a shared chDB directory serializes its own
        # operations (within the same bounded wait, so the two waits never add up).
        self._lock = threading.Lock() if serialize else None
        with self._client() as client:
            client.command(f"CREATE DATABASE IF NOT EXISTS {database}")

    @contextlib.contextmanager
    def _client(self) -> Iterator[Any]:
        from clickhouse_connect.driver.exceptions import OperationalError

        if self._lock is not None and not self._lock.acquire(timeout=self.timeout_seconds):
            raise WarehouseUnavailable(
                f"the warehouse client stayed busy for {self.timeout_seconds:g} s; try again"
            )
        try:
            with self._connect() as client:
                yield client
        except OperationalError as error:  # unreachable, timed out, the connection dropped
            raise unavailable(error) from error
        finally:
            if self._lock is not None:
                self._lock.release()

    def _table(self, table: str) -> str:
        return f"{self.database}.{table}"

    def _exists(self, table: str) -> bool:
        if table not in self._known:
            with self._client() as client:
                found = client.command(f"EXISTS TABLE {self._table(table)}")
            if int(found) == 1:
                self._known.add(table)
        return table in self._known

    def _create(self, client: Any, table: str, frame: pd.DataFrame) -> None:
        columns = ", ".join(f"`{name}` {_column_type(name, frame[name])}" for name in frame.columns)
        order = ", ".join(ORDER_KEYS[table])
        client.command(
            f"CREATE TABLE IF NOT EXISTS {self._table(table)} ({columns}, `_version` UInt64) "
            f"ENGINE = ReplacingMergeTree(_version) ORDER BY ({order})"
        )
        self._known.add(table)

    def write_partition(self, table: str, ticker: str, frame: pd.DataFrame) -> None:
        _check_table(table)
        data = frame.assign(ticker=ticker)
        version = time.time_ns() // 1000
        exists = self._exists(table)
        with self._client() as client:
            if not exists:
                self._create(client, table, data)
            data = data.assign(_version=np.uint64(version))
            client.insert_df(self._table(table), data)
            client.command(
                f"DELETE FROM {self._table(table)} WHERE ticker = {{ticker:String}} "
                f"AND _version < {{version:UInt64}}",
                parameters={"ticker": ticker, "version": version},
            )

    def write_partitions(
        self, table: str, panel: pd.DataFrame, spans: dict[str, tuple[int, int]]
    ) -> None:
        # One INSERT and one DELETE for every ticker of the panel. A DELETE is a mutation of
        # the table's parts, and one per ticker made cleaning 500 tickers on chDB take minutes
        # (each waits for its mutation, and each has more parts to mark than the last).
        _check_table(table)
        if not spans:
            return
        tickers = np.empty(len(panel), dtype=object)
        written = np.zeros(len(panel), dtype=bool)
        for ticker, (first, count) in spans.items():
            tickers[first : first + count] = ticker
            written[first : first + count] = True
        data = panel.drop(columns="ticker")[written].reset_index(drop=True)
        if "date" in data and data["date"].dtype.kind == "M":
            data["date"] = data["date"].dt.date  # as write_partition gets them: a Date column
        data.insert(len(data.columns), "ticker", tickers[written])
        version = time.time_ns() // 1000
        exists = self._exists(table)
        listed, named = ticker_list(spans)
        with self._client() as client:
            if not exists:
                self._create(client, table, data)
            if len(data):
                client.insert_df(self._table(table), data.assign(_version=np.uint64(version)))
            client.command(
                f"DELETE FROM {self._table(table)} WHERE ticker IN ({listed}) "
                f"AND _version < {{version:UInt64}}",
                parameters={**named, "version": version},
            )

    def merge_partition(self, table: str, ticker: str, frame: pd.DataFrame) -> None:
        # An insert only: ReplacingMergeTree keeps the newest `_version` of each ORDER BY key
        # (reads use FINAL), which is the merge; concurrent inserts never remove each other.
        _check_table(table)
        data = frame.assign(ticker=ticker)
        exists = self._exists(table)
        with self._client() as client:
            if not exists:
                self._create(client, table, data)
            data = data.assign(_version=np.uint64(time.time_ns() // 1000))
            client.insert_df(self._table(table), data)

    def _source(self, table: str, ticker: str | None) -> str | None:
        if not self._exists(table):
            return None
        return f"(SELECT * EXCEPT (_version) FROM {self._table(table)} FINAL)"

    def query(self, sql: str, params: dict[str, Any] | None = None) -> pd.DataFrame:
        with self._client() as client:
            return client.query_df(sql, parameters=params or {})

    def version(self, table: str, ticker: str | None = None) -> str:
        if not self._exists(table):
            return ""
        where = "WHERE ticker = {ticker:String}" if ticker else ""
        found = self.query(
            f"SELECT max(_version) AS v FROM {self._table(table)} {where}", {"ticker": ticker}
        )
        return str(found["v"].iloc[0]) if len(found) else ""


def unavailable(error: Exception) -> WarehouseUnavailable:
    # The driver's text names the server's address: the log gets it, the client a summary.
    log.warning("warehouse unavailable: %s", error)
    return WarehouseUnavailable(
        f"the warehouse did not answer in time or refused the connection "
        f"({type(error).__name__}); try again shortly"
    )


def open_clickhouse(
    url: str, timeout_seconds: float = BATCH_TIMEOUT_SECONDS
) -> ClickHouseWarehouse:
    """clickhouse://user:password@host:8123/db (a server); in-process on chDB:
    clickhouse+chdb://memory/db (one process's memory) or clickhouse+chdb:///abs/dir?database=db
    (a directory every process of the platform shares)."""
    import clickhouse_connect

    parts = urlsplit(url)
    if parts.scheme == "clickhouse+chdb" and not parts.hostname:
        from tickerpulse.stores.warehouse.shared_chdb import SharedChdbDirectory

        database = parse_qs(parts.query).get("database", ["tickerpulse"])[0]
        shared = SharedChdbDirectory(Path(unquote(parts.path)), wait_seconds=timeout_seconds)
        return ClickHouseWarehouse(shared.client, database, timeout_seconds, serialize=False)
    database = parts.path.strip("/") or "tickerpulse"
    if parts.scheme == "clickhouse+chdb":
        if parts.hostname != "memory":
            raise ValueError(
                f"WAREHOUSE_URL={url!r}: use clickhouse+chdb://memory/DB or "
                "clickhouse+chdb:///ABSOLUTE/DIR?database=DB"
            )
        client = clickhouse_connect.get_client(dsn=f"chdb://{parts.hostname}")
    else:
        from clickhouse_connect.driver.exceptions import OperationalError

        try:  # the client asks the server its version at once
            client = clickhouse_connect.get_client(
                host=parts.hostname or "localhost",
                port=parts.port or 8123,
                username=unquote(parts.username or "default"),
                password=unquote(parts.password or ""),
                # Its defaults wait 10 s to connect and 300 s for an answer.
                connect_timeout=timeout_seconds,
                send_receive_timeout=timeout_seconds,
            )
        except OperationalError as error:
            raise unavailable(error) from error
    return ClickHouseWarehouse(lambda: contextlib.nullcontext(client), database, timeout_seconds)
