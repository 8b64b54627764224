"""Warehouse backends by URL: chdb:///path (embedded Parquet) or clickhouse:// (server)."""

from __future__ import annotations

from pathlib import Path

from tickerpulse.stores.warehouse.base import TABLES, Warehouse
from tickerpulse.stores.warehouse.parquet import ParquetWarehouse


def open_warehouse(url: str) -> Warehouse:
    scheme, _, rest = url.partition("://")
    if scheme == "chdb":
        return ParquetWarehouse(Path(rest))
    raise NotImplementedError(
        f"warehouse backend {scheme}:// is not built yet (see the market-data issue); "
        "use WAREHOUSE_URL=chdb:///path"
    )


__all__ = ["TABLES", "ParquetWarehouse", "Warehouse", "open_warehouse"]
