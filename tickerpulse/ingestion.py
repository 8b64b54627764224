"""From a source or a file into the operational store: valid rows upserted, bad rows quarantined."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from tickerpulse.quality import validate_prices
from tickerpulse.sources.base import PriceSource
from tickerpulse.sources.csv_file import CsvSource
from tickerpulse.stores.operational import OperationalStore
from tickerpulse.symbols import normalize_ticker


@dataclass
class IngestReport:
    ticker: str
    source: str
    rows_read: int
    stored: int
    rejected: int
    reasons: Counter[str] = field(default_factory=Counter)
    first_date: dt.date | None = None
    last_date: dt.date | None = None

    def describe(self) -> str:
        text = f"{self.ticker}: {self.rows_read} rows read, {self.stored} stored, {self.rejected} rejected"
        if self.first_date:
            text += f" ({self.first_date} .. {self.last_date})"
        for reason, count in self.reasons.most_common():
            text += f"\n  rejected {count}: {reason}"
        return text


def ingest_frame(
    store: OperationalStore, ticker: str, source: str, frame: pd.DataFrame
) -> IngestReport:
    result = validate_prices(frame)
    stored = store.upsert_prices(ticker, source, result.valid)
    store.quarantine_rows(ticker, source, result.rejected)
    dates = result.valid["date"]
    return IngestReport(
        ticker,
        source,
        rows_read=len(frame),
        stored=stored,
        rejected=len(result.rejected),
        reasons=result.reasons,
        first_date=dates.min() if stored else None,
        last_date=dates.max() if stored else None,
    )


def ingest_from_source(
    store: OperationalStore, source: PriceSource, ticker: str, start: dt.date, end: dt.date
) -> IngestReport:
    return ingest_frame(store, ticker, source.name, source.fetch(ticker, start, end))


def ingest_csv(store: OperationalStore, path: Path, ticker: str) -> IngestReport:
    """Add or update a ticker from a CSV file (what `tickerpulse ingest --csv` does).

    A file for a ticker that is fetched (a backfill, a correction) adds its rows and leaves
    the ticker fetched: a CSV never turns a stooq/yahoo/synthetic ticker into a file-fed one."""
    symbol = normalize_ticker(ticker)
    frame = CsvSource(path).fetch(symbol, dt.date.min, dt.date.max)
    known = store.ticker(symbol, active_only=False)
    fetched = known is not None and known["source"] in FETCHED_SOURCES
    store.add_ticker(symbol, source=known["source"] if known and fetched else "csv")
    return ingest_frame(store, symbol, f"csv:{path.name}", frame)


FETCHED_SOURCES = ("synthetic", "stooq", "yahoo")


@dataclass
class RefreshReport:
    reports: list[IngestReport]
    failures: dict[str, str]
    kept: list[str]  # file-fed tickers: their rows arrive through ingest, not a fetch


def ingest_window(
    store: OperationalStore,
    sources: dict[str, PriceSource],
    start: dt.date,
    end: dt.date,
    only: set[str] | None = None,
) -> RefreshReport:
    """Fetch [start, end] for every active ticker (or those in `only`) whose source can be
    asked; one ticker's failure is recorded and the rest go on."""
    reports, failures, kept = [], {}, []
    for row in store.list_tickers():
        ticker, source_name = row["symbol"], row["source"]
        if only is not None and ticker not in only:
            continue
        if source_name not in FETCHED_SOURCES:
            kept.append(ticker)
            continue
        try:
            reports.append(ingest_from_source(store, sources[source_name], ticker, start, end))
        except Exception as error:  # one ticker's failure must not stop the universe
            failures[ticker] = f"{type(error).__name__}: {error}"
    return RefreshReport(reports, failures, kept)
