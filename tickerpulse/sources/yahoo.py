"""Yahoo Finance's chart API (v8), the endpoint behind its web charts."""

from __future__ import annotations

import datetime as dt
from typing import Any

import httpx
import pandas as pd

from tickerpulse.errors import SourceError
from tickerpulse.sources.base import with_row_numbers
from tickerpulse.sources.http import get_with_retries, make_client

URL = "https://query2.finance.yahoo.com/v8/finance/chart/{symbol}"


def _epoch(day: dt.date) -> str:
    return str(int(dt.datetime.combine(day, dt.time(), tzinfo=dt.UTC).timestamp()))


class YahooSource:
    name = "yahoo"

    def __init__(self, transport: httpx.BaseTransport | None = None) -> None:
        self.client = make_client(transport)

    def fetch(self, ticker: str, start: dt.date, end: dt.date) -> pd.DataFrame:
        params = {
            "period1": _epoch(start),
            "period2": _epoch(end + dt.timedelta(days=1)),
            "interval": "1d",
            "events": "div,split",
            "includeAdjustedClose": "true",
        }
        response = get_with_retries(self.client, "yahoo", URL.format(symbol=ticker), params)
        try:
            chart = response.json()["chart"]
        except (ValueError, KeyError) as error:
            raise SourceError(
                f"yahoo answered HTTP {response.status_code} without a chart for {ticker}"
            ) from error
        if chart.get("error") or not chart.get("result"):
            detail = (chart.get("error") or {}).get("description", "no result")
            raise SourceError(f"yahoo has no prices for {ticker}: {detail}")
        return _bars(chart["result"][0])


def _bars(result: dict[str, Any]) -> pd.DataFrame:
    timestamps = result.get("timestamp") or []
    quote = result["indicators"]["quote"][0]
    offset = int(result.get("meta", {}).get("gmtoffset", 0))
    # Yahoo stamps a bar at the session's open in UTC; the exchange's local date is the day.
    dates = pd.to_datetime([t + offset for t in timestamps], unit="s").date
    frame = pd.DataFrame(
        {
            "date": dates,
            "open": quote.get("open"),
            "high": quote.get("high"),
            "low": quote.get("low"),
            "close": quote.get("close"),
            "volume": quote.get("volume"),
        }
    )
    adjusted = result["indicators"].get("adjclose")
    if adjusted:
        frame["adj_close"] = adjusted[0].get("adjclose")
    return with_row_numbers(frame)
