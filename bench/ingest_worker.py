"""One ingestion benchmark in its own process, so its peak memory is its own.

python -m bench.ingest_worker RAW_DB_URL TICKERS YEARS  ->  one JSON line of figures
"""

from __future__ import annotations

import datetime as dt
import json
import resource
import sys
import tempfile
import time
from pathlib import Path

import sqlalchemy as sa

from tickerpulse.cleaning import clean_ticker_prices
from tickerpulse.ingestion import ingest_frame
from tickerpulse.sources.synthetic import SyntheticSource
from tickerpulse.stores.operational import OperationalStore
from tickerpulse.stores.warehouse import ParquetWarehouse

END = dt.date(2025, 12, 31)


def peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def main(raw_url: str, tickers: int, years: int, peer: bool) -> dict[str, float]:
    source = SyntheticSource()
    start = END.replace(year=END.year - years)
    symbols = [f"T{n:03d}" for n in range(tickers)]
    figures: dict[str, float] = {}
    started = time.perf_counter()
    frames = {symbol: source.fetch(symbol, start, END) for symbol in symbols}
    figures["rows"] = sum(len(frame) for frame in frames.values())
    figures["generate_s"] = time.perf_counter() - started
    with tempfile.TemporaryDirectory() as folder:
        if peer:
            # The least a loader can do: append with pandas, no validation, no upsert.
            engine = sa.create_engine(raw_url)
            started = time.perf_counter()
            for symbol, frame in frames.items():
                frame.assign(ticker=symbol).to_sql(
                    "peer_prices", engine, if_exists="append", index=False
                )
            figures["load_s"] = time.perf_counter() - started
            with engine.begin() as connection:
                connection.execute(sa.text("DROP TABLE peer_prices"))
        else:
            store = OperationalStore(raw_url)
            started = time.perf_counter()
            for symbol, frame in frames.items():
                ingest_frame(store, symbol, "synthetic", frame)
            figures["load_s"] = time.perf_counter() - started
            warehouse = ParquetWarehouse(Path(folder))
            started = time.perf_counter()
            for symbol in symbols:
                raw = store.read_prices([symbol])
                warehouse.write_partition("clean_prices", symbol, clean_ticker_prices(raw))
            figures["clean_s"] = time.perf_counter() - started
    figures["peak_mib"] = peak_mib()
    return figures


if __name__ == "__main__":
    url, count, span = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    print(json.dumps(main(url, count, span, peer=len(sys.argv) > 4 and sys.argv[4] == "peer")))
