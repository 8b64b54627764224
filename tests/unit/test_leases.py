"""The training lease on each deployment's database (SQLite embedded, PostgreSQL full): one
holder at a time, kept while its holder lives, reclaimed once a dead holder's lease expires."""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import sys
import threading
import time

import pytest

from tests.conftest import ROOT
from tickerpulse.errors import LeaseHeld, LeaseLost
from tickerpulse.stores.leases import HeldLease, LeaseStore
from tickerpulse.stores.operational import OperationalStore

NAME = "training/test-price"
TTL = dt.timedelta(seconds=2)

# A holder in its own process, killed without a chance to release: what a Celery worker or
# Dagster run killed mid-training leaves behind.
HOLDER = """
import datetime as dt, sys, time
from tickerpulse.stores.leases import HeldLease, LeaseStore
from tickerpulse.stores.operational import OperationalStore
store = LeaseStore(OperationalStore(sys.argv[1]))
with HeldLease.take(store, sys.argv[2], "the doomed holder", dt.timedelta(seconds=2)):
    print("held", flush=True)
    time.sleep(600)
"""


def test_of_many_takers_at_once_exactly_one_holds_the_lease(
    operational_store: OperationalStore,
) -> None:
    store = LeaseStore(operational_store)
    start = threading.Barrier(8)
    won: list[str] = []

    def take(owner: str) -> None:
        start.wait()
        if store.acquire(NAME, owner, TTL):
            won.append(owner)

    takers = [threading.Thread(target=take, args=(f"taker {i}",)) for i in range(8)]
    for taker in takers:
        taker.start()
    for taker in takers:
        taker.join(timeout=30)
    assert len(won) == 1
    holder = store.holder(NAME)
    assert holder is not None and holder.owner == won[0]


def test_a_held_lease_refuses_others_and_stays_held_while_its_holder_lives(
    operational_store: OperationalStore,
) -> None:
    store = LeaseStore(operational_store)
    with HeldLease.take(store, NAME, "the first training", TTL) as held:
        time.sleep(3 * TTL.total_seconds())  # three lifetimes: only renewal keeps it
        with pytest.raises(LeaseHeld, match="held by the first training since"):
            HeldLease.take(store, NAME, "the second training", TTL)
        held.ensure_held()
    assert store.holder(NAME) is None  # released at the end of the block
    with HeldLease.take(store, NAME, "the second training", TTL):
        assert store.holder(NAME).owner == "the second training"  # type: ignore[union-attr]


def test_a_dead_holders_lease_is_reclaimed_once_it_expires(
    operational_store: OperationalStore,
) -> None:
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            HOLDER,
            str(operational_store.engine.url.render_as_string(False)),
            NAME,
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
        env=os.environ | {"PYTHONPATH": str(ROOT)},
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        store = LeaseStore(operational_store)
        with pytest.raises(LeaseHeld, match="the doomed holder"):
            HeldLease.take(store, NAME, "the next training", TTL)
        holder.send_signal(signal.SIGKILL)
        holder.wait(timeout=30)
        last = store.holder(NAME)
        assert last is not None and last.owner == "the doomed holder"
        deadline = time.monotonic() + 3 * TTL.total_seconds()
        while not store.acquire(NAME, "the next training", TTL):
            assert time.monotonic() < deadline, "the dead holder's lease was never reclaimed"
            time.sleep(0.1)
        # Not before its last renewal's lifetime ran out: a live holder is never robbed early.
        assert dt.datetime.now(dt.UTC) >= last.expires_at
        assert store.holder(NAME).owner == "the next training"  # type: ignore[union-attr]
    finally:
        if holder.poll() is None:
            holder.kill()
            holder.wait(timeout=30)


def test_a_holder_that_lost_its_lease_is_told_before_it_acts(
    operational_store: OperationalStore,
) -> None:
    store = LeaseStore(operational_store)
    held = HeldLease.take(store, NAME, "the stalled training", TTL)
    # No renewal thread (it never entered the block): as if it stalled past its lease.
    time.sleep(TTL.total_seconds() + 0.5)
    assert store.acquire(NAME, "the next training", TTL)
    with pytest.raises(LeaseLost, match="the stalled training lost the lease"):
        held.ensure_held()
    assert store.holder(NAME).owner == "the next training"  # type: ignore[union-attr]
