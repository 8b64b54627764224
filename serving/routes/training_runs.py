import asyncio
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Response, status
from fastapi.exceptions import RequestValidationError

from serving.deps import Services, ServicesDep
from serving.schemas import TrainingRun, TrainingRunCreate
from serving.security import AdminKey
from serving.task_queue import enqueue_training
from tickerpulse.stores.training_runs import TrainingRun as StoredRun

router = APIRouter(prefix="/v1/training-runs", tags=["training runs"])


def _view(services: Services, run: StoredRun) -> dict[str, Any]:
    settings = services.settings
    dagster = f"{settings.dagster_ui_url}/runs/{run.dagster_run_id}"
    return run.as_dict() | {"dagster_run_url": dagster if run.dagster_run_id else None}


@router.post(
    "",
    response_model=TrainingRun,
    status_code=status.HTTP_202_ACCEPTED,
    summary="Train and forecast again, on the Celery worker through Dagster; poll the run",
    responses={
        200: {"description": "the scope is already training: that run is returned"},
        503: {"description": "the task queue is unreachable; nothing was started"},
    },
)
async def submit_training_run(
    services: ServicesDep, response: Response, key: AdminKey, body: TrainingRunCreate | None = None
) -> dict[str, Any]:
    scope = (body.scope if body else None) or services.settings.model_name
    if scope != services.settings.model_name:
        raise RequestValidationError(
            [
                {
                    "loc": ("body", "scope"),
                    "msg": f"the only trainable scope is {services.settings.model_name}",
                    "input": scope,
                }
            ]
        )
    run, created = services.training_runs.submit(scope, key.prefix)
    response.headers["Location"] = f"/v1/training-runs/{run.id}"
    if not created:
        response.status_code = status.HTTP_200_OK
        return _view(services, run)
    try:
        await asyncio.to_thread(enqueue_training, services.celery, run.id)
    except Exception as error:
        # Nothing will pick the run up: record why, so the scope is free to submit again.
        # The broker's failure is TaskQueueUnavailable (503); anything else is ours (500).
        services.training_runs.finish(run.id, False, f"could not be queued: {error}")
        raise
    return _view(services, services.training_runs.require(run.id))


@router.get("", response_model=list[TrainingRun], summary="The most recent training runs")
def list_training_runs(
    services: ServicesDep, limit: Annotated[int, Query(ge=1, le=200)] = 20
) -> list[dict[str, Any]]:
    return [_view(services, run) for run in services.training_runs.recent(limit)]


@router.get("/{run_id}", response_model=TrainingRun, summary="One training run, for polling")
def get_training_run(run_id: str, services: ServicesDep) -> dict[str, Any]:
    run = services.training_runs.get(run_id)
    if run is None:
        raise HTTPException(404, f"no training run {run_id[:40]!r}; see /v1/training-runs")
    return _view(services, run)
