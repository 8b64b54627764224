"""Where a consumer group of the bus starts, on the real broker: never after events it has not
handled. Each test has a topic of its own with one partition, so offsets are known."""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import Callable

import pytest
from confluent_kafka import TopicPartition
from confluent_kafka.admin import AdminClient

from tests.conftest import committed_places, new_topic
from tickerpulse.stores.events import KafkaBus

pytestmark = [pytest.mark.integration]

WAIT_SECONDS = 60.0


def committed(bootstrap: str, group: str, topic: str) -> int:
    """The group's committed offset on the topic's partition, -1 if it has none."""
    return committed_places(bootstrap, group, topic)[0]


def produce(bus: KafkaBus, topic: str, count: int) -> list[str]:
    ids = [uuid.uuid4().hex for _ in range(count)]
    for event_id in ids:
        assert bus.produce(topic, {"id": event_id})
    assert bus.flush(30) == 0, "the events did not reach the broker"
    return ids


async def member(bus: KafkaBus, topic: str, group: str, received: list[str]) -> None:
    """A member of `group` that starts at the end, as the relay's do: it handles events (keeps
    their ids) until cancelled, and comes back for the next one, which marks the last handled."""
    async with bus.subscribe(topic, group=group, from_beginning=False) as events:
        async for event in events:
            received.append(event["id"])


async def until(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + WAIT_SECONDS
    while not await asyncio.to_thread(condition):
        assert time.monotonic() < deadline, what
        await asyncio.sleep(0.2)


async def visit(
    bootstrap: str, topic: str, group: str, produce_count: int, wanted: int
) -> tuple[int, list[str], list[str]]:
    """A member joins; once its start is committed, `produce_count` events are produced; it
    leaves when it has `wanted` events and has committed them. (start, produced, received)"""
    bus, received = KafkaBus(bootstrap), []
    task = asyncio.create_task(member(bus, topic, group, received))
    try:
        await until(lambda: committed(bootstrap, group, topic) >= 0, "no start committed")
        start = committed(bootstrap, group, topic)
        produced = await asyncio.to_thread(produce, bus, topic, produce_count)
        await until(lambda: len(received) >= wanted, f"received {received}")
        end = start + len(received)  # one partition: each event handled moves the place by one
        await until(lambda: committed(bootstrap, group, topic) >= end, "handled, not committed")
        return start, produced, received
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        bus.close()


def test_a_group_whose_place_fell_out_of_retention_resumes_at_the_oldest_kept_event(
    kafka_bootstrap: str,
) -> None:
    # The relay's groups start at the end of a topic once, and from their committed place after
    # that. When that place is gone (retention deleted it while the relay was away), the
    # consumer must not jump to the end: what is still kept and was never handled would be
    # skipped. It resumes at the oldest event kept.
    topic, group = new_topic(kafka_bootstrap, "test-places"), f"test-places-{uuid.uuid4().hex[:12]}"
    start, produced, received = asyncio.run(visit(kafka_bootstrap, topic, group, 3, 3))
    assert (start, received) == (0, produced)
    assert committed(kafka_bootstrap, group, topic) == 3

    bus = KafkaBus(kafka_bootstrap)
    away = produce(bus, topic, 10)  # offsets 3..12, while no member is there
    bus.close()
    admin = AdminClient({"bootstrap.servers": kafka_bootstrap})
    kept_from = TopicPartition(topic, 0, 6)  # retention passes the committed place, 3
    admin.delete_records([kept_from])[kept_from].result(30)

    _, after, received = asyncio.run(visit(kafka_bootstrap, topic, group, 1, 8))
    assert received == away[3:] + after


def test_a_group_starting_at_the_end_commits_that_place_before_it_reads(
    kafka_bootstrap: str,
) -> None:
    topic, group = new_topic(kafka_bootstrap, "test-places"), f"test-places-{uuid.uuid4().hex[:12]}"
    bus = KafkaBus(kafka_bootstrap)
    before = produce(bus, topic, 4)  # not this group's: written before it came
    bus.close()
    start, produced, received = asyncio.run(visit(kafka_bootstrap, topic, group, 2, 2))
    assert start == len(before)
    assert received == produced
