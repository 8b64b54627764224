"""Kafka through confluent-kafka: an idempotent producer, consumer groups that start where
they left off, and dead letters for messages no consumer can handle."""

from __future__ import annotations

import asyncio
import logging
import os
import threading
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from tickerpulse.errors import EventBusUnavailable
from tickerpulse.stores.events.kafka_liveness import (
    STATISTICS_INTERVAL_MS,
    CallThread,
    ConsumerStuck,
    GroupWatch,
)
from tickerpulse.stores.events.wire import (
    DEAD_LETTERS,
    MAX_MESSAGE_BYTES,
    decode_event,
    encode_event,
)

log = logging.getLogger(__name__)
# A broker outage longer than the session ends the member's session; it then rejoins as a new
# member, which the broker admits only once the old one's session has expired there too:
# recovery waits a whole session (45 s by default, seen in bench_broker_restart). 10 s,
# Kafka's default until 3.0.
SESSION_TIMEOUT_MS = 10_000
# Out of its group this long while the broker answers, a consumer is replaced: three sessions
# (a normal rejoin after a restart takes about one, while the broker expires the old member).
REJOIN_LIMIT_SECONDS = 3 * SESSION_TIMEOUT_MS / 1000
CLOSE_SECONDS = 30.0  # a close commits and leaves the group; one that hangs is abandoned


def _librdkafka_debug() -> dict[str, str]:
    """KAFKA_DEBUG=cgrp,fetch,... turns on librdkafka's own debug log (to standard error)
    in every client of the bus: how a lost or repeated event is traced to a cause."""
    contexts = os.environ.get("KAFKA_DEBUG", "").strip()
    return {"debug": contexts} if contexts else {}


