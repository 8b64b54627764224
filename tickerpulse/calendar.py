"""Trading days from exchange_calendars: the only source of truth for which days have prices."""

from __future__ import annotations

import datetime as dt
from functools import lru_cache

import exchange_calendars as xcals
import pandas as pd

CALENDAR_START = "1990-01-02"  # exchange_calendars defaults to 20 years back from today


@lru_cache(maxsize=8)
def exchange_calendar(exchange: str = "XNYS") -> xcals.ExchangeCalendar:
    return xcals.get_calendar(exchange, start=CALENDAR_START)


def _clip(calendar: xcals.ExchangeCalendar, day: dt.date) -> pd.Timestamp:
    stamp = pd.Timestamp(day)
    return min(max(stamp, calendar.first_session), calendar.last_session)


def trading_days(start: dt.date, end: dt.date, exchange: str = "XNYS") -> list[dt.date]:
    """Sessions between start and end, both inclusive, clipped to the calendar's range."""
    calendar = exchange_calendar(exchange)
    if start > end:
        return []
    sessions = calendar.sessions_in_range(_clip(calendar, start), _clip(calendar, end))
    # One conversion of the whole index, not a Timestamp built per session: the synthetic
    # source asks for 27 years of sessions per ticker fetched, 500 times a backfill run.
    return list(sessions.date)


def last_completed_session(now: pd.Timestamp | None = None, exchange: str = "XNYS") -> dt.date:
    """The latest session whose close has passed: a Friday's prices exist on Friday evening."""
    calendar = exchange_calendar(exchange)
    now = now if now is not None else pd.Timestamp.now(tz="UTC")
    previous_close = calendar.previous_close(now.floor("min"))
    closes = calendar.closes
    return closes.index[closes == previous_close][0].date()


def sessions_after(day: dt.date, count: int, exchange: str = "XNYS") -> dt.date:
    """The session `count` trading days after `day` (the date a horizon-`count` forecast targets)."""
    calendar = exchange_calendar(exchange)
    stamp = pd.Timestamp(day)
    anchor = stamp if calendar.is_session(stamp) else calendar.date_to_session(stamp, "previous")
    return calendar.session_offset(anchor, count).date()


def closed_weekdays(start: dt.date, end: dt.date, exchange: str = "XNYS") -> list[dt.date]:
    """Weekdays without a session (holidays, closures): what a weekday schedule must skip."""
    sessions = set(trading_days(start, end, exchange))
    days = pd.bdate_range(start, end)
    return [day.date() for day in days if day.date() not in sessions]
