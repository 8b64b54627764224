"""The Dagster run that trains `price_model` is an MLflow run, through dagster-mlflow.

dagster-mlflow's `mlflow_tracking` starts one MLflow run per Dagster run, tagged
`dagster_run_id`, and its hook `end_mlflow_on_run_finished` ends it FINISHED when the job's
last step succeeds, FAILED when a step fails. Around that resource, `scoped_mlflow_tracking`:

- reads the tracking URI from Settings at run time, so a URI with credentials never shows in
  the Dagster UI (the other resources' empty-field convention);
- creates the experiment under the configured artifact root first (MLflow's own default is
  ./mlruns in whatever directory the run started);
- tags the Dagster run with the MLflow run's id and URL, the way back from Dagster;
- ends the MLflow run at teardown when the hook could not: the hook ends it only on the job's
  last node, which may have no hook (a run that materializes `price_model` and assets after it)
  or may finish before a sibling fails;
- puts MLflow's process-wide URI, experiment and active run back as they were: the Celery
  worker runs training jobs in its own process, and must not keep pointing at this run.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import dagster as dg
import mlflow
from dagster_mlflow import mlflow_tracking

from tickerpulse.settings import get_settings
from tickerpulse.stores.registry import ModelRegistry, mlflow_process_state_kept

MLFLOW_RUN_TAG = "mlflow/run_id"
MLFLOW_RUN_URL_TAG = "mlflow/run_url"


# dagster-mlflow's resource is function-style, and Dagster keeps its adapter to Pythonic config
# private: the config stays a schema, and empty values mean what Settings resolves.
@dg.resource(
    config_schema={
        "experiment_name": dg.Field(
            str, default_value="", description="empty: <MODEL_NAME>-training"
        ),
        "mlflow_tracking_uri": dg.Field(str, default_value="", description="empty: Settings"),
        "artifact_uri": dg.Field(str, default_value="", description="empty: Settings"),
    },
    description="The MLflow run of this Dagster run (dagster-mlflow's mlflow_tracking); assets "
    "take it as `mlflow: dg.ResourceParam[MlFlow]`.",
)
def scoped_mlflow_tracking(context: dg.InitResourceContext) -> Iterator[Any]:
    settings = get_settings()
    config = context.resource_config
    tracking_uri = config.get("mlflow_tracking_uri") or settings.mlflow_tracking_uri
    experiment = config.get("experiment_name") or f"{settings.model_name}-training"
    run_id = context.run_id or ""
    with mlflow_process_state_kept():
        registry = ModelRegistry(
            tracking_uri, config.get("artifact_uri") or settings.mlflow_artifact_uri
        )
        registry.experiment_id(experiment)
        tracking_config = {
            "experiment_name": experiment,
            "mlflow_tracking_uri": tracking_uri,
            "extra_tags": {
                "dagster_job": context.dagster_run.job_name if context.dagster_run else "",
                "dagster_run_url": f"{settings.dagster_ui_url}/runs/{run_id}",
            },
        }
        # A generator function (set up, yield, tear down), though typed as a plain callable.
        start: Callable[[dg.InitResourceContext], Iterator[Any]] = mlflow_tracking.resource_fn  # type: ignore[assignment]
        started = start(context.replace_config(tracking_config))
        tracking = next(started)
        active = mlflow.active_run()
        assert active is not None, "mlflow_tracking starts or resumes the run"
        # dagster-mlflow keeps the id only of a run it resumed; assets read it here either way.
        mlflow_run_id = tracking.mlflow_run_id = active.info.run_id
        if context.instance is not None and run_id:
            url = registry.run_url(settings.mlflow_ui_url, experiment, mlflow_run_id)
            context.instance.add_run_tags(
                run_id, {MLFLOW_RUN_TAG: mlflow_run_id, MLFLOW_RUN_URL_TAG: url}
            )
        try:
            yield tracking
        finally:
            next(started, None)  # dagster-mlflow's own teardown (ends the run on an exception)
            _end_if_the_hook_could_not(context, registry, mlflow_run_id)


def _end_if_the_hook_could_not(
    context: dg.InitResourceContext, registry: ModelRegistry, mlflow_run_id: str
) -> None:
    """The status the Dagster steps earned: FAILED if any failed, else FINISHED. With a
    multiprocess executor each step tears down its own copy; the next step's resumes the run
    (dagster-mlflow finds it by its tag), so the last teardown has the final word."""
    failed = context.instance is not None and bool(
        context.instance.all_logs(context.run_id or "", of_type=dg.DagsterEventType.STEP_FAILURE)
    )
    status = registry.client.get_run(mlflow_run_id).info.status
    if status == "RUNNING" or (failed and status == "FINISHED"):
        registry.client.set_terminated(mlflow_run_id, "FAILED" if failed else "FINISHED")
