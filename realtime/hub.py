"""Fan-out of events to subscribers: sequence numbers, bounded replay, bounded queues.

Every event gets the next sequence number and is encoded once (`encode`): each subscriber
whose channels match gets that same text object in its own bounded queue, so the cost of an
event's JSON does not grow with its audience (each client's writer hands the text on as is).
A subscriber that falls a whole queue behind is cut off (the relay closes it with a clear
code) instead of growing without bound.
The last `replay` messages stay in a ring, so a client that reconnects with its last sequence
number gets what it missed, or a `gap` notice when the ring no longer reaches back that far.

Sequence numbers start from the clock (microseconds) and then count up by one, so they keep
increasing across relay restarts: a client's last number is never "from the future".
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from typing import Any

PUBLIC_CHANNELS = ("predictions",)  # and predictions:<TICKER>; metrics and alerts need a token
TOPIC_CHANNELS = ("predictions", "metrics", "alerts")


def encode(message: dict[str, Any]) -> str:
    """A message's one JSON text: called once per event, however many receive it."""
    return json.dumps(message, default=str)


def channels_of(topic: str, event: dict[str, Any]) -> tuple[str, ...]:
    """The channels an event is delivered on: its topic, and the topic per ticker."""
    ticker = event.get("ticker")
    return (topic, f"{topic}:{ticker}") if ticker else (topic,)


def needs_token(channel: str) -> bool:
    return channel.split(":", 1)[0] not in PUBLIC_CHANNELS


def valid_channel(channel: str) -> bool:
    topic, _, ticker = channel.partition(":")
    return topic in TOPIC_CHANNELS and (not ticker or 0 < len(ticker) <= 20)


class Subscriber:
    """One client's channels and its bounded queue of encoded messages.

    A deque and one waiter, not an asyncio.Queue and an asyncio.Event: those cost about 4 KB
    for every connection held open, and the relay holds 10,000 (issue 18).
    """

    __slots__ = (
        "_waiter",
        "channels",
        "last_offer",
        "on_overflow",
        "overflowed",
        "pending",
        "queue_size",
    )

    def __init__(self, channels: set[str], queue_size: int = 1000) -> None:
        self.channels, self.queue_size = channels, queue_size
        self.pending: deque[str] = deque()
        self.overflowed = False
        self.last_offer = time.monotonic()  # when it was last given a message: idle since
        # Called once as it overflows: the relay closes the client then, not when its writer
        # next wakes (which, for a client that stopped reading, is when a send times out).
        self.on_overflow: Callable[[], None] | None = None
        self._waiter: asyncio.Future[None] | None = None

    def offer(self, text: str) -> None:
        if self.overflowed:
            return
        if len(self.pending) >= self.queue_size:
            self.overflowed = True  # the relay closes it; no message is silently skipped
            if self.on_overflow is not None:
                self.on_overflow()
            return
        self.pending.append(text)
        self.last_offer = time.monotonic()
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    async def wait(self) -> None:
        """Until a message is pending (at once if one is)."""
        if self.pending:
            return
        self._waiter = asyncio.get_running_loop().create_future()
        try:
            await self._waiter
        finally:
            self._waiter = None


class Hub:
    def __init__(self, replay: int = 10_000, dedupe: int = 100_000) -> None:
        self.seq = time.time_ns() // 1000
        self.first_seq = self.seq + 1
        self._ring: deque[tuple[int, tuple[str, ...], str]] = deque(maxlen=replay)
        self._by_channel: dict[str, set[Subscriber]] = {}
        self._seen: OrderedDict[str, None] = OrderedDict()
        self._dedupe = dedupe
        self.delivered = 0
        self.duplicates = 0
        self.subscribed = 0  # subscribers ever added
        self._heartbeat = (0, "")  # (seq, text): encoded once per seq, not once per client

    @property
    def subscribers(self) -> int:
        return len({s for group in self._by_channel.values() for s in group})

    def _duplicate(self, event_id: str | None) -> bool:
        """An event id seen recently: a broker's redelivery, not a new event."""
        if event_id is None:
            return False
        if event_id in self._seen:
            self.duplicates += 1
            return True
        self._seen[event_id] = None
        if len(self._seen) > self._dedupe:
            self._seen.popitem(last=False)
        return False

    def publish(self, topic: str, event: dict[str, Any]) -> int | None:
        """Deliver one event; its sequence number, or None for a duplicate."""
        if self._duplicate(event.get("id")):
            return None
        channels = channels_of(topic, event)
        self.seq += 1
        text = encode({"type": "event", "seq": self.seq, "channel": channels[-1], "data": event})
        self._ring.append((self.seq, channels, text))
        targets: set[Subscriber] = set()
        for channel in channels:
            targets |= self._by_channel.get(channel, set())
        for subscriber in targets:
            subscriber.offer(text)
        self.delivered += len(targets)
        return self.seq

    def heartbeat(self) -> str:
        """The heartbeat message at the current sequence number, shared by every idle client."""
        if self._heartbeat[0] != self.seq:
            self._heartbeat = (self.seq, encode({"type": "heartbeat", "seq": self.seq}))
        return self._heartbeat[1]

    def subscribe(self, subscriber: Subscriber, last_seq: int | None = None) -> None:
        """Add a subscriber; with `last_seq`, first queue what it missed since then.

        A resume replays at most half the subscriber's queue: more would overflow it at once,
        close it as too slow, and its reconnect would resume from the same place and overflow
        again. What it cannot get is named in a `gap` notice; the client reads that span from
        the REST API and goes on from the live feed.
        """
        self.subscribed += 1
        if last_seq is not None:
            missed = [
                (seq, text)
                for seq, channels, text in self._ring
                if seq > last_seq and subscriber.channels.intersection(channels)
            ]
            replay = missed[max(0, len(missed) - subscriber.queue_size // 2) :]
            oldest = self._ring[0][0] if self._ring else self.seq + 1
            gap_to: int | None
            if len(replay) < len(missed):  # cut: the gap runs up to the first one replayed
                gap_to = replay[0][0] - 1 if replay else self.seq
            else:  # whole, unless the ring no longer reaches back to last_seq
                gap_to = oldest - 1 if last_seq + 1 < oldest else None
            if gap_to is not None:
                gap = {"type": "gap", "from_seq": last_seq + 1, "to_seq": gap_to, "seq": self.seq}
                subscriber.offer(json.dumps(gap))
            for _, text in replay:
                subscriber.offer(text)
        self.add_channels(subscriber, subscriber.channels)

    def add_channels(self, subscriber: Subscriber, channels: set[str]) -> None:
        """Deliver `channels` to the subscriber too: costs what it adds, not what it has."""
        for channel in channels:
            self._by_channel.setdefault(channel, set()).add(subscriber)
        subscriber.channels |= channels

    def remove_channels(self, subscriber: Subscriber, channels: set[str]) -> None:
        for channel in channels:
            group = self._by_channel.get(channel)
            if group is not None:
                group.discard(subscriber)
                if not group:
                    del self._by_channel[channel]
        subscriber.channels -= channels

    def unsubscribe(self, subscriber: Subscriber) -> None:
        self.remove_channels(subscriber, set(subscriber.channels))
