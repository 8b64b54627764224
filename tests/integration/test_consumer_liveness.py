"""A consumer of the bus that stays out of its group while the broker answers is replaced, on
the real broker. Nothing in a test can make librdkafka lose its way as it did in CI (issue 19),
so the member is kept out the broker's way: the group is held by a member whose assignment
protocol ours does not speak, and every JoinGroup of ours is refused."""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from collections.abc import Iterator

import pytest
from confluent_kafka import Consumer

from tests.conftest import new_topic
from tickerpulse.stores.events import KafkaBus
from tickerpulse.stores.events import kafka as kafka_module
from tickerpulse.stores.events.kafka_liveness import PROBE_SECONDS, ConsumerStuck, GroupWatch

pytestmark = [pytest.mark.integration]


def until(condition, seconds: float, what: str) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.2)


@pytest.fixture
def held_group(kafka_bootstrap: str) -> Iterator[tuple[str, str, GroupWatch]]:
    """A topic and a group held by a member that speaks only cooperative-sticky; its watch
    (reading the real librdkafka statistics) says when it is a member."""
    topic, group = new_topic(kafka_bootstrap, "test-liveness"), f"test-held-{uuid.uuid4().hex[:12]}"
    watch = GroupWatch(limit_seconds=60)
    holder = Consumer(
        {
            "bootstrap.servers": kafka_bootstrap,
            "group.id": group,
            "partition.assignment.strategy": "cooperative-sticky",
            "statistics.interval.ms": 500,
            "stats_cb": watch.observe,
        }
    )
    holder.subscribe([topic])
    stop = threading.Event()

    def hold() -> None:
        while not stop.is_set():
            holder.poll(0.2)

    thread = threading.Thread(target=hold, daemon=True)
    thread.start()
    try:
        until(lambda: watch.member, 60, f"the holder never joined (state {watch.state})")
        yield topic, group, watch
    finally:
        stop.set()
        thread.join(5)
        holder.close()


def test_the_watch_reads_membership_from_real_statistics(
    held_group: tuple[str, str, GroupWatch],
) -> None:
    _topic, _group, watch = held_group
    assert watch.member
    assert watch.state == "up/steady"


def test_a_consumer_refused_by_its_group_while_the_broker_answers_is_replaced(
    kafka_bootstrap: str,
    held_group: tuple[str, str, GroupWatch],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    topic, group, holder = held_group
    limit = 6.0
    monkeypatch.setattr(kafka_module, "REJOIN_LIMIT_SECONDS", limit)
    bus = KafkaBus(kafka_bootstrap)

    async def consume() -> float:
        started = time.monotonic()
        with pytest.raises(ConsumerStuck) as stuck:
            async with bus.subscribe(topic, group=group, from_beginning=False) as events:
                async for _event in events:
                    pytest.fail("a consumer out of its group received an event")
        assert group in str(stuck.value) and "while the broker answers" in str(stuck.value)
        return time.monotonic() - started

    try:
        seconds = asyncio.run(asyncio.wait_for(consume(), 120))
    finally:
        bus.close()
    # Replaced once the limit ran out with the broker answering (probed every PROBE_SECONDS),
    # and the member it could not displace is still there.
    assert limit < seconds <= limit + 2 * PROBE_SECONDS + 35  # + a close of up to 30 s
    assert holder.member
