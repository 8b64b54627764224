"""Adding tickers through the API, and the Dagster sensor that takes them from there."""

import dagster as dg
from fastapi.testclient import TestClient

from orchestration.resources import OperationalStoreResource
from orchestration.sensors import ticker_universe
from serving.app import create_app
from tickerpulse.settings import Settings
from tickerpulse.stores.api_keys import ApiKeyStore
from tickerpulse.stores.operational import OperationalStore


def admin_headers(settings: Settings) -> dict[str, str]:
    key = ApiKeyStore(OperationalStore(settings.raw_db_url)).create("test-admin", role="admin")
    return {"X-API-Key": key}


def test_a_ticker_posted_to_the_api_gets_a_partition_and_its_history(
    store_settings: Settings,
) -> None:
    with TestClient(create_app(store_settings), headers=admin_headers(store_settings)) as client:
        created = client.post(
            "/v1/tickers", json={"symbol": "msft", "source": "stooq", "name": "Microsoft"}
        )
        assert created.status_code == 201
        assert created.headers["location"] == "/v1/prices/MSFT"
        assert created.json() == {
            "symbol": "MSFT",
            "name": "Microsoft",
            "source": "stooq",
            "rows": 0,
            "first_date": None,
            "last_date": None,
        }
        again = client.post("/v1/tickers", json={"symbol": "MSFT", "source": "yahoo"})
        assert again.status_code == 200 and again.json()["source"] == "yahoo"
        assert [t["symbol"] for t in client.get("/v1/tickers").json()] == ["MSFT"]

    with dg.instance_for_test() as instance:
        context = dg.build_sensor_context(
            instance=instance, resources={"operational_store": OperationalStoreResource()}
        )
        result = ticker_universe(context)
        [added] = result.dynamic_partitions_requests or []
        assert list(added.partition_keys or []) == ["MSFT"]  # type: ignore[union-attr]
        [history] = result.run_requests or []
        assert history.tags["tickerpulse/tickers"] == "MSFT"


def test_bad_tickers_are_refused_with_a_reason(store_settings: Settings) -> None:
    with TestClient(create_app(store_settings), headers=admin_headers(store_settings)) as client:
        bad_symbol = client.post(
            "/v1/tickers", json={"symbol": "x'; DROP TABLE tickers--", "source": "stooq"}
        )
        assert bad_symbol.status_code == 422
        assert bad_symbol.headers["content-type"] == "application/problem+json"
        assert "is not a ticker symbol" in bad_symbol.json()["detail"]
        a_file = client.post("/v1/tickers", json={"symbol": "AAA", "source": "csv"})
        assert a_file.status_code == 422 and "source" in a_file.json()["detail"]
        assert client.post("/v1/tickers", json={"source": "stooq"}).status_code == 422
        assert client.get("/v1/tickers").json() == []


def test_search_and_deactivate(store_settings: Settings) -> None:
    with TestClient(create_app(store_settings), headers=admin_headers(store_settings)) as client:
        for symbol, name in (("MSFT", "Microsoft"), ("MS", "Morgan Stanley"), ("AAPL", "Apple")):
            client.post("/v1/tickers", json={"symbol": symbol, "source": "stooq", "name": name})
        symbols = lambda q: [t["symbol"] for t in client.get("/v1/tickers", params={"q": q}).json()]  # noqa: E731
        assert symbols("ms") == ["MS", "MSFT"]  # symbol prefix, any case
        assert symbols("stan") == ["MS"]  # part of the name
        assert symbols("x'; DROP TABLE tickers--") == []  # only a search that finds nothing
        assert client.delete("/v1/tickers/MS").status_code == 204
        assert symbols("ms") == ["MSFT"]
        gone = client.delete("/v1/tickers/MS")
        assert (
            gone.status_code == 404 and gone.headers["content-type"] == "application/problem+json"
        )
        # Deactivated, not deleted: adding it again brings it back (200, not 201).
        again = client.post("/v1/tickers", json={"symbol": "MS", "source": "stooq"})
        assert again.status_code == 200
