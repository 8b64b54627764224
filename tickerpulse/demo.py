"""The demo universe `make up` loads: two real histories shipped with the package, three synthetic."""

from __future__ import annotations

from pathlib import Path

from tickerpulse.calendar import last_completed_session
from tickerpulse.ingestion import IngestReport, ingest_csv, ingest_from_source
from tickerpulse.sources.synthetic import SyntheticSource
from tickerpulse.stores.operational import OperationalStore

DEMO_DIR = Path(__file__).parent / "data" / "demo"
DEMO_FILES = {"GOOG": DEMO_DIR / "GOOG.csv", "SPX": DEMO_DIR / "SPX.csv"}
# Fictional names, so no one mistakes generated prices for a real company's.
SYNTHETIC_TICKERS = ("ACME", "GLOBEX", "INITECH")
DEMO_TICKERS = len(DEMO_FILES) + len(SYNTHETIC_TICKERS)
# `up --demo-tickers` is bounded: the Russell 3000 is the largest universe the platform is sized for.
MAX_DEMO_TICKERS = 3000


def synthetic_symbols(tickers: int) -> tuple[str, ...]:
    """The synthetic tickers of a demo universe of `tickers` in all: the three named ones,
    then SYN0001, SYN0002, ... (fictional, and sorted after the named ones' letters)."""
    if not DEMO_TICKERS <= tickers <= MAX_DEMO_TICKERS:
        raise ValueError(
            f"a demo universe holds {DEMO_TICKERS} to {MAX_DEMO_TICKERS} tickers, not {tickers}"
        )
    extra = tickers - DEMO_TICKERS
    return SYNTHETIC_TICKERS + tuple(f"SYN{number:04d}" for number in range(1, extra + 1))


def load_demo_universe(
    store: OperationalStore, years: int = 10, seed: int = 7, tickers: int = DEMO_TICKERS
) -> list[IngestReport]:
    """The shipped files, and `years` of synthetic history up to the last closed session,
    for `tickers` tickers in all (`up --demo-tickers`: the universe at a size users run).

    History is loaded here, as `tickerpulse ingest` would, rather than as thousands of
    trading-day partitions: Dagster then only has to materialize the recent sessions.
    """
    reports = [ingest_csv(store, path, ticker) for ticker, path in DEMO_FILES.items()]
    end = last_completed_session()
    start = end.replace(year=end.year - years)
    source = SyntheticSource(seed=seed)
    for ticker in synthetic_symbols(tickers):
        reports.append(ingest_from_source(store, source, ticker, start, end))
        store.add_ticker(ticker, source="synthetic", name=f"{ticker.title()} (synthetic)")
    return reports
