"""What the API does before serving: its long-lived objects moved out of the garbage collector's
full passes (runtime/heap.py: a full pass over the whole heap stopped the event loop for
0.4-0.5 s under load), and the exchange calendar built (seconds of CPU once per process)."""

import gc

from fastapi.testclient import TestClient

from serving.app import create_app
from tickerpulse.calendar import exchange_calendar
from tickerpulse.settings import Settings


def test_the_api_freezes_what_it_built_before_serving(settings: Settings) -> None:
    gc.unfreeze()  # whatever another test's app froze in this process
    tracked_before = len(gc.get_objects())
    with TestClient(create_app(settings)) as client:
        frozen = gc.get_freeze_count()
        # The imports and stores built: most of what the collector tracked is frozen, and a
        # full pass walks only what is left.
        assert frozen > tracked_before / 2
        assert len(gc.get_objects()) < frozen / 10
        assert client.get("/healthz").status_code == 200
    gc.unfreeze()


def test_the_exchange_calendar_is_built_before_the_first_request(settings: Settings) -> None:
    exchange_calendar.cache_clear()  # whatever another test built in this process
    with TestClient(create_app(settings)):
        calendar = exchange_calendar(settings.exchange)
        # The minutes, the costly part, computed once and kept on the calendar.
        assert exchange_calendar.cache_info().hits >= 1
        assert "minutes_nanos" in vars(calendar)
