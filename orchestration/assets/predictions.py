"""price_forecasts: the champion of each horizon applied to every ticker's latest features."""

import dagster as dg
import pandas as pd

from orchestration.assets.models import price_model
from orchestration.metadata import markdown_table
from orchestration.resources import RegistryResource, WarehouseResource
from tickerpulse.forecasting.accuracy import accuracy_by_version, realized_errors, served_coverage
from tickerpulse.forecasting.champions import champion, load_champion, registered_name
from tickerpulse.forecasting.forecast import (
    forecastable_by_tickers,
    latest_forecasts,
    publish_forecasts,
)
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
    # Each ticker's latest complete row, read a hundred tickers at a time (the whole panel
    # with a date object per row was the step's largest frame).
    complete, skipped = forecastable_by_tickers(
        wh.read_by_tickers("price_features", date_objects=False)
    )
    skipped_all = set(skipped)
    batches = []
    for horizon in settings.horizons:
        served = champion(reg, registry.base_name, horizon)
        if served is None:
            name = registered_name(registry.base_name, horizon)
            raise dg.Failure(f"{name} has no champion: materialize price_model first")
        batches.append(
            latest_forecasts(load_champion(reg, served), complete, horizon, settings.exchange)
        )
    everything = pd.concat(batches, ignore_index=True)
    publish_forecasts(wh, everything)
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


MIN_SCORED = 30  # fewer realized forecasts are no evidence either way


@dg.asset(
    check_specs=[dg.AssetCheckSpec("realized_coverage_on_target", asset="forecast_accuracy")],
    group_name="predictions",
    deps=[price_forecasts, "clean_prices", "price_features"],
    kinds={"pandas"},
    automation_condition=dg.AutomationCondition.eager(),
    description="Realized error of published forecasts per model version and ticker, against the random walk.",
)
def forecast_accuracy(warehouse: WarehouseResource) -> dg.MaterializeResult:
    wh = warehouse.warehouse
    forecasts = wh.read("price_forecasts")
    prices = wh.read("clean_prices", columns="ticker, date, close")
    errors = realized_errors(forecasts, prices)
    table = accuracy_by_version(errors)
    # The interval figures evaluation reports, for the forecasts actually served.
    coverage = served_coverage(
        errors, wh.read("price_features", columns="ticker, date, volatility_20")
    )
    scored = int(table["forecasts"].sum()) if len(table) else 0
    coverage_80 = (
        float((table["coverage_80"] * table["forecasts"]).sum() / scored) if scored else None
    )
    on_target = scored < MIN_SCORED or 0.65 <= (coverage_80 or 0) <= 0.92
    return dg.MaterializeResult(
        check_results=[
            dg.AssetCheckResult(
                check_name="realized_coverage_on_target",
                passed=on_target,
                severity=dg.AssetCheckSeverity.WARN,
                metadata={"forecasts_scored": scored, "realized_coverage_80": coverage_80},
            )
        ],
        metadata={
            "forecasts_scored": scored,
            "model_versions": int(
                table[["model_name", "model_version"]].drop_duplicates().shape[0]
            ),
            "by_version": dg.MetadataValue.md(
                markdown_table(table, limit=50)
                if scored
                else "_no forecast has reached its target session yet_"
            ),
            "coverage_by_volatility": dg.MetadataValue.md(
                markdown_table(coverage.round(3))
                if scored
                else "_no forecast has reached its target session yet_"
            ),
        },
    )
