"""The CSV inbox: files dropped into a folder (or bucket) are ingested once, then filed away.

A file that can be read goes to processed/ with a report (its bad rows are in quarantine);
a file that cannot (no usable header, not a ticker name) goes to rejected/ with a reason.
Either way the original bytes are kept.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

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


class S3Inbox:
    """A bucket prefix (MinIO or S3); processed/ and rejected/ are prefixes under it.

    `client` is a boto3 S3 client; the caller builds it (dagster-aws's S3 resource in Dagster).
    """

    def __init__(self, client: Any, bucket: str, prefix: str = "inbox/") -> None:
        self.client = client
        self.bucket = bucket
        self.prefix = prefix if prefix.endswith("/") or not prefix else f"{prefix}/"
        self._downloads = Path(tempfile.mkdtemp(prefix="tickerpulse-inbox-"))

    def waiting(self) -> list[InboxFile]:
        pages = self.client.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Prefix=self.prefix, Delimiter="/"
        )
        found = [
            InboxFile(item["Key"][len(self.prefix) :], item["ETag"].strip('"'))
            for page in pages
            for item in page.get("Contents", [])
            if item["Key"].endswith(".csv")
        ]
        return sorted(found, key=lambda file: file.name)

    def local_copy(self, name: str) -> Path:
        target = self._downloads / name
        self.client.download_file(self.bucket, f"{self.prefix}{name}", str(target))
        return target

    def file_away(self, name: str, folder: str, note: str) -> None:
        source = f"{self.prefix}{name}"
        destination = f"{self.prefix}{folder}/{name}"
        suffix = "report.json" if folder == PROCESSED else "reason.txt"
        self.client.put_object(
            Bucket=self.bucket, Key=f"{destination}.{suffix}", Body=note.encode()
        )
        self.client.copy_object(
            Bucket=self.bucket, Key=destination, CopySource={"Bucket": self.bucket, "Key": source}
        )
        self.client.delete_object(Bucket=self.bucket, Key=source)
        (self._downloads / name).unlink(missing_ok=True)
