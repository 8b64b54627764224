"""Train, register, promote and load through a real MLflow server: PostgreSQL + S3 artifacts."""

import os
import socket
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
from fastapi.testclient import TestClient
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

from serving.app import create_app
from tests.conftest import PrivateService, service_script, synthetic_panel
from tests.unit.test_registry_and_training import assert_the_gate_keeps_the_champion
from tests.unit.test_registry_outage import (
    LOOKUP_BOUND_SECONDS,
    PANEL,
    QUICK_CANDIDATES,
    assert_the_api_serves_what_it_loaded,
    load_h1,
    serve_features,
    train_h1,
)
from tickerpulse.errors import RegistryUnavailable
from tickerpulse.features import FEATURES, compute_features
from tickerpulse.forecasting.models import model_inputs
from tickerpulse.forecasting.training import train_horizon
from tickerpulse.settings import get_settings
from tickerpulse.stores.api_keys import ApiKeyStore
from tickerpulse.stores.operational import OperationalStore
from tickerpulse.stores.registry import ModelRegistry

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_a_model_travels_through_the_server_and_its_artifacts_land_in_s3(
    mlflow_server: str, s3_endpoint: str, postgres_database: str
) -> None:
    registry = ModelRegistry(mlflow_server, artifact_uri="")
    store = OperationalStore(postgres_database)
    features = compute_features(synthetic_panel(("AAA", "BBB"), years=4))
    name = f"server-test-{uuid.uuid4().hex[:8]}"  # the server's registry outlives test runs
    outcome = train_horizon(
        features, 1, base_name=name, folds=4, registry=registry, operational_store=store
    )
    # Seeded random walks: the random walk serves. Either the nested selection chose it and
    # it was promoted as trained, or the gate declined the selection (no significant edge) and
    # the random walk was registered as the next version.
    assert outcome.champion is not None and outcome.champion.params["model"] == "naive"
    served = int(outcome.version.version) + (0 if outcome.decision.promote else 1)
    assert outcome.champion.version == str(served)

    champion = registry.by_alias(f"{name}-h1", "champion")
    assert champion is not None and champion.version == outcome.champion.version
    model = registry.load(f"{name}-h1", "champion")
    latest = features.dropna(subset=FEATURES).tail(2)
    assert model.predict(latest[model_inputs(FEATURES)]).shape == (2,)

    s3 = boto3.client("s3", endpoint_url=s3_endpoint)
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket="tickerpulse-mlflow").get("Contents", [])]
    experiment = registry.experiment_id(f"{name}-h1")
    ours = [key for key in keys if key.startswith(f"{experiment}/")]
    assert any(key.endswith("MLmodel") for key in ours)
    assert f"{experiment}/{outcome.version.run_id}/artifacts/candidates.json" in ours
    history = store.alias_history(f"{name}-h1")
    assert [h["to_alias"] for h in history][-1] == "champion"
    assert_the_gate_keeps_the_champion(registry, store, name)


