"""The realtime parts as tasks of whichever process runs them: the API (embedded), or the relay
(its consumers only; the anomaly detector is then a process of its own)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from contextlib import suppress
from typing import TYPE_CHECKING

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from realtime.hub import Hub
from realtime.publisher import publish_forever
from realtime.relay import relay_topics
from runtime.collectors import dead_letters, replace_collector
from tickerpulse.settings import Settings
from tickerpulse.stores.events import EventBus

if TYPE_CHECKING:  # the relay's process imports this module and must not load pandas
    from tickerpulse.stores.warehouse import Warehouse


class HubCollector(Collector):
    """The hub's counts, and in the relay's own process its bus's dead letters (the API reports
    its bus's itself)."""

    def __init__(self, hub: Hub, bus: EventBus | None = None) -> None:
        self.hub, self.bus = hub, bus

    def collect(self):
        yield GaugeMetricFamily(
            "tickerpulse_stream_clients", "WebSocket clients subscribed", value=self.hub.subscribers
        )
        yield CounterMetricFamily(
            "tickerpulse_stream_deliveries",
            "Messages queued to WebSocket clients",
            value=self.hub.delivered,
        )
        yield CounterMetricFamily(
            "tickerpulse_stream_duplicates",
            "Redelivered events the relay recognized and did not pass on",
            value=self.hub.duplicates,
        )
        if self.bus is not None:
            yield dead_letters(self.bus)


def watch_hub(hub: Hub, bus: EventBus | None = None) -> None:
    replace_collector("stream", HubCollector(hub, bus))


def realtime_tasks(
    bus: EventBus,
    hub: Hub,
    settings: Settings,
    scrape: Callable[[], Awaitable[str]] | None,
    group: str | None,
    warehouse: Warehouse | None,
) -> list[asyncio.Task]:
    """The relay's consumers and the anomaly detector; the metrics publisher given a scrape."""
    # Imported here: the relay's own process imports this module, and the detector's pandas
    # would more than double its memory (it runs the detector as a process of its own).
    from realtime.detector import detect_anomalies

    tasks = [
        asyncio.create_task(relay_topics(bus, hub, group)),
        asyncio.create_task(
            detect_anomalies(bus, warehouse, settings.anomaly_check_seconds, group)
        ),
    ]
    if scrape is not None:
        tasks.append(
            asyncio.create_task(publish_forever(bus, scrape, settings.metrics_interval_seconds))
        )
    return tasks


async def stop_tasks(tasks: list[asyncio.Task]) -> None:
    for task in tasks:
        task.cancel()
    for task in tasks:
        with suppress(asyncio.CancelledError):
            await task
