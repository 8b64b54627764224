"""The domain's `tickerpulse` commands: feed it prices, evaluate, look at what it holds, keys.
The commands that start processes (`up`, `materialize`) are the launcher app's (launcher/cli.py
puts both sets in the one command)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from tickerpulse.errors import TickerPulseError
from tickerpulse.settings import Settings, get_settings

if TYPE_CHECKING:
    from tickerpulse.stores.operational import OperationalStore

app = typer.Typer(help="TickerPulse: daily prices in, honest forecasts out.", no_args_is_help=True)


def open_operational_store(settings: Settings) -> OperationalStore:
    from tickerpulse.stores.operational import OperationalStore

    return OperationalStore(settings.raw_db_url)


@app.command()
def ingest(
    ticker: Annotated[str, typer.Option(help="Ticker symbol to add or update, e.g. AAPL")],
    csv: Annotated[
        Path | None, typer.Option(help="CSV with Date,Open,High,Low,Close,Volume[,Adj Close]")
    ] = None,
    source: Annotated[
        str | None, typer.Option(help="Instead of a file: synthetic, stooq or yahoo")
    ] = None,
    years: Annotated[int, typer.Option(help="History to fetch from a source, in years")] = 10,
) -> None:
    """Add or update a ticker from a CSV file or a price source; report stored and rejected rows."""
    from tickerpulse.calendar import last_completed_session
    from tickerpulse.ingestion import ingest_csv, ingest_from_source
    from tickerpulse.sources import get_source
    from tickerpulse.symbols import normalize_ticker

    if (csv is None) == (source is None):
        typer.secho(
            "Give exactly one of --csv FILE or --source NAME.", fg=typer.colors.RED, err=True
        )
        raise typer.Exit(2)
    settings = get_settings()
    store = open_operational_store(settings)
    try:
        if csv is not None:
            if not csv.is_file():
                raise TickerPulseError(f"{csv} is not a readable file")
            report = ingest_csv(store, csv, ticker)
        else:
            symbol = normalize_ticker(ticker)
            end = last_completed_session(exchange=settings.exchange)
            start = end.replace(year=end.year - years)
            price_source = get_source(str(source), seed=settings.synthetic_seed)
            report = ingest_from_source(store, price_source, symbol, start, end)
            if report.stored:
                store.add_ticker(symbol, source=price_source.name)
    except (TickerPulseError, ValueError) as error:
        typer.secho(f"Not ingested: {error}", fg=typer.colors.RED, err=True)
        raise typer.Exit(1) from None
    typer.echo(report.describe())
    if report.rejected:
        typer.echo(
            f"Rejected rows are kept with their reason in the quarantine table ({settings.raw_db_url})."
        )
    typer.echo(
        f"Run `tickerpulse materialize --ticker {report.ticker}` to clean, evaluate and "
        "forecast it (the runs show in the Dagster UI)."
    )


@app.command()
def evaluate(
    ticker: Annotated[str, typer.Option(help="Ticker to evaluate, e.g. GOOG")],
    horizon: Annotated[int, typer.Option(min=1, help="Trading days ahead")] = 1,
    folds: Annotated[
        int | None,
        typer.Option(
            min=2, help="Walk-forward folds (default: enough to test the last 2,000 sessions)"
        ),
    ] = None,
    train_dates: Annotated[
        int | None,
        typer.Option(min=250, help="Rolling window: train on the last N dates (default: all)"),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON only")] = False,
) -> None:
    """Nested walk-forward of the candidates on one ticker's clean prices, against the random walk."""
    import json

    from tickerpulse.errors import UnknownTicker
    from tickerpulse.forecasting.evaluation import NotEnoughHistory
    from tickerpulse.forecasting.report import evaluate_ticker
    from tickerpulse.queries import known_ticker
    from tickerpulse.stores.warehouse import open_warehouse

    settings = get_settings()
    try:
        symbol = known_ticker(open_operational_store(settings), ticker)
        prices = open_warehouse(settings.warehouse_url).read("clean_prices", symbol)
        if prices.empty:
            raise UnknownTicker(
                f"{symbol} has no clean prices yet: materialize clean_prices for it"
            )
        report = evaluate_ticker(
            prices,
            symbol,
            horizon,
            folds or settings.walk_forward_folds,
            settings.exchange,
            train_dates or settings.training_window_dates,
            settings.promotion_significance,
            settings.walk_forward_fold_dates,
            settings.walk_forward_test_sessions,
        )
    except (UnknownTicker, NotEnoughHistory) as error:
        typer.secho(f"Not evaluated: {error}", fg=typer.colors.RED, err=True)
        raise typer.Exit(1) from None
    if as_json:
        typer.echo(json.dumps(report, indent=2))
        return
    typer.echo(
        f"{symbol}, {horizon} day(s) ahead, {report['n_folds']} folds of {report['fold_dates']} "
        f"sessions ({report['seed_folds']} only seed the selection), {report['test_rows']} test "
        f"days from {report['test_window']['first']}, {report['training']} training"
    )
    low, high = report["directional_accuracy_ci95"]
    typer.echo(
        f" selected (nested) relative MAE {report['relative_mae']:.4f}  "
        f"DM {report['dm_stat']:.2f} p={report['dm_pvalue']:.3f}  "
        f"direction {report['directional_accuracy']:.3f} [{low:.3f}, {high:.3f}]"
    )
    for label in (80, 95):
        terciles = "/".join(f"{value:.3f}" for value in report[f"coverage_{label}_by_volatility"])
        typer.echo(
            f" {label} % interval coverage by volatility (low/mid/high) {terciles}, "
            f"last 60 sessions {report[f'coverage_{label}_last_60']:.3f}"
        )
    choices = ", ".join(f"{name} {count}" for name, count in report["fold_choices"].items())
    typer.echo(f" folds chose: {choices}; next: {report['model']}")
    typer.echo(
        f" gate: {'promote' if report['promote'] else 'random walk serves'}: {report['gate']}"
    )
    typer.echo(" each candidate on the same days, for reference:")
    for name, metrics in report["candidates"].items():
        marker = "*" if name == report["model"] else " "
        typer.echo(
            f" {marker} {name:<18} relative MAE {metrics['relative_mae']:.4f}  "
            f"direction {metrics['directional_accuracy']:.3f}  "
            f"coverage 80/95 {metrics['coverage_80']:.3f}/{metrics['coverage_95']:.3f}"
        )
    for warning in report["warnings"]:
        typer.secho(f"warning: {warning}", fg=typer.colors.YELLOW)


