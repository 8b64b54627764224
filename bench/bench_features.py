"""Every feature for 800 tickers x 14 years (~2.8 M rows), one core, cold process.

Peer: Qlib's README, 14 factors from daily OHLCV for 800 stocks 2007-2020 with the data query
on 1 CPU: 147 s without caches, 7.4 s with both caches warm, 184 s from HDF5. Those are
quoted, not run here (Qlib is not installed); ours are measured in this run. "Cold" means a
new process with no cache of ours; the operating system's file cache holds the Parquet files
just written, as it would for any store read twice.
"""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

from tickerpulse.calendar import trading_days
from tickerpulse.stores.warehouse import ParquetWarehouse

TICKERS = 800
START, END = dt.date(2007, 1, 1), dt.date(2020, 12, 31)
QLIB = [
    ("Qlib, no cache (README)", "147"),
    ("Qlib, expression + dataset cache warm (README)", "7.4"),
    ("Qlib, HDF5 (README)", "184"),
]


def synthetic_panel(folder: Path) -> int:
    """Random-walk OHLCV, vectorized across tickers; one Parquet file per ticker, as stored."""
    days = np.array(trading_days(START, END))
    rng = np.random.default_rng(0)
    returns = rng.normal(0.0003, 0.02, size=(len(days), TICKERS))
    close = 20 * np.exp(np.cumsum(returns, axis=0)) * rng.uniform(1, 10, TICKERS)
    open_ = close * np.exp(rng.normal(0, 0.005, close.shape))
    high = np.maximum(open_, close) * np.exp(np.abs(rng.normal(0, 0.01, close.shape)))
    low = np.minimum(open_, close) * np.exp(-np.abs(rng.normal(0, 0.01, close.shape)))
    volume = rng.lognormal(13, 0.5, close.shape).round()
    warehouse = ParquetWarehouse(folder)
    for n in range(TICKERS):
        frame = pd.DataFrame(
            {
                "date": days,
                "open": open_[:, n],
                "high": high[:, n],
                "low": low[:, n],
                "close": close[:, n],
                "volume": volume[:, n],
                "adj_factor": 1.0,
            }
        )
        warehouse.write_partition("clean_prices", f"S{n:03d}", frame)
    return len(days) * TICKERS


def run() -> tuple[str, list[dict[str, object]]]:
    with tempfile.TemporaryDirectory() as folder:
        rows = synthetic_panel(Path(folder))
        measured = json.loads(
            subprocess.run(
                [sys.executable, "-m", "bench.features_worker", folder],
                check=True,
                capture_output=True,
                text=True,
            ).stdout.splitlines()[-1]
        )
    table: list[dict[str, object]] = [
        {
            "workload": "TickerPulse: chDB query + compute_features (this run)",
            "seconds": f"{measured['total_s']:.1f}",
            "detail": f"query {measured['query_s']:.1f} s, features {measured['features_s']:.1f} s, "
            f"{measured['features']} features, {measured['cpus']} CPU, peak {measured['peak_mib']:.0f} MiB",
        },
        *(
            {"workload": name, "seconds": seconds, "detail": "14 factors, 1 CPU"}
            for name, seconds in QLIB
        ),
    ]
    return (
        f"Features: {TICKERS} tickers x {START.year}-{END.year} ({rows:,} rows), cold, one core",
        table,
    )
