"""POST/GET /v1/training-runs against the embedded stores and broker (no worker here: the
integration tests run one)."""

from fastapi.testclient import TestClient

from serving.app import create_app
from tickerpulse.settings import Settings
from tickerpulse.stores.api_keys import ApiKeyStore
from tickerpulse.stores.operational import OperationalStore

PROBLEM = "application/problem+json"


def admin_headers(settings: Settings) -> dict[str, str]:
    return {
        "X-API-Key": ApiKeyStore(OperationalStore(settings.raw_db_url)).create("ops", role="admin")
    }


def queue_depth(client: TestClient) -> float:
    text = client.get("/metrics").text
    line = next(x for x in text.splitlines() if x.startswith("tickerpulse_celery_queue_depth"))
    return float(line.rsplit(" ", 1)[1])


def test_a_run_is_queued_once_per_scope_and_can_be_polled(settings: Settings) -> None:
    headers = admin_headers(settings)
    with TestClient(create_app(settings)) as client:
        assert queue_depth(client) == 0
        first = client.post("/v1/training-runs", json={}, headers=headers)
        assert first.status_code == 202
        run = first.json()
        assert run["state"] == "queued" and run["scope"] == settings.model_name
        assert run["requested_by"] == headers["X-API-Key"][:10]
        assert run["dagster_run_id"] is None and run["dagster_run_url"] is None
        second = client.post("/v1/training-runs", headers=headers)  # no body: the default scope
        assert second.status_code == 200 and second.json()["id"] == run["id"]
        polled = client.get(f"/v1/training-runs/{run['id']}")
        assert polled.status_code == 200 and polled.json() == run
        assert [r["id"] for r in client.get("/v1/training-runs").json()] == [run["id"]]
        # The task waits in the embedded broker's queue (SQLite) for a worker.
        client.app.state.services.queue_depth.max_age = 0
        assert queue_depth(client) == 1


def test_training_needs_an_admin_key(settings: Settings) -> None:
    client_key = ApiKeyStore(OperationalStore(settings.raw_db_url)).create("app")
    with TestClient(create_app(settings)) as client:
        assert client.post("/v1/training-runs", json={}).status_code == 401
        refused = client.post("/v1/training-runs", json={}, headers={"X-API-Key": client_key})
        assert refused.status_code == 403
        assert client.get("/v1/training-runs").json() == []


def test_unknown_runs_and_scopes_are_clear_errors(settings: Settings) -> None:
    headers = admin_headers(settings)
    with TestClient(create_app(settings)) as client:
        missing = client.get("/v1/training-runs/nope")
        assert missing.status_code == 404 and missing.headers["content-type"] == PROBLEM
        assert "no training run 'nope'" in missing.json()["detail"]
        scope = client.post("/v1/training-runs", json={"scope": "other"}, headers=headers)
        assert scope.status_code == 422 and "tickerpulse-price" in scope.json()["detail"]


def test_an_unreachable_queue_is_a_503_and_frees_the_scope(settings: Settings) -> None:
    down = settings.model_copy(update={"celery_broker_url": "redis://127.0.0.1:9/0"})
    headers = admin_headers(down)
    with TestClient(create_app(down)) as client:
        refused = client.post("/v1/training-runs", json={}, headers=headers)
        assert refused.status_code == 503 and refused.headers["retry-after"] == "30"
        assert "training queue is unreachable" in refused.json()["detail"]
        # Recorded as failed with the reason, so it is not left queued for ever ...
        (failed,) = client.get("/v1/training-runs").json()
        assert failed["state"] == "failed" and "could not be queued" in failed["error"]
        # ... and the scope is free: the next submission is a new run, not that one.
        again = client.post("/v1/training-runs", json={}, headers=headers)
        assert again.status_code == 503
        assert len(client.get("/v1/training-runs").json()) == 2
        assert queue_depth(client) != queue_depth(client)  # NaN: unknown while the broker is down
