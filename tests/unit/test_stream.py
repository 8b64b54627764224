"""/v1/stream in the embedded API: a prediction reaches a WebSocket client; tokens; close codes."""

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from serving.app import create_app
from tickerpulse.settings import Settings
from tickerpulse.stores.api_keys import ApiKeyStore
from tickerpulse.stores.operational import OperationalStore

pytestmark = pytest.mark.slow


@pytest.fixture
def key(platform_settings: Settings) -> str:
    return ApiKeyStore(OperationalStore(platform_settings.raw_db_url)).create("stream-test")


@pytest.fixture
def client(platform_settings: Settings, key: str) -> Iterator[TestClient]:
    settings = platform_settings.model_copy(update={"metrics_interval_seconds": 0.2})
    with TestClient(create_app(settings), headers={"X-API-Key": key}) as test_client:
        yield test_client


def next_event(websocket, channel: str) -> dict:  # type: ignore[no-untyped-def]
    for _ in range(50):
        message = websocket.receive_json()
        if message["type"] == "event" and message["channel"] == channel:
            return message
    raise AssertionError(f"no event on {channel}")


def test_a_prediction_reaches_a_websocket_client_on_its_ticker_channel(
    client: TestClient,
) -> None:
    with client.websocket_connect("/v1/stream?channels=predictions:ACME") as websocket:
        client.post("/v1/predictions", json={"ticker": "GOOG"})  # another ticker's channel
        made = client.post("/v1/predictions", json={"ticker": "ACME", "horizon": 5}).json()
        message = websocket.receive_json()
        assert message["type"] == "event" and message["channel"] == "predictions:ACME"
        assert message["data"]["id"] == made["id"] and message["data"]["horizon"] == 5
        assert message["data"]["forecast"] == pytest.approx(made["forecast"])


def test_metrics_need_a_token_and_then_stream_snapshots(client: TestClient, key: str) -> None:
    with (
        # The client's X-API-Key header would count as the token: send none at all.
        client.websocket_connect(
            "/v1/stream?channels=metrics", headers={"X-API-Key": ""}
        ) as websocket,
        pytest.raises(WebSocketDisconnect) as refused,
    ):
        websocket.send_json({"subscribe": []})  # a first message without the token
        websocket.receive_json()
    assert refused.value.code == 4401 and "API key" in refused.value.reason
    query = f"channels=metrics&token={key}"  # in the address, as before
    with client.websocket_connect(f"/v1/stream?{query}", headers={"X-API-Key": ""}) as websocket:
        snapshot = next_event(websocket, "metrics")["data"]
        assert "tickerpulse_http_requests_total" in snapshot["series"]


def test_the_token_may_come_as_the_first_message_and_stays_out_of_the_address(
    client: TestClient, key: str
) -> None:
    with client.websocket_connect(
        "/v1/stream?channels=metrics", headers={"X-API-Key": ""}
    ) as websocket:
        websocket.send_json({"token": key})
        snapshot = next_event(websocket, "metrics")["data"]
        assert "tickerpulse_http_requests_total" in snapshot["series"]
    with client.websocket_connect("/v1/stream", headers={"X-API-Key": ""}) as websocket:
        websocket.send_json({"token": key, "subscribe": ["alerts", "metrics"]})
        assert next_event(websocket, "metrics")["channel"] == "metrics"


def test_a_bad_channel_or_token_is_closed_with_a_clear_code(client: TestClient) -> None:
    for query, code, phrase in [
        ("channels=prices", 4400, "unknown channel 'prices'"),
        ("channels=alerts&token=tp_wrong", 4401, "not a valid API key"),
        ("channels=predictions&last_seq=abc", 4400, "last_seq"),
    ]:
        with (
            client.websocket_connect(f"/v1/stream?{query}", headers={"X-API-Key": ""}) as websocket,
            pytest.raises(WebSocketDisconnect) as closed,
        ):
            websocket.receive_json()
        assert closed.value.code == code and phrase in closed.value.reason


def test_a_client_can_subscribe_later_and_resume_after_a_reconnect(client: TestClient) -> None:
    with client.websocket_connect("/v1/stream?channels=predictions:SPX") as websocket:
        websocket.send_json({"subscribe": ["predictions:GLOBEX"]})
        client.post("/v1/predictions", json={"ticker": "SPX"})  # makes sure the subscribe landed
        assert websocket.receive_json()["channel"] == "predictions:SPX"
        client.post("/v1/predictions", json={"ticker": "GLOBEX"})
        last = websocket.receive_json()
        assert last["channel"] == "predictions:GLOBEX"
    missed = [client.post("/v1/predictions", json={"ticker": "GLOBEX"}).json()["id"] for _ in "ab"]
    query = f"channels=predictions:GLOBEX&last_seq={last['seq']}"
    with client.websocket_connect(f"/v1/stream?{query}") as websocket:
        assert [websocket.receive_json()["data"]["id"] for _ in missed] == missed


def test_stale_tickers_raise_explained_alerts_on_the_alerts_channel(
    client: TestClient, key: str
) -> None:
    # GOOG's and SPX's files end years ago: the detector's first daily check says so. A
    # client from before (last_seq=0) gets the ring: a gap notice, then what it holds.
    query = f"channels=alerts&token={key}&last_seq=0"
    with client.websocket_connect(f"/v1/stream?{query}") as websocket:
        alerts: dict[str, dict] = {}
        for _ in range(500):  # bounded: a missing alert fails, not hangs
            if not {"ticker:GOOG", "ticker:SPX"} - set(alerts):
                break
            message = websocket.receive_json()
            if message["type"] == "event" and message["data"]["metric"] == "sessions_behind":
                alerts[message["data"]["subject"]] = message["data"]
    goog = alerts["ticker:GOOG"]
    assert goog["state"] == "firing" and goog["severity"] == "critical"
    assert goog["value"] > 3000  # sessions since 2013-03-01
    assert "GOOG" in goog["reason"] and str(int(goog["value"])) in goog["reason"].replace(",", "")
    assert "ticker:ACME" not in alerts  # the synthetic tickers are up to date
