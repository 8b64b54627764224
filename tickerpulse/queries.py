"""Read models the API serves: tickers with their coverage, price ranges, latest forecasts."""

from __future__ import annotations

import datetime as dt
from typing import Any, cast

import pandas as pd

from tickerpulse.errors import UnknownTicker
from tickerpulse.forecasting.forecast import forecast_record
from tickerpulse.stores.raw import RawStore
from tickerpulse.stores.warehouse import Warehouse
from tickerpulse.symbols import normalize_ticker


def known_ticker(store: RawStore, text: str) -> str:
    """The normalized symbol of an active ticker; anything else is an unknown ticker."""
    try:
        symbol = normalize_ticker(text)
    except ValueError:
        raise UnknownTicker(f"no ticker {text[:40]!r}: see /v1/tickers for the universe") from None
    if store.ticker(symbol) is None:
        raise UnknownTicker(f"no ticker {symbol!r}: see /v1/tickers for the universe")
    return symbol


def _none_if_missing(value: Any) -> Any:
    return None if pd.isna(value) else value


def list_tickers(store: RawStore, warehouse: Warehouse) -> list[dict[str, Any]]:
    coverage = warehouse.summary("clean_prices").set_index("ticker")
    out = []
    for row in store.list_tickers():
        stats = coverage.loc[row["symbol"]] if row["symbol"] in coverage.index else None
        out.append(
            {
                "symbol": row["symbol"],
                "name": row["name"],
                "source": row["source"],
                "rows": int(stats["rows"]) if stats is not None else 0,
                "first_date": _none_if_missing(stats["first_date"]) if stats is not None else None,
                "last_date": _none_if_missing(stats["last_date"]) if stats is not None else None,
            }
        )
    return out


def price_range(
    warehouse: Warehouse, ticker: str, start: dt.date | None, end: dt.date | None, limit: int
) -> list[dict[str, Any]]:
    """Bars in [start, end]; with no start, the latest `limit` bars."""
    frame = warehouse.read(
        "clean_prices", ticker, start, end, columns="date, open, high, low, close, volume"
    )
    if frame.empty:
        return []
    frame = frame.head(limit) if start else frame.tail(limit)
    return cast(
        list[dict[str, Any]], frame.drop(columns="ticker", errors="ignore").to_dict("records")
    )


def latest_forecasts(warehouse: Warehouse, ticker: str) -> list[dict[str, Any]]:
    frame = warehouse.read("price_forecasts", ticker)
    if frame.empty:
        return []
    latest = frame.sort_values("created_at").groupby("horizon").tail(1).sort_values("horizon")
    return [forecast_record(row) for _, row in latest.iterrows()]
