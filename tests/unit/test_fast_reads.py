"""Cached reads answered before FastAPI (serving/fast_reads.py): the route's bytes, headers
and key decisions, ETag and 304, and a new forecast served at once."""

import re
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import FastAPI, Request, Response
from fastapi.testclient import TestClient

from serving.app import create_app
from serving.caching import cached_response
from serving.deps import Services, ServicesDep, get_services
from serving.fast_reads import answered_from_cache
from serving.schemas import Forecasts
from serving.security import AdminKey
from tests.conftest import metric
from tickerpulse.queries import latest_forecasts
from tickerpulse.settings import Settings
from tickerpulse.stores.api_keys import ApiKeyStore
from tickerpulse.stores.operational import OperationalStore
from tickerpulse.stores.warehouse import open_warehouse

pytestmark = pytest.mark.slow
ORIGIN = {"Origin": "http://localhost:5173"}  # a CORS origin of the default settings
ROUTED = {"through": "router"}  # a query string: FastReads leaves the request to the route
STRONG_TAG = re.compile(r'"[^"]+"')
SERVED = 'tickerpulse_http_requests_total{method="GET",route="/v1/forecasts/{ticker}",status="200"}'


def count_route_runs(app: FastAPI) -> list[str]:
    """The paths whose route ran (its dependencies were solved): a hit FastReads answered
    never gets there."""
    runs: list[str] = []

    async def counted(request: Request) -> Services:
        runs.append(request.url.path)
        return await get_services(request)

    app.dependency_overrides[get_services] = counted
    return runs


@pytest.fixture
def app(platform_settings: Settings) -> FastAPI:
    return create_app(platform_settings)


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app) as test_client:
        yield test_client


def test_a_hit_is_answered_before_the_route_with_the_routes_bytes_and_headers(
    app: FastAPI, client: TestClient
) -> None:
    runs = count_route_runs(app)
    served_before = metric(client, SERVED)
    miss = client.get("/v1/forecasts/GLOBEX", headers=ORIGIN)
    hit = client.get("/v1/forecasts/globex", headers=ORIGIN)  # the same ticker, as the route
    routed_hit = client.get("/v1/forecasts/GLOBEX", params=ROUTED, headers=ORIGIN)
    assert runs == ["/v1/forecasts/GLOBEX", "/v1/forecasts/GLOBEX"]  # not the second
    assert miss.status_code == hit.status_code == routed_hit.status_code == 200
    assert miss.json()["ticker"] == "GLOBEX"
    assert hit.content == miss.content == routed_hit.content
    assert dict(hit.headers) == dict(miss.headers) == dict(routed_hit.headers)
    assert hit.headers["access-control-allow-origin"] == ORIGIN["Origin"]
    # Counted under the route's template, as the router's requests are.
    assert metric(client, SERVED) == served_before + 3


def test_etag_and_if_none_match_give_304_on_both_paths(app: FastAPI, client: TestClient) -> None:
    runs = count_route_runs(app)
    first = client.get("/v1/forecasts/ACME")
    tag = first.headers["etag"]
    assert STRONG_TAG.fullmatch(tag), tag  # strong: no W/ prefix
    for params in ({}, ROUTED):
        again = client.get("/v1/forecasts/ACME", params=params)
        assert again.headers["etag"] == tag and again.content == first.content
        for sent in (tag, f"W/{tag}", f'"elsewhere", {tag}', "*"):
            unchanged = client.get(
                "/v1/forecasts/ACME", params=params, headers={"If-None-Match": sent}
            )
            assert unchanged.status_code == 304, (params, sent)
            assert unchanged.content == b"" and unchanged.headers["etag"] == tag
            assert "content-type" not in unchanged.headers
        other = client.get(
            "/v1/forecasts/ACME", params=params, headers={"If-None-Match": '"elsewhere"'}
        )
        assert other.status_code == 200 and other.content == first.content
    # The miss and the six routed requests ran the route; the six others were answered first.
    assert len(runs) == 1 + 6
    too_long = client.get("/v1/forecasts/ACME", headers={"If-None-Match": "x" * 5000})
    assert too_long.status_code == 422 and "if-none-match" in too_long.text


def test_a_published_forecast_changes_the_body_and_the_etag(
    client: TestClient, platform_settings: Settings
) -> None:
    warehouse = open_warehouse(platform_settings.warehouse_url)
    original = warehouse.read("price_forecasts", "INITECH")
    before = client.get("/v1/forecasts/INITECH")
    assert client.get("/v1/forecasts/INITECH").content == before.content  # now a hit
    shifted = original.drop(columns="ticker").assign(forecast=original["forecast"] + 1)
    expected = {f["horizon"]: f["forecast"] + 1 for f in before.json()["forecasts"]}
    try:
        warehouse.write_partition("price_forecasts", "INITECH", shifted)
        for _ in range(2):  # the miss that reads the new forecast, then its hit
            after = client.get(
                "/v1/forecasts/INITECH", headers={"If-None-Match": before.headers["etag"]}
            )
            assert after.status_code == 200
            assert after.headers["etag"] != before.headers["etag"]
            served = {f["horizon"]: f["forecast"] for f in after.json()["forecasts"]}
            assert served == pytest.approx(expected)
    finally:
        warehouse.write_partition("price_forecasts", "INITECH", original.drop(columns="ticker"))


def add_admin_read(app: FastAPI) -> None:
    """A cached read behind an admin key, ahead of the page mounted at /."""

    @app.get("/v1/admin-forecasts/{ticker}")
    @answered_from_cache("forecasts", "price_forecasts")
    async def admin_forecasts(ticker: str, services: ServicesDep, key: AdminKey) -> Response:
        symbol = services.universe.require(ticker)

        def read() -> dict[str, Any]:
            return {"ticker": symbol, "forecasts": latest_forecasts(services.warehouse, symbol)}

        return await cached_response(
            services, Forecasts, "forecasts", "price_forecasts", symbol, read
        )

    app.router.routes.insert(0, app.router.routes.pop())


def test_a_hit_behind_a_key_is_refused_as_the_route_refuses_it(
    platform_settings: Settings,
) -> None:
    keys = ApiKeyStore(OperationalStore(platform_settings.raw_db_url))
    admin = keys.create("fast-admin", role="admin", rate_per_minute=3)
    client_key = keys.create("fast-client")
    app = create_app(platform_settings)
    add_admin_read(app)
    runs = count_route_runs(app)
    path = "/v1/admin-forecasts/SPX"
    with TestClient(app) as client:
        warmed = client.get(path, headers={"X-API-Key": admin})  # the miss fills the cache
        assert warmed.status_code == 200 and len(runs) == 1
        assert client.get("/v1/forecasts/SPX").content == warmed.content  # the same entry
        for headers, status, says in (
            ({}, 401, "needs an API key"),
            ({"X-API-Key": "tp_guess"}, 401, "not valid"),
            ({"X-API-Key": client_key}, 403, "this needs admin"),
        ):
            refused = client.get(path, headers=headers)
            routed = client.get(path, params=ROUTED, headers=headers)
            assert refused.status_code == routed.status_code == status
            assert says in refused.json()["detail"]
            assert refused.content == routed.content
            assert dict(refused.headers) == dict(routed.headers)
        runs.clear()
        # The budget is charged on the fast path too: 3 a minute, one spent warming.
        assert client.get(path, headers={"X-API-Key": admin}).status_code == 200
        assert client.get(path, headers={"X-API-Key": admin}).status_code == 200
        assert runs == []
        limited = client.get(path, headers={"X-API-Key": admin})
        assert limited.status_code == 429 and "3 requests a minute" in limited.json()["detail"]
