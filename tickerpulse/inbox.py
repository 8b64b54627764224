"""The CSV inbox: files dropped into a folder (or bucket) are ingested once, then filed away.

A file that can be read goes to processed/ with a report (its bad rows are in quarantine);
a file that cannot (no usable header, not a ticker name) goes to rejected/ with a reason.
Either way the original bytes are kept, under a name no later file can overwrite. A name
that would reach outside the inbox (job config is typed by people) is refused untouched.
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from tickerpulse.errors import DependencyUnavailable, TickerPulseError, UnsafeFileName
from tickerpulse.ingestion import IngestReport, ingest_csv
from tickerpulse.stores.operational import OperationalStore
from tickerpulse.symbols import normalize_ticker

PROCESSED, REJECTED = "processed", "rejected"
MAX_NAME_LENGTH = 200  # the operational store keeps "csv:<name>" in 200 characters


def check_file_name(name: str) -> str:
    """`name` when it is one plain CSV file name directly in the inbox, else UnsafeFileName."""
    plain = (
        0 < len(name) <= MAX_NAME_LENGTH
        and not any(c in name for c in "/\\\0")
        and not name.startswith(".")
        and name.lower().endswith(".csv")
    )
    if not plain:
        raise UnsafeFileName(
            f"{name[:80]!r} is not a file name in the inbox: give the name of a .csv file "
            f"directly in it (no folders, '..' or leading '.'; at most {MAX_NAME_LENGTH} characters)"
        )
    return name


def _note_suffix(folder: str) -> str:
    return "report.json" if folder == PROCESSED else "reason.txt"


def filed_names(name: str) -> Iterator[str]:
    """Names to file `name` under, the first one free wins: the name itself, then the name
    stamped with the time (and a counter), so a later file of the same name never
    overwrites an earlier one."""
    yield name
    stem, dot, extension = name.rpartition(".")
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S.%fZ")
    for attempt in range(1000):
        counter = f"-{attempt}" if attempt else ""
        yield f"{stem}.{stamp}{counter}{dot}{extension}"
    raise FileExistsError(f"no free name to file {name} under")


def first_free(name: str, taken: Callable[[str], bool]) -> str:
    return next(candidate for candidate in filed_names(name) if not taken(candidate))


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

    def _inside(self, name: str) -> Path:
        return self.root / check_file_name(name)

    def local_copy(self, name: str) -> Path:
        path = self._inside(name)
        # A link may point anywhere: what is read must resolve inside the inbox too.
        if path.resolve().parent != self.root.resolve():
            raise UnsafeFileName(
                f"{name} is a link to {path.resolve()}, outside the inbox: copy the file in instead"
            )
        return path

    def file_away(self, name: str, folder: str, note: str) -> None:
        source = self._inside(name)
        target = self.root / folder
        target.mkdir(exist_ok=True)
        suffix = _note_suffix(folder)
        for filed in filed_names(name):
            try:  # creating the note exclusively claims the name, even against another run
                with open(target / f"{filed}.{suffix}", "x") as claimed:
                    claimed.write(note)
                break
            except FileExistsError:
                continue
        shutil.move(str(source), target / filed)  # a link is moved as a link, never followed


def ticker_from_filename(name: str) -> str:
    """`AAPL.csv` or `AAPL_2024-06.csv` holds AAPL."""
    return normalize_ticker(Path(name).stem.split("_")[0])


def process_file(store: OperationalStore, inbox: Inbox, name: str) -> IngestReport:
    """Ingest one waiting file and file it away; raises after filing it as rejected.

    A name that is not a plain file name in the inbox is refused before anything is read
    or moved (the old job moved `../raw.db` into rejected/)."""
    check_file_name(name)
    try:
        ticker = ticker_from_filename(name)
        report = ingest_csv(store, inbox.local_copy(name), ticker)
    except DependencyUnavailable:
        raise  # the database, not the file, failed: it stays in the inbox for the next run
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
        target = self._downloads / check_file_name(name)
        self.client.download_file(self.bucket, f"{self.prefix}{name}", str(target))
        return target

    def _exists(self, key: str) -> bool:
        listed = self.client.list_objects_v2(Bucket=self.bucket, Prefix=key, MaxKeys=1)
        return any(item["Key"] == key for item in listed.get("Contents", []))

    def file_away(self, name: str, folder: str, note: str) -> None:
        source = f"{self.prefix}{check_file_name(name)}"
        filed = first_free(
            name, lambda candidate: self._exists(f"{self.prefix}{folder}/{candidate}")
        )
        destination = f"{self.prefix}{folder}/{filed}"
        self.client.put_object(
            Bucket=self.bucket, Key=f"{destination}.{_note_suffix(folder)}", Body=note.encode()
        )
        self.client.copy_object(
            Bucket=self.bucket, Key=destination, CopySource={"Bucket": self.bucket, "Key": source}
        )
        self.client.delete_object(Bucket=self.bucket, Key=source)
        (self._downloads / name).unlink(missing_ok=True)
