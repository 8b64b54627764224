"""Keeps the relay's long-lived objects out of the garbage collector's full passes.

CPython's cyclic collector walks every tracked object on a full pass, and runs one whenever the
long-lived objects have grown by a quarter since the last. Each open WebSocket is about 170
tracked objects (uvicorn's protocol, the ASGI app's coroutines, the stream's tasks), so with
10,000 clients a full pass walks about 2 M objects: in bench_stream it took 0.5-1.6 s with
everything stopped behind it, and the events produced meanwhile reached every client that much
late (the all-fast step's p99 of about 2 s; issue 18).

So the relay freezes its heap after streams were opened: at most every FREEZE_SECONDS, it
collects what is not frozen yet and moves what survives into the permanent generation
(`gc.freeze`, which splices lists: no walk). Full passes then walk only what was allocated
since. With no new stream there is nothing to freeze, and nothing is done: freezing the
objects of the streams' waits (about 7 alive per stream at any moment, each gone within a
second) every second left CPython's young-generation count far below zero as they were freed,
so young collections stopped while 70,000 objects piled up in them, and each freeze's
collection of those took 40-210 ms of every second at 10,000 streams (gc.callbacks timings).
Frozen objects are still freed by reference counting, so a closed stream's objects go as it
closes; what a frozen heap keeps is cyclic garbage, and the one cycle seen is uvicorn's HTTP
protocol object of a connection still mid-handshake at a freeze (18 objects at most; 50 of
2,000 connections opened in a burst), against about 110 objects that an open stream keeps.
So once the streams opened since the last thaw are 4 times those open then (and at least
THAW_OPENED), the heap is thawed and collected whole: garbage stays below the live heap, and
the full pass that costs (about 0.9 s at 10,000 streams on the shared machine) comes a few
times as a relay fills, not at every quarter of growth as CPython's own rule would make it.
The count of frozen objects is no trigger: `gc.get_freeze_count()` walks the whole frozen
list.
On the way out the heap is unfrozen, so a process that outlives the relay (a test) collects as
usual.
"""

from __future__ import annotations

import asyncio
import gc

from realtime.hub import Hub

FREEZE_SECONDS = 5.0
THAW_OPENED = 1000


async def keep_heap_frozen(hub: Hub, seconds: float = FREEZE_SECONDS) -> None:
    """Freeze what survives a collection, at most every `seconds` and only after streams were
    opened, until cancelled."""
    opened = thawed_at_opened = -THAW_OPENED  # at start: collect, then freeze the imports
    open_at_thaw = 0
    try:
        while True:
            now_opened = hub.subscribed
            if now_opened != opened:
                if now_opened - thawed_at_opened >= max(THAW_OPENED, 4 * open_at_thaw):
                    gc.unfreeze()
                    thawed_at_opened, open_at_thaw = now_opened, hub.subscribers
                gc.collect()
                gc.freeze()
                opened = now_opened
            await asyncio.sleep(seconds)
    finally:
        gc.unfreeze()
