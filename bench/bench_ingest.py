"""Embedded ingestion throughput: source -> quality -> SQLite upsert -> clean -> Parquet -> features.

Peer in the same run: pandas `DataFrame.to_sql` appending the same rows to SQLite with no
validation and no upsert (the least a loader can do).
"""

from __future__ import annotations

import datetime as dt
import resource
import tempfile
import time
from pathlib import Path

import pandas as pd
import sqlalchemy as sa

from tickerpulse.cleaning import clean_ticker_prices
from tickerpulse.features import compute_features
from tickerpulse.ingestion import ingest_from_source
from tickerpulse.sources.synthetic import SyntheticSource
from tickerpulse.stores.raw import RawStore
from tickerpulse.stores.warehouse import ParquetWarehouse

TICKERS = 50
START, END = dt.date(2016, 1, 1), dt.date(2025, 12, 31)


def _rate(rows: int, seconds: float) -> str:
    return f"{rows / seconds:,.0f}"


def run() -> tuple[str, list[dict[str, object]]]:
    source = SyntheticSource()
    tickers = [f"T{n:03d}" for n in range(TICKERS)]
    frames = {t: source.fetch(t, START, END) for t in tickers}
    rows = sum(len(f) for f in frames.values())
    table = []
    with tempfile.TemporaryDirectory() as folder:
        store = RawStore(f"sqlite:///{folder}/raw.db")
        warehouse = ParquetWarehouse(Path(folder) / "warehouse")

        class Replay:  # the source's cost is not the loader's
            name = "synthetic"

            def fetch(self, ticker: str, start: dt.date, end: dt.date) -> pd.DataFrame:
                return frames[ticker]

        started = time.perf_counter()
        for ticker in tickers:
            ingest_from_source(store, Replay(), ticker, START, END)
        ingest_seconds = time.perf_counter() - started
        raw = store.read_prices()
        started = time.perf_counter()
        for ticker, ticker_rows in raw.groupby("ticker"):
            warehouse.write_partition("clean_prices", str(ticker), clean_ticker_prices(ticker_rows))
        clean_seconds = time.perf_counter() - started
        started = time.perf_counter()
        compute_features(warehouse.read("clean_prices"))
        feature_seconds = time.perf_counter() - started
        peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux

        peer_engine = sa.create_engine(f"sqlite:///{folder}/peer.db")
        started = time.perf_counter()
        for ticker, frame in frames.items():
            frame.assign(ticker=ticker).to_sql(
                "prices", peer_engine, if_exists="append", index=False
            )
        peer_seconds = time.perf_counter() - started

    table = [
        {"stage": "validate + upsert raw (SQLite)", "rows/s": _rate(rows, ingest_seconds)},
        {"stage": "clean + write Parquet", "rows/s": _rate(rows, clean_seconds)},
        {"stage": "features, all tickers at once", "rows/s": _rate(rows, feature_seconds)},
        {"stage": "peer: pandas to_sql append, no checks", "rows/s": _rate(rows, peer_seconds)},
    ]
    title = f"Embedded ingestion: {TICKERS} tickers, {rows:,} rows; peak RSS of the process {peak_mib:.0f} MiB"
    return title, table