@app.command()
def tickers() -> None:
    """List the ticker universe with each ticker's source."""
    for row in open_operational_store(get_settings()).list_tickers():
        typer.echo(f"{row['symbol']:<10} {row['source']:<10} {row['name']}")


apikey = typer.Typer(help="API keys for the endpoints that write or compute.", no_args_is_help=True)
app.add_typer(apikey, name="apikey")


@apikey.command("create")
def apikey_create(
    name: Annotated[str, typer.Argument(help="Who or what uses the key, e.g. web-page")],
    role: Annotated[
        str, typer.Option(help="client: predictions; admin: also tickers and training runs")
    ] = "client",
    rate: Annotated[int, typer.Option(min=1, help="Requests a minute before 429")] = 600,
) -> None:
    """Create a key and print it once: only its hash is stored."""
    from tickerpulse.stores.api_keys import ApiKeyStore

    try:
        key = ApiKeyStore(open_operational_store(get_settings())).create(name, role, rate)
    except ValueError as error:
        typer.secho(str(error), fg=typer.colors.RED, err=True)
        raise typer.Exit(2) from None
    typer.echo(key)
    typer.secho(
        f"Key '{name}' ({role}, {rate}/min). Send it as the X-API-Key header; it is not shown again.",
        err=True,
    )


@apikey.command("list")
def apikey_list() -> None:
    """Every key: prefix, name, role, rate, and when it was revoked."""
    from tickerpulse.stores.api_keys import ApiKeyStore

    for row in ApiKeyStore(open_operational_store(get_settings())).list():
        revoked = f"revoked {row['revoked_at']:%Y-%m-%d}" if row["revoked_at"] else "live"
        typer.echo(
            f"{row['prefix']}...  {row['name']:<20} {row['role']:<7} {row['rate_per_minute']:>6}/min  {revoked}"
        )


@apikey.command("revoke")
def apikey_revoke(
    prefix: Annotated[str, typer.Argument(help="The key, or its first 10 characters")],
) -> None:
    """Revoke a key; the API refuses it within 30 s."""
    from tickerpulse.stores.api_keys import ApiKeyStore

    try:
        revoked = ApiKeyStore(open_operational_store(get_settings())).revoke(prefix)
    except ValueError as error:
        typer.secho(str(error), fg=typer.colors.RED, err=True)
        raise typer.Exit(2) from None
    if not revoked:
        typer.secho(f"No live key starts with {prefix[:10]!r}", fg=typer.colors.RED, err=True)
        raise typer.Exit(1)
    typer.echo(f"Revoked {revoked} key(s).")


if __name__ == "__main__":
    app()
