"""The columnar read of a universe (what clean_prices reads) holds what read_prices holds, and
a warehouse written from one panel holds what a write per ticker holds."""

import datetime as dt
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from tests.conftest import synthetic_panel
from tickerpulse.cleaning import RAW_FIELDS, clean_panel
from tickerpulse.stores.operational import OperationalStore
from tickerpulse.stores.warehouse import ParquetWarehouse


def loaded(tmp_path: Path) -> OperationalStore:
    store = OperationalStore(f"sqlite:///{tmp_path}/raw.db")
    panel = synthetic_panel(("BBB", "AAA", "CCC"), years=1)
    panel["adj_close"] = panel["close"] * 0.5
    for ticker, rows in panel.groupby("ticker"):
        if ticker == "BBB":  # no adjusted close at all: stored NULL, read as NaN
            rows = rows.assign(adj_close=np.nan)
        store.upsert_prices(str(ticker), "test", rows.drop(columns="ticker"))
    return store


def test_the_columnar_read_holds_what_read_prices_holds(tmp_path: Path) -> None:
    store = loaded(tmp_path)
    panel = store.read_panel(["CCC", "BBB", "NONE"], RAW_FIELDS)
    rows = store.read_prices(["CCC", "BBB"], RAW_FIELDS)
    assert panel["ticker"].astype(str).tolist() == rows["ticker"].tolist()
    assert list(panel["ticker"].cat.categories) == ["BBB", "CCC"]  # in order: sorts as text
    assert panel["date"].dt.date.tolist() == rows["date"].tolist()
    for name in RAW_FIELDS:
        assert panel[name].dtype == np.float64
        np.testing.assert_array_equal(panel[name].to_numpy(), rows[name].to_numpy())
    assert panel.loc[panel["ticker"] == "BBB", "adj_close"].isna().all()
    assert len(store.read_panel(["NONE"], RAW_FIELDS)) == 0


def test_the_columnar_read_takes_only_price_fields(tmp_path: Path) -> None:
    store = loaded(tmp_path)
    with pytest.raises(ValueError, match="not a price field"):
        store.read_panel(["AAA"], ["close", "close) FROM raw_prices --"])


def test_one_panel_writes_the_files_a_write_per_ticker_writes(tmp_path: Path) -> None:
    store = loaded(tmp_path)
    clean = clean_panel(store.read_panel(None, RAW_FIELDS), date_objects=False)
    spans = {"AAA": (0, int((clean["ticker"] == "AAA").sum())), "NONE": (0, 0)}
    whole = ParquetWarehouse(tmp_path / "whole")
    whole.write_partitions("clean_prices", clean, spans)
    alone = ParquetWarehouse(tmp_path / "alone")
    rows = clean_panel(store.read_prices(["AAA"]))
    alone.write_partition("clean_prices", "AAA", rows.drop(columns="ticker"))
    mine = pq.read_table(tmp_path / "whole/clean_prices/AAA.parquet")
    theirs = pq.read_table(tmp_path / "alone/clean_prices/AAA.parquet")
    assert mine.schema.remove_metadata() == theirs.schema.remove_metadata()
    assert mine.to_pandas().equals(theirs.to_pandas())
    assert mine["date"][0].as_py() == dt.date.fromisoformat(str(rows["date"].iloc[0]))
    assert whole.read("clean_prices", "NONE").empty


def test_the_panel_is_typed_alike_on_every_raw_backend(operational_store: OperationalStore) -> None:
    """SQLite gives dates as text, PostgreSQL as dates: the panel is the same on both."""
    panel = synthetic_panel(("AAA",), years=1).drop(columns="ticker")
    operational_store.upsert_prices("AAA", "test", panel.assign(adj_close=np.nan))
    read = operational_store.read_panel(["AAA"], RAW_FIELDS)
    assert read["date"].dtype.kind == "M" and read["adj_close"].dtype == np.float64
    assert read["date"].dt.date.tolist() == panel["date"].tolist()
    np.testing.assert_array_equal(read["close"].to_numpy(), panel["close"].to_numpy())
    assert read["adj_close"].isna().all()
