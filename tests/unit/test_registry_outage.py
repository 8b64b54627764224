"""A registry that fails is not "no champion": training stops, the API keeps what it loaded.

The outage here is a real one for MLflow's client: a tracking URI on a port nobody listens on
(connection refused). tests/integration/test_mlflow_server.py stops a real server instead.
"""

import os
import socket
import time
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from serving.app import create_app
from tests.conftest import synthetic_panel
from tickerpulse.errors import RegistryUnavailable
from tickerpulse.features import compute_features
from tickerpulse.forecasting.champions import registered_name
from tickerpulse.forecasting.models import CANDIDATES
from tickerpulse.forecasting.training import TrainingOutcome, train_horizon
from tickerpulse.predicting import Predictor
from tickerpulse.settings import Settings
from tickerpulse.stores.api_keys import ApiKeyStore
from tickerpulse.stores.operational import OperationalStore
from tickerpulse.stores.registry import FOR_REQUESTS, ModelRegistry
from tickerpulse.stores.warehouse import open_warehouse

pytestmark = pytest.mark.slow
TICKERS = ("AAA", "BBB")
PANEL = compute_features(synthetic_panel(TICKERS, years=4))
QUICK_CANDIDATES = {name: CANDIDATES[name] for name in ("naive", "ridge")}
LOOKUP_BOUND_SECONDS = 5.0  # the bound for a dependency's 503


