"""The SQLite upsert's fast path (one executemany of tuples) stores exactly what SQLAlchemy's
own parameter processing stores, and still upserts."""

import datetime as dt
import sqlite3
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa

from tickerpulse.stores.operational import OperationalStore, raw_prices

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


def test_the_fast_path_stores_what_sqlalchemy_stores(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    stamp = dt.datetime(2026, 11, 30, 13, 5, 7, 123456, tzinfo=dt.UTC)
    monkeypatch.setattr("tickerpulse.stores.operational._now", lambda: stamp)
    fast = OperationalStore(f"sqlite:///{tmp_path}/fast.db")
    assert fast.upsert_prices("AAA", "test", PRICES) == 3

    generic = OperationalStore(f"sqlite:///{tmp_path}/generic.db")
    rows = [
        {"ticker": "AAA", "source": "test", "ingested_at": stamp, **record}
        for record in PRICES.astype(object).where(PRICES.notna(), None).to_dict("records")
    ]
    with generic.engine.begin() as connection:
        connection.execute(sa.insert(raw_prices), rows)

    assert stored(tmp_path / "fast.db") == stored(tmp_path / "generic.db")
    assert stored(tmp_path / "fast.db")[0][:2] == ("AAA", "2024-01-02")
    assert stored(tmp_path / "fast.db")[1][7] is None  # a missing adjusted close is NULL
    # The stamp is formatted once, as sqlite3's adapter formatted it on every row before.
    with sqlite3.connect(tmp_path / "fast.db") as connection:
        stamps = connection.execute("SELECT DISTINCT ingested_at FROM raw_prices").fetchall()
    assert stamps == [(stamp.isoformat(" "),)]
    read = fast.read_prices(["AAA"])
    assert read["date"].tolist() == PRICES["date"].tolist()
    assert read["ingested_at"].notna().all()


def test_the_fast_path_still_upserts(tmp_path: Path) -> None:
    store = OperationalStore(f"sqlite:///{tmp_path}/raw.db")
    store.upsert_prices("AAA", "first", PRICES)
    corrected = PRICES.iloc[1:].assign(close=[11.1, 11.6], adj_close=[11.0, 11.5])
    store.upsert_prices("AAA", "second", corrected)
    read = store.read_prices(["AAA"])
    assert read["close"].tolist() == [10.5, 11.1, 11.6]
    assert read["source"].tolist() == ["first", "second", "second"]
    assert store.count_prices() == 3


def test_prices_can_be_read_with_only_the_fields_asked(tmp_path: Path) -> None:
    store = OperationalStore(f"sqlite:///{tmp_path}/raw.db")
    store.upsert_prices("AAA", "test", PRICES)
    store.upsert_prices("BBB", "test", PRICES.iloc[:1])
    read = store.read_prices(["AAA", "BBB"], ["close", "ticker"])
    assert read.columns.tolist() == ["ticker", "date", "close"]
    assert read["ticker"].tolist() == ["AAA", "AAA", "AAA", "BBB"]
    assert read["close"].tolist() == [10.5, 11.0, 11.5, 10.5]


def test_a_new_sqlite_store_keeps_prices_in_their_key_order(tmp_path: Path) -> None:
    """raw_prices is a WITHOUT ROWID table on a new file: an upsert writes the key's B-tree
    only, not a rowid table and an index beside it (the history load's dearest step)."""
    OperationalStore(f"sqlite:///{tmp_path}/raw.db")
    with sqlite3.connect(tmp_path / "raw.db") as connection:
        (created,) = connection.execute(
            "SELECT sql FROM sqlite_master WHERE name = 'raw_prices'"
        ).fetchone()
        indexes = connection.execute(
            "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'raw_prices'"
        ).fetchall()
    assert created.rstrip().upper().endswith("WITHOUT ROWID")
    assert indexes == []  # the key is the table: no separate autoindex to maintain


def test_sqlite_commits_do_not_wait_for_fsync_in_wal(tmp_path: Path) -> None:
    """synchronous=NORMAL (1) with WAL on every connection of the store, not FULL (2)."""
    store = OperationalStore(f"sqlite:///{tmp_path}/raw.db")
    with store.engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert connection.exec_driver_sql("PRAGMA synchronous").scalar() == 1
