"""The metrics publisher, in-process on the memory bus as the embedded API runs it."""

import asyncio

from fastapi.testclient import TestClient

from realtime.publisher import publish_forever, snapshot
from serving.app import create_app
from tickerpulse.settings import Settings
from tickerpulse.stores.events import MemoryBus

TEXT = """# HELP tickerpulse_http_requests_total HTTP requests
# TYPE tickerpulse_http_requests_total counter
tickerpulse_http_requests_total{method="GET",route="/healthz",status="200"} 3.0
tickerpulse_http_requests_created{method="GET",route="/healthz",status="200"} 1.7e9
# HELP python_gc_objects_collected_total Objects collected
# TYPE python_gc_objects_collected_total counter
python_gc_objects_collected_total{generation="0"} 12.0
"""


def test_a_snapshot_keeps_our_series_with_labels() -> None:
    taken = snapshot(TEXT)
    assert taken["series"] == {
        "tickerpulse_http_requests_total": [
            {"labels": {"method": "GET", "route": "/healthz", "status": "200"}, "value": 3.0}
        ]
    }


def test_the_publisher_survives_a_failed_scrape() -> None:
    async def scenario() -> list[float]:
        bus, calls = MemoryBus(), iter(["broken", TEXT, TEXT])

        async def scrape() -> str:
            text = next(calls)
            if text == "broken":
                raise ConnectionError("API down")
            return text

        async with bus.subscribe("metrics") as events:
            task = asyncio.create_task(publish_forever(bus, scrape, interval_seconds=0.01))
            first = await asyncio.wait_for(anext(events), 2)
            task.cancel()
        return [s["value"] for s in first["series"]["tickerpulse_http_requests_total"]]

    assert asyncio.run(scenario()) == [3.0]


def test_the_embedded_api_publishes_its_own_metrics(settings: Settings) -> None:
    fast = settings.model_copy(update={"metrics_interval_seconds": 0.05})
    app = create_app(fast)

    def routes_in(snapshot: dict) -> set[str]:
        series = snapshot["series"].get("tickerpulse_http_requests_total", [])
        return {s["labels"]["route"] for s in series}

    async def scenario() -> set[str]:
        # A scrape that began before the request was counted may arrive first: wait for the
        # snapshot that has it, as a dashboard would, rather than take the first one.
        bus = app.state.services.bus
        async with bus.subscribe("metrics") as events:
            async with asyncio.timeout(5):
                while "/healthz" not in (routes := routes_in(await anext(events))):
                    pass
                return routes

    with TestClient(app) as client:
        client.get("/healthz")
        routes = client.portal.call(scenario)  # type: ignore[union-attr]
    assert "/healthz" in routes
