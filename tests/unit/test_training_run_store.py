"""Training runs in the operational store: one active run per scope, and exactly one worker per run."""

import datetime as dt
import time

from tickerpulse.stores.leases import LeaseStore, dagster_owner, training_lease
from tickerpulse.stores.operational import OperationalStore
from tickerpulse.stores.training_runs import TrainingRunStore

STALE = dt.timedelta(seconds=0.5)


def test_a_second_submission_for_a_training_scope_returns_the_active_run(
    operational_store: OperationalStore,
) -> None:
    runs = TrainingRunStore(operational_store)
    first, created = runs.submit("tickerpulse-price", "tp_admin")
    again, created_again = runs.submit("tickerpulse-price", "tp_other")
    other_scope, created_other = runs.submit("another-model")
    assert created and not created_again and created_other
    assert again.id == first.id and again.requested_by == "tp_admin"
    assert other_scope.id != first.id
    assert first.state == "queued" and first.progress == 0.0


def test_a_finished_run_frees_its_scope(operational_store: OperationalStore) -> None:
    runs = TrainingRunStore(operational_store)
    first, _ = runs.submit("tickerpulse-price")
    runs.finish(first.id, False, "no features yet")
    second, created = runs.submit("tickerpulse-price")
    assert created and second.id != first.id
    assert runs.require(first.id).error == "no features yet"
    assert [r.id for r in runs.recent()] == [second.id, first.id]


def test_only_one_worker_claims_a_run_until_its_heartbeat_goes_stale(
    operational_store: OperationalStore,
) -> None:
    runs = TrainingRunStore(operational_store)
    run, _ = runs.submit("tickerpulse-price")
    assert runs.claim(run.id, "dagster-1", STALE)
    assert not runs.claim(run.id, "dagster-2", STALE)  # the first worker is alive
    runs.beat(run.id, 0.5, "4 of 8 steps done")
    assert runs.require(run.id).progress == 0.5
    time.sleep(0.7)  # no beat for longer than STALE: that worker is gone
    assert runs.claim(run.id, "dagster-2", STALE)
    taken = runs.require(run.id)
    assert taken.attempts == 2 and taken.dagster_run_id == "dagster-2" and taken.progress == 0.0
    runs.finish(run.id, True, mlflow_run_ids={"h1": "abc"})
    assert not runs.claim(run.id, "dagster-3", STALE)  # finished runs are never taken again
    done = runs.require(run.id)
    assert (
        done.state == "succeeded" and done.progress == 1.0 and done.mlflow_run_ids == {"h1": "abc"}
    )


def test_a_released_run_can_be_claimed_again_at_once(operational_store: OperationalStore) -> None:
    runs = TrainingRunStore(operational_store)
    run, _ = runs.submit("tickerpulse-price")
    assert runs.claim(run.id, "dagster-1", dt.timedelta(hours=1))
    runs.release(run.id, "OperationalError: database restarting")
    assert runs.claim(run.id, "dagster-2", dt.timedelta(hours=1))
    assert runs.require(run.id).error is None


def test_a_run_whose_training_still_holds_the_lease_is_not_taken_over_or_replaced(
    operational_store: OperationalStore,
) -> None:
    """A heartbeat late past `stale_after` (a loaded host, a locked database) while the run's
    training renews the model's lease: the worker is alive, and a second one must not train."""
    runs, leases = TrainingRunStore(operational_store), LeaseStore(operational_store)
    run, _ = runs.submit("tickerpulse-price")
    assert runs.claim(run.id, "dagster-1", STALE)
    owner = f"{dagster_owner('dagster-1')}(host pid 1)"
    assert leases.acquire(training_lease("tickerpulse-price"), owner, dt.timedelta(seconds=60))
    time.sleep(STALE.total_seconds() * 2)
    assert not runs.claim(run.id, "dagster-2", STALE)
    assert runs.require(run.id).dagster_run_id == "dagster-1"
    again, created = runs.submit("tickerpulse-price", stale_after=STALE)  # nor replaced
    assert (again.id, created, again.state) == (run.id, False, "running")
    # Another model's lease, or another run's, says nothing about this run.
    leases.release(training_lease("tickerpulse-price"), owner)
    assert leases.acquire(training_lease("other-model"), owner, dt.timedelta(seconds=60))
    assert runs.claim(run.id, "dagster-2", STALE)


def test_a_submission_replaces_a_running_run_whose_worker_is_gone(
    operational_store: OperationalStore,
) -> None:
    """Ctrl-C or a crash mid-training on a broker that does not redeliver (the embedded one):
    nothing will take the run again, so a new submission must not be handed it back."""
    runs = TrainingRunStore(operational_store)
    run, _ = runs.submit("tickerpulse-price")
    assert runs.claim(run.id, "dagster-1", STALE)
    runs.beat(run.id, 0.4, "3 of 8 steps done")
    again, created = runs.submit("tickerpulse-price", stale_after=STALE)
    assert (again.id, created) == (run.id, False)  # it beat just now: alive
    time.sleep(STALE.total_seconds() * 2)
    replacement, created = runs.submit("tickerpulse-price", "tp_admin", stale_after=STALE)
    assert created and replacement.id != run.id and replacement.state == "queued"
    lost = runs.require(run.id)
    assert lost.state == "failed" and lost.finished_at is not None
    assert lost.error is not None and "stopped beating" in lost.error
    # A redelivered task of the lost run finds it finished: it never trains beside the new one.
    assert not runs.claim(run.id, "dagster-2", STALE)
    assert runs.claim(replacement.id, "dagster-3", STALE)
