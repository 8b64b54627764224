"""Jobs a data engineer launches by name; each covers one partitioning of the graph."""

import dagster as dg

from orchestration.assets.features import price_features
from orchestration.assets.ingestion import clean_prices, raw_prices
from orchestration.assets.models import price_model
from orchestration.assets.predictions import price_forecasts

ingest_sessions = dg.define_asset_job(
    "ingest_sessions",
    selection=dg.AssetSelection.assets(raw_prices),
    description="Fetch the sessions of the selected trading-day partitions for every ticker.",
)
clean_tickers = dg.define_asset_job(
    "clean_tickers",
    selection=dg.AssetSelection.assets(clean_prices),
    description="Rebuild the clean prices of the selected tickers from the raw store.",
)
train_and_forecast = dg.define_asset_job(
    "train_and_forecast",
    selection=dg.AssetSelection.assets(price_features, price_model, price_forecasts),
    description="Features for the whole universe, walk-forward training and promotion, forecasts.",
)
