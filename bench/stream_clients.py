"""WebSocket clients for bench_stream, in a process of their own so they do not take the event
loop of the server they measure: `python -m bench.stream_clients WS_URL CLIENTS_JSON_FILE`.

CLIENTS_JSON_FILE holds a list of [channel, slow_channels]: one client per entry, all on one
asyncio loop, each subscribed to `channel`. Every benchmark event carries the wall-clock time
it was produced to Kafka (`produced_at`) and its step; a client records `time.time() -
produced_at` as it receives it (same machine, same clock), fast and slow clients apart. On `slow`, the
clients with slow_channels subscribe to those too and from then on read one message a
second, with a small receive buffer so that what they do not read backs up to the server
within seconds rather than minutes. The bench talks to this process in JSON lines:

    stdout {"connected": n, "failed": k}            once every client has tried to connect
    stdin  {"cmd": "count", "step": s}   stdout {"received": n}   (fast clients)
    stdin  {"cmd": "probes"}             stdout {"probes": [ids of probe events seen]}
    stdin  {"cmd": "slow"}               stdout {"slow": n}       (clients turned slow)
    stdin  {"cmd": "report", "step": s}  stdout {"latencies_ms": {"fast": [...], "slow": [...]},
                                                 "closed": {"fast": {code: n}, "slow": {...}}}
    stdin  {"cmd": "stop"}               closes every client and exits
"""

from __future__ import annotations

import asyncio
import json
import resource
import socket
import sys
import time
from collections import defaultdict
from urllib.parse import urlsplit

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

CONNECTS_AT_ONCE = 50  # a burst of 10,000 handshakes would overflow the server's listen backlog
CONNECT_TIMEOUT_SECONDS = 60.0
SLOW_RECEIVE_BUFFER_BYTES = 4096  # the kernel doubles it; the default 128 KB takes minutes to fill
SLOW_READ_SECONDS = 1.0


def raise_open_files_limit() -> None:
    """Ten thousand sockets need more descriptors than a default soft limit of 1,024."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


class Client:
    def __init__(self, channel: str, slow_channels: list[str]) -> None:
        self.channel, self.slow_channels = channel, slow_channels
        self.slow = False
        self.websocket: ClientConnection | None = None


class Tally:
    def __init__(self) -> None:
        # step -> "fast"/"slow" -> latencies
        self.latencies_ms: dict[int, dict[str, list[float]]] = defaultdict(
            lambda: {"fast": [], "slow": []}
        )
        self.probes: set[str] = set()
        self.closed: dict[str, dict[int, int]] = {
            "fast": defaultdict(int),
            "slow": defaultdict(int),
        }
        self.stopping = False


async def listen(client: Client, tally: Tally) -> None:
    assert client.websocket is not None
    try:
        async for text in client.websocket:
            received_at = time.time()
            message = json.loads(text)
            if message.get("type") == "event":
                event = message["data"]
                kind = "slow" if client.slow else "fast"
                if event.get("probe"):
                    tally.probes.add(event["id"])
                elif "produced_at" in event:  # not another producer's prediction
                    latency = (received_at - event["produced_at"]) * 1e3
                    tally.latencies_ms[event["step"]][kind].append(latency)
            if client.slow:
                await asyncio.sleep(SLOW_READ_SECONDS)
    except ConnectionClosed:
        pass
    if not tally.stopping:
        code = client.websocket.close_code or 0
        tally.closed["slow" if client.slow else "fast"][code] += 1


def say(answer: dict[str, object]) -> None:
    sys.stdout.write(json.dumps(answer) + "\n")
    sys.stdout.flush()


async def open_client(url: str, client: Client, gate: asyncio.Semaphore) -> bool:
    address = urlsplit(url)
    async with gate:
        try:
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            if client.slow_channels:  # set before connecting: the window is agreed then
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, SLOW_RECEIVE_BUFFER_BYTES)
            sock.setblocking(False)
            loop = asyncio.get_running_loop()
            async with asyncio.timeout(CONNECT_TIMEOUT_SECONDS):
                await loop.sock_connect(sock, (address.hostname, address.port))
                # No permessage-deflate: the bench measures fan-out, not zlib. A slow client
                # buffers few frames of its own, so its backlog stays at the server.
                client.websocket = await connect(
                    f"{url}?channels={client.channel}",
                    sock=sock,
                    compression=None,
                    max_size=None,
                    max_queue=4 if client.slow_channels else 16,
                    open_timeout=CONNECT_TIMEOUT_SECONDS,
                )
            return True
        except (OSError, TimeoutError):
            sock.close()
            return False


async def turn_slow(clients: list[Client]) -> int:
    turned = 0
    for client in clients:
        if client.slow_channels and client.websocket is not None:
            client.slow = True
            await client.websocket.send(json.dumps({"subscribe": client.slow_channels}))
            turned += 1
    return turned


async def main(url: str, entries: list[list]) -> None:
    raise_open_files_limit()
    tally = Tally()
    gate = asyncio.Semaphore(CONNECTS_AT_ONCE)
    clients = [Client(channel, slow_channels) for channel, slow_channels in entries]
    opened = await asyncio.gather(*(open_client(url, client, gate) for client in clients))
    clients = [client for client, ok in zip(clients, opened, strict=True) if ok]
    listeners = [asyncio.create_task(listen(client, tally)) for client in clients]
    say({"connected": len(clients), "failed": len(entries) - len(clients)})

    loop = asyncio.get_running_loop()
    commands = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(commands), sys.stdin)
    while line := await commands.readline():
        command = json.loads(line)
        if command["cmd"] == "count":
            say({"received": len(tally.latencies_ms[command["step"]]["fast"])})
        elif command["cmd"] == "probes":
            say({"probes": sorted(tally.probes)})
        elif command["cmd"] == "slow":
            say({"slow": await turn_slow(clients)})
        elif command["cmd"] == "report":
            latencies = tally.latencies_ms.pop(command["step"], {"fast": [], "slow": []})
            rounded = {kind: [round(ms, 2) for ms in values] for kind, values in latencies.items()}
            say({"latencies_ms": rounded, "closed": tally.closed})
        elif command["cmd"] == "stop":
            break
    tally.stopping = True
    websockets = [client.websocket for client in clients if client.websocket is not None]
    await asyncio.gather(*(ws.close() for ws in websockets), return_exceptions=True)
    await asyncio.gather(*listeners, return_exceptions=True)


if __name__ == "__main__":
    with open(sys.argv[2]) as listing:
        asyncio.run(main(sys.argv[1], json.load(listing)))
