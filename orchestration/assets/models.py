"""price_model: candidates evaluated walk-forward against the random walk; MLflow registry."""

import dagster as dg
import pandas as pd

from orchestration.assets.features import price_features
from orchestration.automation import weekly_retrain
from orchestration.metadata import markdown_table
from orchestration.resources import RawStoreResource, RegistryResource, WarehouseResource
from tickerpulse.forecasting.training import train_horizon
from tickerpulse.settings import get_settings

SHOWN_METRICS = ["relative_mae", "mae", "directional_accuracy", "coverage_80", "coverage_95"]


@dg.asset(
    group_name="models",
    deps=[price_features],
    automation_condition=weekly_retrain,
    kinds={"mlflow", "scikitlearn"},
    description="One model per horizon; the champion alias moves only past the promotion gate.",
)
def price_model(
    context: dg.AssetExecutionContext,
    warehouse: WarehouseResource,
    registry: RegistryResource,
    raw_store: RawStoreResource,
) -> dg.MaterializeResult:
    settings = get_settings()
    features = warehouse.warehouse.read("price_features")
    metadata: dict[str, object] = {}
    for horizon in settings.horizons:
        outcome = train_horizon(
            features,
            horizon,
            base_name=registry.base_name,
            folds=settings.walk_forward_folds,
            registry=registry.registry,
            raw_store=raw_store.store,
            train_dates=settings.training_window_dates,
        )
        context.log.info(
            f"h={horizon}: {outcome.best.model} v{outcome.version.version}: {outcome.decision.reason}"
        )
        candidates = pd.DataFrame(outcome.candidates).T.reset_index(names="model")[
            ["model", *SHOWN_METRICS]
        ]
        champion = outcome.champion
        metadata |= {
            f"h{horizon}_candidates": dg.MetadataValue.md(markdown_table(candidates)),
            f"h{horizon}_registered_version": f"{outcome.model_name} v{outcome.version.version} ({outcome.best.model})",
            f"h{horizon}_promotion": outcome.decision.reason,
            f"h{horizon}_champion": f"v{champion.version} ({champion.params.get('model')})"
            if champion
            else "none",
            f"h{horizon}_mlflow_run": dg.MetadataValue.url(
                registry.registry.run_url(
                    settings.mlflow_ui_url, outcome.model_name, outcome.version.run_id
                )
            ),
            # Plain text too: training runs requested through the API report it.
            f"h{horizon}_mlflow_run_id": outcome.version.run_id,
            f"h{horizon}_relative_mae": outcome.best.metrics["relative_mae"],
            f"h{horizon}_coverage_80": outcome.best.metrics["coverage_80"],
        }
    metadata["mlflow_tracking_uri"] = registry.registry.tracking_uri
    return dg.MaterializeResult(metadata=metadata)  # type: ignore[arg-type]
