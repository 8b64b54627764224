"""`tickerpulse up` and `tickerpulse materialize`: the commands that start processes (Dagster's
webserver and daemon, the API, the workers, a Dagster run), apart from the domain's commands
in tickerpulse/cli.py. launcher/cli.py adds them to the one `tickerpulse` command."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Annotated

import typer

from tickerpulse.cli import open_operational_store
from tickerpulse.errors import TickerPulseError
from tickerpulse.settings import PROJECT_ROOT, Settings, get_settings


def _echo_step(number: int, total: int, text: str) -> None:
    typer.secho(f"[{number}/{total}] {text}", bold=True)


def _platform_env(settings: Settings) -> dict[str, str]:
    env = dict(os.environ)
    env["DAGSTER_HOME"] = str(settings.dagster_home)
    env["TICKERPULSE_DATA_DIR"] = str(settings.data_dir)
    # The venv's own commands first, whichever way we were started.
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    # The MLflow UI without MLflow's job execution (its GenAI jobs; the platform runs none): a
    # job runner and seven huey consumers kept about half a core busy while idle.
    env.setdefault("MLFLOW_SERVER_ENABLE_JOB_EXECUTION", "false")
    return env


def prepare_dagster_home(settings: Settings) -> None:
    """Dagster's instance file: PostgreSQL, queued runs and S3 compute logs in full mode
    (docker/dagster.yaml, as in compose), SQLite under the data dir when embedded."""
    settings.dagster_home.mkdir(parents=True, exist_ok=True)
    instance = "docker/dagster.yaml" if settings.dagster_postgres_url else "dagster.yaml"
    shutil.copyfile(PROJECT_ROOT / instance, settings.dagster_home / "dagster.yaml")


_STEP_DONE = re.compile(r'STEP_SUCCESS - Finished execution of step "([^"]+)" in (\S+?)\.?$')
_CHECK = re.compile(r"ASSET_CHECK_EVALUATION - Asset check '([^']+)' on '([^']+)' (.+?)\.?$")
_FAILURE = re.compile(r"(STEP_FAILURE|RUN_FAILURE) - (.*)")


def materialize_everything(settings: Settings, log_dir: Path, only: str | None = None) -> None:
    """Every asset and check (or `only` one ticker's clean prices and what the universe
    builds from them), through Dagster and into its instance, so the UI shows the runs.
    Dagster runs in a process of its own: the domain does not import it."""
    command = [sys.executable, "-m", "orchestration.bootstrap"]
    if only is not None:
        command += ["--ticker", only]
    log_path = log_dir / "materialize.log"
    started = time.monotonic()
    check_steps: set[str] = set()
    try:
        for line in _stream(command, settings, log_path):
            if match := _STEP_DONE.search(line):
                if match.group(1) not in check_steps:
                    typer.echo(f"      done  {match.group(1):<54} {match.group(2)}")
            elif match := _CHECK.search(line):
                check_steps.add(f"{match.group(2)}_{match.group(1)}")
                colour = typer.colors.GREEN if match.group(3) == "passed" else typer.colors.RED
                typer.secho(f"      check {match.group(1):<54} {match.group(3)}", fg=colour)
            elif match := _FAILURE.search(line):
                typer.secho(f"      {match.group(2)[:160]}", fg=typer.colors.RED)
    except subprocess.CalledProcessError:
        typer.secho(
            f"Materialization failed; the full log is {log_path}", fg=typer.colors.RED, err=True
        )
        raise typer.Exit(1) from None
    typer.echo(f"      all assets materialized in {time.monotonic() - started:.0f} s")


def _stream(command: list[str], settings: Settings, log_path: Path) -> Iterator[str]:
    from launcher.supervise import stream_lines

    return stream_lines(command, _platform_env(settings), PROJECT_ROOT, log_path)


def up(
    skip_materialize: Annotated[
        bool, typer.Option(help="Serve what is stored; do not re-run the pipeline.")
    ] = False,
    demo_tickers: Annotated[
        int,
        typer.Option(  # tickerpulse.demo's DEMO_TICKERS and MAX_DEMO_TICKERS
            min=5,
            max=3000,
            help="Tickers in the demo universe: the 5 shipped ones, then synthetic SYN0001, ...",
        ),
    ] = 5,
) -> None:
    """Load the demo universe, materialize every asset, serve the Dagster UI and the API."""
    from launcher.services import platform_services, ports_to_claim
    from launcher.supervise import port_in_use, wait_until_ready
    from launcher.supervise import stop_all as stop_all_services
    from tickerpulse.demo import load_demo_universe

    settings = get_settings()
    host = settings.api_host
    log_dir = settings.data_dir / "logs"
    services = platform_services(settings, log_dir)
    for port, variable in ports_to_claim(services):
        if port_in_use(host, port):
            typer.secho(
                f"Port {port} on {host} is taken (another `tickerpulse up`?). Stop it or set {variable}.",
                fg=typer.colors.RED,
                err=True,
            )
            raise typer.Exit(1)
    total = 4
    _echo_step(1, total, f"State lives in {settings.data_dir}")
    prepare_dagster_home(settings)

    _echo_step(2, total, f"Loading the demo universe ({demo_tickers} tickers)")
    store = open_operational_store(settings)
    reports = load_demo_universe(store, settings.demo_years, settings.synthetic_seed, demo_tickers)
    # At size, a line per ticker would bury the rest: the first few, then the totals.
    for report in reports[:8]:
        typer.echo(f"      {report.describe()}")
    if len(reports) > 8:
        stored = sum(r.stored for r in reports[8:])
        typer.echo(f"      ... and {len(reports) - 8} more tickers, {stored} rows stored")

    if skip_materialize:
        _echo_step(3, total, "Skipping materialization (--skip-materialize)")
    else:
        _echo_step(
            3,
            total,
            "Materializing raw_prices (last 20 sessions) -> clean_prices (every ticker) -> "
            "price_features -> price_model -> price_forecasts",
        )
        materialize_everything(settings, log_dir)

    env = _platform_env(settings)
    _echo_step(4, total, "Starting " + ", ".join(service.name for service in services))

    def stop_all(*_: object) -> None:
        typer.echo("\nStopping ...")
        stop_all_services(services)
        typer.echo("Stopped everything `tickerpulse up` started.")

    # Ctrl-C, `kill` and a closed terminal all stop what we started, even when a shell
    # launched us in the background with SIGINT ignored.
    for number in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(number, _interrupt)
    try:
        for service in services:
            service.start(env, PROJECT_ROOT)
        wait_until_ready(
            services,
            timeout=180,
            tick=_progress_ticker("waiting for the Dagster UI (about 30 s) and the rest"),
        )
        _print_where_to_look(settings)
        while all(service.exited() is None for service in services):
            time.sleep(1)
        crashed = next(s for s in services if s.exited() is not None)
        typer.secho(
            f"{crashed.name} stopped unexpectedly; see {crashed.log_path}",
            fg=typer.colors.RED,
            err=True,
        )
        stop_all()
        raise typer.Exit(1)
    except KeyboardInterrupt:
        stop_all()
    except RuntimeError as error:
        typer.secho(str(error), fg=typer.colors.RED, err=True)
        stop_all()
        raise typer.Exit(1) from None


def _progress_ticker(text: str) -> Callable[[float], None]:
    """Redraw one line on a terminal; in a log, a line every 10 s."""
    last = [-10.0]

    def tick(elapsed: float) -> None:
        if sys.stdout.isatty():
            typer.echo(f"\r      {text} ... {elapsed:3.0f} s", nl=False)
        elif elapsed - last[0] >= 10:
            last[0] = elapsed
            typer.echo(f"      {text} ... {elapsed:3.0f} s")

    return tick


def _interrupt(*_: object) -> None:
    raise KeyboardInterrupt


def _print_where_to_look(settings: Settings) -> None:
    from launcher.services import stream_url

    api = f"http://{settings.api_host}:{settings.api_port}"
    dagster = f"http://{settings.api_host}:{settings.dagster_port}"
    typer.secho("\nTickerPulse is up.", fg=typer.colors.GREEN, bold=True)
    # The API serves the web page once `make web` (or `make up`) has built it.
    if (PROJECT_ROOT / "dashboards/web/dist/index.html").is_file():
        typer.echo(f"  Web page     {api}/  (chart, forecasts, models, live feed, retrain)")
    typer.echo(f"  API docs     {api}/docs")
    typer.echo(f"  Forecast     curl {api}/v1/forecasts/ACME")
    typer.echo(f"  Tickers      curl {api}/v1/tickers")
    typer.echo(f"  Metrics      {api}/metrics")
    typer.echo(
        f"  Live stream  {stream_url(settings)}?channels=predictions  (alerts, metrics: &token=KEY)"
    )
    # Keys live in the operational store: in full mode the command must reach the same database.
    where = (
        f"RAW_DB_URL={settings.raw_db_url} " if not settings.raw_db_url.startswith("sqlite") else ""
    )
    if settings.data_dir != PROJECT_ROOT / "var":
        where = f"TICKERPULSE_DATA_DIR={settings.data_dir} {where}"
    typer.echo(
        f"  API key      {where}.venv/bin/tickerpulse apikey create me --role admin  (predict, retrain)"
    )
    typer.echo(f"  Dagster UI   {dagster}/assets  (materialize, backfill, checks, lineage)")
    typer.echo(f"  MLflow UI    {settings.mlflow_ui_url}  (runs, plots, registered models)")
    typer.echo(f"  Logs         {settings.data_dir / 'logs'}")
    typer.echo("Press Ctrl-C to stop.")


def materialize(
    ticker: Annotated[
        str | None,
        typer.Option(help="Only this ticker's clean prices, then features, model, forecasts"),
    ] = None,
) -> None:
    """Run the pipeline through the Dagster instance `up` serves, so the runs show in its UI.

    Without --ticker: every asset (recent sessions, every ticker, training, forecasts)."""
    from tickerpulse.queries import known_ticker

    settings = get_settings()
    symbol = None
    if ticker is not None:
        try:
            symbol = known_ticker(open_operational_store(settings), ticker)
        except TickerPulseError as error:
            typer.secho(f"Not materialized: {error}", fg=typer.colors.RED, err=True)
            raise typer.Exit(1) from None
    elif not open_operational_store(settings).list_tickers():
        typer.secho(
            "Not materialized: no tickers yet (`tickerpulse ingest` or `tickerpulse up`)",
            fg=typer.colors.RED,
            err=True,
        )
        raise typer.Exit(1)
    if not (settings.dagster_home / "dagster.yaml").is_file():
        prepare_dagster_home(settings)
    typer.echo(
        f"Materializing clean_prices[{symbol}] -> price_features -> price_model -> price_forecasts"
        if symbol
        else "Materializing raw_prices (last 20 sessions) -> clean_prices (every ticker) -> "
        "price_features -> price_model -> price_forecasts"
    )
    materialize_everything(settings, settings.data_dir / "logs", symbol)
    typer.echo(f"Runs recorded in the Dagster instance at {settings.dagster_home}")
