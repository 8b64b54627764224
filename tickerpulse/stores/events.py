"""Event bus by URL, after encode/broadcaster: memory:// in-process, kafka:// for real.

Topics are the platform's: prediction-requests, predictions, metrics, alerts.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
import threading
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, Protocol

log = logging.getLogger(__name__)


def _iso(value: object) -> str:
    if isinstance(value, dt.date):  # datetimes too
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON: events carry plain values and dates")


def encode_event(event: dict[str, Any]) -> bytes:
    """The one wire format of every bus: JSON, dates as ISO strings."""
    return json.dumps(event, default=_iso).encode()


TOPICS = ("prediction-requests", "predictions", "metrics", "alerts", "forecasts-published")


class EventBus(Protocol):
    async def publish(self, topic: str, event: dict[str, Any]) -> None: ...

    def subscribe(
        self, topic: str, group: str | None = None, from_beginning: bool | None = None
    ) -> Any:
        """An async context manager yielding an async iterator of events.

        With a group, subscribers share the topic's events (a consumer group); without, each
        gets every event published from now on. `from_beginning` says where a group that has
        no committed place yet starts (default: the beginning for a group).
        """
        ...

    def stats(self) -> dict[str, int]:
        """delivered, failed (gave up after the delivery timeout), dropped (buffer full), buffered."""
        ...

    def close(self, timeout_seconds: float = 5.0) -> None: ...


class MemoryBus:
    """Fan-out to every subscriber's bounded queue; a full queue drops that subscriber's oldest."""

    def __init__(self, queue_size: int = 1000) -> None:
        self._subscribers: dict[str, set[asyncio.Queue[dict[str, Any]]]] = {}
        self._groups: dict[tuple[str, str], asyncio.Queue[dict[str, Any]]] = {}
        self.queue_size = queue_size
        self.delivered = 0
        self.dropped = 0

    async def publish(self, topic: str, event: dict[str, Any]) -> None:
        event = json.loads(encode_event(event))  # what a Kafka consumer would get
        queues = list(self._subscribers.get(topic, ()))
        queues += [queue for (name, _), queue in self._groups.items() if name == topic]
        for queue in queues:
            if queue.full():
                queue.get_nowait()
                self.dropped += 1
            queue.put_nowait(event)
        self.delivered += 1

    def stats(self) -> dict[str, int]:
        return {"delivered": self.delivered, "failed": 0, "dropped": self.dropped, "buffered": 0}

    def close(self, timeout_seconds: float = 5.0) -> None:
        pass

    @asynccontextmanager
    async def subscribe(
        self, topic: str, group: str | None = None, from_beginning: bool | None = None
    ) -> AsyncIterator[AsyncIterator[dict[str, Any]]]:
        if group is not None:
            # Members of a group share one queue: each event reaches one of them.
            queue = self._groups.setdefault((topic, group), asyncio.Queue(self.queue_size))

            async def shared() -> AsyncIterator[dict[str, Any]]:
                while True:
                    yield await queue.get()

            yield shared()
            return
        queue = asyncio.Queue(self.queue_size)
        self._subscribers.setdefault(topic, set()).add(queue)

        async def events() -> AsyncIterator[dict[str, Any]]:
            while True:
                yield await queue.get()

        try:
            yield events()
        finally:
            self._subscribers[topic].discard(queue)


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
            }
        )
        self.delivered = self.failed = self.dropped = 0
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
        self.produce(topic, event)

    def produce(self, topic: str, event: dict[str, Any]) -> bool:
        """Queue one event; False when the buffer is full and it was dropped."""
        key = event.get("ticker")
        try:
            self._producer.produce(
                topic,
                encode_event(event),
                key=str(key).encode() if key else None,  # a ticker's events stay in order
                on_delivery=self._on_delivery,
            )
        except BufferError:
            self.dropped += 1
            log.error("Kafka buffer full: dropped an event for %s", topic)
            return False
        return True

    def stats(self) -> dict[str, int]:
        return {
            "delivered": self.delivered,
            "failed": self.failed,
            "dropped": self.dropped,
            "buffered": len(self._producer),
        }

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
        self.flush(timeout_seconds)
        self._closing.set()
        self._poller.join(timeout=1)

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
        consumer = Consumer(
            {
                "bootstrap.servers": self.bootstrap_servers,
                # No group: a private one that starts at the end, like a broadcast listener.
                "group.id": group or f"tickerpulse-listener-{uuid.uuid4().hex}",
                # A group's first start: from the beginning (workers must see every request)
                # unless told otherwise; a private listener starts at the end.
                "auto.offset.reset": "latest" if from_end else "earliest",
                "enable.auto.commit": True,
                # An offset is committed only once the event was handled (below), so a
                # consumer that dies mid-event leaves it for the group: at least once.
                "enable.auto.offset.store": False,
            }
        )
        if group and from_end:
            consumer.subscribe([topic], on_assign=_pin_the_end)
        else:
            consumer.subscribe([topic])

        async def events() -> AsyncIterator[dict[str, Any]]:
            while True:
                message = await asyncio.to_thread(consumer.poll, 0.5)
                if message is None:
                    continue
                if message.error():
                    log.warning("Kafka consumer on %s: %s", topic, message.error())
                    continue
                yield json.loads(message.value() or b"null")
                consumer.store_offsets(message)

        try:
            yield events()
        finally:
            await asyncio.to_thread(consumer.close)


def _pin_the_end(consumer: Any, partitions: list[Any]) -> None:
    """Commit where a group that starts at the end first found each partition's end.

    Without a committed place, a member that rejoins (after a broker outage longer than the
    session timeout, say) starts at the end again, and whatever was written to a partition it
    had not yet read from since it came, during the outage or just after, is skipped.
    """
    from confluent_kafka import KafkaException, TopicPartition

    try:
        fresh = [p for p in consumer.committed(partitions, timeout=10) if p.offset < 0]
        ends = [
            TopicPartition(p.topic, p.partition, consumer.get_watermark_offsets(p, timeout=10)[1])
            for p in fresh
        ]
        if ends:
            consumer.commit(offsets=ends, asynchronous=False)
    except KafkaException as error:  # then it starts at the end as before, unpinned
        log.warning("could not pin the start of a consumer group: %s", error)


def open_bus(url: str) -> EventBus:
    scheme = url.split("://", 1)[0]
    if scheme == "memory":
        return MemoryBus()
    if scheme == "kafka":
        return KafkaBus(url.split("://", 1)[1].rstrip("/"))
    raise ValueError(f"EVENTS_URL={url!r}: use memory:// or kafka://host:port[,host:port]")
