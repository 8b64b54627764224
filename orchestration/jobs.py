"""Jobs a data engineer launches by name."""

import dagster as dg

refresh_everything = dg.define_asset_job(
    "refresh_everything",
    selection=dg.AssetSelection.all(),
    description="Ingest, clean, featurize, train, promote and forecast, in that order.",
)
