"""WebSocket clients for bench_stream, in a process of their own so they do not take the event
loop of the server they measure: `python -m bench.stream_clients WS_URL CHANNELS_JSON`.

One client per entry of CHANNELS_JSON (a list of `channels=` values), all on one asyncio loop.
Every benchmark event carries the wall-clock time it was produced to Kafka (`produced_at`) and
its step; a client records `time.time() - produced_at` as it receives it (same machine, same
clock). The bench talks to this process in JSON lines:

    stdout {"connected": n, "failed": k}            once every client has tried to connect
    stdin  {"cmd": "count", "step": s}   stdout {"received": n}
    stdin  {"cmd": "probes"}             stdout {"probes": [ids of probe events seen]}
    stdin  {"cmd": "report", "step": s}  stdout {"latencies_ms": [...], "closed": {code: n}}
    stdin  {"cmd": "stop"}               closes every client and exits
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from collections import defaultdict

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

CONNECTS_AT_ONCE = 50  # a burst of 1,000 handshakes would overflow the server's listen backlog


class Tally:
    def __init__(self) -> None:
        self.latencies_ms: dict[int, list[float]] = defaultdict(list)
        self.probes: set[str] = set()
        self.closed: dict[int, int] = defaultdict(int)  # close code -> clients the server closed
        self.stopping = False


async def listen(websocket: ClientConnection, tally: Tally) -> None:
    try:
        async for text in websocket:
            received_at = time.time()
            message = json.loads(text)
            if message.get("type") != "event":
                continue
            event = message["data"]
            if event.get("probe"):
                tally.probes.add(event["id"])
            elif "produced_at" in event:  # not another producer's prediction
                tally.latencies_ms[event["step"]].append((received_at - event["produced_at"]) * 1e3)
    except ConnectionClosed:
        pass
    if not tally.stopping:
        tally.closed[websocket.close_code or 0] += 1


def say(answer: dict[str, object]) -> None:
    sys.stdout.write(json.dumps(answer) + "\n")
    sys.stdout.flush()


async def main(url: str, channels: list[str]) -> None:
    tally = Tally()
    gate = asyncio.Semaphore(CONNECTS_AT_ONCE)

    async def open_one(channel: str) -> ClientConnection | None:
        async with gate:
            try:
                # No permessage-deflate: the bench measures fan-out, not zlib.
                return await connect(f"{url}?channels={channel}", compression=None, max_size=None)
            except (OSError, TimeoutError):
                return None

    opened = await asyncio.gather(*(open_one(channel) for channel in channels))
    websockets = [ws for ws in opened if ws is not None]
    listeners = [asyncio.create_task(listen(ws, tally)) for ws in websockets]
    say({"connected": len(websockets), "failed": len(channels) - len(websockets)})

    loop = asyncio.get_running_loop()
    commands = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(commands), sys.stdin)
    while line := await commands.readline():
        command = json.loads(line)
        if command["cmd"] == "count":
            say({"received": len(tally.latencies_ms.get(command["step"], ()))})
        elif command["cmd"] == "probes":
            say({"probes": sorted(tally.probes)})
        elif command["cmd"] == "report":
            latencies = tally.latencies_ms.pop(command["step"], [])
            say({"latencies_ms": [round(ms, 2) for ms in latencies], "closed": tally.closed})
        elif command["cmd"] == "stop":
            break
    tally.stopping = True
    await asyncio.gather(*(ws.close() for ws in websockets), return_exceptions=True)
    await asyncio.gather(*listeners, return_exceptions=True)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], json.loads(sys.argv[2])))
