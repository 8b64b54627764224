"""What the API pays to read one ticker's range, against the peers it could have used.

Peers in the same run: chDB over a glob of every ticker's file (one big table), and pandas
reading the ticker's Parquet file and filtering in Python.
"""

from __future__ import annotations

import datetime as dt
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import pandas as pd

from tickerpulse.sources.synthetic import SyntheticSource
from tickerpulse.stores.warehouse import ParquetWarehouse

TICKERS = 100
START, END = dt.date(2016, 1, 1), dt.date(2025, 12, 31)
WINDOW = (dt.date(2025, 1, 1), dt.date(2025, 3, 31))
REPEAT = 30


def _median_ms(action: Callable[[], object]) -> float:
    action()  # warm: first query pays session start and file cache
    samples = []
    for _ in range(REPEAT):
        started = time.perf_counter()
        action()
        samples.append((time.perf_counter() - started) * 1000)
    return statistics.median(samples)


def run() -> tuple[str, list[dict[str, object]]]:
    source = SyntheticSource()
    with tempfile.TemporaryDirectory() as folder:
        warehouse = ParquetWarehouse(Path(folder))
        written = time.perf_counter()
        rows = 0
        for n in range(TICKERS):
            frame = source.fetch(f"T{n:03d}", START, END).drop(columns="row_number")
            rows += len(frame)
            warehouse.write_partition("clean_prices", f"T{n:03d}", frame)
        write_seconds = time.perf_counter() - written
        glob = warehouse._source("clean_prices", None)
        path = Path(folder) / "clean_prices" / "T042.parquet"

        def pandas_peer() -> pd.DataFrame:
            frame = pd.read_parquet(path)
            return frame[(frame["date"] >= WINDOW[0]) & (frame["date"] <= WINDOW[1])]

        cases = {
            "chdb, the ticker's file (TickerPulse)": lambda: warehouse.read(
                "clean_prices", "T042", *WINDOW
            ),
            "chdb, glob of all files (peer)": lambda: warehouse.query(
                f"SELECT * FROM {glob} WHERE ticker = 'T042' AND date BETWEEN '2025-01-01' AND '2025-03-31'"
            ),
            "pandas read_parquet + filter (peer)": pandas_peer,
        }
        table = [
            {"read of one ticker, one quarter": name, "median ms": f"{_median_ms(action):.1f}"}
            for name, action in cases.items()
        ]
    title = (
        f"Warehouse reads: {TICKERS} tickers x {rows // TICKERS} days ({rows:,} rows, "
        f"written in {write_seconds:.1f} s), median of {REPEAT}"
    )
    return title, table
