"""Materialize the whole graph once: what `tickerpulse up` runs, and what tests start from.

Three runs, one per partitioning: raw_prices for the most recent trading days, clean_prices
for every ticker partition, then the unpartitioned features, model and forecasts. Run it as
`python -m orchestration.bootstrap --sessions 20` with DAGSTER_HOME set, and the runs show
in the Dagster UI like any other. With `--ticker T` (what `tickerpulse materialize --ticker`
runs) only T's clean_prices partition is rebuilt from what the operational store holds, then the
features, model and forecasts: how a ticker ingested from a file reaches `evaluate` and the API. Deeper history is a backfill in the UI; Dagster records
about two events per partition, so 2,500 sessions in one run cost it about a minute.
"""

import argparse
import sys

import dagster as dg

from orchestration.check_results import record_check_results
from orchestration.definitions import defs
from orchestration.partitions import TICKERS, trading_days
from orchestration.sensors import RANGE_END, RANGE_START, history_range
from tickerpulse.settings import get_settings
from tickerpulse.stores.check_results import CheckResultStore
from tickerpulse.stores.operational import OperationalStore
from tickerpulse.symbols import require_symbol


def register_tickers(instance: dg.DagsterInstance, store: OperationalStore) -> list[str]:
    """Every active ticker as a `tickers` partition (what the universe sensor does on a tick)."""
    symbols = [row["symbol"] for row in store.list_tickers()]
    known = set(instance.get_dynamic_partitions(TICKERS))
    instance.add_dynamic_partitions(TICKERS, [s for s in symbols if s not in known])
    return symbols


def recent_sessions(count: int) -> tuple[str, str]:
    """The partition keys of the last `count` completed sessions."""
    _, last = history_range()
    keys = [key for key in trading_days.get_partition_keys() if key <= last]
    return keys[-count], keys[-1]


Plan = list[tuple[str, dict[str, str], str | None]]  # (job, run tags, partition key)


def everything_plan(
    instance: dg.DagsterInstance, store: OperationalStore, sessions: int = 20
) -> Plan:
    """The three runs, in order; the pipeline bench runs and times each one alone."""
    first_day, last_day = recent_sessions(sessions)
    symbols = sorted(register_tickers(instance, store))
    return [
        ("ingest_sessions", {RANGE_START: first_day, RANGE_END: last_day}, None),
        ("clean_tickers", {RANGE_START: symbols[0], RANGE_END: symbols[-1]}, None),
        ("train_and_forecast", {}, None),
    ]


def materialize_everything(
    instance: dg.DagsterInstance, sessions: int = 20
) -> list[dg.ExecuteInProcessResult]:
    store = OperationalStore(get_settings().raw_db_url)
    return _run_plan(instance, everything_plan(instance, store, sessions), store)


def materialize_ticker(
    instance: dg.DagsterInstance, symbol: str
) -> list[dg.ExecuteInProcessResult]:
    """One ticker's clean prices from what the operational store holds (no fetch: a file-fed ticker
    has no source to fetch from), then the universe's features, model and forecasts."""
    store = OperationalStore(get_settings().raw_db_url)
    symbols = register_tickers(instance, store)
    if symbol not in symbols:
        raise SystemExit(f"{symbol} is not in the ticker universe: ingest it first")
    plan: Plan = [
        ("clean_tickers", {}, symbol),
        ("train_and_forecast", {}, None),
    ]
    return _run_plan(instance, plan, store)


def _run_plan(
    instance: dg.DagsterInstance,
    plan: Plan,
    store: OperationalStore,
) -> list[dg.ExecuteInProcessResult]:
    results = []
    for job_name, tags, partition_key in plan:
        result = defs.resolve_job_def(job_name).execute_in_process(
            instance=instance, tags=tags, partition_key=partition_key, raise_on_error=False
        )
        results.append(result)
        if not result.success:
            break
    # The API reads check results from the operational database; the daemon's sensor copies
    # them every 30 s, and this run may come before any daemon does.
    record_check_results(instance, CheckResultStore(store))
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sessions", type=int, default=20, help="recent trading days to ingest")
    parser.add_argument(
        "--ticker", help="only this ticker's clean prices, then features, model and forecasts"
    )
    args = parser.parse_args()
    with dg.DagsterInstance.get() as instance:
        if args.ticker:
            results = materialize_ticker(instance, require_symbol(args.ticker))
            expected = 2
        else:
            results = materialize_everything(instance, args.sessions)
            expected = 3
    return 0 if len(results) == expected and all(r.success for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
