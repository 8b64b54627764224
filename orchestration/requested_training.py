"""Carry out one training run requested through the API, as a run of the Dagster instance.

The Celery worker calls `execute_training_run`; the job runs in this process through the
instance the UI reads, so the run, its logs and its asset materializations show in Dagster
like any other. A thread beats the run's heartbeat with Dagster's step count as progress.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import dagster as dg
from dagster._core.utils import make_new_run_id

from orchestration.definitions import defs
from tickerpulse.stores.training_runs import STALE_AFTER, TrainingRunStore

TRAINING_JOB = "train_and_forecast"
TRAINING_RUN_TAG = "tickerpulse/training_run"
# Ten beats fit in STALE_AFTER, after which a run is taken as lost: a beat or two late is not.
HEARTBEAT_SECONDS = STALE_AFTER.total_seconds() / 10


@dataclass(frozen=True)
class Outcome:
    state: str  # "succeeded", "failed", "finished before" or "busy elsewhere"
    dagster_run_id: str | None = None


def _fail_lost_run(
    instance: dg.DagsterInstance,
    dagster_run_id: str | None,
    why: str = "its training worker was lost; the run was retried",
) -> None:
    """The run a killed worker left as STARTED would show as running for ever in the UI."""
    run = instance.get_run_by_id(dagster_run_id) if dagster_run_id else None
    if run is not None and not run.is_finished:
        instance.report_run_failed(run, why)


def fail_replaced_runs(store: TrainingRunStore, instance: dg.DagsterInstance, scope: str) -> None:
    """The Dagster runs of the scope's training runs that a new submission replaced (their
    worker stopped mid-training, and the embedded broker never hands their task out again):
    failed by the scope's next training, as nothing else would touch them."""
    for earlier in store.recent(20):
        if earlier.scope == scope and earlier.state == "failed":
            _fail_lost_run(instance, earlier.dagster_run_id, "its training worker was lost")


def _beat_until(
    stop: threading.Event,
    store: TrainingRunStore,
    instance: dg.DagsterInstance,
    run_id: str,
    dagster_run_id: str,
    total_steps: int,
) -> None:
    while not stop.wait(HEARTBEAT_SECONDS):
        try:
            done = instance.get_run_stats(dagster_run_id).steps_succeeded
        except Exception:  # the run is not in storage yet
            done = 0
        try:
            store.beat(run_id, min(done / total_steps, 0.99), f"{done} of {total_steps} steps done")
        except Exception:  # a database hiccup; the next beat tries again
            continue


def _mlflow_run_ids(result: dg.ExecuteInProcessResult) -> dict[str, str]:
    ids: dict[str, str] = {}
    for event in result.asset_materializations_for_node("price_model"):
        for key, value in event.metadata.items():
            if key.endswith("_mlflow_run_id"):
                ids[key.removesuffix("_mlflow_run_id")] = str(value.value)
    return ids


def execute_training_run(
    store: TrainingRunStore, run_id: str, instance: dg.DagsterInstance
) -> Outcome:
    run = store.require(run_id)
    if run.state in ("succeeded", "failed"):
        return Outcome("finished before", run.dagster_run_id)  # a redelivered task
    dagster_run_id = make_new_run_id()
    if not store.claim(run_id, dagster_run_id, STALE_AFTER):
        return Outcome("busy elsewhere", run.dagster_run_id)
    _fail_lost_run(instance, run.dagster_run_id)
    fail_replaced_runs(store, instance, run.scope)

    job = defs.resolve_job_def(TRAINING_JOB)
    stop = threading.Event()
    beating = threading.Thread(
        target=_beat_until,
        args=(stop, store, instance, run_id, dagster_run_id, len(job.graph.nodes)),
        daemon=True,
    )
    beating.start()
    try:
        result = job.execute_in_process(
            instance=instance,
            run_id=dagster_run_id,
            tags={TRAINING_RUN_TAG: run_id},
            raise_on_error=False,
        )
    except Exception as error:
        # Not the job failing (Dagster records that) but the machinery around it: give the
        # run back so the task's retry can take it at once.
        stop.set()
        store.release(run_id, f"{type(error).__name__}: {error}")
        raise
    finally:
        stop.set()
        beating.join()
    if result.success:
        store.finish(run_id, True, mlflow_run_ids=_mlflow_run_ids(result))
        return Outcome("succeeded", dagster_run_id)
    failures = [
        f"{event.step_key}: {event.event_specific_data.error.message.strip()}"  # type: ignore[union-attr]
        for event in result.all_events
        if event.is_step_failure
    ]
    store.finish(run_id, False, "; ".join(failures)[:2000] or "the Dagster run failed")
    return Outcome("failed", dagster_run_id)
