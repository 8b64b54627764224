"""Request limits through the real app: body size before parsing, bounded strings, work-priced
rate limits."""

import asyncio
from collections.abc import Callable, Iterator

import pytest
from fastapi.testclient import TestClient

from serving.app import create_app
from serving.body_limit import BodySizeLimit
from tickerpulse.settings import Settings, get_settings
from tickerpulse.stores.api_keys import ApiKeyStore
from tickerpulse.stores.operational import OperationalStore

PROBLEM = "application/problem+json"
TICKERS = [f"T{n:02d}" for n in range(30)]
BUDGET = 100  # predictions a minute for the test key


@pytest.fixture
def limits_settings(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Settings:
    monkeypatch.setenv("HORIZONS", "[1, 2, 3, 4, 5]")
    get_settings.cache_clear()
    settings = get_settings()
    store = OperationalStore(settings.raw_db_url)
    for symbol in TICKERS:
        store.add_ticker(symbol, source="synthetic")
    return settings


@pytest.fixture
def key(limits_settings: Settings) -> str:
    return ApiKeyStore(OperationalStore(limits_settings.raw_db_url)).create(
        "batch", rate_per_minute=BUDGET
    )


@pytest.fixture
def client(limits_settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(limits_settings)) as test_client:
        yield test_client


def ask(client: TestClient, key: str, tickers: int) -> int:
    """A request for `tickers` tickers at every served horizon (five): tickers x 5 predictions."""
    body = {"tickers": TICKERS[:tickers]}
    return client.post("/v1/prediction-requests", json=body, headers={"X-API-Key": key}).status_code


def test_a_declared_body_over_the_limit_is_413_before_the_key_or_the_json(
    client: TestClient,
) -> None:
    body = b'{"tickers": [' + b'"AAAA",' * 20_000 + b'"B"]}'  # 140 KB; the limit is 64 KiB
    response = client.post(
        "/v1/prediction-requests", content=body, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 413
    assert response.headers["content-type"] == PROBLEM
    assert "65536 bytes" in response.json()["detail"]


def test_a_body_without_a_length_is_counted(client: TestClient) -> None:
    def chunks() -> Iterator[bytes]:  # no Content-Length: sent chunked
        for _ in range(100):
            yield b" " * 4096

    response = client.post(
        "/v1/prediction-requests", content=chunks(), headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 413 and response.headers["content-type"] == PROBLEM
    assert response.json()["title"] == "Request body too large"


def test_streamed_chunks_are_cut_off_at_the_limit_and_the_apps_answer_replaced() -> None:
    pulled: list[int] = []
    sent: list[dict] = []

    async def app(scope: dict, receive: Callable, send: Callable) -> None:
        while (await receive()).get("more_body"):  # reads all, as a JSON parser would
            pass
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"read it all"})

    async def receive() -> dict:
        pulled.append(1)
        return {"type": "http.request", "body": b"x" * 1000, "more_body": len(pulled) < 100}

    async def send(message: dict) -> None:
        sent.append(message)

    scope = {"type": "http", "method": "POST", "path": "/x", "headers": [], "query_string": b""}
    asyncio.run(BodySizeLimit(app, max_bytes=4096)(scope, receive, send))  # type: ignore[arg-type]
    assert len(pulled) == 5  # 5,000 bytes: past 4,096, nothing more is read
    assert [m.get("status") for m in sent if m["type"] == "http.response.start"] == [413]
    assert b"4096 bytes" in b"".join(m.get("body", b"") for m in sent)


def test_a_body_within_the_limit_goes_through(client: TestClient, key: str) -> None:
    assert ask(client, key, 2) == 202


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/v1/prediction-requests", {"tickers": ["X" * 5000]}),
        ("/v1/predictions", {"ticker": "X" * 5000}),
        ("/v1/tickers", {"symbol": "X" * 5000, "source": "stooq"}),
        ("/v1/training-runs", {"scope": "x" * 5000}),
    ],
)
def test_strings_in_bodies_are_bounded(
    client: TestClient, limits_settings: Settings, path: str, body: dict
) -> None:
    admin = ApiKeyStore(OperationalStore(limits_settings.raw_db_url)).create("ops", role="admin")
    response = client.post(path, json=body, headers={"X-API-Key": admin})
    assert response.status_code == 422 and response.headers["content-type"] == PROBLEM
    assert "at most" in response.json()["detail"] and "characters" in response.json()["detail"]


def test_the_rate_limit_is_charged_by_predictions_asked_for(client: TestClient, key: str) -> None:
    assert ask(client, key, 10) == 202  # 50 of 100
    refused = client.post(
        "/v1/prediction-requests", json={"tickers": TICKERS[:12]}, headers={"X-API-Key": key}
    )  # 60 more would make 110
    assert refused.status_code == 429 and refused.headers["content-type"] == PROBLEM
    assert 1 <= int(refused.headers["retry-after"]) <= 60
    assert "60 predictions" in refused.json()["detail"]
    # The refused work was not charged, only the request itself: 51 + 20 fits.
    assert ask(client, key, 4) == 202
    assert ask(client, key, 10) == 429  # 72 + 50 does not


def test_a_request_bigger_than_the_whole_budget_says_to_split_it(
    client: TestClient, key: str
) -> None:
    response = client.post(
        "/v1/prediction-requests", json={"tickers": TICKERS[:30]}, headers={"X-API-Key": key}
    )  # 150 predictions, the budget is 100 a minute: waiting will never help
    assert response.status_code == 422 and response.headers["content-type"] == PROBLEM
    assert "split" in response.json()["detail"] and "150" in response.json()["detail"]
    assert "retry-after" not in response.headers
