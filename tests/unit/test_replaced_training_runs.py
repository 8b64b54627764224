"""A training run whose worker stopped mid-training on the embedded broker (Ctrl-C on `make up`)
is replaced by the next submission; its Dagster run, left STARTED, is failed by the scope's
next training rather than shown as running for ever in the UI."""

import time

import dagster as dg
from dagster._core.utils import make_new_run_id

from orchestration.requested_training import fail_replaced_runs
from tests.unit.test_training_run_store import STALE
from tickerpulse.stores.operational import OperationalStore
from tickerpulse.stores.training_runs import TrainingRunStore

SCOPE = "tickerpulse-price"


def started_run(instance: dg.DagsterInstance) -> str:
    run = dg.DagsterRun(
        job_name="train_and_forecast", run_id=make_new_run_id(), status=dg.DagsterRunStatus.STARTED
    )
    return instance.add_run(run).run_id


def test_the_next_training_fails_the_dagster_run_of_a_replaced_one(
    operational_store: OperationalStore,
) -> None:
    runs = TrainingRunStore(operational_store)
    with dg.instance_for_test() as instance:
        lost_dagster_run, other_scopes = started_run(instance), started_run(instance)
        lost, _ = runs.submit(SCOPE)
        assert runs.claim(lost.id, lost_dagster_run, STALE)
        elsewhere, _ = runs.submit("another-model")
        assert runs.claim(elsewhere.id, other_scopes, STALE)
        time.sleep(STALE.total_seconds() * 2)  # both stop beating
        _, created = runs.submit(SCOPE, stale_after=STALE)
        assert created and runs.require(lost.id).state == "failed"

        fail_replaced_runs(runs, instance, SCOPE)
        status = {
            run_id: instance.get_run_by_id(run_id).status  # type: ignore[union-attr]
            for run_id in (lost_dagster_run, other_scopes)
        }
        # Another scope's run is not this training's to judge (it was never replaced).
        assert status == {
            lost_dagster_run: dg.DagsterRunStatus.FAILURE,
            other_scopes: dg.DagsterRunStatus.STARTED,
        }
        fail_replaced_runs(runs, instance, SCOPE)  # once failed, left as it is
        again = instance.get_run_by_id(lost_dagster_run)
        assert again is not None and again.status == dg.DagsterRunStatus.FAILURE
