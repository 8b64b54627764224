"""The SQLite upsert's fast path (one executemany of tuples) stores exactly what SQLAlchemy's
own parameter processing stores, and still upserts."""

import datetime as dt
import sqlite3
from pathlib import Path

import numpy as np
import pandas as pd
import sqlalchemy as sa

from tickerpulse.stores.raw import RawStore, raw_prices

PRICES = pd.DataFrame(
    {
        "date": [dt.date(2024, 1, 2), dt.date(2024, 1, 3), dt.date(2024, 1, 4)],
        "open": [10.0, 10.5, 11.0],
        "high": [11.0, 11.5, 12.0],
        "low": [9.5, 10.0, 10.5],
        "close": [10.5, 11.0, 11.5],
        "volume": [1000.0, 2000.0, 3000.0],
        "adj_close": [10.4, np.nan, 11.4],
    }
)
COLUMNS = "ticker, date, open, high, low, close, volume, adj_close, source"


def stored(path: Path) -> list[tuple[object, ...]]:
    with sqlite3.connect(path) as connection:
        return connection.execute(
            f"SELECT {COLUMNS}, typeof(ingested_at) FROM raw_prices ORDER BY date"
        ).fetchall()


def test_the_fast_path_stores_what_sqlalchemy_stores(tmp_path: Path) -> None:
    fast = RawStore(f"sqlite:///{tmp_path}/fast.db")
    assert fast.upsert_prices("AAA", "test", PRICES) == 3

    generic = RawStore(f"sqlite:///{tmp_path}/generic.db")
    rows = [
        {"ticker": "AAA", "source": "test", "ingested_at": dt.datetime.now(dt.UTC), **record}
        for record in PRICES.astype(object).where(PRICES.notna(), None).to_dict("records")
    ]
    with generic.engine.begin() as connection:
        connection.execute(sa.insert(raw_prices), rows)

    assert stored(tmp_path / "fast.db") == stored(tmp_path / "generic.db")
    assert stored(tmp_path / "fast.db")[0][:2] == ("AAA", "2024-01-02")
    assert stored(tmp_path / "fast.db")[1][7] is None  # a missing adjusted close is NULL
    read = fast.read_prices(["AAA"])
    assert read["date"].tolist() == PRICES["date"].tolist()
    assert read["ingested_at"].notna().all()


def test_the_fast_path_still_upserts(tmp_path: Path) -> None:
    store = RawStore(f"sqlite:///{tmp_path}/raw.db")
    store.upsert_prices("AAA", "first", PRICES)
    corrected = PRICES.iloc[1:].assign(close=[11.1, 11.6], adj_close=[11.0, 11.5])
    store.upsert_prices("AAA", "second", corrected)
    read = store.read_prices(["AAA"])
    assert read["close"].tolist() == [10.5, 11.1, 11.6]
    assert read["source"].tolist() == ["first", "second", "second"]
    assert store.count_prices() == 3


def test_prices_can_be_read_with_only_the_fields_asked(tmp_path: Path) -> None:
    store = RawStore(f"sqlite:///{tmp_path}/raw.db")
    store.upsert_prices("AAA", "test", PRICES)
    store.upsert_prices("BBB", "test", PRICES.iloc[:1])
    read = store.read_prices(["AAA", "BBB"], ["close", "ticker"])
    assert read.columns.tolist() == ["ticker", "date", "close"]
    assert read["ticker"].tolist() == ["AAA", "AAA", "AAA", "BBB"]
    assert read["close"].tolist() == [10.5, 11.0, 11.5, 10.5]
