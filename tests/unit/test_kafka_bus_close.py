"""A closed KafkaBus lets go of librdkafka: no threads left reconnecting to a broker."""

from __future__ import annotations

import os
import time

from bench.load import free_port
from tickerpulse.stores.events import KafkaBus


def librdkafka_threads() -> set[str]:
    """The ids of this process's librdkafka threads (not Python's: named rdk:main,
    rdk:broker..., by the library)."""
    found = set()
    for task in os.listdir("/proc/self/task"):
        try:
            with open(f"/proc/self/task/{task}/comm") as name:
                if name.read().startswith("rdk:"):
                    found.add(task)
        except OSError:  # it ended while we looked
            continue
    return found


def test_close_stops_the_producer_threads_while_the_bus_is_still_referenced() -> None:
    before = librdkafka_threads()
    bus = KafkaBus(f"127.0.0.1:{free_port()}")  # nothing listens there
    # This bus's own: a count of every thread of the process also moved with threads that
    # other tests in the same xdist worker left ending (a CI run saw 46 after, 47 before).
    its_own = librdkafka_threads() - before
    assert its_own
    bus.close(timeout_seconds=0.5)
    deadline = time.monotonic() + 10
    while its_own & librdkafka_threads() and time.monotonic() < deadline:
        time.sleep(0.1)
    # Before the fix, its main and broker threads lived (and logged "Connection refused") as
    # long as the bus object did.
    assert its_own & librdkafka_threads() == set()
    assert bus.stats()["dropped"] == 0


def test_a_closed_bus_refuses_events_and_closes_once() -> None:
    bus = KafkaBus(f"127.0.0.1:{free_port()}")
    bus.close(timeout_seconds=0.5)
    bus.close(timeout_seconds=0.5)  # a second close (shutdown paths overlap) is harmless
    assert bus.produce("tickerpulse.predictions", {"ticker": "ACME"}) is False
    assert bus.stats()["dropped"] == 1
