"""The API on real Redis and Kafka: cached reads, events on the predictions topic, and
what happens when either goes away mid-stream."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
import redis
from confluent_kafka import Consumer
from fastapi.testclient import TestClient

from serving.app import create_app
from tests.conftest import PrivateService, metric
from tickerpulse.settings import Settings
from tickerpulse.stores.api_keys import ApiKeyStore
from tickerpulse.stores.operational import OperationalStore

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@contextmanager
def api_on(settings: Settings, cache_url: str, bootstrap: str) -> Iterator[TestClient]:
    settings = settings.model_copy(
        update={"cache_url": cache_url, "events_url": f"kafka://{bootstrap}"}
    )
    key = ApiKeyStore(OperationalStore(settings.raw_db_url)).create("services-test")
    with TestClient(create_app(settings), headers={"X-API-Key": key}) as test_client:
        yield test_client


@pytest.fixture
def client(
    platform_settings: Settings, redis_url: str, kafka_bootstrap: str
) -> Iterator[TestClient]:
    with api_on(platform_settings, redis_url, kafka_bootstrap) as test_client:
        yield test_client


def consume_ids(bootstrap: str, topic: str, wanted: set[str], seconds: float) -> list[str]:
    """Every event id on the topic from the beginning that is one of `wanted`, in order."""
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"test-{uuid.uuid4().hex}",
            "auto.offset.reset": "earliest",
        }
    )
    consumer.subscribe([topic])
    seen: list[str] = []
    deadline = time.monotonic() + seconds
    try:
        while time.monotonic() < deadline and not wanted <= set(seen):
            message = consumer.poll(0.5)
            if message is None or message.error():
                continue
            try:
                event = json.loads(message.value() or b"{}")
            except ValueError:  # another test's hostile message on the shared topic
                continue
            if isinstance(event, dict) and event.get("id") in wanted:
                seen.append(event["id"])
    finally:
        consumer.close()
    return seen


def test_reads_are_cached_in_redis(client: TestClient, redis_url: str) -> None:
    before = metric(client, 'tickerpulse_cache_hits_total{kind="forecasts"}')
    first = client.get("/v1/forecasts/ACME").json()
    assert client.get("/v1/forecasts/ACME").json() == first
    assert metric(client, 'tickerpulse_cache_hits_total{kind="forecasts"}') == before + 1
    keys = redis.Redis.from_url(redis_url).keys("tickerpulse:forecasts:ACME:*")
    assert keys, "the forecast was not cached in Redis"


def test_with_redis_down_every_request_is_still_answered(
    platform_settings: Settings, private_redis: PrivateService, kafka_bootstrap: str
) -> None:
    with api_on(platform_settings, private_redis.address, kafka_bootstrap) as client:
        private_redis.stop()
        try:
            answers = [client.get("/v1/forecasts/GOOG").status_code for _ in range(20)]
            predicted = client.post("/v1/predictions", json={"ticker": "GOOG"}).status_code
            ready = client.get("/readyz").json()
        finally:
            private_redis.start()
        errors = metric(client, "tickerpulse_cache_errors_total")
    assert answers == [200] * 20 and predicted == 200
    assert errors > 0
    cache = next(d for d in ready["dependencies"] if d["name"] == "cache")
    assert ready["ready"] and not cache["ok"]


def test_every_prediction_reaches_the_predictions_topic(
    client: TestClient, kafka_bootstrap: str
) -> None:
    ids = {
        client.post("/v1/predictions", json={"ticker": t, "horizon": 5}).json()["id"]
        for t in ("ACME", "GOOG", "SPX")
    }
    assert sorted(consume_ids(kafka_bootstrap, "predictions", ids, 60)) == sorted(ids)


def test_kafka_down_mid_stream_loses_no_request_and_no_event(
    platform_settings: Settings, redis_url: str, private_kafka: PrivateService
) -> None:
    with api_on(platform_settings, redis_url, private_kafka.address) as client:
        stop_kafka_mid_stream(client, private_kafka)


def stop_kafka_mid_stream(client: TestClient, kafka: PrivateService) -> None:
    ids: list[str] = []
    statuses: list[int] = []

    def burst(n: int) -> None:
        for _ in range(n):
            response = client.post("/v1/predictions", json={"ticker": "ACME"})
            statuses.append(response.status_code)
            if response.status_code == 200:
                ids.append(response.json()["id"])

    burst(5)
    kafka.stop()
    try:
        burst(20)  # the broker is gone: the API answers, events wait in the buffer
        assert metric(client, "tickerpulse_events_buffered") > 0
    finally:
        kafka.start()
    burst(5)
    assert statuses == [200] * 30  # 0 failed API requests
    delivered = consume_ids(kafka.address, "predictions", set(ids), 120)
    assert sorted(delivered) == sorted(ids)  # 0 lost, and no duplicate from the retries
    assert metric(client, 'tickerpulse_events_total{outcome="dropped"}') == 0
    assert metric(client, 'tickerpulse_events_total{outcome="failed"}') == 0
