"""The `tickerpulse` command as a user types it."""

import shutil
from pathlib import Path

import yaml
from typer.testing import CliRunner

from launcher.cli import app
from tests.conftest import FIXTURES, ROOT
from tickerpulse.settings import Settings
from tickerpulse.stores.operational import OperationalStore

runner = CliRunner()


def test_ingest_a_csv_reports_stored_and_rejected_rows_with_reasons(
    store_settings: Settings,
) -> None:
    result = runner.invoke(
        app, ["ingest", "--csv", str(FIXTURES / "dirty.csv"), "--ticker", "dirty"]
    )
    assert result.exit_code == 0, result.output
    assert "DIRTY: 11 rows read, 4 stored, 7 rejected (2024-01-02 .. 2024-01-10)" in result.output
    assert "rejected 1: negative volume" in result.output
    assert "rejected 1: expected 8 fields, found 4" in result.output
    store = OperationalStore(store_settings.raw_db_url)
    assert len(store.read_prices(["DIRTY"])) == 4
    assert len(store.quarantined("DIRTY")) == 7
    assert store.ticker("DIRTY")["source"] == "csv"  # type: ignore[index]


def test_ingesting_the_same_file_again_updates_rather_than_duplicates(
    store_settings: Settings, tmp_path: Path
) -> None:
    path = tmp_path / "GOOG.csv"
    shutil.copy(Path(__file__).parents[2] / "tickerpulse/data/demo/GOOG.csv", path)
    for _ in range(2):
        result = runner.invoke(app, ["ingest", "--csv", str(path), "--ticker", "GOOG"])
        assert "2148 stored, 0 rejected" in result.output
    assert OperationalStore(store_settings.raw_db_url).count_prices() == 2148


def test_a_file_without_required_columns_is_refused_with_the_expected_header(
    store_settings: Settings, tmp_path: Path
) -> None:
    path = tmp_path / "bad.csv"
    path.write_text("when,price\n2024-01-02,10\n")
    result = runner.invoke(app, ["ingest", "--csv", str(path), "--ticker", "BAD"])
    assert result.exit_code == 1
    assert "lacks column(s) date, open, high, low, close, volume" in result.output
    assert (
        OperationalStore(store_settings.raw_db_url).ticker("BAD") is None
    )  # nothing half-registered


def test_bad_arguments_are_refused_clearly(store_settings: Settings, tmp_path: Path) -> None:
    missing = runner.invoke(app, ["ingest", "--csv", str(tmp_path / "nope.csv"), "--ticker", "X"])
    assert missing.exit_code == 1 and "is not a readable file" in missing.output
    symbol = runner.invoke(
        app, ["ingest", "--csv", str(FIXTURES / "dirty.csv"), "--ticker", "no way!"]
    )
    assert symbol.exit_code == 1 and "is not a ticker symbol" in symbol.output
    neither = runner.invoke(app, ["ingest", "--ticker", "X"])
    assert neither.exit_code == 2 and "exactly one of --csv FILE or --source NAME" in neither.output


def test_ingest_from_the_synthetic_source_registers_the_ticker(store_settings: Settings) -> None:
    result = runner.invoke(
        app, ["ingest", "--ticker", "zeta", "--source", "synthetic", "--years", "1"]
    )
    assert result.exit_code == 0, result.output
    listed = runner.invoke(app, ["tickers"])
    assert "ZETA" in listed.output and "synthetic" in listed.output


def test_every_server_of_the_stream_caps_frames_and_declines_compression(
    settings: Settings,
) -> None:
    # Embedded, the API serves /v1/stream on uvicorn; in full mode the relay does, on picows
    # (compose likewise), which caps frames itself and never offers compression
    # (tests/unit/test_relay_server.py).
    from launcher.services import platform_services
    from realtime.stream import MAX_FRAME_BYTES

    full = settings.model_copy(update={"events_url": "kafka://127.0.0.1:29092"})
    commands = {
        (mode, s.name): s.command
        for mode, chosen in (("embedded", settings), ("full", full))
        for s in platform_services(chosen, Path("logs"))
        if (s.name == "API") == (mode == "embedded") and s.name in ("API", "relay")
    }
    compose = yaml.safe_load((ROOT / "docker/compose.yaml").read_text())["services"]
    commands[("compose", "relay")] = compose["relay"]["command"]
    assert set(commands) == {("embedded", "API"), ("full", "relay"), ("compose", "relay")}
    for where in (("full", "relay"), ("compose", "relay")):
        assert commands.pop(where)[1:3] == ["-m", "realtime.service"], where
    for where, command in commands.items():
        at = command.index("--ws-max-size")
        assert int(command[at + 1]) == MAX_FRAME_BYTES, where
        # A client that offers permessage-deflate (browsers do) cost the relay 67 KB per open
        # stream with it, 33 KB without (2,000 clients; issue 18): frames are small JSON.
        at = command.index("--ws-per-message-deflate")
        assert command[at + 1] == "false", where


def test_full_mode_runs_the_realtime_parts_and_workers_as_processes_of_their_own(
    settings: Settings,
) -> None:
    from launcher.services import platform_services, ports_to_claim, stream_url

    embedded = [s.name for s in platform_services(settings, Path("logs"))]
    assert embedded == ["Dagster UI", "API", "training worker", "MLflow UI"]
    assert stream_url(settings) == "ws://127.0.0.1:8000/v1/stream"

    full = settings.model_copy(
        update={
            "events_url": "kafka://127.0.0.1:29092",
            "mlflow_tracking_uri": "http://127.0.0.1:25500",
            "prediction_workers": 3,
        }
    )
    names = [s.name for s in platform_services(full, Path("logs"))]
    assert names == [
        "Dagster UI",
        "API",
        "training worker",
        "relay",
        "metrics publisher",
        "anomaly detector",
        "prediction worker 1",
        "prediction worker 2",
        "prediction worker 3",
    ]
    assert ports_to_claim(platform_services(full, Path("logs"))) == [
        (3000, "DAGSTER_PORT"),
        (8000, "API_PORT"),
        (8001, "RELAY_PORT"),
    ]
    assert ports_to_claim(platform_services(settings, Path("logs"))) == [
        (3000, "DAGSTER_PORT"),
        (8000, "API_PORT"),
        (5000, "MLFLOW_UI_PORT"),
    ]
    assert stream_url(full) == "ws://127.0.0.1:8001/v1/stream"


def test_the_dagster_instance_follows_the_mode(settings: Settings) -> None:
    from launcher.commands import prepare_dagster_home

    prepare_dagster_home(settings)
    assert "postgres" not in (settings.dagster_home / "dagster.yaml").read_text()
    full = settings.model_copy(update={"dagster_postgres_url": "postgresql+psycopg2://x/dagster"})
    prepare_dagster_home(full)
    instance = (full.dagster_home / "dagster.yaml").read_text()
    assert "DAGSTER_POSTGRES_URL" in instance and "S3ComputeLogManager" in instance