def test_an_mlflow_outage_mid_run_stops_training_and_the_api_keeps_its_champion(
    private_mlflow: PrivateService,
    postgres_database: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A server of its own: the test stops it, while other tests use the session's.
    mlflow_server = private_mlflow.address
    registry = ModelRegistry(mlflow_server, artifact_uri="")
    store = OperationalStore(postgres_database)
    base = f"outage-{uuid.uuid4().hex[:8]}"
    started = time.monotonic()
    champion = train_h1(registry, store, base).champion
    training_seconds = time.monotonic() - started
    history = store.alias_history(f"{base}-h1")

    monkeypatch.setenv("TICKERPULSE_DATA_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("RAW_DB_URL", postgres_database)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", mlflow_server)
    monkeypatch.setenv("MODEL_NAME", base)
    get_settings.cache_clear()
    settings = get_settings()
    serve_features(settings)
    key = ApiKeyStore(store).create("registry-outage")
    with TestClient(create_app(settings), headers={"X-API-Key": key}) as client:
        loaded = load_h1(client)
        assert loaded["model_version"] == champion.version  # type: ignore[union-attr]

        stopped: list[float] = []

        def ridge_until_the_server_stops(horizon: int):  # type: ignore[no-untyped-def]
            if not stopped:  # the first fold: the run has begun, the server goes away
                private_mlflow.stop()
                stopped.append(time.monotonic())
            return QUICK_CANDIDATES["ridge"](horizon)

        try:
            started = time.monotonic()
            with pytest.raises(RegistryUnavailable, match="model registry"):
                train_horizon(
                    PANEL,
                    1,
                    base_name=base,
                    folds=3,
                    registry=registry,
                    operational_store=store,
                    candidates={
                        "naive": QUICK_CANDIDATES["naive"],
                        "ridge": ridge_until_the_server_stops,
                    },
                )
            # Training and failing costs about what training did, not MLflow's minutes of retries.
            assert stopped and time.monotonic() - started < training_seconds + 20

            lookup = time.monotonic()
            with pytest.raises(RegistryUnavailable):
                registry.by_alias(f"{base}-h1", "champion")
            assert time.monotonic() - lookup < LOOKUP_BOUND_SECONDS

            assert_the_api_serves_what_it_loaded(client, loaded, base)
        finally:
            private_mlflow.start()

    after = registry.by_alias(f"{base}-h1", "champion")
    assert after is not None and after.version == champion.version  # type: ignore[union-attr]
    assert store.alias_history(f"{base}-h1") == history


@pytest.fixture
def mlflow_with_auth(
    mlflow_server: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[str, str]]:
    """A second server from the same script, running MLflow's basic-auth app as compose does:
    (its address, the admin's password)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    password = uuid.uuid4().hex
    monkeypatch.setenv("TP_MLFLOW_PORT", str(port))
    monkeypatch.setenv("TP_MLFLOW_DIR", str(tmp_path / "mlflow-auth"))
    monkeypatch.setenv("TP_MLFLOW_ADMIN_PASSWORD", password)
    try:
        yield service_script("mlflow", timeout=300), password
    finally:
        service_script("mlflow", "stop")


def test_with_basic_auth_only_the_platform_moves_the_champion(
    mlflow_with_auth: tuple[str, str], postgres_database: str
) -> None:
    url, password = mlflow_with_auth
    signed_in = url.replace("http://", f"http://tickerpulse:{password}@")
    base = f"auth-{uuid.uuid4().hex[:8]}"
    # The platform's registry signs in through its URI, trains and moves aliases as ever.
    champion = train_h1(
        ModelRegistry(signed_in, artifact_uri=""), OperationalStore(postgres_database), base
    )
    champion_version = champion.champion.version  # type: ignore[union-attr]
    name = f"{base}-h1"
    for client in (MlflowClient(url), MlflowClient(url.replace("http://", "http://x:wrong@"))):
        with pytest.raises(MlflowException) as refused:
            client.set_registered_model_alias(name, "champion", champion.version.version)
        assert refused.value.get_http_status_code() == 401
        with pytest.raises(MlflowException):
            client.get_model_version_by_alias(name, "champion")  # not even a read
    platform = ModelRegistry(signed_in, artifact_uri="")
    assert platform.by_alias(name, "champion").version == champion_version  # type: ignore[union-attr]
    platform.move_alias(name, "champion", champion.version.version, expected=champion_version)
    assert platform.by_alias(name, "champion").version == champion.version.version  # type: ignore[union-attr]


def session_commands(port: int) -> list[str]:
    """The command lines of every process in the session of the MLflow server on `port`
    (scripts/mlflow.sh starts it in a session of its own: its workers are in it too)."""
    commands = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                commands[int(entry.name)] = (entry / "cmdline").read_bytes().replace(b"\0", b" ")
            except OSError:
                continue
    server = next(
        pid
        for pid, command in commands.items()
        if b"mlflow server" in command and f"--port {port} ".encode() in command + b" "
    )
    session = os.getsid(server)
    members = []
    for pid, command in commands.items():
        try:
            if os.getsid(pid) == session:
                members.append(command.decode(errors="replace"))
        except OSError:
            continue
    return members


def test_the_server_runs_no_job_consumers(mlflow_server: str) -> None:
    # MLflow's job execution (its GenAI jobs; the platform runs none) started a job runner and
    # seven huey consumers beside each server, about half a core busy while idle.
    members = session_commands(int(mlflow_server.rsplit(":", 1)[1]))
    assert members and not [c for c in members if "huey" in c or "_job_runner" in c], members
