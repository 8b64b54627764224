"""Asynchronous prediction requests on the embedded bus: the API's own worker answers them."""

import time
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from serving.app import create_app
from tickerpulse.settings import Settings
from tickerpulse.stores.api_keys import ApiKeyStore
from tickerpulse.stores.operational import OperationalStore

pytestmark = pytest.mark.slow


@pytest.fixture
def client(platform_settings: Settings) -> Iterator[TestClient]:
    key = ApiKeyStore(OperationalStore(platform_settings.raw_db_url)).create("batch-test")
    with TestClient(create_app(platform_settings), headers={"X-API-Key": key}) as test_client:
        yield test_client


def wait_until_done(client: TestClient, request_id: str, seconds: float = 60) -> dict:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        status = client.get(f"/v1/prediction-requests/{request_id}").json()
        if status["state"] == "done":
            return status
        time.sleep(0.2)
    raise AssertionError(f"request {request_id} not done in {seconds} s: {status}")


def test_a_request_for_many_tickers_is_answered_with_the_champions(client: TestClient) -> None:
    accepted = client.post(
        "/v1/prediction-requests", json={"tickers": ["acme", "GOOG", "ACME", "SPX"]}
    )
    assert accepted.status_code == 202, accepted.text
    request = accepted.json()
    assert accepted.headers["location"] == f"/v1/prediction-requests/{request['id']}"
    assert request["tickers"] == ["ACME", "GOOG", "SPX"] and request["horizons"] == [1, 5]
    assert request["total"] == 6

    done = wait_until_done(client, request["id"])
    assert done["done"] == 6 and done["failed"] == 0 and done["errors"] == []
    answered = {(r["ticker"], r["horizon"]): r for r in done["results"]}
    assert set(answered) == {(t, h) for t in ("ACME", "GOOG", "SPX") for h in (1, 5)}
    # The same champion on the same features as an online prediction: the same numbers.
    for (ticker, horizon), result in answered.items():
        online = client.post("/v1/predictions", json={"ticker": ticker, "horizon": horizon})
        assert result["forecast"] == pytest.approx(online.json()["forecast"], rel=1e-9)
        assert result["model_version"] == online.json()["model_version"]
        assert result["id"] == f"{request['id']}-{ticker}-{horizon}"


def test_one_horizon_only(client: TestClient) -> None:
    request = client.post("/v1/prediction-requests", json={"tickers": ["GLOBEX"], "horizons": [5]})
    done = wait_until_done(client, request.json()["id"])
    assert [(r["ticker"], r["horizon"]) for r in done["results"]] == [("GLOBEX", 5)]


@pytest.mark.parametrize(
    ("body", "status", "phrase"),
    [
        ({"tickers": ["ACME", "NOPE"]}, 404, "no ticker 'NOPE'"),
        ({"tickers": ["ACME"], "horizons": [1, 3]}, 422, "horizon 3 is not served"),
        ({"tickers": []}, 422, "tickers"),
        ({"tickers": ["ACME"], "horizons": []}, 422, "horizons"),
    ],
)
def test_a_bad_request_queues_nothing(
    client: TestClient, body: dict, status: int, phrase: str
) -> None:
    response = client.post("/v1/prediction-requests", json=body)
    assert response.status_code == status and phrase in response.json()["detail"]
    assert "location" not in response.headers


def test_requests_need_a_key_and_unknown_ids_are_404(client: TestClient) -> None:
    anonymous = client.post(
        "/v1/prediction-requests", json={"tickers": ["ACME"]}, headers={"X-API-Key": ""}
    )
    assert anonymous.status_code == 401
    missing = client.get("/v1/prediction-requests/0123abc")
    assert missing.status_code == 404 and "no prediction request" in missing.json()["detail"]
