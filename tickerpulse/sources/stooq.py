"""Stooq's free daily CSV download (https://stooq.com/q/d/l/)."""

from __future__ import annotations

import datetime as dt

import httpx
import pandas as pd

from tickerpulse.errors import SourceError
from tickerpulse.sources.csv_file import parse_price_csv
from tickerpulse.sources.http import get_with_retries, make_client

URL = "https://stooq.com/q/d/l/"


def stooq_symbol(ticker: str) -> str:
    """Stooq names US listings `aapl.us`; symbols that already carry a market are kept."""
    symbol = ticker.lower()
    return symbol if "." in symbol or symbol.startswith("^") else f"{symbol}.us"


class StooqSource:
    name = "stooq"

    def __init__(self, transport: httpx.BaseTransport | None = None) -> None:
        self.client = make_client(transport)

    def fetch(self, ticker: str, start: dt.date, end: dt.date) -> pd.DataFrame:
        params = {
            "s": stooq_symbol(ticker),
            "d1": start.strftime("%Y%m%d"),
            "d2": end.strftime("%Y%m%d"),
            "i": "d",
        }
        response = get_with_retries(self.client, "stooq", URL, params)
        body = response.text.strip()
        if response.status_code != 200:
            raise SourceError(f"stooq answered HTTP {response.status_code} for {ticker}")
        if not body.lower().startswith("date"):
            # Stooq answers 200 with a one-line message for unknown symbols and quota limits.
            reason = body.splitlines()[0] if body else "an empty answer"
            raise SourceError(f"stooq has no prices for {ticker}: {reason}")
        return parse_price_csv(body, origin=f"stooq {params['s']}")
