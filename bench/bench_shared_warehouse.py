"""What `make up-full`'s warehouse pays for sharing one chDB directory between processes.

clickhouse+chdb:///dir hands chDB's engine between processes under a file lock, because chDB
admits one process per directory (shared_chdb.py): a process alone keeps it open; when another
takes it in between, the next read reopens it. The peer, in the same run: the same ClickHouse
code on a client that keeps the engine open for good (one process owning the data, like a
server). Both read one ticker's quarter from 100 tickers' ReplacingMergeTree table with
FINAL. Runs in a process of its own: chDB allows one engine path per process, and the other
benchmarks hold in-memory ones.
"""

from __future__ import annotations

import json
import subprocess
import sys

WORKER = """
import contextlib, datetime as dt, json, sys, tempfile, time
import clickhouse_connect
from tickerpulse.sources.synthetic import SyntheticSource
from tickerpulse.stores.warehouse.clickhouse import ClickHouseWarehouse, open_clickhouse

from bench.bench_warehouse_reads import WINDOW, _median_ms as median_ms

TICKERS = 100

with tempfile.TemporaryDirectory() as folder:
    shared = open_clickhouse(f"clickhouse+chdb://{folder}/warehouse?database=bench")
    directory = shared._connect.__self__  # the SharedChdbDirectory behind it
    source, rows = SyntheticSource(), 0
    written = time.perf_counter()
    for n in range(TICKERS):
        frame = source.fetch(f"T{n:03d}", dt.date(2016, 1, 1), dt.date(2025, 12, 31))
        rows += len(frame)
        shared.write_partition("clean_prices", f"T{n:03d}", frame.drop(columns="row_number"))
    write_seconds = time.perf_counter() - written
    result = {"rows": rows, "write_seconds": write_seconds}
    result["shared"] = median_ms(lambda: shared.read("clean_prices", "T042", *WINDOW))
    def reopened():
        directory.close()  # as when another process took the engine in between
        return shared.read("clean_prices", "T042", *WINDOW)
    result["reopened"] = median_ms(reopened)
    directory.close()
    client = clickhouse_connect.get_client(dsn=f"chdb://{folder}/warehouse")
    held = ClickHouseWarehouse(lambda: contextlib.nullcontext(client), "bench")
    result["held"] = median_ms(lambda: held.read("clean_prices", "T042", *WINDOW))
    client.close()
print(json.dumps(result))
"""


def run() -> tuple[str, list[dict[str, object]]]:
    done = subprocess.run(
        [sys.executable, "-c", WORKER], capture_output=True, text=True, check=True, timeout=900
    )
    result = json.loads(done.stdout.strip().splitlines()[-1])
    rows = [
        {
            "read of one ticker, one quarter (FINAL)": "shared directory, one process at work (TickerPulse, up-full)",
            "median ms": f"{result['shared']:.1f}",
        },
        {
            "read of one ticker, one quarter (FINAL)": "shared directory, another process took it before each read",
            "median ms": f"{result['reopened']:.1f}",
        },
        {
            "read of one ticker, one quarter (FINAL)": "engine held open by one process (peer)",
            "median ms": f"{result['held']:.1f}",
        },
    ]
    title = (
        f"Shared chDB warehouse: 100 tickers ({result['rows']:,} rows, written one ticker at a "
        f"time in {result['write_seconds']:.1f} s), median of 30"
    )
    return title, rows
