"""The API against the stores the pipeline filled, through the real app."""

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from serving.app import create_app
from tickerpulse.forecasting.models import CANDIDATES
from tickerpulse.settings import Settings
from tickerpulse.stores.registry import ModelRegistry
from tickerpulse.stores.warehouse import open_warehouse

pytestmark = pytest.mark.slow
PROBLEM = "application/problem+json"


@pytest.fixture
def client(platform_settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(platform_settings)) as test_client:
        yield test_client


def test_tickers_list_the_demo_universe_with_coverage(client: TestClient) -> None:
    tickers = {t["symbol"]: t for t in client.get("/v1/tickers").json()}
    assert set(tickers) == {"ACME", "GLOBEX", "GOOG", "INITECH", "SPX"}
    assert tickers["GOOG"]["rows"] == 2148
    assert (
        tickers["GOOG"]["first_date"] == "2004-08-19"
        and tickers["GOOG"]["last_date"] == "2013-03-01"
    )
    assert tickers["ACME"]["source"] == "synthetic"


def test_prices_in_a_date_range(client: TestClient) -> None:
    body = client.get("/v1/prices/goog", params={"start": "2010-01-04", "end": "2010-01-08"}).json()
    assert body["ticker"] == "GOOG" and body["count"] == 5
    assert body["prices"][0] == {
        "date": "2010-01-04",
        "open": 626.95,
        "high": 629.51,
        "low": 624.24,
        "close": 626.75,
        "volume": 1956200.0,
    }


def test_without_a_start_the_latest_bars_are_served(client: TestClient) -> None:
    body = client.get("/v1/prices/GOOG", params={"limit": 3}).json()
    assert [bar["date"] for bar in body["prices"]] == ["2013-02-27", "2013-02-28", "2013-03-01"]


def test_forecasts_carry_intervals_and_model_version(
    client: TestClient, platform_settings: Settings
) -> None:
    registry = ModelRegistry(
        platform_settings.mlflow_tracking_uri, platform_settings.mlflow_artifact_uri
    )
    response = client.get("/v1/forecasts/ACME")
    assert response.status_code == 200
    forecasts = response.json()["forecasts"]
    assert [f["horizon"] for f in forecasts] == [1, 5]
    for forecast in forecasts:
        assert (
            forecast["interval_95"]["lower"]
            < forecast["interval_80"]["lower"]
            < forecast["forecast"]
        )
        assert (
            forecast["forecast"]
            < forecast["interval_80"]["upper"]
            < forecast["interval_95"]["upper"]
        )
        champion = registry.by_alias(f"tickerpulse-price-h{forecast['horizon']}", "champion")
        assert champion is not None and forecast["model_version"] == champion.version
        assert forecast["model_name"] == f"tickerpulse-price-h{forecast['horizon']}"
        assert forecast["model"] in CANDIDATES
    assert forecasts[0]["target_date"] > forecasts[0]["as_of"]


@pytest.mark.parametrize(
    "path",
    [
        "/v1/prices/NOPE",
        "/v1/forecasts/NOPE",
        "/v1/prices/x'; DROP TABLE raw_prices--",
        "/v1/forecasts/%2e%2e",
    ],
)
def test_unknown_tickers_are_404_problems(client: TestClient, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 404
    assert response.headers["content-type"] == PROBLEM
    problem = response.json()
    assert problem["title"] == "Unknown ticker" and "/v1/tickers" in problem["detail"]
    assert client.get("/v1/prices/GOOG", params={"limit": 1}).status_code == 200  # nothing dropped


@pytest.mark.parametrize(
    ("params", "detail"),
    [
        ({"start": "2024-13-01"}, "start: Input should be a valid date"),
        ({"start": "yesterday"}, "start: Input should be a valid date"),
        ({"start": "2012-05-01", "end": "2012-01-01"}, "start: must not be after end 2012-01-01"),
        ({"limit": "0"}, "limit: Input should be greater than or equal to 1"),
    ],
)
def test_malformed_dates_and_ranges_are_422_problems(
    client: TestClient, params: dict, detail: str
) -> None:
    response = client.get("/v1/prices/GOOG", params=params)
    assert response.status_code == 422
    assert response.headers["content-type"] == PROBLEM
    assert detail in response.json()["detail"]


def test_metrics_count_requests_per_route_and_cache_use(client: TestClient) -> None:
    client.get("/v1/forecasts/GLOBEX")
    client.get("/v1/forecasts/GLOBEX")
    text = client.get("/metrics").text
    assert (
        'tickerpulse_http_requests_total{method="GET",route="/v1/forecasts/{ticker}",status="200"}'
        in text
    )
    assert 'tickerpulse_cache_hits_total{kind="forecasts"}' in text
    assert "tickerpulse_http_request_duration_seconds_bucket" in text


def test_rewritten_forecasts_are_served_at_once(
    client: TestClient, platform_settings: Settings
) -> None:
    warehouse = open_warehouse(platform_settings.warehouse_url)
    original = warehouse.read("price_forecasts", "INITECH")
    first = client.get("/v1/forecasts/INITECH").json()["forecasts"][0]["forecast"]
    try:
        warehouse.write_partition(
            "price_forecasts",
            "INITECH",
            original.drop(columns="ticker").assign(forecast=original["forecast"] + 1),
        )
        second = client.get("/v1/forecasts/INITECH").json()["forecasts"][0]["forecast"]
        assert second == pytest.approx(first + 1)
    finally:
        warehouse.write_partition("price_forecasts", "INITECH", original.drop(columns="ticker"))


def test_health_and_docs(client: TestClient) -> None:
    assert client.get("/healthz").json()["status"] == "ok"
    assert client.get("/docs").status_code == 200
    paths = client.get("/openapi.json").json()["paths"]
    assert {
        "/v1/tickers",
        "/v1/prices/{ticker}",
        "/v1/forecasts/{ticker}",
        "/healthz",
        "/metrics",
    } <= set(paths)
