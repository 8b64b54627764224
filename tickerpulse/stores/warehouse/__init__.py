"""Warehouse backends by URL: chdb:///path (embedded Parquet) or clickhouse:// (server)."""

from __future__ import annotations

from pathlib import Path

from tickerpulse.stores.warehouse.base import BATCH_TIMEOUT_SECONDS, TABLES, Warehouse
from tickerpulse.stores.warehouse.parquet import ParquetWarehouse


def open_warehouse(url: str, timeout_seconds: float = BATCH_TIMEOUT_SECONDS) -> Warehouse:
    """`timeout_seconds` bounds every wait of one call (the engine's lock, a connection, a
    query); past it the call raises WarehouseUnavailable. The API passes a few seconds."""
    scheme, _, rest = url.partition("://")
    if scheme == "chdb":
        return ParquetWarehouse(Path(rest), timeout_seconds)
    if scheme in ("clickhouse", "clickhouse+chdb"):
        from tickerpulse.stores.warehouse.clickhouse import open_clickhouse

        return open_clickhouse(url, timeout_seconds)
    raise ValueError(f"unknown warehouse URL scheme {scheme}://; use chdb:// or clickhouse://")


__all__ = ["TABLES", "ParquetWarehouse", "Warehouse", "open_warehouse"]
