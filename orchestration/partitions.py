"""Partitions: trading days of the exchange for raw prices, tickers for everything per ticker.

500 tickers x 20 years as one daily x ticker grid would be 2.5 M partitions; instead raw
prices are partitioned by trading day (about 5,000 for 20 years, whatever the universe) and
clean prices by ticker (one per ticker, a dynamic set). Each stays far below Dagster's
~100k comfort limit.
"""

import datetime as dt

import dagster as dg

from tickerpulse.calendar import closed_weekdays, exchange_calendar
from tickerpulse.settings import get_settings

EXCHANGE_TIMEZONE = "America/New_York"
TICKERS = "tickers"


def trading_day_partitions(start: dt.date, exchange: str = "XNYS") -> dg.DailyPartitionsDefinition:
    """Daily partitions minus weekends and the exchange's holidays.

    end_offset=1 makes today's partition exist from midnight, so the schedule can fill it
    right after the close: a Friday's session is ingested on Friday, not on Monday.
    """
    last = exchange_calendar(exchange).last_session.date()
    holidays = [
        dt.datetime.combine(day, dt.time()) for day in closed_weekdays(start, last, exchange)
    ]
    return dg.DailyPartitionsDefinition(
        start_date=start.isoformat(),
        timezone=EXCHANGE_TIMEZONE,
        end_offset=1,
        exclusions=["0 0 * * 6,0", *holidays],
    )


trading_days = trading_day_partitions(get_settings().history_start, get_settings().exchange)
tickers = dg.DynamicPartitionsDefinition(name=TICKERS)
