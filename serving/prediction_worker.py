"""The prediction worker: a consumer of `prediction-requests` in the group `prediction-workers`.

Each message is answered with the horizons' champions and every prediction is published to
`predictions`. Kafka spreads a topic's partitions over the group's members, so more workers
(`python -m serving.prediction_worker`, one per process) answer more requests; embedded, the
API runs the same loop as a task on its in-process bus.
"""

from __future__ import annotations

import asyncio
import logging

from runtime.consuming import consume_forever
from runtime.processes import run_until_stopped
from tickerpulse.answering import PREDICTIONS_TOPIC, REQUESTS_TOPIC, WORKER_GROUP, answer
from tickerpulse.errors import EventBusUnavailable
from tickerpulse.predicting import Predictor
from tickerpulse.settings import Settings, get_settings
from tickerpulse.stores.events import EventBus, open_bus
from tickerpulse.stores.operational import OperationalStore
from tickerpulse.stores.prediction_requests import PredictionRequestStore
from tickerpulse.stores.registry import FOR_REQUESTS, ModelRegistry
from tickerpulse.stores.warehouse import open_warehouse

log = logging.getLogger(__name__)


async def answer_requests(
    bus: EventBus, predictor: Predictor, store: PredictionRequestStore
) -> None:
    async def answer_one(message: dict) -> None:
        try:
            # Model loads and warehouse reads block: off the event loop.
            predictions = await asyncio.to_thread(answer, message, predictor, store)
        except Exception as error:  # one bad message must not stop the worker
            log.exception("prediction request message not answered: %s", message)
            await bus.reject(REQUESTS_TOPIC, message, f"{type(error).__name__}: {error}")
            return
        for prediction in predictions:
            await publish_until_taken(bus, PREDICTIONS_TOPIC, prediction)

    # A consumer that fails (or is found stuck out of its group) is replaced, in the group's
    # committed place: the worker goes on rather than exit and take `tickerpulse up` down.
    await consume_forever(bus, REQUESTS_TOPIC, WORKER_GROUP, answer_one, from_beginning=True)


async def publish_until_taken(bus: EventBus, topic: str, event: dict) -> None:
    """A worker's answer is owed to a request it has taken: wait out a full bus, don't drop."""
    while True:
        try:
            await bus.publish(topic, event)
            return
        except EventBusUnavailable as refused:
            log.warning("%s; retrying in 1 s", refused)
            await asyncio.sleep(1)


def predictor_for(settings: Settings) -> Predictor:
    registry = ModelRegistry(
        settings.mlflow_tracking_uri, settings.mlflow_artifact_uri, lookups=FOR_REQUESTS
    )
    warehouse = open_warehouse(settings.warehouse_url)
    return Predictor(registry, warehouse, settings.model_name, settings.horizons, settings.exchange)


async def main() -> None:
    settings = get_settings()
    bus = open_bus(settings.events_url)
    store = PredictionRequestStore(OperationalStore(settings.raw_db_url).engine)
    log.info("answering %s in group %s", REQUESTS_TOPIC, WORKER_GROUP)
    await run_until_stopped(answer_requests(bus, predictor_for(settings), store), bus)


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    asyncio.run(main())
