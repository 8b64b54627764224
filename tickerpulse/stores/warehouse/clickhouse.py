"""Server warehouse: ClickHouse through clickhouse-connect, ReplacingMergeTree tables.

Rows carry a `_version` (write time in microseconds); reads use FINAL so a re-written key
shows once, with its newest values. Replacing a ticker inserts the new rows first, then
deletes that ticker's older versions, so a reader sees the old rows or the new, never none.
The same code runs in-process on chDB (`clickhouse+chdb://`), which is how the tests reach
a modern ClickHouse engine on a machine where no server can be installed.
"""

from __future__ import annotations

import threading
import time
from typing import Any
from urllib.parse import unquote, urlsplit

import numpy as np
import pandas as pd

from tickerpulse.stores.warehouse.base import Warehouse, _check_table

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
    def __init__(self, client: Any, database: str) -> None:
        self.client = client
        self.database = database
        self._known: set[str] = set()
        self._lock = threading.Lock()
        client.command(f"CREATE DATABASE IF NOT EXISTS {database}")

    def _table(self, table: str) -> str:
        return f"{self.database}.{table}"

    def _exists(self, table: str) -> bool:
        if table not in self._known:
            found = self.client.command(f"EXISTS TABLE {self._table(table)}")
            if int(found) == 1:
                self._known.add(table)
        return table in self._known

    def _create(self, table: str, frame: pd.DataFrame) -> None:
        columns = ", ".join(f"`{name}` {_column_type(name, frame[name])}" for name in frame.columns)
        order = ", ".join(ORDER_KEYS[table])
        self.client.command(
            f"CREATE TABLE IF NOT EXISTS {self._table(table)} ({columns}, `_version` UInt64) "
            f"ENGINE = ReplacingMergeTree(_version) ORDER BY ({order})"
        )
        self._known.add(table)

    def write_partition(self, table: str, ticker: str, frame: pd.DataFrame) -> None:
        _check_table(table)
        data = frame.assign(ticker=ticker)
        version = time.time_ns() // 1000
        with self._lock:  # one client connection: writes go one at a time
            if not self._exists(table):
                self._create(table, data)
            data = data.assign(_version=np.uint64(version))
            self.client.insert_df(self._table(table), data)
            self.client.command(
                f"DELETE FROM {self._table(table)} WHERE ticker = {{ticker:String}} "
                f"AND _version < {{version:UInt64}}",
                parameters={"ticker": ticker, "version": version},
            )

    def _source(self, table: str, ticker: str | None) -> str | None:
        if not self._exists(table):
            return None
        return f"(SELECT * EXCEPT (_version) FROM {self._table(table)} FINAL)"

    def query(self, sql: str, params: dict[str, Any] | None = None) -> pd.DataFrame:
        with self._lock:
            return self.client.query_df(sql, parameters=params or {})

    def version(self, table: str, ticker: str | None = None) -> str:
        if not self._exists(table):
            return ""
        where = "WHERE ticker = {ticker:String}" if ticker else ""
        found = self.query(
            f"SELECT max(_version) AS v FROM {self._table(table)} {where}", {"ticker": ticker}
        )
        return str(found["v"].iloc[0]) if len(found) else ""


def open_clickhouse(url: str) -> ClickHouseWarehouse:
    """clickhouse://user:password@host:8123/db, or clickhouse+chdb://memory/db in-process."""
    import clickhouse_connect

    parts = urlsplit(url)
    database = parts.path.strip("/") or "tickerpulse"
    if parts.scheme == "clickhouse+chdb":
        client = clickhouse_connect.get_client(dsn=f"chdb://{parts.hostname or 'memory'}")
    else:
        client = clickhouse_connect.get_client(
            host=parts.hostname or "localhost",
            port=parts.port or 8123,
            username=unquote(parts.username or "default"),
            password=unquote(parts.password or ""),
        )
    return ClickHouseWarehouse(client, database)
