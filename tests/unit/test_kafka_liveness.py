"""The guards of a Kafka consumer's life, without a broker: the membership watch's verdicts on
librdkafka's statistics documents (their `cgrp` fields as STATISTICS.md of librdkafka names
them), and the thread a consumer's calls run on."""

from __future__ import annotations

import asyncio
import json
import threading
import time

import pytest

from tickerpulse.stores.events.kafka_liveness import PROBE_SECONDS, CallThread, GroupWatch

LIMIT = 30.0


def statistics(state: str, join_state: str) -> str:
    """The part of a librdkafka statistics document the watch reads, as librdkafka writes it."""
    return json.dumps(
        {
            "name": "rdkafka#consumer-1",
            "type": "consumer",
            "cgrp": {
                "state": state,
                "stateage": 1200,
                "join_state": join_state,
                "rebalance_age": 800,
                "rebalance_cnt": 1,
                "assignment_size": 3,
            },
        }
    )


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_member_is_never_replaced_and_never_probes_the_broker() -> None:
    clock = Clock()
    watch = GroupWatch(LIMIT, clock)
    asked: list[float] = []
    for _ in range(20):
        clock.now += 5
        watch.observe(statistics("up", "steady"))
        assert watch.member
        assert watch.verdict(lambda: asked.append(clock.now) or True) is None
    assert asked == []


def test_out_of_its_group_past_the_limit_with_the_broker_answering_it_is_replaced() -> None:
    clock = Clock()
    watch = GroupWatch(LIMIT, clock)
    watch.observe(statistics("up", "steady"))
    watch.observe(statistics("query-coord", "init"))  # a session timed out: out of the group
    verdicts = []
    while clock.now < 1000 + LIMIT + 2 * PROBE_SECONDS:
        clock.now += 1
        if watch.probe_due():
            verdicts.append((clock.now - 1000, watch.verdict(lambda: True)))
    replaced = [(seconds, why) for seconds, why in verdicts if why]
    assert replaced, verdicts
    seconds, why = replaced[0]
    assert LIMIT < seconds <= LIMIT + PROBE_SECONDS
    assert "query-coord/init" in why and "while the broker answers" in why


def test_an_outage_restarts_the_limit_and_after_it_the_consumer_gets_its_whole_limit() -> None:
    clock = Clock()
    watch = GroupWatch(LIMIT, clock)
    watch.observe(statistics("wait-coord", "init"))
    broker_up_at = 1000 + 4 * LIMIT  # a long outage: out of the group all along
    first_replacement = None
    while clock.now < broker_up_at + 3 * LIMIT and first_replacement is None:
        clock.now += 1
        if watch.probe_due() and watch.verdict(lambda: clock.now >= broker_up_at):
            first_replacement = clock.now
    assert first_replacement is not None
    # Never during the outage, and not before the limit has run with the broker answering
    # (less the probe interval: the last probe of the outage may come just before its end).
    assert first_replacement - broker_up_at > LIMIT - PROBE_SECONDS


def test_a_member_again_is_not_replaced() -> None:
    clock = Clock()
    watch = GroupWatch(LIMIT, clock)
    watch.observe(statistics("up", "wait-join"))
    clock.now += LIMIT - 1
    watch.observe(statistics("up", "steady"))  # rejoined just in time
    watch.observe(statistics("up", "wait-sync"))  # and a rebalance begins
    clock.now += PROBE_SECONDS + 1
    assert watch.verdict(lambda: True) is None


def test_calls_run_in_order_on_their_own_thread_and_a_stuck_call_is_left_behind() -> None:
    async def scenario() -> None:
        calls = CallThread("test-calls")
        done: list[int] = []
        names = await asyncio.gather(
            *(calls.call(lambda i=i: done.append(i) or threading.current_thread().name)
              for i in range(50))
        )  # fmt: skip
        assert done == list(range(50))
        assert set(names) == {"test-calls"}
        with pytest.raises(ZeroDivisionError):
            await calls.call(lambda: 1 / 0)
        # A call that never returns: the event loop waits for it only as long as it chooses.
        release = threading.Event()
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(calls.call(release.wait), 0.2)
        later = calls.call(lambda: "after")
        await asyncio.sleep(0.2)
        assert not later.done()  # in order: behind the stuck call
        release.set()
        assert await later == "after"
        calls.stop()

    started = time.monotonic()
    asyncio.run(scenario())
    assert time.monotonic() - started < 10
