"""Jobs a data engineer launches by name; each covers one partitioning of the graph."""

import dagster as dg
from dagster_mlflow import end_mlflow_on_run_finished

from orchestration.assets.features import price_features
from orchestration.assets.ingestion import clean_prices, raw_prices
from orchestration.assets.models import price_model
from orchestration.assets.monitoring import feature_drift
from orchestration.assets.predictions import forecast_accuracy, price_forecasts
from orchestration.memory import trim_heap_after_step
from orchestration.resources import InboxResource, OperationalStoreResource
from tickerpulse.inbox import process_file

TICKER_TAG = "tickerpulse/ticker"

ingest_sessions = dg.define_asset_job(
    "ingest_sessions",
    selection=dg.AssetSelection.assets(raw_prices),
    description="Fetch the sessions of the selected trading-day partitions for every ticker.",
)
clean_tickers = dg.define_asset_job(
    "clean_tickers",
    selection=dg.AssetSelection.assets(clean_prices),
    description="Rebuild the clean prices of the selected tickers from the operational store.",
)
train_and_forecast = dg.define_asset_job(
    "train_and_forecast",
    selection=dg.AssetSelection.assets(
        price_features, price_model, price_forecasts, feature_drift, forecast_accuracy
    ),
    description="Features for the whole universe, walk-forward training and promotion, forecasts, drift.",
    # The run is one MLflow run (dagster-mlflow): every step's hook reports, so a failure
    # anywhere ends it FAILED and the job's last step ends it FINISHED.
    # Its steps share one process (in_process_executor): each gives back what it freed.
    hooks={end_mlflow_on_run_finished, trim_heap_after_step},
)


class InboxFileConfig(dg.Config):
    name: str


@dg.op(
    description="Ingest one inbox file into the operational store, then move it to processed/ or rejected/."
)
def ingest_inbox_file(
    context: dg.OpExecutionContext,
    config: InboxFileConfig,
    operational_store: OperationalStoreResource,
    inbox: InboxResource,
) -> None:
    report = process_file(operational_store.store, inbox.inbox, config.name)
    context.log.info(report.describe())
    context.instance.add_run_tags(context.run_id, {TICKER_TAG: report.ticker})


@dg.job(
    description="One CSV file from the inbox into the operational store (launched by the inbox sensor)."
)
def ingest_inbox() -> None:
    ingest_inbox_file()
