"""The anomaly detector as a task: metrics snapshots and the warehouse in, `alerts` out.

Embedded, it runs in the API process; in full mode as a process of its own,
`python -m realtime.detector`, so that the relay does not carry pandas and the warehouse.

Snapshots are judged as they arrive; the daily checks (price moves, freshness, forecast
error) read the warehouse every `check_seconds`. The detector is not thread-safe, so it is
only called from this task's loop; the warehouse reads run in a thread.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from typing import Any

import pandas as pd

from runtime.consuming import consume_forever
from tickerpulse.anomaly import AnomalyDetector
from tickerpulse.stores.events import EventBus
from tickerpulse.stores.warehouse import Warehouse

log = logging.getLogger(__name__)
TOPIC = "alerts"
HISTORY_DAYS = 200  # enough sessions for the trailing sigma and 60 realized forecasts


def _recent(warehouse: Warehouse) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The last HISTORY_DAYS of every ticker, and the tail of those that stopped before it:
    a ticker whose data stopped long ago is exactly the stale one to report."""
    start = dt.date.today() - dt.timedelta(days=HISTORY_DAYS)
    prices = warehouse.read("clean_prices", start=start)
    seen = set(prices["ticker"]) if not prices.empty else set()
    stopped = [t for t in warehouse.summary("clean_prices")["ticker"] if t not in seen]
    tails = [warehouse.read("clean_prices", ticker).tail(90) for ticker in stopped]
    prices = pd.concat([prices, *tails], ignore_index=True) if tails else prices
    return prices, warehouse.read("price_forecasts")


async def _publish(bus: EventBus, alerts: list) -> None:
    for alert in alerts:
        await bus.publish(TOPIC, alert.to_event())


async def detect_anomalies(
    bus: EventBus,
    warehouse: Warehouse | None,
    check_seconds: float,
    group: str | None,
    detector: AnomalyDetector | None = None,
) -> None:
    detector = detector or AnomalyDetector()

    async def judge(snapshot: dict[str, Any]) -> None:
        await _publish(bus, detector.observe_metrics(snapshot))

    async def check_data() -> None:
        while warehouse is not None:
            try:
                prices, forecasts = await asyncio.to_thread(_recent, warehouse)
                await _publish(bus, detector.check_data(prices, forecasts))
            except Exception:  # a warehouse hiccup: the next check tries again
                log.exception("daily anomaly checks failed; retrying in %.0f s", check_seconds)
            await asyncio.sleep(check_seconds)

    metrics_group = f"{group}-detector" if group else None
    await asyncio.gather(consume_forever(bus, "metrics", metrics_group, judge), check_data())


async def main() -> None:
    from runtime.processes import run_until_stopped
    from tickerpulse.settings import get_settings
    from tickerpulse.stores.events import open_bus
    from tickerpulse.stores.warehouse import open_warehouse

    settings = get_settings()
    bus = open_bus(settings.events_url)
    warehouse = open_warehouse(settings.warehouse_url)
    log.info(
        "detecting anomalies in `metrics` and every %.0f s in the warehouse",
        settings.anomaly_check_seconds,
    )
    # The relay's group, as when the relay ran the detector: it goes on from the same place.
    work = detect_anomalies(bus, warehouse, settings.anomaly_check_seconds, settings.relay_group)
    await run_until_stopped(work, bus)


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    asyncio.run(main())
