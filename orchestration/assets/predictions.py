"""price_forecasts: the champion of each horizon applied to every ticker's latest features."""

import dagster as dg
import pandas as pd

from orchestration.assets.models import price_model
from orchestration.metadata import markdown_table
from orchestration.resources import RegistryResource, WarehouseResource
from tickerpulse.forecasting.forecast import make_forecasts
from tickerpulse.forecasting.training import registered_name
from tickerpulse.settings import get_settings


@dg.asset(
    group_name="predictions",
    deps=[price_model],
    # Plain eager: a forecast needs a trained model, so it waits while price_model is missing.
    automation_condition=dg.AutomationCondition.eager(),
    kinds={"clickhouse", "parquet"},
    description="Forecast price with 80/95 % conformal intervals and the model version behind it.",
)
def price_forecasts(
    context: dg.AssetExecutionContext, warehouse: WarehouseResource, registry: RegistryResource
) -> dg.MaterializeResult:
    settings = get_settings()
    wh, reg = warehouse.warehouse, registry.registry
    features = wh.read("price_features")
    batches, skipped_all = [], set()
    for horizon in settings.horizons:
        name = registered_name(registry.base_name, horizon)
        champion = reg.by_alias(name, "champion")
        if champion is None:
            raise dg.Failure(f"{name} has no champion: materialize price_model first")
        quantiles = {key: champion.metrics[key] for key in ("q80", "q95")}
        forecasts, skipped = make_forecasts(
            features,
            reg.load(name, "champion"),
            horizon,
            quantiles,
            name,
            champion.version,
            champion.params.get("model", "unknown"),
            settings.exchange,
        )
        batches.append(forecasts)
        skipped_all.update(skipped)
    everything = pd.concat(batches, ignore_index=True)
    for ticker, rows in everything.groupby("ticker"):
        wh.write_partition("price_forecasts", str(ticker), rows.drop(columns="ticker"))
    if skipped_all:
        context.log.warning(f"no forecast (incomplete latest features): {sorted(skipped_all)}")
    shown = everything[
        [
            "ticker",
            "horizon",
            "date",
            "target_date",
            "last_close",
            "forecast",
            "lower_80",
            "upper_80",
            "model_version",
        ]
    ]
    return dg.MaterializeResult(
        metadata={
            "forecasts": len(everything),
            "tickers": everything["ticker"].nunique(),
            "skipped_tickers": ", ".join(sorted(skipped_all)) or "none",
            "forecasts_table": dg.MetadataValue.md(markdown_table(shown, limit=40)),
        }
    )
