"""Read models the API serves: tickers with their coverage, price and feature ranges, forecasts."""

from __future__ import annotations

import datetime as dt
from typing import Any, cast

import numpy as np
import pandas as pd

from tickerpulse.errors import UnknownTicker
from tickerpulse.features import FEATURES, RETURN_WINDOWS, VOLATILITY_WINDOWS
from tickerpulse.forecasting.forecast import forecast_record
from tickerpulse.stores.operational import OperationalStore
from tickerpulse.stores.warehouse import Warehouse
from tickerpulse.symbols import normalize_ticker


def requested_symbol(text: str) -> str:
    """A requested ticker, normalized; text that cannot be a symbol is an unknown ticker."""
    try:
        return normalize_ticker(text)
    except ValueError:
        raise unknown_ticker(text[:40]) from None


def unknown_ticker(symbol: str) -> UnknownTicker:
    return UnknownTicker(f"no ticker {symbol!r}: see /v1/tickers for the universe")


def known_ticker(store: OperationalStore, text: str) -> str:
    """The normalized symbol of an active ticker; anything else is an unknown ticker."""
    symbol = requested_symbol(text)
    if store.ticker(symbol) is None:
        raise unknown_ticker(symbol)
    return symbol


def _none_if_missing(value: Any) -> Any:
    return None if pd.isna(value) else value


def list_tickers(store: OperationalStore, warehouse: Warehouse) -> list[dict[str, Any]]:
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


def _day_range(
    warehouse: Warehouse,
    table: str,
    ticker: str,
    start: dt.date | None,
    end: dt.date | None,
    limit: int,
    columns: str = "*",
) -> pd.DataFrame:
    """Rows in [start, end], from start on; with no start, the latest `limit` rows."""
    frame = warehouse.read(table, ticker, start, end, columns=columns)
    if frame.empty:
        return frame
    return frame.head(limit) if start else frame.tail(limit)


def price_range(
    warehouse: Warehouse, ticker: str, start: dt.date | None, end: dt.date | None, limit: int
) -> list[dict[str, Any]]:
    """Bars in [start, end]; with no start, the latest `limit` bars."""
    frame = _day_range(
        warehouse, "clean_prices", ticker, start, end, limit, "date, open, high, low, close, volume"
    )
    if frame.empty:
        return []
    return cast(
        list[dict[str, Any]], frame.drop(columns="ticker", errors="ignore").to_dict("records")
    )


FEATURE_DESCRIPTIONS = {
    **{f"ret_{w}": f"log return over the last {w} sessions" for w in RETURN_WINDOWS},
    "ma_ratio_10": "close / 10-day simple moving average - 1",
    "ma_ratio_50": "close / 50-day simple moving average - 1",
    "ema_ratio_12_26": "12-day EMA / 26-day EMA of the close - 1",
    "macd_hist": "MACD (12-day minus 26-day EMA, over the close) minus its 9-day EMA",
    "rsi_14": "14-day relative strength index, 0-100 (50 when the price did not move)",
    "bollinger_pct_b": "close within the 20-day 2-sigma Bollinger bands: 0 lower, 1 upper",
    "atr_ratio_14": "14-day average true range / close",
    **{
        f"volatility_{w}": f"standard deviation of daily log returns over {w} sessions"
        for w in VOLATILITY_WINDOWS
    },
    "volume_z_20": "z-score of log(1 + volume) against its last 20 sessions",
    "overnight_gap": "log(open / previous close)",
    "day_of_week": "0 = Monday ... 4 = Friday",
    "month": "1-12",
}


def feature_catalog() -> list[dict[str, str]]:
    """The features models use, in their column order, each with what it measures."""
    return [{"name": name, "description": FEATURE_DESCRIPTIONS.get(name, "")} for name in FEATURES]


def feature_range(
    warehouse: Warehouse, ticker: str, start: dt.date | None, end: dt.date | None, limit: int
) -> list[dict[str, Any]]:
    """Feature rows in [start, end] like price_range; warm-up NaN (and any inf) as None."""
    frame = _day_range(warehouse, "price_features", ticker, start, end, limit)
    if frame.empty:
        return []
    # Every feature, even one added after this table was written (it reads as missing).
    values = frame.reindex(columns=FEATURES).astype(float)
    values = values.where(np.isfinite(values))
    records = values.astype(object).where(values.notna(), None).to_dict("records")
    return [
        {"date": day, "close": float(close), "values": row}
        for day, close, row in zip(frame["date"], frame["close"], records, strict=True)
    ]


def latest_forecasts(warehouse: Warehouse, ticker: str) -> list[dict[str, Any]]:
    frame = warehouse.read("price_forecasts", ticker)
    if frame.empty:
        return []
    latest = frame.sort_values("created_at").groupby("horizon").tail(1).sort_values("horizon")
    return [forecast_record(row) for _, row in latest.iterrows()]
