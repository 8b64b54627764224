"""The CSV inbox: files dropped into a folder (or bucket) are ingested once, then filed away.

A file that can be read goes to processed/ with a report (its bad rows are in quarantine);
a file that cannot (no usable header, not a ticker name) goes to rejected/ with a reason.
Either way the original bytes are kept.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from tickerpulse.errors import TickerPulseError
from tickerpulse.ingestion import IngestReport, ingest_csv
from tickerpulse.stores.raw import RawStore
from tickerpulse.symbols import normalize_ticker

PROCESSED, REJECTED = "processed", "rejected"


@dataclass(frozen=True)
class InboxFile:
    name: str
    version: str  # changes when the file is replaced: mtime or an S3 ETag

    @property
    def key(self) -> str:
        return f"{self.name}@{self.version}"


class Inbox(Protocol):
    def waiting(self) -> list[InboxFile]: ...
    def local_copy(self, name: str) -> Path: ...
    def file_away(self, name: str, folder: str, note: str) -> None: ...


class LocalInbox:
    """A folder; processed/ and rejected/ live inside it."""

    def __init__(self, root: Path) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)

    def waiting(self) -> list[InboxFile]:
        return [
            InboxFile(path.name, str(path.stat().st_mtime_ns))
            for path in sorted(self.root.glob("*.csv"))
            if path.is_file()
        ]

    def local_copy(self, name: str) -> Path:
        return self.root / name

    def file_away(self, name: str, folder: str, note: str) -> None:
        target = self.root / folder
        target.mkdir(exist_ok=True)
        (target / f"{name}.{'report.json' if folder == PROCESSED else 'reason.txt'}").write_text(
            note
        )
        shutil.move(str(self.root / name), target / name)


def ticker_from_filename(name: str) -> str:
    """`AAPL.csv` or `AAPL_2024-06.csv` holds AAPL."""
    return normalize_ticker(Path(name).stem.split("_")[0])


def process_file(store: RawStore, inbox: Inbox, name: str) -> IngestReport:
    """Ingest one waiting file and file it away; raises after filing it as rejected."""
    try:
        ticker = ticker_from_filename(name)
        report = ingest_csv(store, inbox.local_copy(name), ticker)
    except (TickerPulseError, ValueError) as error:
        inbox.file_away(name, REJECTED, f"{name} was not ingested: {error}\n")
        raise
    summary = {
        "ticker": report.ticker,
        "rows_read": report.rows_read,
        "stored": report.stored,
        "rejected": report.rejected,
        "reasons": dict(report.reasons),
    }
    inbox.file_away(name, PROCESSED, json.dumps(summary, indent=2))
    return report
