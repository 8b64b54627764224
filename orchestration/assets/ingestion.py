"""raw_prices (SQL raw store) and clean_prices (warehouse), across the ticker universe."""

import dagster as dg
import pandas as pd

from orchestration.metadata import markdown_table
from orchestration.resources import PriceSourcesResource, RawStoreResource, WarehouseResource
from tickerpulse.calendar import last_completed_session
from tickerpulse.cleaning import clean_ticker_prices
from tickerpulse.ingestion import refresh_universe


@dg.asset(
    group_name="ingestion",
    kinds={"sql", "pandas"},
    description="Daily OHLCV bars as delivered by each ticker's source; bad rows go to quarantine.",
)
def raw_prices(
    context: dg.AssetExecutionContext,
    raw_store: RawStoreResource,
    price_sources: PriceSourcesResource,
) -> dg.MaterializeResult:
    store = raw_store.store
    today = last_completed_session()
    refresh = refresh_universe(store, price_sources.sources(), today, price_sources.history_years)
    for ticker, failure in refresh.failures.items():
        context.log.warning(f"{ticker} not refreshed: {failure}")
    fetched = pd.DataFrame(
        [
            {
                "ticker": r.ticker,
                "source": r.source,
                "read": r.rows_read,
                "stored": r.stored,
                "rejected": r.rejected,
                "last_date": r.last_date,
            }
            for r in refresh.reports
        ]
    )
    if refresh.failures and not refresh.reports and not refresh.kept:
        raise dg.Failure(
            "no ticker could be refreshed",
            metadata={"failures": dg.MetadataValue.json(refresh.failures)},
        )
    return dg.MaterializeResult(
        metadata={
            "tickers": len(store.list_tickers()),
            "rows_total": store.count_prices(),
            "rows_stored_this_run": int(fetched["stored"].sum()) if len(fetched) else 0,
            "rows_rejected_this_run": int(fetched["rejected"].sum()) if len(fetched) else 0,
            "last_session": str(today),
            "fetched": dg.MetadataValue.md(markdown_table(fetched)),
            "file_fed_tickers": ", ".join(refresh.kept) or "none",
            "failures": dg.MetadataValue.json(refresh.failures),
        }
    )


@dg.asset(
    group_name="ingestion",
    deps=[raw_prices],
    kinds={"clickhouse", "parquet"},
    description="Validated, split/dividend-adjusted daily bars, one warehouse partition per ticker.",
)
def clean_prices(raw_store: RawStoreResource, warehouse: WarehouseResource) -> dg.MaterializeResult:
    store, wh = raw_store.store, warehouse.warehouse
    raw = store.read_prices([row["symbol"] for row in store.list_tickers()])
    for ticker, rows in raw.groupby("ticker"):
        wh.write_partition("clean_prices", str(ticker), clean_ticker_prices(rows))
    summary = wh.summary("clean_prices")
    return dg.MaterializeResult(
        metadata={
            "tickers": len(summary),
            "rows": int(summary["rows"].sum()) if len(summary) else 0,
            "per_ticker": dg.MetadataValue.md(markdown_table(summary)),
        }
    )
