"""raw_prices (by trading day, SQL operational store) and clean_prices (by ticker, warehouse)."""

import datetime as dt

import dagster as dg
import pandas as pd

from orchestration.automation import on_upstream_update
from orchestration.metadata import markdown_table
from orchestration.partitions import tickers, trading_days
from orchestration.resources import (
    OperationalStoreResource,
    PriceSourcesResource,
    WarehouseResource,
)
from tickerpulse.calendar import last_completed_session
from tickerpulse.cleaning import clean_partitions
from tickerpulse.ingestion import ingest_window
from tickerpulse.symbols import require_symbol

# A run tagged with tickers fetches only those: how a new ticker's history is backfilled
# without re-fetching the whole universe for every day.
TICKERS_TAG = "tickerpulse/tickers"


@dg.asset(
    group_name="ingestion",
    kinds={"sql", "pandas"},
    partitions_def=trading_days,
    # A 20-year backfill runs as ~21 runs of a trading year each: bounded, resumable.
    backfill_policy=dg.BackfillPolicy.multi_run(max_partitions_per_run=250),
    # Sessions close every weekday; the longest normal gap (Friday to Tuesday after a Monday
    # holiday) is under 100 hours. Longer means the schedule stopped.
    freshness_policy=dg.FreshnessPolicy.time_window(fail_window=dt.timedelta(hours=100)),
    description="Daily OHLCV bars of every fetched ticker for the partition's sessions; bad rows go to quarantine.",
)
def raw_prices(
    context: dg.AssetExecutionContext,
    operational_store: OperationalStoreResource,
    price_sources: PriceSourcesResource,
) -> dg.MaterializeResult:
    keys = context.partition_keys
    start = dt.date.fromisoformat(keys[0])
    end = min(dt.date.fromisoformat(keys[-1]), last_completed_session())
    only_tag = context.run.tags.get(TICKERS_TAG)
    only = set(only_tag.split(",")) if only_tag else None
    store = operational_store.store
    refresh = ingest_window(store, price_sources.sources(), start, end, only)
    for ticker, failure in refresh.failures.items():
        context.log.warning(f"{ticker} not fetched: {failure}")
    if refresh.failures and not refresh.reports:
        raise dg.Failure(
            "no ticker could be fetched",
            metadata={"failures": dg.MetadataValue.json(refresh.failures)},
        )
    fetched = pd.DataFrame(
        [
            {
                "ticker": r.ticker,
                "source": r.source,
                "read": r.rows_read,
                "stored": r.stored,
                "rejected": r.rejected,
            }
            for r in refresh.reports
        ],
        columns=["ticker", "source", "read", "stored", "rejected"],
    )
    return dg.MaterializeResult(
        metadata={
            "sessions": f"{start} .. {end} ({len(keys)} partitions)",
            "tickers_fetched": len(fetched),
            "rows_stored": int(fetched["stored"].sum()),
            "rows_rejected": int(fetched["rejected"].sum()),
            "per_ticker": dg.MetadataValue.md(markdown_table(fetched)),
            "file_fed_tickers": ", ".join(refresh.kept) or "none",
            "failures": dg.MetadataValue.json(refresh.failures),
        }
    )


@dg.asset(
    group_name="ingestion",
    deps=[dg.AssetDep(raw_prices, partition_mapping=dg.AllPartitionMapping())],
    kinds={"clickhouse", "parquet"},
    partitions_def=tickers,
    # Every ticker in one run when the whole universe is requested.
    backfill_policy=dg.BackfillPolicy.single_run(),
    automation_condition=on_upstream_update,
    description="Validated, split/dividend-adjusted daily bars; one partition (and warehouse file) per ticker.",
)
def clean_prices(
    context: dg.AssetExecutionContext,
    operational_store: OperationalStoreResource,
    warehouse: WarehouseResource,
) -> dg.MaterializeResult:
    # Every key checked before any file is written: a bad key added by hand fails the run
    # whole, instead of after the tickers before it.
    symbols = [require_symbol(key) for key in context.partition_keys]
    table = pd.DataFrame(clean_partitions(operational_store.store, warehouse.warehouse, symbols))
    return dg.MaterializeResult(
        metadata={
            "tickers": len(table),
            "rows": int(table["rows"].sum()),
            "per_ticker": dg.MetadataValue.md(markdown_table(table)),
        }
    )
