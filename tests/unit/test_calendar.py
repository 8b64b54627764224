import datetime as dt

import pandas as pd

from tickerpulse.calendar import last_completed_session, sessions_after, trading_days


def test_trading_days_skip_weekends_and_holidays() -> None:
    days = trading_days(dt.date(2024, 12, 20), dt.date(2025, 1, 2))
    assert dt.date(2024, 12, 25) not in days  # Christmas
    assert dt.date(2025, 1, 1) not in days  # New Year
    assert all(day.weekday() < 5 for day in days)
    assert days[0] == dt.date(2024, 12, 20) and days[-1] == dt.date(2025, 1, 2)


def test_a_fridays_session_counts_on_friday_evening_not_monday() -> None:
    friday_evening = pd.Timestamp("2024-06-07 21:30", tz="UTC")  # 17:30 in New York
    assert last_completed_session(friday_evening) == dt.date(2024, 6, 7)
    friday_midday = pd.Timestamp("2024-06-07 16:00", tz="UTC")
    assert last_completed_session(friday_midday) == dt.date(2024, 6, 6)
    sunday = pd.Timestamp("2024-06-09 12:00", tz="UTC")
    assert last_completed_session(sunday) == dt.date(2024, 6, 7)


def test_forecast_target_dates_skip_holidays() -> None:
    assert sessions_after(dt.date(2024, 12, 24), 1) == dt.date(2024, 12, 26)
    assert sessions_after(dt.date(2024, 12, 27), 5) == dt.date(2025, 1, 6)


def test_history_before_the_libraries_default_window_is_covered() -> None:
    days = trading_days(dt.date(1999, 1, 1), dt.date(1999, 1, 8))
    assert days[0] == dt.date(1999, 1, 4) and len(days) == 5