class KafkaBus:
    """Kafka through confluent-kafka: an idempotent producer with acks=all.

    librdkafka's own queue is the bounded buffer: with the broker down, events wait there and
    are retried until `delivery_timeout_ms`; a full queue refuses at once (counted as
    dropped), and an event still undelivered at the timeout is counted as failed.
    """

    def __init__(
        self,
        bootstrap_servers: str,
        *,
        buffer_messages: int = 100_000,
        delivery_timeout_ms: int = 600_000,
        client_id: str = "tickerpulse",
    ) -> None:
        from confluent_kafka import Producer

        self.bootstrap_servers = bootstrap_servers
        self._producer = Producer(
            {
                "bootstrap.servers": bootstrap_servers,
                "client.id": client_id,
                "enable.idempotence": True,  # no duplicates from retries, order kept
                "acks": "all",
                "linger.ms": 5,
                "queue.buffering.max.messages": buffer_messages,
                "message.timeout.ms": delivery_timeout_ms,
                "message.max.bytes": MAX_MESSAGE_BYTES,
                **_librdkafka_debug(),
            }
        )
        self.delivered = self.failed = self.dropped = self.dead_letters = 0
        self._closing = threading.Event()
        self._poller = threading.Thread(target=self._serve_callbacks, daemon=True)
        self._poller.start()

    def _serve_callbacks(self) -> None:
        while not self._closing.is_set():
            self._producer.poll(0.2)

    def _on_delivery(self, error: Any, _message: Any) -> None:
        if error is None:
            self.delivered += 1
        else:
            self.failed += 1
            log.error("event not delivered to Kafka: %s", error)

    async def publish(self, topic: str, event: dict[str, Any]) -> None:
        if not self.produce(topic, event):
            raise EventBusUnavailable(
                f"the Kafka buffer is full ({len(self._producer)} events wait for the broker)"
            )

    def produce(self, topic: str, event: dict[str, Any]) -> bool:
        """Queue one event; False when the buffer is full and it was refused."""
        key = event.get("ticker")
        if self._closing.is_set():  # librdkafka's handle is gone: refused, as when full
            self.dropped += 1
            log.error("Kafka bus closed: refused an event for %s", topic)
            return False
        try:
            self._producer.produce(
                topic,
                encode_event(event),
                key=str(key).encode() if key else None,  # a ticker's events stay in order
                on_delivery=self._on_delivery,
            )
        except BufferError:
            self.dropped += 1
            log.error("Kafka buffer full: refused an event for %s", topic)
            return False
        return True

    def stats(self) -> dict[str, int]:
        return {
            "delivered": self.delivered,
            "failed": self.failed,
            "dropped": self.dropped,
            "buffered": len(self._producer),
            "dead_letters": self.dead_letters,
        }

    def dead_letter(self, message: Any, reason: str, group: str) -> None:
        """Put a message no consumer can handle on DEAD_LETTERS, as it came, with why."""
        where = {
            "topic": message.topic(),
            "partition": str(message.partition()),
            "offset": str(message.offset()),
            "group": group,
        }
        self._keep_dead_letter(message.value(), message.key(), reason, where)

    async def reject(self, topic: str, event: dict[str, Any], reason: str) -> None:
        key = event.get("ticker")
        self._keep_dead_letter(
            encode_event(event), str(key).encode() if key else None, reason, {"topic": topic}
        )

    def _keep_dead_letter(
        self, value: bytes | None, key: bytes | None, reason: str, where: dict[str, str]
    ) -> None:
        from confluent_kafka import KafkaException

        self.dead_letters += 1
        log.warning("dead letter from %s: %s", where, reason)
        if self._closing.is_set():
            log.error("dead letter not kept (the bus is closed): %s", reason)
            return
        try:
            self._producer.produce(
                DEAD_LETTERS, value, key=key, headers={"reason": reason, **where}
            )
        except (BufferError, KafkaException) as error:  # counted and logged: it stops nothing
            log.error("dead letter not kept (%s): %s", error, reason)

    def reachable(self, timeout_seconds: float = 1.0) -> bool:
        """Whether a broker answers a metadata request now."""
        try:
            self._producer.list_topics(timeout=timeout_seconds)
        except Exception:  # KafkaException on timeout; any failure means not reachable
            return False
        return True

    def flush(self, timeout_seconds: float) -> int:
        """Wait for buffered events; the number still undelivered."""
        return int(self._producer.flush(timeout_seconds))

    def close(self, timeout_seconds: float = 5.0) -> None:
        if self._closing.is_set():
            return
        self.flush(timeout_seconds)
        self._closing.set()
        self._poller.join(timeout=1)
        # Destroy librdkafka's handle now: kept until garbage collection, its threads go on
        # reconnecting to a broker that may be long gone (and log every attempt).
        self._producer.close()

    def ensure_topic(self, topic: str, timeout_seconds: float = 10.0) -> None:
        """Create the topic with the broker's default partitions, unless it exists."""
        from confluent_kafka import KafkaError, KafkaException
        from confluent_kafka.admin import AdminClient, NewTopic

        admin = AdminClient({"bootstrap.servers": self.bootstrap_servers})
        future = admin.create_topics([NewTopic(topic, num_partitions=-1)])[topic]
        try:
            future.result(timeout=timeout_seconds)
        except KafkaException as error:
            if error.args[0].code() != KafkaError.TOPIC_ALREADY_EXISTS:
                raise

    @asynccontextmanager
    async def subscribe(
        self, topic: str, group: str | None = None, from_beginning: bool | None = None
    ) -> AsyncIterator[AsyncIterator[dict[str, Any]]]:
        from confluent_kafka import Consumer

        from_end = not (group if from_beginning is None else from_beginning)
        if group:
            # A group cannot form on a topic that does not exist yet (no producer wrote to it).
            await asyncio.to_thread(self.ensure_topic, topic)
        # No group: a private one that starts at the end, like a broadcast listener.
        group_id = group or f"tickerpulse-listener-{uuid.uuid4().hex}"
        watch = GroupWatch(limit_seconds=REJOIN_LIMIT_SECONDS)
        consumer = Consumer(
            {
                "bootstrap.servers": self.bootstrap_servers,
                "group.id": group_id,
                # A group's place is what it committed, and a group that starts at the end gets
                # one as it is first assigned (_pin_the_end), so this reset applies only when a
                # committed place is gone (out of range after retention, say). Then the oldest
                # event kept is the start that skips nothing: "latest" here once lost every event
                # written between a rejoin's commit gap and its start (issue 19).
                "auto.offset.reset": "earliest" if group else "latest",
                "enable.auto.commit": True,
                "auto.commit.interval.ms": 1000,
                "session.timeout.ms": SESSION_TIMEOUT_MS,
                "heartbeat.interval.ms": 3_000,
                # An offset is stored (and then committed) only once the event was handled
                # (below), so a consumer that dies mid-event leaves it for the group: at least
                # once. Repeats are the receiver's to drop: events carry ids.
                "enable.auto.offset.store": False,
                "statistics.interval.ms": STATISTICS_INTERVAL_MS,
                "stats_cb": watch.observe,
                **_librdkafka_debug(),
            }
        )
        if group and from_end:
            consumer.subscribe([topic], on_assign=_pin_the_end)
        else:
            consumer.subscribe([topic])

        # Its polls and its close run on a thread of its own, in order: a cancelled consumer's
        # last poll ends before its close (closing during a poll is unsafe in librdkafka).
        calls = CallThread(f"kafka-consumer-{topic}")

        def reachable() -> bool:
            return self.reachable(timeout_seconds=2.0)

        async def events() -> AsyncIterator[dict[str, Any]]:
            while True:
                message = await calls.call(lambda: consumer.poll(0.5))
                if message is None or message.error():
                    if message is not None:
                        log.warning("Kafka consumer on %s: %s", topic, message.error())
                    if watch.probe_due():
                        stuck = await asyncio.to_thread(watch.verdict, reachable)
                        if stuck:
                            raise ConsumerStuck(f"consumer of {topic} in {group_id}: {stuck}")
                    continue
                event = decode_event(message.value())
                if isinstance(event, str):
                    self.dead_letter(message, event, group_id)
                else:
                    yield event
                consumer.store_offsets(message)

        try:
            yield events()
        finally:
            try:
                await asyncio.wait_for(calls.call(consumer.close), CLOSE_SECONDS)
            except TimeoutError:  # its thread is a daemon: abandoned, it holds nothing up
                log.warning(
                    "Kafka consumer of %s did not close within %.0f s", topic, CLOSE_SECONDS
                )
            finally:
                calls.stop()