def unreachable_uri() -> str:
    """An MLflow server address where nothing listens: every request is refused."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://ops:secret@127.0.0.1:{port}"


def train_h1(
    registry: ModelRegistry, operational_store: OperationalStore, base_name: str
) -> TrainingOutcome:
    """A champion for h1 (on seeded random walks: the random walk, after the gate's no)."""
    outcome = train_horizon(
        PANEL,
        1,
        base_name=base_name,
        folds=3,
        registry=registry,
        operational_store=operational_store,
        candidates=QUICK_CANDIDATES,
    )
    assert outcome.champion is not None
    return outcome


def serve_features(settings: Settings) -> None:
    """The tickers and their features, as the platform's assets would leave them."""
    operational_store = OperationalStore(settings.raw_db_url)
    warehouse = open_warehouse(settings.warehouse_url)
    for ticker in TICKERS:
        operational_store.add_ticker(ticker, source="synthetic")
        rows = PANEL[PANEL["ticker"] == ticker].drop(columns="ticker")
        warehouse.write_partition("price_features", ticker, rows)


def load_h1(client: TestClient) -> dict:
    """The API's prediction for AAA at h1: the champion of h1 loaded in its process."""
    loaded = client.post("/v1/predictions", json={"ticker": "AAA", "horizon": 1})
    assert loaded.status_code == 200, loaded.text
    client.app.state.services.predictor.refresh_seconds = 0.0  # type: ignore[attr-defined]
    return dict(loaded.json())  # from now on every request asks the registry again


def assert_the_api_serves_what_it_loaded(client: TestClient, loaded: dict, model_name: str) -> None:
    """With h1's champion `loaded` (load_h1) and the registry down since: h1 still answers,
    h5 (never loaded) and /v1/models answer 503 naming the registry within the bound, and
    /readyz says degraded and why."""

    again = client.post("/v1/predictions", json={"ticker": "AAA", "horizon": 1})
    assert again.status_code == 200, again.text
    assert again.json()["model_version"] == loaded["model_version"]

    for method, path, body in [
        ("POST", "/v1/predictions", {"ticker": "AAA", "horizon": 5}),
        ("GET", "/v1/models", None),
    ]:
        started = time.monotonic()
        refused = client.request(method, path, json=body)
        assert time.monotonic() - started < LOOKUP_BOUND_SECONDS
        assert refused.status_code == 503, refused.text
        assert refused.headers["content-type"] == "application/problem+json"
        assert int(refused.headers["Retry-After"]) > 0
        problem = refused.json()
        assert problem["dependency"] == "model registry"
        assert problem["title"] == "Model registry unavailable"
        assert "secret" not in problem["detail"]

    ready = client.get("/readyz")
    assert ready.status_code == 200  # degraded, not down: it still answers
    readiness = ready.json()
    assert readiness["ready"] and readiness["status"] == "degraded"
    [reason] = readiness["reasons"]
    assert reason.startswith("registry: ") and "model registry" in reason
    assert f"{registered_name(model_name, 1)} v{loaded['model_version']}" in reason  # served


@pytest.fixture
def registry(settings: Settings) -> ModelRegistry:
    return ModelRegistry(settings.mlflow_tracking_uri, settings.mlflow_artifact_uri)


def test_an_unreachable_registry_raises_within_seconds_and_the_bound_stays_its_own() -> None:
    from mlflow.environment_variables import MLFLOW_HTTP_REQUEST_TIMEOUT

    down = ModelRegistry(unreachable_uri(), artifact_uri="")
    started = time.monotonic()
    with pytest.raises(
        RegistryUnavailable, match=r"model registry at http://127\.0\.0\.1"
    ) as error:
        down.by_alias("any-h1", "champion")
    assert time.monotonic() - started < LOOKUP_BOUND_SECONDS
    assert "secret" not in str(error.value)  # the URI's credentials stay out of messages
    # The registry's bounds applied to its own call only: MLflow elsewhere keeps its settings.
    assert MLFLOW_HTTP_REQUEST_TIMEOUT.get() == int(
        os.environ.get("MLFLOW_HTTP_REQUEST_TIMEOUT", "120")
    )


def test_a_model_or_alias_that_does_not_exist_is_no_champion(
    registry: ModelRegistry, settings: Settings
) -> None:
    assert registry.by_alias("never-trained", "champion") is None
    train_h1(registry, OperationalStore(settings.raw_db_url), "aliases")
    assert registry.by_alias("aliases-h1", "no-such-alias") is None


def test_an_outage_stops_training_and_leaves_the_champion_and_its_history(
    registry: ModelRegistry, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    operational_store = OperationalStore(settings.raw_db_url)
    champion = train_h1(registry, operational_store, "gate").champion
    history = operational_store.alias_history("gate-h1")
    # Registration works, then the registry stops answering alias lookups: the gate must not
    # read that as "no champion" and put the random walk in the champion's place.
    down = ModelRegistry(unreachable_uri(), artifact_uri="")
    monkeypatch.setattr(
        registry.client, "get_model_version_by_alias", down.client.get_model_version_by_alias
    )
    with pytest.raises(RegistryUnavailable):
        train_horizon(
            PANEL,
            1,
            base_name="gate",
            folds=3,
            registry=registry,
            operational_store=operational_store,
            candidates={"naive": CANDIDATES["naive"]},
        )
    monkeypatch.undo()
    assert registry.by_alias("gate-h1", "champion").version == champion.version  # type: ignore[union-attr]
    assert operational_store.alias_history("gate-h1") == history


def test_the_predictor_keeps_its_champion_while_the_registry_is_down(
    registry: ModelRegistry, settings: Settings
) -> None:
    train_h1(registry, OperationalStore(settings.raw_db_url), settings.model_name)
    predictor = Predictor(
        registry, open_warehouse(settings.warehouse_url), settings.model_name, [1, 5]
    )
    loaded = predictor.champion(1)
    predictor.registry = ModelRegistry(unreachable_uri(), artifact_uri="")
    predictor.refresh_seconds = 0.0
    assert predictor.champion(1) is loaded
    assert predictor.registry_problem and "model registry" in predictor.registry_problem
    with pytest.raises(RegistryUnavailable):
        predictor.champion(5)
    predictor.registry = registry
    predictor.champion(1)
    assert predictor.registry_problem is None  # recovered: readiness says ready again


@pytest.fixture
def client(settings: Settings, registry: ModelRegistry) -> Iterator[TestClient]:
    train_h1(registry, OperationalStore(settings.raw_db_url), settings.model_name)
    serve_features(settings)
    key = ApiKeyStore(OperationalStore(settings.raw_db_url)).create("registry-outage")
    with TestClient(create_app(settings), headers={"X-API-Key": key}) as test_client:
        yield test_client


def test_the_api_serves_its_loaded_champion_and_names_the_registry_when_it_is_down(
    client: TestClient,
) -> None:
    loaded = load_h1(client)
    down = ModelRegistry(unreachable_uri(), artifact_uri="", lookups=FOR_REQUESTS)
    services = client.app.state.services  # type: ignore[attr-defined]
    services.registry = services.predictor.registry = down
    assert_the_api_serves_what_it_loaded(client, loaded, "tickerpulse-price")
