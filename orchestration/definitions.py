"""The Dagster code location: `dagster dev -m orchestration.definitions`."""

import dagster as dg

from orchestration import checks, jobs
from orchestration.assets import features, ingestion, models, monitoring, predictions
from orchestration.automation import automation_sensor
from orchestration.memory import return_large_blocks
from orchestration.resources import default_resources
from orchestration.schedules import after_the_close
from orchestration.sensors import (
    check_results_to_store,
    clean_after_inbox,
    inbox_files,
    ticker_universe,
)

# Every process that loads the code location runs steps in itself (in_process_executor).
return_large_blocks()

defs = dg.Definitions(
    assets=dg.load_assets_from_modules([ingestion, features, models, predictions, monitoring]),
    asset_checks=dg.load_asset_checks_from_modules([checks]),
    jobs=[jobs.ingest_sessions, jobs.clean_tickers, jobs.train_and_forecast, jobs.ingest_inbox],
    schedules=[after_the_close],
    sensors=[
        ticker_universe,
        inbox_files,
        clean_after_inbox,
        check_results_to_store,
        automation_sensor,
    ],
    resources=default_resources(),
    # One process for all steps: a subprocess per step re-imports pandas, sklearn and MLflow.
    executor=dg.in_process_executor,
)