class PinFailed(RuntimeError):
    """A group that starts at the end could not learn or commit its place: its consumer stops
    (and is restarted) rather than start at a place it did not commit."""


def _pin_the_end(consumer: Any, partitions: list[Any]) -> None:
    """Commit the end of each assigned partition that has no committed place yet.

    A group that starts at the end must own that place before it reads: without it, a member
    that rejoins (after a broker outage longer than the session timeout, whose assignment is
    then lost and its stored offsets never committed) had no place to resume from and started
    at the end again, skipping what was written meanwhile. An answer with an error is never
    read as "no place": pinning the end over a place that exists would skip the same events.
    """
    from confluent_kafka import KafkaException, TopicPartition

    try:
        committed = consumer.committed(partitions, timeout=10)
        failed = [p for p in committed if p.error is not None]
        if failed:
            raise PinFailed(f"committed offsets of {failed} unknown: {failed[0].error}")
        fresh = [p for p in committed if p.offset < 0]
        ends = [
            TopicPartition(p.topic, p.partition, consumer.get_watermark_offsets(p, timeout=10)[1])
            for p in fresh
        ]
        if ends:
            log.info(
                "Group starts at the end of %s",
                ", ".join(f"{p.topic}[{p.partition}]@{p.offset}" for p in ends),
            )
            consumer.commit(offsets=ends, asynchronous=False)
    except KafkaException as error:
        raise PinFailed(f"could not pin the start of a consumer group: {error}") from error
