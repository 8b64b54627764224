"""metrics_publisher: scrape Prometheus text every few seconds, publish a compact snapshot.

Embedded, it runs as a task in the API process and reads the registry directly; as its own
service it scrapes the API's /metrics over HTTP. Either way the snapshot goes to the bus.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from tickerpulse.stores.events import EventBus

log = logging.getLogger(__name__)
TOPIC = "metrics"


def snapshot(text: str, prefix: str = "tickerpulse_") -> dict[str, Any]:
    """Our own series only, as {sample name: [{labels, value}]}, skipping _created stamps."""
    series: dict[str, list[dict[str, Any]]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if not sample.name.startswith(prefix) or sample.name.endswith("_created"):
                continue
            series.setdefault(sample.name, []).append(
                {"labels": sample.labels, "value": sample.value}
            )
    return {"at": time.time(), "series": series}


async def publish_forever(
    bus: EventBus, scrape: Callable[[], Awaitable[str]], interval_seconds: float = 5.0
) -> None:
    """Publish until cancelled; a failed scrape is logged and retried on the next tick."""
    while True:
        try:
            await bus.publish(TOPIC, snapshot(await scrape()))
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("metrics scrape failed; retrying in %.0f s", interval_seconds)
        await asyncio.sleep(interval_seconds)


def http_scrape(url: str, timeout_seconds: float = 3.0) -> Callable[[], Awaitable[str]]:
    import httpx

    client = httpx.AsyncClient(timeout=timeout_seconds)

    async def scrape() -> str:
        response = await client.get(url)
        response.raise_for_status()
        return response.text

    return scrape


async def main(url: str) -> None:
    from runtime.processes import run_until_stopped
    from tickerpulse.settings import get_settings
    from tickerpulse.stores.events import open_bus

    settings = get_settings()
    bus = open_bus(settings.events_url)
    log.info("publishing %s to %s every %.0f s", url, TOPIC, settings.metrics_interval_seconds)
    await run_until_stopped(
        publish_forever(bus, http_scrape(url), settings.metrics_interval_seconds), bus
    )


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(description="Scrape the API's /metrics into Kafka's `metrics`")
    parser.add_argument("--url", default="http://127.0.0.1:8000/metrics")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    asyncio.run(main(parser.parse_args().url))
