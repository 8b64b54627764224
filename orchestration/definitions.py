"""The Dagster code location: `dagster dev -m orchestration.definitions`."""

import dagster as dg

from orchestration import checks
from orchestration.assets import features, ingestion, models, predictions
from orchestration.jobs import refresh_everything
from orchestration.resources import default_resources

defs = dg.Definitions(
    assets=dg.load_assets_from_modules([ingestion, features, models, predictions]),
    asset_checks=dg.load_asset_checks_from_modules([checks]),
    jobs=[refresh_everything],
    resources=default_resources(),
    # One process for all steps: a subprocess per step re-imports pandas, sklearn and MLflow.
    executor=dg.in_process_executor,
)
