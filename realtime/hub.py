"""Fan-out of events to subscribers: sequence numbers, bounded replay, bounded queues.

Every event gets the next sequence number and is encoded once (`encode`): each subscriber
whose channels match gets that same text object in its own bounded queue, so the cost of an
event's JSON does not grow with its audience (each client's writer hands the text on as is). A subscriber that falls a whole queue
behind is cut off (the relay closes it with a clear code) instead of growing without bound.
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
from dataclasses import dataclass, field
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


@dataclass(eq=False)
class Subscriber:
    channels: set[str]
    queue_size: int = 1000
    queue: asyncio.Queue[str] = field(init=False)
    overflowed: asyncio.Event = field(default_factory=asyncio.Event)
    # Called once as it overflows: the relay closes the client then, not when its writer next
    # wakes (which, for a client that stopped reading, is only when a send times out).
    on_overflow: Callable[[], None] | None = None

    def __post_init__(self) -> None:
        self.queue = asyncio.Queue(self.queue_size)

    def offer(self, text: str) -> None:
        if self.overflowed.is_set():
            return
        try:
            self.queue.put_nowait(text)
        except asyncio.QueueFull:
            self.overflowed.set()  # the relay closes it; no message is silently skipped
            if self.on_overflow is not None:
                self.on_overflow()


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
