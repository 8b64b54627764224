"""Forecast history with two writers at once, on each deployment's warehouse (Parquet files
embedded, ClickHouse's engine in full mode): every batch either published stays."""

from __future__ import annotations

import datetime as dt
import threading

import pandas as pd

from tickerpulse.forecasting.forecast import publish_forecasts
from tickerpulse.settings import Settings
from tickerpulse.stores.warehouse import open_warehouse

TICKERS = ("AAA", "BBB")
BATCHES = 12  # per writer


def batch(writer: int, number: int) -> pd.DataFrame:
    """One run's forecasts: made from its own session, for every ticker and both horizons."""
    made_from = dt.date(2026, 1, 1) + dt.timedelta(days=2 * number + writer)
    return pd.DataFrame(
        [
            {
                "ticker": ticker,
                "date": made_from,
                "target_date": made_from + dt.timedelta(days=horizon),
                "horizon": horizon,
                "last_close": 100.0,
                "forecast": 100.0 + writer,
                "model_version": str(writer),
            }
            for ticker in TICKERS
            for horizon in (1, 5)
        ]
    )


def test_two_writers_publishing_at_once_lose_no_forecast(store_settings: Settings) -> None:
    warehouse = open_warehouse(store_settings.warehouse_url)
    start = threading.Barrier(2)
    failures: list[BaseException] = []

    def publish(writer: int) -> None:
        start.wait()
        try:
            for number in range(BATCHES):
                publish_forecasts(warehouse, batch(writer, number))
        except BaseException as error:
            failures.append(error)

    writers = [threading.Thread(target=publish, args=(w,)) for w in (0, 1)]
    for writer in writers:
        writer.start()
    for writer in writers:
        writer.join(timeout=300)
    assert not failures
    history = warehouse.read("price_forecasts")
    # 2 writers x 12 batches x 2 tickers x 2 horizons, each a different (ticker, date, horizon)
    assert len(history) == 2 * BATCHES * len(TICKERS) * 2
    assert history.groupby("model_version").size().to_dict() == {"0": 48, "1": 48}


def test_a_rerun_for_the_same_session_replaces_its_forecasts(store_settings: Settings) -> None:
    warehouse = open_warehouse(store_settings.warehouse_url)
    publish_forecasts(warehouse, batch(0, 0))
    publish_forecasts(warehouse, batch(0, 1))
    rerun = batch(0, 1).assign(forecast=123.0)
    publish_forecasts(warehouse, rerun)
    history = warehouse.read("price_forecasts", "AAA")
    assert len(history) == 4  # two sessions x two horizons: the re-run replaced, not added
    latest = history[history["date"] == rerun["date"].iloc[0]]
    assert latest["forecast"].tolist() == [123.0, 123.0]
