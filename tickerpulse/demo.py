"""The demo universe `make up` loads: two real histories shipped with the package, three synthetic."""

from __future__ import annotations

from pathlib import Path

from tickerpulse.ingestion import IngestReport, ingest_csv
from tickerpulse.stores.raw import RawStore

DEMO_DIR = Path(__file__).parent / "data" / "demo"
DEMO_FILES = {"GOOG": DEMO_DIR / "GOOG.csv", "SPX": DEMO_DIR / "SPX.csv"}
# Fictional names, so no one mistakes generated prices for a real company's.
SYNTHETIC_TICKERS = ("ACME", "GLOBEX", "INITECH")


def load_demo_universe(store: RawStore) -> list[IngestReport]:
    reports = [ingest_csv(store, path, ticker) for ticker, path in DEMO_FILES.items()]
    for ticker in SYNTHETIC_TICKERS:
        store.add_ticker(ticker, source="synthetic", name=f"{ticker.title()} (synthetic)")
    return reports
