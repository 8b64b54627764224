"""One stage of the pipeline-at-scale benchmark in its own process, so its peak RSS is its own.

python -m bench.pipeline_scale_worker STAGE DATA_DIR TICKERS YEARS  ->  one JSON line
Stages, in the order the pipeline runs them (each reads what the one before left in DATA_DIR):
  load   generate the synthetic history, then load it as `tickerpulse ingest` does
         (validate, upsert into the operational store, quarantine), ticker by ticker
  clean  the clean_prices asset's work for every ticker partition in one run:
         read the operational store, clean, write each ticker's warehouse partition
  floor  generate the same rows, then one plain chDB insert of them into a MergeTree table
  ingest_sessions, clean_tickers, train_and_forecast
         bootstrap's three runs (`python -m orchestration.bootstrap`, what `tickerpulse up`
         runs after loading history), each through Dagster's instance under DATA_DIR/dagster;
         timed from the run's start to its end (imports and the instance's opening outside)
"""

from __future__ import annotations

import datetime as dt
import json
import os
import resource
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).parents[1]


def _history_end() -> dt.date:
    """The last completed session: bootstrap's ingest_sessions then re-fetches the most
    recent sessions over the history, as after `tickerpulse up`'s demo load (no gap)."""
    from tickerpulse.calendar import last_completed_session

    return last_completed_session()


def peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def symbols(tickers: int) -> list[str]:
    return [f"T{n:04d}" for n in range(tickers)]


def generate(tickers: int, years: int) -> dict[str, pd.DataFrame]:
    from tickerpulse.sources.synthetic import SyntheticSource

    source = SyntheticSource()
    end = _history_end()
    start = end.replace(year=end.year - years)
    return {symbol: source.fetch(symbol, start, end) for symbol in symbols(tickers)}


def load(data_dir: Path, tickers: int, years: int) -> dict[str, float]:
    from tickerpulse.ingestion import ingest_frame
    from tickerpulse.settings import get_settings
    from tickerpulse.stores.operational import OperationalStore

    frames = generate(tickers, years)
    store = OperationalStore(get_settings().raw_db_url)
    started = time.perf_counter()
    for symbol, frame in frames.items():
        ingest_frame(store, symbol, "synthetic", frame)
        store.add_ticker(symbol, source="synthetic")
    seconds = time.perf_counter() - started
    return {"rows": sum(len(f) for f in frames.values()), "seconds": seconds}


def clean(data_dir: Path, tickers: int, years: int) -> dict[str, float]:
    from tickerpulse.cleaning import clean_partitions
    from tickerpulse.settings import get_settings
    from tickerpulse.stores.operational import OperationalStore
    from tickerpulse.stores.warehouse import open_warehouse

    settings = get_settings()
    store = OperationalStore(settings.raw_db_url)
    warehouse = open_warehouse(settings.warehouse_url)
    started = time.perf_counter()
    rows = sum(r["rows"] for r in clean_partitions(store, warehouse, symbols(tickers)))
    seconds = time.perf_counter() - started
    return {"rows": float(rows), "seconds": seconds}


def floor(data_dir: Path, tickers: int, years: int) -> dict[str, float]:
    from chdb import session

    frames = generate(tickers, years)
    data = pd.concat(
        [frame.assign(ticker=symbol) for symbol, frame in frames.items()], ignore_index=True
    ).drop(columns="row_number")
    data["date"] = pd.to_datetime(data["date"])
    chdb = session.Session()
    chdb.query(
        "CREATE TABLE prices (ticker String, date Date, open Float64, high Float64, "
        "low Float64, close Float64, volume Float64) "
        "ENGINE = MergeTree ORDER BY (ticker, date)"
    )
    columns = "ticker, date, open, high, low, close, volume"
    started = time.perf_counter()
    chdb.query(f"INSERT INTO prices SELECT {columns} FROM Python(data)")
    seconds = time.perf_counter() - started
    stored = int(chdb.query("SELECT count() FROM prices", "CSV").bytes().decode().strip())
    return {"rows": float(stored), "seconds": seconds}


def bootstrap_run(job: str) -> Callable[[Path, int, int], dict[str, float]]:
    """One of bootstrap's runs, as `python -m orchestration.bootstrap` launches it. Rows: the
    sessions fetched for ingest_sessions, the raw rows of the universe for the others."""

    def run(data_dir: Path, tickers: int, years: int) -> dict[str, float]:
        import dagster as dg

        from launcher.commands import prepare_dagster_home
        from orchestration.bootstrap import _run_plan, everything_plan
        from tickerpulse.settings import get_settings
        from tickerpulse.stores.operational import OperationalStore

        settings = get_settings()
        os.environ["DAGSTER_HOME"] = str(settings.dagster_home)
        if not (settings.dagster_home / "dagster.yaml").exists():
            prepare_dagster_home(settings)
        store = OperationalStore(settings.raw_db_url)
        with dg.DagsterInstance.get() as instance:
            plan = [step for step in everything_plan(instance, store) if step[0] == job]
            started = time.perf_counter()
            (result,) = _run_plan(instance, plan, store)
            seconds = time.perf_counter() - started
        if not result.success:
            raise SystemExit(f"{job} failed")
        rows = SESSIONS * tickers if job == "ingest_sessions" else store.count_prices()
        return {"rows": float(rows), "seconds": seconds}

    return run


