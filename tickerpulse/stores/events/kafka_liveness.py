"""What keeps a Kafka consumer alive: a thread of its own, and a watch on its group membership.

A consumer group member that stays out of its group reads nothing and reports no error. In a
CI run (issue 19) the relay's `predictions` consumer timed out of its group during a 3 s broker
restart and never joined again: the broker expired the member 10 s after it came back, the
15 events written meanwhile sat in the topic, and the relay stayed silent for minutes.
librdkafka has had such states (a member stuck querying for its coordinator after a
restart: librdkafka issues 2944, 3082, 3396). Two guards:

- every call on a consumer's handle runs on a daemon thread of its own (`CallThread`): its
  polls, which serve librdkafka's rebalance callbacks, never queue behind other work in
  asyncio's shared executor, and a `close` that never returns is abandoned, not waited on;
- `GroupWatch` reads librdkafka's statistics: a member out of its group for longer than its
  limit while the broker answers is replaced (its group's committed place makes that safe,
  and the relay's hub drops the repeats a replacement may bring).
"""

from __future__ import annotations

import asyncio
import json
import queue
import threading
import time
from collections.abc import Callable
from typing import Any

# Statistics every second: what GroupWatch reads (a few KB of JSON per consumer).
STATISTICS_INTERVAL_MS = 1000
# While out of its group, a consumer asks whether the broker answers this often; an outage
# restarts its limit, so it is never blamed for the broker's absence.
PROBE_SECONDS = 5.0


class ConsumerStuck(RuntimeError):
    """A consumer stayed out of its group while the broker answered: it is to be replaced."""


class CallThread:
    """One daemon thread that runs the calls given to it, in order, for the event loop."""

    def __init__(self, name: str) -> None:
        self._calls: queue.SimpleQueue[Any] = queue.SimpleQueue()
        threading.Thread(target=self._run, name=name, daemon=True).start()

    def _run(self) -> None:
        while (call := self._calls.get()) is not None:
            function, future, loop = call
            try:
                result, error = function(), None
            except BaseException as raised:  # handed to the awaiting task, whatever it is
                result, error = None, raised
            loop.call_soon_threadsafe(_settle, future, result, error)

    def call(self, function: Callable[[], Any]) -> asyncio.Future[Any]:
        """Run `function` on the thread; the future resolves on the caller's loop. Cancelling
        the future does not stop the call: the next call still waits for it."""
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        self._calls.put((function, future, loop))
        return future

    def stop(self) -> None:
        """End the thread after the calls already given (one stuck in a call stays a daemon)."""
        self._calls.put(None)


def _settle(future: asyncio.Future[Any], result: Any, error: BaseException | None) -> None:
    if future.cancelled():
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(result)


class GroupWatch:
    """Whether a consumer is a member of its group, from librdkafka's statistics (its `cgrp`
    state "up" and join state "steady"), and whether it has been out of it for too long."""

    def __init__(self, limit_seconds: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.limit_seconds = limit_seconds
        self._clock = clock
        self._since = clock()  # the last moment it was a member, or had an excuse not to be
        self._probed = self._since
        self.state = "not yet reported"

    @property
    def member(self) -> bool:
        return self.state == "up/steady"

    def observe(self, statistics_json: str) -> None:
        """librdkafka's `stats_cb`: called from the consumer's poll."""
        group = json.loads(statistics_json).get("cgrp") or {}
        self.state = f"{group.get('state')}/{group.get('join_state')}"
        if self.member:
            self._since = self._clock()

    def probe_due(self) -> bool:
        return not self.member and self._clock() - self._probed >= PROBE_SECONDS

    def verdict(self, broker_answers: Callable[[], bool]) -> str | None:
        """Why the consumer should be replaced, or None. Called when a probe is due (it may
        block: `broker_answers` asks the broker): while the broker does not answer, being out
        of the group is the outage's doing, and the limit starts again."""
        if not self.probe_due():
            return None
        now = self._clock()
        self._probed = now
        out = now - self._since
        if not broker_answers():
            self._since = now
            return None
        if out > self.limit_seconds:
            return (
                f"out of its consumer group for {out:.0f} s while the broker answers "
                f"(group state {self.state})"
            )
        return None
