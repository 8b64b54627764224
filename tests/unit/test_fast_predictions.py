"""POST /v1/predictions answered before FastAPI's router (serving/fast_predictions.py): what
the route would answer, refusals included, without its dependency solving."""

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from serving.app import create_app
from tests.conftest import metric
from tests.unit.test_api_predictions import h1_series
from tests.unit.test_fast_reads import ROUTED, count_route_runs
from tickerpulse.settings import Settings
from tickerpulse.stores.api_keys import ApiKeyStore
from tickerpulse.stores.operational import OperationalStore

pytestmark = pytest.mark.slow
SERVED = 'tickerpulse_http_requests_total{method="POST",route="/v1/predictions",status="200"}'


@pytest.fixture
def app(platform_settings: Settings) -> FastAPI:
    return create_app(platform_settings)


@pytest.fixture
def key(platform_settings: Settings) -> str:
    return ApiKeyStore(OperationalStore(platform_settings.raw_db_url)).create("fast-predictions")


def without_id(response_json: dict) -> dict:
    assert len(response_json.pop("id")) == 32  # a new one per prediction
    return response_json


def test_a_prediction_skips_the_router_and_answers_as_the_route_does(
    app: FastAPI, key: str, platform_settings: Settings
) -> None:
    runs = count_route_runs(app)
    with TestClient(app, headers={"X-API-Key": key}) as client:
        predicted_before = metric(client, h1_series(platform_settings))
        served_before = metric(client, SERVED)
        routed = client.post("/v1/predictions", params=ROUTED, json={"ticker": "ACME"})
        assert runs == ["/v1/predictions"]
        fast = client.post("/v1/predictions", json={"ticker": "acme", "horizon": 1})
        assert runs == ["/v1/predictions"]  # the route's dependencies were not solved again
        assert fast.status_code == routed.status_code == 200
        assert without_id(fast.json()) == without_id(routed.json())
        assert fast.json()["ticker"] == "ACME"
        assert dict(fast.headers) == dict(routed.headers)  # ids are of one length
        # Counted as the route counts: the prediction by model version, the request by route.
        assert metric(client, h1_series(platform_settings)) == predicted_before + 2
        assert metric(client, SERVED) == served_before + 2


@pytest.mark.parametrize(
    ("body", "headers", "status", "says"),
    [
        ({"ticker": "ACME"}, {"X-API-Key": ""}, 401, "needs an API key"),
        ({"ticker": "ACME"}, {"X-API-Key": "tp_guess"}, 401, "not valid"),
        ({"ticker": "NOPE"}, {}, 404, "no ticker 'NOPE'"),
        ({"ticker": "ACME", "horizon": 7}, {}, 422, "horizon 7 is not served"),
        ({"ticker": 5}, {}, 422, "ticker: Input should be a valid string"),
        ({"ticker": "ACME", "horizon": 0}, {}, 422, "horizon"),
        ({"ticker": "A" * 100}, {}, 422, "ticker"),
        (b'{"ticker": "ACME"', {}, 422, "JSON"),  # cut short
        ({"ticker": 5}, {"X-API-Key": ""}, 401, "needs an API key"),  # the key comes first
    ],
)
def test_refusals_are_the_routes_refusals(
    app: FastAPI, key: str, body: dict | bytes, headers: dict, status: int, says: str
) -> None:
    with TestClient(app, headers={"X-API-Key": key}) as client:

        def post(**params: str):  # type: ignore[no-untyped-def]
            if isinstance(body, bytes):
                sent = {"content": body, "headers": {**headers, "Content-Type": "application/json"}}
            else:
                sent = {"json": body, "headers": headers}
            return client.post("/v1/predictions", params=params, **sent)  # type: ignore[arg-type]

        fast, routed = post(), post(**ROUTED)
        assert fast.status_code == routed.status_code == status
        assert says in fast.json()["detail"]
        assert fast.content == routed.content
        assert dict(fast.headers) == dict(routed.headers)


def test_the_budget_is_charged_once_per_prediction(
    app: FastAPI, platform_settings: Settings
) -> None:
    limited = ApiKeyStore(OperationalStore(platform_settings.raw_db_url)).create(
        "fast-limited", rate_per_minute=3
    )
    with TestClient(app, headers={"X-API-Key": limited}) as client:
        answers = [
            client.post("/v1/predictions", json={"ticker": "GLOBEX"}).status_code for _ in range(4)
        ]
        assert answers == [200, 200, 200, 429]
        refused = client.post("/v1/predictions", json={"ticker": "GLOBEX"})
        assert refused.status_code == 429 and 1 <= int(refused.headers["retry-after"]) <= 60
        assert "3 requests a minute" in refused.json()["detail"]


def test_a_body_over_the_limit_is_refused_before_it_is_read(app: FastAPI, key: str) -> None:
    with TestClient(app, headers={"X-API-Key": key}) as client:
        huge = b'{"ticker": "' + b"A" * 70_000 + b'"}'
        refused = client.post(
            "/v1/predictions", content=huge, headers={"Content-Type": "application/json"}
        )
        assert refused.status_code == 413
