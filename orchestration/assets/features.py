"""price_features: point-in-time features for every ticker, a hundred tickers to a vectorized
pass, and their usability check, judged on the features as they are written."""

import dagster as dg
import numpy as np
import pandas as pd

from orchestration.assets.ingestion import clean_prices
from orchestration.automation import on_upstream_update
from orchestration.metadata import markdown_table
from orchestration.resources import WarehouseResource
from tickerpulse.cleaning import ticker_runs
from tickerpulse.features import FEATURES, LONGEST_WINDOW, compute_features, latest_rows

USABLE = dg.AssetCheckSpec(
    "price_features_usable",
    asset="price_features",
    blocking=True,
    description="No infinities; every ticker past its warm-up has complete rows.",
)


@dg.asset(
    group_name="features",
    deps=[clean_prices],
    automation_condition=on_upstream_update,
    kinds={"clickhouse", "parquet"},
    # The check runs on the frames the asset writes: a check of its own reading every row back
    # took 16 s at 500 tickers x 20 years.
    check_specs=[USABLE],
    description="Returns, trend, momentum, volatility, volume and calendar features per day.",
)
def price_features(warehouse: WarehouseResource) -> dg.MaterializeResult:
    wh = warehouse.warehouse
    counts, latest = [], []
    # A hundred tickers at a time: every feature looks at its own ticker only, so a chunk's
    # features are the whole panel's, and the step holds one chunk (the whole universe at
    # once peaked at 2.3 GiB at 500 tickers x 20 years).
    for prices in wh.read_by_tickers("clean_prices", date_objects=False):
        features = compute_features(prices)
        del prices
        starts, lengths = ticker_runs(features["ticker"])  # compute_features sorts by ticker, date
        names = features["ticker"].to_numpy(dtype=object)[starts]
        # One Arrow conversion, each ticker's file a slice of it (a frame per ticker cost seconds).
        spans = zip(names, starts, lengths, strict=True)
        wh.write_partitions(
            "price_features",
            features,
            {str(name): (int(first), int(count)) for name, first, count in spans},
        )
        counts.append(usability_counts(features))
        latest.append(latest_rows(features)[["ticker", "date", "ret_1", "volatility_20", "rsi_14"]])
        del features
    per_ticker = pd.concat(counts) if counts else usability_counts(pd.DataFrame())
    shown = pd.concat(latest, ignore_index=True) if latest else pd.DataFrame()
    if len(shown):
        shown = shown.assign(date=shown["date"].dt.date)
    return dg.MaterializeResult(
        metadata={
            "rows": int(per_ticker["rows"].sum()),
            "features": len(FEATURES),
            "feature_names": ", ".join(FEATURES),
            "complete_rows": int(per_ticker["complete_rows"].sum()),
            "latest": dg.MetadataValue.md(markdown_table(shown)),
        },
        check_results=[features_usable(per_ticker)],
    )


def usability_counts(features: pd.DataFrame) -> pd.DataFrame:
    """Per ticker: rows, complete rows (every feature present) and infinite values; what the
    check judges, summed over the chunks the asset writes."""
    if features.empty:
        return pd.DataFrame(
            {"rows": [], "complete_rows": [], "infinite_values": []},
            index=pd.Index([], name="ticker"),
            dtype=int,
        )
    tickers = features["ticker"].to_numpy(dtype=object)
    values = features[FEATURES].to_numpy(dtype=float)
    return (
        pd.DataFrame(
            {
                "rows": 1,
                "complete_rows": ~np.isnan(values).any(axis=1),
                "infinite_values": np.isinf(values).sum(axis=1),
            },
            index=pd.Index(tickers, name="ticker"),
        )
        .groupby(level="ticker")
        .sum()
    )


def features_usable(counts: pd.DataFrame) -> dg.AssetCheckResult:
    """`counts`: usability_counts of every ticker written."""
    infinite = int(counts["infinite_values"].sum())
    complete = counts["complete_rows"]
    # A ticker no longer than the longest window (a new CSV of a few days) cannot have a
    # complete row yet: reported, not failed, or it would block every run until it grows.
    short = counts["rows"] <= LONGEST_WINDOW
    without = sorted(complete[(complete == 0) & ~short].index)
    warming = sorted(complete[(complete == 0) & short].index)
    return dg.AssetCheckResult(
        check_name=USABLE.name,
        passed=infinite == 0 and not without and not counts.empty,
        metadata={
            "infinite_values": infinite,
            "tickers_without_complete_rows": ", ".join(without) or "none",
            "tickers_warming_up": ", ".join(warming) or "none",
            "complete_rows_per_ticker": dg.MetadataValue.md(
                markdown_table(complete.rename("complete_rows").reset_index(), limit=10)
            ),
        },
    )
