"""A closed KafkaBus lets go of librdkafka: no threads left reconnecting to a broker."""

from __future__ import annotations

import os
import time

from bench.load import free_port
from tickerpulse.stores.events import KafkaBus


def native_threads() -> int:
    return len(os.listdir("/proc/self/task"))  # librdkafka's threads are not Python's


def test_close_stops_the_producer_threads_while_the_bus_is_still_referenced() -> None:
    before = native_threads()
    bus = KafkaBus(f"127.0.0.1:{free_port()}")  # nothing listens there
    assert native_threads() > before
    bus.close(timeout_seconds=0.5)
    deadline = time.monotonic() + 10
    while native_threads() > before and time.monotonic() < deadline:
        time.sleep(0.1)
    # Before the fix, its main and broker threads lived (and logged "Connection refused") as
    # long as the bus object did.
    assert native_threads() == before
    assert bus.stats()["dropped"] == 0


def test_a_closed_bus_refuses_events_and_closes_once() -> None:
    bus = KafkaBus(f"127.0.0.1:{free_port()}")
    bus.close(timeout_seconds=0.5)
    bus.close(timeout_seconds=0.5)  # a second close (shutdown paths overlap) is harmless
    assert bus.produce("tickerpulse.predictions", {"ticker": "ACME"}) is False
    assert bus.stats()["dropped"] == 1
