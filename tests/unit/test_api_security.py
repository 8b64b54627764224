"""API keys (hashed at rest), roles, rate limits and CORS, against the embedded stores."""

from fastapi.testclient import TestClient

from serving.app import create_app
from tickerpulse.settings import Settings
from tickerpulse.stores.api_keys import ApiKeyStore
from tickerpulse.stores.operational import OperationalStore

NEW_TICKER = {"symbol": "MSFT", "source": "stooq"}


def keys(settings: Settings) -> ApiKeyStore:
    return ApiKeyStore(OperationalStore(settings.raw_db_url))


def test_write_endpoints_need_a_key_and_the_right_role(settings: Settings) -> None:
    store = keys(settings)
    client_key, admin_key = store.create("app"), store.create("ops", role="admin")
    with TestClient(create_app(settings)) as client:
        missing = client.post("/v1/tickers", json=NEW_TICKER)
        assert missing.status_code == 401
        assert missing.headers["content-type"] == "application/problem+json"
        assert missing.headers["www-authenticate"] == "ApiKey"
        assert "tickerpulse apikey create" in missing.json()["detail"]
        wrong = client.post("/v1/tickers", json=NEW_TICKER, headers={"X-API-Key": "tp_guess"})
        assert wrong.status_code == 401 and "not valid" in wrong.json()["detail"]
        forbidden = client.post("/v1/tickers", json=NEW_TICKER, headers={"X-API-Key": client_key})
        assert forbidden.status_code == 403 and "role client" in forbidden.json()["detail"]
        allowed = client.post("/v1/tickers", json=NEW_TICKER, headers={"X-API-Key": admin_key})
        assert allowed.status_code == 201
        assert client.get("/v1/tickers").status_code == 200  # reads stay open


def test_keys_are_stored_hashed_and_revocable(settings: Settings) -> None:
    store = keys(settings)
    key = store.create("app")
    with store.engine.connect() as connection:
        stored = connection.exec_driver_sql("SELECT prefix, key_hash FROM api_keys").all()
    assert stored and all(key not in (prefix, digest) for prefix, digest in stored)
    assert store.verify(key) is not None
    assert store.revoke(key[:10]) == 1
    assert store.verify(key) is None
    assert [row["name"] for row in store.list()] == ["app"]


def test_each_key_has_a_rate_limit_with_retry_after(settings: Settings) -> None:
    store = keys(settings)
    slow, other = (
        store.create("slow", role="admin", rate_per_minute=3),
        store.create("other", "admin"),
    )
    with TestClient(create_app(settings)) as client:
        answers = [
            client.delete("/v1/tickers/NOPE", headers={"X-API-Key": slow}).status_code
            for _ in range(4)
        ]
        # Within the budget the request goes through (an unknown ticker is its own answer).
        assert answers[:3] == [404, 404, 404]
        assert answers[3] == 429
        limited = client.delete("/v1/tickers/NOPE", headers={"X-API-Key": slow})
        assert 1 <= int(limited.headers["retry-after"]) <= 60
        assert "3 requests a minute" in limited.json()["detail"]
        # Budgets are per key.
        assert client.delete("/v1/tickers/NOPE", headers={"X-API-Key": other}).status_code == 404


def test_cors_allows_only_configured_origins(settings: Settings) -> None:
    with TestClient(create_app(settings)) as client:
        preflight = {"Access-Control-Request-Method": "POST"}
        allowed = client.options(
            "/v1/predictions", headers={"Origin": "http://localhost:5173", **preflight}
        )
        assert allowed.headers["access-control-allow-origin"] == "http://localhost:5173"
        refused = client.options(
            "/v1/predictions", headers={"Origin": "http://evil.example", **preflight}
        )
        assert "access-control-allow-origin" not in refused.headers
