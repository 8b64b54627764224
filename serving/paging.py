"""Date windows and cursor paging for the per-day endpoints (prices, features), and symbol
cursors for the ticker list.

A cursor is the date of the first row of the next page, urlsafe-base64 encoded so clients
treat it as opaque. Rows are one per ticker and day, so resuming at that date (inclusive)
gives every row once: no gap, no duplicate, whatever the limit. Paging runs forward from
`start`; without `start` a request gets the latest `limit` rows and nothing follows them.

Rows are read and cached in buckets of a power of two rows (at least MIN_BUCKET) and the
page is sliced from them: 10,000 distinct limits share ten cache entries per window instead
of minting one each.
"""

from __future__ import annotations

import base64
import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Query
from fastapi.exceptions import RequestValidationError

from serving.caching import cached_rows
from serving.deps import Services
from tickerpulse.stores.warehouse import Warehouse

# (warehouse, ticker, start, end, limit) -> rows with a "date", in date order
DayReader = Callable[[Warehouse, str, dt.date | None, dt.date | None, int], list[dict[str, Any]]]


def encode_cursor(day: dt.date | str) -> str:
    # A date, or its ISO text when the cached rows went through JSON (Redis).
    return base64.urlsafe_b64encode(str(day).encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> dt.date:
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode("ascii")
        day: dt.date | None = dt.date.fromisoformat(text)
    except ValueError:  # bad base64, non-ASCII bytes or no date: all ValueErrors
        day = None
    # The round trip rejects other spellings of a date, so a cursor is one exact string.
    if day is None or encode_cursor(day) != cursor:
        raise _invalid(
            "cursor", "not a cursor: pass a next_cursor from a previous page unchanged", cursor
        )
    return day


def decode_symbol_cursor(cursor: str) -> str:
    """The symbol a ticker-list cursor resumes at (inclusive): the first of the next page."""
    from tickerpulse.errors import InvalidTicker
    from tickerpulse.symbols import require_symbol

    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode("ascii")
        symbol: str | None = require_symbol(text)
    except (ValueError, InvalidTicker):  # bad base64, non-ASCII bytes, not a symbol
        symbol = None
    if symbol is None or encode_cursor(symbol) != cursor:
        raise _invalid(
            "cursor",
            "not a cursor: pass the cursor of a previous page's next link unchanged",
            cursor,
        )
    return symbol


MAX_LIMIT = 10_000
MIN_BUCKET = 64  # fewer rows cost no less to read than this many


def bucket(rows: int) -> int:
    """The power of two at or above `rows` (at least MIN_BUCKET, at most what a limit needs)."""
    return min(max(MIN_BUCKET, 1 << (rows - 1).bit_length()), MAX_LIMIT + 1)


@dataclass(frozen=True)
class Window:
    """The rows one request asks for: days in [start, end], at most `limit` of them."""

    start: dt.date | None
    end: dt.date | None
    limit: int

    @property
    def fetch_limit(self) -> int:
        # One row past the page tells whether there is a next page, without a count query.
        return self.limit + 1 if self.start else self.limit

    @property
    def bucket(self) -> int:
        return bucket(self.fetch_limit)

    @property
    def key(self) -> str:
        return f"{self.start}:{self.end}:{self.bucket}"

    def page(self, rows: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], str | None]:
        """The page of rows read with `bucket` (or `fetch_limit`), and the cursor of the next
        (or None). From a start the page is the first rows; without one, the latest."""
        rows = rows[: self.fetch_limit] if self.start else rows[-self.limit :]
        if len(rows) <= self.limit:
            return rows, None
        return rows[: self.limit], encode_cursor(rows[self.limit]["date"])


async def date_window(  # async: no thread hop for a computation
    start: Annotated[dt.date | None, Query(description="first day, YYYY-MM-DD")] = None,
    end: Annotated[dt.date | None, Query(description="last day, YYYY-MM-DD")] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT, description="at most this many days")] = 1000,
    cursor: Annotated[
        str | None,
        Query(
            max_length=64,
            description="next_cursor of the previous page; the other parameters unchanged",
        ),
    ] = None,
) -> Window:
    if start and end and start > end:
        raise _invalid("start", f"must not be after end {end}", str(start))
    if cursor is not None:
        resume = decode_cursor(cursor)
        start = max(start, resume) if start else resume
    return Window(start, end, limit)


DateWindow = Annotated[Window, Depends(date_window)]


def read_page(
    services: Services, kind: str, table: str, ticker: str, window: Window, read: DayReader
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """One page of `table` through the cache: the response's paging fields, and its rows."""
    rows = cached_rows(
        services,
        kind,
        table,
        ticker,
        window.key,
        lambda: read(services.warehouse, ticker, window.start, window.end, window.bucket),
    )
    page, next_cursor = window.page(rows)
    fields = {
        "ticker": ticker,
        "start": window.start,
        "end": window.end,
        "count": len(page),
        "next_cursor": next_cursor,
    }
    return fields, page


def _invalid(parameter: str, message: str, given: str) -> RequestValidationError:
    return RequestValidationError([{"loc": ("query", parameter), "msg": message, "input": given}])
