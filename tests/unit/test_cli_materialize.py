"""`tickerpulse materialize`: a ticker fed from a file reaches `evaluate` and the API through
runs of the Dagster instance, without the user opening the Dagster UI."""

import json
import shutil
from pathlib import Path

import dagster as dg
import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from launcher.cli import app
from serving.app import create_app
from tickerpulse.settings import Settings

runner = CliRunner()
DEMO_GOOG = Path(__file__).parents[2] / "tickerpulse/data/demo/GOOG.csv"


@pytest.mark.slow
def test_a_ticker_ingested_from_a_file_is_materialized_from_the_command_line(
    settings: Settings, tmp_path: Path
) -> None:
    path = tmp_path / "mine.csv"
    shutil.copy(DEMO_GOOG, path)
    ingested = runner.invoke(app, ["ingest", "--csv", str(path), "--ticker", "mine"])
    assert ingested.exit_code == 0, ingested.output
    assert "tickerpulse materialize --ticker MINE" in ingested.output
    before = runner.invoke(app, ["evaluate", "--ticker", "MINE", "--json"])
    assert before.exit_code == 1 and "no clean prices yet" in before.output

    result = runner.invoke(app, ["materialize", "--ticker", "mine"])
    assert result.exit_code == 0, result.output
    assert "clean_prices[MINE]" in result.output

    evaluated = runner.invoke(app, ["evaluate", "--ticker", "MINE", "--json"])
    assert evaluated.exit_code == 0, evaluated.output
    assert json.loads(evaluated.output)["test_rows"] > 0
    with TestClient(create_app(settings)) as client:
        listed = {row["symbol"]: row for row in client.get("/v1/tickers").json()}
        assert listed["MINE"]["rows"] == 2148  # every row of the file is clean
        forecast = client.get("/v1/forecasts/MINE")
        assert forecast.status_code == 200, forecast.text

    with dg.DagsterInstance.from_config(str(settings.dagster_home)) as instance:
        runs = {r.dagster_run.job_name: r.dagster_run for r in instance.get_run_records()}
    assert set(runs) == {"clean_tickers", "train_and_forecast"}
    assert all(run.status == dg.DagsterRunStatus.SUCCESS for run in runs.values())
    assert runs["clean_tickers"].tags["dagster/partition"] == "MINE"


def test_materialize_refuses_a_ticker_it_does_not_know(settings: Settings) -> None:
    result = runner.invoke(app, ["materialize", "--ticker", "nope"])
    assert result.exit_code == 1
    assert "Not materialized" in result.output and "NOPE" in result.output
    assert not (settings.dagster_home / "dagster.yaml").exists()  # no run was started


def test_materialize_everything_needs_some_tickers_first(settings: Settings) -> None:
    result = runner.invoke(app, ["materialize"])
    assert result.exit_code == 1 and "no tickers yet" in result.output
