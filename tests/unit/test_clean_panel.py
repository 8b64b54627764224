"""Cleaning a universe in one pass gives each ticker what cleaning it alone gives."""

import datetime as dt
import time
from pathlib import Path

import numpy as np
import pandas as pd

from tests.conftest import synthetic_panel
from tickerpulse.cleaning import clean_panel, clean_partitions, clean_ticker_prices
from tickerpulse.stores.operational import OperationalStore
from tickerpulse.stores.warehouse import ParquetWarehouse


def universe() -> pd.DataFrame:
    """Three tickers: one adjusted every day, one adjusted on some days only (left raw), and
    one with rows that break rules, including a re-sent day and the same date as another
    ticker's (not a duplicate)."""
    panel = synthetic_panel(("AAA", "BBB", "CCC"), years=2)
    panel["adj_close"] = np.nan
    aaa = panel["ticker"] == "AAA"
    panel.loc[aaa, "adj_close"] = panel.loc[aaa, "close"] * 0.9
    bbb = panel.index[panel["ticker"] == "BBB"]
    panel.loc[bbb[:10], "adj_close"] = panel.loc[bbb[:10], "close"] * 0.5
    ccc = panel.index[panel["ticker"] == "CCC"]
    panel.loc[ccc[3], "low"] = panel.loc[ccc[3], "high"] * 2  # low above open/close
    panel.loc[ccc[4], "volume"] = -1
    resent = panel.loc[[ccc[5]]].assign(close=lambda f: f["close"] * 1.001)
    return pd.concat([panel, resent], ignore_index=True)


def test_one_pass_over_the_universe_equals_one_ticker_at_a_time() -> None:
    raw = universe()
    together = clean_panel(raw)
    for ticker in ("AAA", "BBB", "CCC"):
        alone = clean_ticker_prices(raw[raw["ticker"] == ticker])
        mine = together[together["ticker"] == ticker].drop(columns="ticker")
        pd.testing.assert_frame_equal(mine.reset_index(drop=True), alone)
    aaa = together[together["ticker"] == "AAA"]
    assert np.allclose(aaa["adj_factor"], 0.9)  # adjusted where every day says how
    assert (together[together["ticker"] == "BBB"]["adj_factor"] == 1.0).all()  # partial: raw
    assert len(together[together["ticker"] == "CCC"]) == (raw["ticker"] == "CCC").sum() - 3


def test_each_partition_is_written_from_the_universe(tmp_path: Path) -> None:
    store = OperationalStore(f"sqlite:///{tmp_path}/raw.db")
    raw = universe()
    for ticker, rows in raw.groupby("ticker"):
        store.upsert_prices(str(ticker), "test", rows[rows["volume"] >= 0].drop_duplicates("date"))
    warehouse = ParquetWarehouse(tmp_path / "warehouse")
    # Two tickers a read: the chunks of a universe are cleaned and written as the whole is.
    written = clean_partitions(store, warehouse, ["AAA", "BBB", "CCC", "NONE"], per_read=2)
    assert [w["ticker"] for w in written] == ["AAA", "BBB", "CCC", "NONE"]
    counts = {w["ticker"]: w["rows"] for w in written}
    assert counts["NONE"] == 0 and counts["AAA"] == (raw["ticker"] == "AAA").sum()
    for ticker in ("AAA", "BBB", "CCC"):
        expected = clean_ticker_prices(store.read_prices([ticker]))
        stored = warehouse.read("clean_prices", ticker).sort_values("date")
        assert stored["date"].map(str).tolist() == [str(d) for d in expected["date"]]
        assert np.allclose(stored["close"], expected["close"])
    assert written[0]["first_date"] == min(d for d in raw[raw["ticker"] == "AAA"]["date"])
    assert isinstance(written[0]["last_date"], dt.date)


def test_the_next_chunk_is_read_while_one_is_written_and_no_further(tmp_path: Path) -> None:
    """Reading overlaps writing by one chunk: never more, or a universe's memory would be
    read ahead whole."""
    store = OperationalStore(f"sqlite:///{tmp_path / 'raw.db'}")
    raw = synthetic_panel(tuple(f"T{n}" for n in range(6)), years=1).assign(adj_close=np.nan)
    for ticker, rows in raw.groupby("ticker"):
        store.upsert_prices(str(ticker), "test", rows)
    reads: list[tuple[str, ...]] = []
    reads_at_write: list[int] = []
    reading = store.read_panel

    def read(symbols, fields):  # type: ignore[no-untyped-def]
        reads.append(tuple(symbols))
        return reading(symbols, fields)

    store.read_panel = read  # type: ignore[method-assign]
    warehouse = ParquetWarehouse(tmp_path / "warehouse")
    writing = warehouse.write_partitions

    def write(table, frame, spans):  # type: ignore[no-untyped-def]
        # A slow write: the reader has time to run ahead, as far as it would.
        deadline = time.monotonic() + 5
        while len(reads) < min(len(reads_at_write) + 2, 3) and time.monotonic() < deadline:
            time.sleep(0.01)
        time.sleep(0.1)
        reads_at_write.append(len(reads))
        return writing(table, frame, spans)

    warehouse.write_partitions = write  # type: ignore[method-assign]
    written = clean_partitions(store, warehouse, [f"T{n}" for n in range(6)], per_read=2)
    assert reads == [("T0", "T1"), ("T2", "T3"), ("T4", "T5")]
    assert reads_at_write == [2, 3, 3]  # chunk k written while chunk k+1 was read, not k+2
    assert sum(w["rows"] for w in written) == len(raw)
