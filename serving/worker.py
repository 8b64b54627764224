"""The Celery worker for training runs: `celery -A serving.worker worker -Q training`.

Retries cover the machinery (the database or broker failing for a moment); a job that fails
in Dagster is a finished run with its error, not retried: training again would fail again.
"""

from __future__ import annotations

import logging
import os

import dagster as dg
from celery import Task

from orchestration.requested_training import execute_training_run
from serving.task_queue import TRAIN_TASK, make_celery
from tickerpulse.settings import get_settings
from tickerpulse.stores.operational import OperationalStore
from tickerpulse.stores.training_runs import STALE_AFTER, TrainingRunStore

settings = get_settings()
os.environ.setdefault("DAGSTER_HOME", str(settings.dagster_home))
celery_app = make_celery(settings)
log = logging.getLogger(__name__)
MAX_RETRIES = 3


@celery_app.task(bind=True, name=TRAIN_TASK, max_retries=MAX_RETRIES)
def train(self: Task, run_id: str) -> str:
    store = TrainingRunStore(OperationalStore(settings.raw_db_url))
    try:
        with dg.DagsterInstance.get() as instance:
            outcome = execute_training_run(store, run_id, instance)
    except Exception as error:
        if self.request.retries >= MAX_RETRIES:
            store.finish(run_id, False, f"gave up after {MAX_RETRIES} retries: {error}")
            raise
        raise self.retry(exc=error, countdown=2 ** (self.request.retries + 1)) from error
    if outcome.state == "busy elsewhere":
        # Redelivered while the first worker still beats: look again once it may be gone.
        raise self.retry(countdown=STALE_AFTER.total_seconds(), max_retries=None)
    log.info("training run %s: %s (Dagster run %s)", run_id, outcome.state, outcome.dagster_run_id)
    return outcome.state