# What the asset page of a partitioned asset asks Dagster's GraphQL for (the partition bar
# and its counts).
PARTITION_STATUS_QUERY = """
query PartitionStatus($key: AssetKeyInput!) {
  assetNodeOrError(assetKey: $key) {
    ... on AssetNode {
      partitionStats { numMaterialized numPartitions numFailed numMaterializing }
      assetPartitionStatuses {
        ... on DefaultPartitionStatuses { materializedPartitions failedPartitions }
      }
    }
  }
}
"""


def partition_status(data_dir: Path, tickers: int, years: int) -> dict[str, float]:
    """clean_prices' partition status through Dagster's GraphQL, as the UI loads it: a code
    server for workspace.yaml, then the query twice (the first builds Dagster's status cache
    from the event log, the second reads it). Rows: the partitions counted as materialized."""
    import dagster as dg
    from dagster_graphql.test.utils import define_out_of_process_context, execute_dagster_graphql

    from tickerpulse.settings import get_settings

    os.environ["DAGSTER_HOME"] = str(get_settings().dagster_home)
    timings = []
    with (
        dg.DagsterInstance.get() as instance,
        define_out_of_process_context(str(ROOT / "workspace.yaml"), None, instance) as context,
    ):
        for _ in range(2):
            started = time.perf_counter()
            result = execute_dagster_graphql(
                context, PARTITION_STATUS_QUERY, {"key": {"path": ["clean_prices"]}}
            )
            timings.append(time.perf_counter() - started)
    stats = result.data["assetNodeOrError"]["partitionStats"]
    if stats["numPartitions"] != tickers:
        raise SystemExit(f"expected {tickers} partitions, Dagster has {stats}")
    return {
        "rows": float(stats["numMaterialized"]),
        "seconds": timings[0],
        "seconds_cached": timings[1],
    }


def raw_backfill(data_dir: Path, tickers: int, years: int) -> dict[str, float]:
    """A `years` raw_prices backfill on a fresh data dir holding only the ticker universe: the
    runs raw_prices' backfill policy cuts it into (max_partitions_per_run sessions each),
    launched in order with the partition-range tags the backfill daemon gives them, each run
    in process. Counts the runs, the events Dagster stored for them and the rows loaded."""
    import dagster as dg

    from launcher.commands import prepare_dagster_home
    from orchestration.assets.ingestion import raw_prices
    from orchestration.bootstrap import Plan, _run_plan, register_tickers
    from orchestration.partitions import trading_days
    from orchestration.sensors import RANGE_END, RANGE_START
    from tickerpulse.settings import get_settings
    from tickerpulse.stores.operational import OperationalStore

    settings = get_settings()
    os.environ["DAGSTER_HOME"] = str(settings.dagster_home)
    prepare_dagster_home(settings)
    store = OperationalStore(settings.raw_db_url)
    for symbol in symbols(tickers):
        store.add_ticker(symbol, source="synthetic")
    end = _history_end()
    start = end.replace(year=end.year - years).isoformat()
    keys = [k for k in trading_days.get_partition_keys() if start <= k <= end.isoformat()]
    per_run = raw_prices.backfill_policy.max_partitions_per_run or len(keys)  # type: ignore[union-attr]
    chunks = [keys[i : i + per_run] for i in range(0, len(keys), per_run)]
    with dg.DagsterInstance.get() as instance:
        register_tickers(instance, store)
        started = time.perf_counter()
        for chunk in chunks:
            plan: Plan = [("ingest_sessions", {RANGE_START: chunk[0], RANGE_END: chunk[-1]}, None)]
            (result,) = _run_plan(instance, plan, store)
            if not result.success:
                raise SystemExit(f"the backfill run of {chunk[0]}..{chunk[-1]} failed")
        seconds = time.perf_counter() - started
        runs = instance.get_runs()
        events = sum(len(instance.all_logs(run.run_id)) for run in runs)
    return {
        "rows": float(store.count_prices()),
        "seconds": seconds,
        "runs": float(len(runs)),
        "events": float(events),
        "partitions": float(len(keys)),
    }


SESSIONS = 20  # bootstrap's default
STAGES: dict[str, Callable[[Path, int, int], dict[str, float]]] = {
    "load": load,
    "clean": clean,
    "floor": floor,
    "partition_status": partition_status,
    "raw_backfill": raw_backfill,
    **{
        job: bootstrap_run(job)
        for job in ("ingest_sessions", "clean_tickers", "train_and_forecast")
    },
}

if __name__ == "__main__":
    stage, folder, count, span = sys.argv[1], Path(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
    os.environ["TICKERPULSE_DATA_DIR"] = str(folder)
    figures = STAGES[stage](folder, count, span)
    figures["peak_mib"] = peak_mib()
    print(json.dumps(figures))
