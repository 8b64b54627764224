"""price_model: candidates evaluated walk-forward against the random walk; MLflow registry.

The Dagster run is an MLflow run too (dagster-mlflow, orchestration/tracking.py): it gets the
run's summary, and each horizon's registered run names it as parent. The registry keeps
registration and aliases, each call scoped to its own store.
"""

import datetime as dt
import gc
import os
import socket
from collections import Counter
from typing import Any

import dagster as dg
import pandas as pd
from dagster_mlflow import end_mlflow_on_run_finished
from dagster_mlflow.resources import MlFlow

from orchestration.assets.features import price_features
from orchestration.automation import weekly_retrain
from orchestration.metadata import markdown_table
from orchestration.resources import OperationalStoreResource, RegistryResource, WarehouseResource
from orchestration.tracking import MLFLOW_RUN_URL_TAG
from tickerpulse.errors import AliasMoved, LeaseHeld, LeaseLost, RegistryUnavailable
from tickerpulse.forecasting.report import conditional_coverage
from tickerpulse.forecasting.training import train_horizon, universe_candidate_rows
from tickerpulse.settings import get_settings
from tickerpulse.stores.leases import HeldLease, LeaseStore, dagster_owner, training_lease

# One training per model at a time, whichever door started it (the weekly automation, the UI,
# the API's Celery worker): each runs this asset, in its own process, under this lease. Renewed
# every quarter of it while training lives; a holder that died frees it a minute later at most.
TRAINING_LEASE_TTL = dt.timedelta(seconds=60)


SHOWN_METRICS = [
    "relative_mae",
    "dm_pvalue",
    "mae",
    "directional_accuracy",
    "coverage_80",
    "coverage_95",
]


@dg.asset(
    group_name="models",
    deps=[price_features],
    automation_condition=weekly_retrain,
    kinds={"mlflow", "scikitlearn"},
    description="One model per horizon; the champion alias moves only past the promotion gate.",
    # Ends the MLflow run when price_model is the run's last step (materialized alone); jobs
    # that go on after it carry the hook on every step (jobs.train_and_forecast).
    hooks={end_mlflow_on_run_finished},
)
def price_model(
    context: dg.AssetExecutionContext,
    warehouse: WarehouseResource,
    registry: RegistryResource,
    operational_store: OperationalStoreResource,
    mlflow: dg.ResourceParam[MlFlow],
) -> dg.MaterializeResult:
    settings = get_settings()
    training_run_id = str(mlflow.mlflow_run_id)
    tracking = mlflow.tracking_client  # bound to the training run's store, not the process URI
    tracking.log_param(training_run_id, "horizons", ",".join(map(str, settings.horizons)))
    tracking.log_param(training_run_id, "folds", settings.walk_forward_folds or "auto")
    run_tags = {"dagster_run_id": context.run_id}
    if mlflow.tracking_uri == registry.registry.tracking_uri:
        # MLflow shows a parent link only within one store.
        run_tags["mlflow.parentRunId"] = training_run_id
    try:
        lease = HeldLease.take(
            LeaseStore(operational_store.store),
            training_lease(registry.base_name),
            f"{dagster_owner(context.run_id)}({socket.gethostname()} pid {os.getpid()})",
            TRAINING_LEASE_TTL,
        )
    except LeaseHeld as error:
        raise dg.Failure(
            f"refused: another training of {registry.base_name} is running ({error}); "
            "the champion is left to it"
        ) from error
    with lease:
        metadata = _train_every_horizon(
            context,
            warehouse,
            registry,
            operational_store,
            tracking,
            training_run_id,
            run_tags,
            lease,
        )
    dagster_run = context.instance.get_run_by_id(context.run_id)
    if dagster_run is not None and MLFLOW_RUN_URL_TAG in dagster_run.tags:
        metadata["mlflow_training_run"] = dg.MetadataValue.url(dagster_run.tags[MLFLOW_RUN_URL_TAG])
    metadata["mlflow_training_run_id"] = training_run_id
    metadata["mlflow_tracking_uri"] = registry.registry.tracking_uri
    return dg.MaterializeResult(metadata=metadata)  # type: ignore[arg-type]


def _train_every_horizon(
    context: dg.AssetExecutionContext,
    warehouse: WarehouseResource,
    registry: RegistryResource,
    operational_store: OperationalStoreResource,
    tracking: Any,
    training_run_id: str,
    run_tags: dict[str, str],
    lease: HeldLease,
) -> dict[str, object]:
    """Train, register and gate each horizon; the lease is checked before every alias move."""
    settings = get_settings()
    metadata: dict[str, object] = {}
    for horizon in settings.horizons:
        # Each horizon's rows built a hundred tickers at a time, dates as datetime64 (a date
        # object per row cost seconds at 2.5 M rows): the whole panel is never held.
        prepared = universe_candidate_rows(
            warehouse.warehouse.read_by_tickers("price_features", date_objects=False), horizon
        )
        try:
            outcome = train_horizon(
                None,
                horizon,
                base_name=registry.base_name,
                folds=settings.walk_forward_folds,
                registry=registry.registry,
                operational_store=operational_store.store,
                train_dates=settings.training_window_dates,
                run_tags=run_tags,
                significance=settings.promotion_significance,
                test_dates=settings.walk_forward_fold_dates,
                test_sessions=settings.walk_forward_test_sessions,
                guard=lease.ensure_held,
                max_train_rows=settings.training_max_rows,
                max_folds=settings.walk_forward_max_folds,
                prepared=prepared,
            )
        except RegistryUnavailable as error:
            raise dg.Failure(
                f"training stopped at h={horizon}, the champion left as it was: {error}",
                allow_retries=True,
            ) from error
        except (LeaseLost, AliasMoved) as error:
            raise dg.Failure(
                f"training stopped at h={horizon}, the champion not moved: {error}"
            ) from error
        context.log.info(
            f"h={horizon}: {outcome.best.model} v{outcome.version.version}: {outcome.decision.reason}"
        )
        # The nested-selected forecast first, then each candidate on the same test days.
        candidates = pd.DataFrame(
            {"selected (nested)": outcome.nested.selected.metrics, **outcome.candidates}
        ).T.reset_index(names="model")[["model", *SHOWN_METRICS]]
        selected = outcome.nested.selected.metrics
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
            f"h{horizon}_selection": "nested: "
            + ", ".join(f"{m} {n}" for m, n in Counter(outcome.nested.choices).most_common()),
            f"h{horizon}_relative_mae": selected["relative_mae"],
            f"h{horizon}_dm_pvalue": selected["dm_pvalue"],
            f"h{horizon}_coverage_80": selected["coverage_80"],
            **{
                f"h{horizon}_{key}": dg.MetadataValue.json(value)
                if isinstance(value, list)
                else value
                for key, value in conditional_coverage(selected).items()
            },
        }
        tracking.log_metric(training_run_id, f"h{horizon}_relative_mae", selected["relative_mae"])
        tracking.set_tag(training_run_id, f"h{horizon}_mlflow_run_id", outcome.version.run_id)
        tracking.set_tag(
            training_run_id,
            f"h{horizon}_registered_version",
            f"{outcome.model_name} v{outcome.version.version}",
        )
        # Neither this horizon's rows nor its predictions are alive while the next one trains:
        # a reference cycle holding them (MLflow's and Dagster's objects make some) would
        # otherwise wait for the collector's next pass, which at 500 tickers came after the
        # next horizon's rows were built (0.7 GiB more at the peak, some runs).
        del prepared, outcome
        gc.collect()
    return metadata
