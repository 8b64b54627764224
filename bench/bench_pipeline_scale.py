"""The pipeline's data stages at universe size, embedded mode, beside a plain chDB insert.

python -m bench.bench_pipeline_scale 50 500 3000   (tickers x 20 years; default 50 500)
`make bench` runs it at BENCH_SCALE_TICKERS (default 50).

Each stage runs in its own process, so its peak RSS is its own; the stages run in order
on one fresh data dir, as `tickerpulse ingest` and then the clean_prices run would:
  history load  validate + upsert into the SQLite operational store + quarantine, per ticker
  clean_prices  read the operational store, re-validate, adjust, one Parquet partition per ticker
  chDB floor    the same rows in one INSERT into a chDB MergeTree table: no validation,
                no upsert, no files per ticker. What a loader cannot beat on this machine,
                measured in the same run because the machine is shared and noisy.
Then bootstrap's three runs (`python -m orchestration.bootstrap`, what `tickerpulse up`
runs after the history load), each through Dagster in a process of its own:
  ingest_sessions     the last 20 sessions fetched for every ticker (rows: tickers x 20)
  clean_tickers       clean_prices for every ticker partition in one run
  train_and_forecast  features, walk-forward training of both horizons, forecasts, drift
                      (rows for these two: the raw rows of the universe)
Targets (issue 14): history load 200k rows/s, cleaning 500k rows/s; bootstrap's three runs
under 180 s together with peak RSS under 2 GiB (each run's own peak is printed: the one
process bootstrap runs them in peaks at least at the largest).
Then Dagster at size: clean_prices' partition status through Dagster's GraphQL, the query the
UI's asset page makes (a code server for workspace.yaml, as the webserver starts), first (the
status cache built from the event log) and again (read from the cache); target under 2 s.
Peer: Qlib's published data-handling figures (800 stocks, 14 features, 1 CPU): 147 s with
no cache, 7.4 s with both caches, quoted from Qlib's README (not run here; docs/benchmarks.md's
features table has this bench's own feature figures beside them).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).parents[1]
YEARS = 20
TARGETS = {"history load": 200_000, "clean_prices": 500_000}
BOOTSTRAP_TARGET_SECONDS = 180.0
STATUS_TARGET_SECONDS = 2.0
BOOTSTRAP = ("ingest_sessions", "clean_tickers", "train_and_forecast")
UNIVERSE_STAGE = "load"  # the bootstrap runs read what the history load left
QLIB = "Qlib (published): 800 stocks, 14 features, 1 CPU: 147 s no cache, 7.4 s both caches"


def _stage(stage: str, data_dir: Path, tickers: int) -> dict[str, float]:
    worker = [sys.executable, "-m", "bench.pipeline_scale_worker"]
    out = subprocess.run(
        [*worker, stage, str(data_dir), str(tickers), str(YEARS)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
        timeout=3600,
    )
    # The figures are the last JSON line: a Dagster code server may log to stdout after it.
    figures = [line for line in out.stdout.strip().splitlines() if line.startswith("{")]
    return dict(json.loads(figures[-1]))


def measure(tickers: int) -> list[dict[str, object]]:
    rows_table: list[dict[str, object]] = []
    # BENCH_SCALE_KEEP=1 keeps the data dir (its path is printed) for
    # bench/training_sample_honesty.py to evaluate the same features.
    keep = os.environ.get("BENCH_SCALE_KEEP") == "1"
    with contextlib.ExitStack() as cleanup:
        folder = tempfile.mkdtemp(prefix="bench-scale-")
        if keep:
            print(f"data dir kept: {folder}/var", file=sys.stderr)
        else:
            cleanup.callback(shutil.rmtree, folder, ignore_errors=True)
        data_dir = Path(folder) / "var"
        stages = [
            ("history load", "load"),
            ("clean_prices", "clean"),
            ("chDB floor", "floor"),
            *((f"bootstrap: {job}", job) for job in BOOTSTRAP),
            (
                f"Dagster: clean_prices partition status, s first / cached (target {STATUS_TARGET_SECONDS:.0f} s)",
                "partition_status",
            ),
        ]
        bootstrap_seconds = 0.0
        for label, stage in stages:
            figures = _stage(stage, data_dir, tickers)
            if stage in BOOTSTRAP:
                bootstrap_seconds += figures["seconds"]
            rate = figures["rows"] / figures["seconds"]
            target = TARGETS.get(label)
            rows_table.append(
                {
                    "tickers": tickers,
                    "stage": label,
                    "rows": f"{figures['rows']:,.0f}",
                    "seconds": f"{figures['seconds']:.2f} / {figures['seconds_cached']:.2f}"
                    if "seconds_cached" in figures
                    else f"{figures['seconds']:.1f}",
                    "rows/s": f"{rate:,.0f}",
                    "target rows/s": f"{target:,}" if target else "-",
                    "peak RSS MiB": f"{figures['peak_mib']:.0f}",
                    "load avg": f"{os.getloadavg()[0]:.1f}",
                }
            )
            # A long run shows each stage as it ends, and what it reached if a later one fails.
            print(json.dumps(rows_table[-1]), file=sys.stderr, flush=True)
        rows_table.append(
            {
                "tickers": tickers,
                "stage": f"bootstrap, three runs (target {BOOTSTRAP_TARGET_SECONDS:.0f} s)",
                "rows": "-",
                "seconds": f"{bootstrap_seconds:.1f}",
                "rows/s": "-",
                "target rows/s": "-",
                "peak RSS MiB": "-",
                "load avg": f"{os.getloadavg()[0]:.1f}",
            }
        )
    return rows_table


def run(sizes: list[int] | None = None) -> tuple[str, list[dict[str, object]]]:
    sizes = sizes or [int(os.environ.get("BENCH_SCALE_TICKERS", 50))]
    rows_table = [row for tickers in sizes for row in measure(tickers)]
    title = f"Pipeline at scale: N tickers x {YEARS} years, embedded mode. Peer: {QLIB}"
    return title, rows_table


if __name__ == "__main__":
    from bench.__main__ import print_table

    print_table(*run([int(arg) for arg in sys.argv[1:]] or [50, 500]))
