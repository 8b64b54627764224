"""price_features: point-in-time features for every ticker, computed in one vectorized pass."""

import dagster as dg

from orchestration.assets.ingestion import clean_prices
from orchestration.automation import on_upstream_update
from orchestration.metadata import markdown_table
from orchestration.resources import WarehouseResource
from tickerpulse.features import FEATURES, compute_features, latest_rows


@dg.asset(
    group_name="features",
    deps=[clean_prices],
    automation_condition=on_upstream_update,
    kinds={"clickhouse", "parquet"},
    description="Returns, trend, momentum, volatility, volume and calendar features per day.",
)
def price_features(warehouse: WarehouseResource) -> dg.MaterializeResult:
    wh = warehouse.warehouse
    features = compute_features(wh.read("clean_prices"))
    for ticker, rows in features.groupby("ticker"):
        wh.write_partition("price_features", str(ticker), rows.drop(columns="ticker"))
    latest = latest_rows(features)[["ticker", "date", "ret_1", "volatility_20", "rsi_14"]]
    return dg.MaterializeResult(
        metadata={
            "rows": len(features),
            "features": len(FEATURES),
            "feature_names": ", ".join(FEATURES),
            "complete_rows": int(features[FEATURES].notna().all(axis=1).sum()),
            "latest": dg.MetadataValue.md(markdown_table(latest)),
        }
    )
