"""The relay as its own service: `python -m realtime.service --host H --port P`.

Embedded, the API runs `realtime_tasks` itself on the in-process bus and mounts the stream.
In full mode this process is the ws_monitor: it consumes `predictions`, `metrics` and
`alerts` from Kafka in the consumer groups `<RELAY_GROUP>-<topic>` and serves `/v1/stream`,
`/healthz` and `/metrics` on picows (realtime/server.py); `python -m realtime.publisher`
scrapes the API into `metrics`, and `python -m realtime.detector` (a process of its own: it
needs pandas and the warehouse, which would more than double the relay's memory) turns them
into `alerts`. SIGTERM or SIGINT closes every stream with 1001, then the bus, and exits 0.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal

from realtime.heap import keep_heap_frozen
from realtime.hub import Hub
from realtime.relay import relay_topics
from realtime.server import RelayServer
from realtime.stream import StreamLimits
from realtime.tasks import stop_tasks, watch_hub
from tickerpulse.settings import Settings, get_settings
from tickerpulse.stores.api_keys import ApiKeyStore
from tickerpulse.stores.events import open_bus
from tickerpulse.stores.sql_engine import bounded_engine

log = logging.getLogger("realtime.service")


async def serve(host: str, port: int, settings: Settings | None = None) -> None:
    """Relay until SIGTERM or SIGINT."""
    settings = settings or get_settings()
    hub = Hub()
    bus = open_bus(settings.events_url)
    keys = ApiKeyStore(bounded_engine(settings.raw_db_url, settings.dependency_timeout_seconds))
    watch_hub(hub, bus)
    relay = RelayServer(hub, StreamLimits.from_settings(settings), keys)
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for number in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(number, stopping.set)
    tasks = [
        asyncio.create_task(relay_topics(bus, hub, settings.relay_group)),
        # 10,000 open streams made every full garbage collection a stall of seconds.
        asyncio.create_task(keep_heap_frozen(hub)),
    ]
    try:
        await relay.start(host, port)
        log.info("relaying /v1/stream on http://%s:%d", host, port)
        await stopping.wait()
        log.info("stopping: closing %d streams", len(relay.clients))
        await relay.shutdown()
    finally:
        await stop_tasks(tasks)
        await asyncio.to_thread(bus.close, 5.0)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="The relay: Kafka's topics to /v1/stream")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=get_settings().relay_port)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    try:
        import uvloop
    except ImportError:  # the standard loop serves too, more slowly
        asyncio.run(serve(args.host, args.port))
    else:
        uvloop.run(serve(args.host, args.port))


if __name__ == "__main__":
    main()
