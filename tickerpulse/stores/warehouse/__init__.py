"""Warehouse backends by URL: chdb:///path (embedded Parquet) or clickhouse:// (server)."""

from __future__ import annotations

from pathlib import Path

from tickerpulse.stores.warehouse.base import TABLES, Warehouse
from tickerpulse.stores.warehouse.parquet import ParquetWarehouse


def open_warehouse(url: str) -> Warehouse:
    scheme, _, rest = url.partition("://")
    if scheme == "chdb":
        return ParquetWarehouse(Path(rest))
    if scheme in ("clickhouse", "clickhouse+chdb"):
        from tickerpulse.stores.warehouse.clickhouse import open_clickhouse

        return open_clickhouse(url)
    raise ValueError(f"unknown warehouse URL scheme {scheme}://; use chdb:// or clickhouse://")


__all__ = ["TABLES", "ParquetWarehouse", "Warehouse", "open_warehouse"]
