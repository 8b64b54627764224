"""Daily price files: Date,Open,High,Low,Close,Volume[,Adj Close], as exported by most vendors.

Parsing is deliberately lenient about layout (BOM, blank lines, column order and case, extra
columns) and strict about content: a line that cannot be a row is kept with its reason, so
quality can quarantine it instead of losing it.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Iterator
from pathlib import Path

import pandas as pd

from tickerpulse.errors import SchemaError, SourceError
from tickerpulse.sources.base import PRICE_COLUMNS, REQUIRED_COLUMNS

_ALIASES = {"adjclose": "adj_close", "adj_close": "adj_close", "adjusted_close": "adj_close"}
EXPECTED_HEADER = "Date,Open,High,Low,Close,Volume[,Adj Close]"


def _column_name(header: str) -> str:
    name = header.strip().lower().replace(" ", "_").replace(".", "")
    return _ALIASES.get(name, name)


def parse_price_csv(text: str, origin: str = "input") -> pd.DataFrame:
    """Rows of a price CSV as strings, with `row_number` (file line) and `parse_error`."""
    lines = csv.reader(io.StringIO(text.lstrip("\ufeff")))
    header: list[str] | None = None
    records: list[dict[str, object]] = []
    for fields in _rows(lines, origin):
        line_number = lines.line_num
        if not any(field.strip() for field in fields):
            continue  # blank lines are layout, not rows
        if header is None:
            header = [_column_name(field) for field in fields]
            missing = [column for column in REQUIRED_COLUMNS if column not in header]
            if missing:
                raise SchemaError(
                    f"{origin} lacks column(s) {', '.join(missing)}: "
                    f"expected a header like {EXPECTED_HEADER}, found {','.join(fields)}"
                )
            continue
        record: dict[str, object] = {"row_number": line_number, "parse_error": None}
        if len(fields) != len(header):
            record["parse_error"] = f"expected {len(header)} fields, found {len(fields)}"
            record["raw"] = ",".join(fields)
        else:
            record.update({name: value.strip() for name, value in zip(header, fields, strict=True)})
        records.append(record)
    if header is None:
        raise SchemaError(f"{origin} is empty: expected a header like {EXPECTED_HEADER}")
    columns = [c for c in PRICE_COLUMNS if c in header or c in REQUIRED_COLUMNS]
    frame = pd.DataFrame.from_records(records)
    for column in [*columns, "raw"]:
        if column not in frame:
            frame[column] = None
    return frame[[*columns, "row_number", "parse_error", "raw"]]


def _rows(lines: Iterator[list[str]], origin: str) -> Iterator[list[str]]:
    """The reader's rows; a line it cannot split (a field past its 128 KiB limit, say) makes
    the whole file unreadable from there on, so it is a SchemaError naming the line."""
    try:
        yield from lines
    except csv.Error as error:
        line = getattr(lines, "line_num", "?")
        raise SchemaError(f"{origin} line {line} cannot be read as CSV: {error}") from error


class CsvSource:
    """A folder of <TICKER>.csv files, or one file named explicitly."""

    name = "csv"

    def __init__(self, path: Path) -> None:
        self.path = path

    def file_for(self, ticker: str) -> Path:
        return self.path / f"{ticker}.csv" if self.path.is_dir() else self.path

    def fetch(self, ticker: str, start: dt.date, end: dt.date) -> pd.DataFrame:
        path = self.file_for(ticker)
        try:
            text = path.read_text(encoding="utf-8-sig", errors="replace")
        except OSError as error:
            raise SourceError(f"cannot read {path}: {error.strerror}") from error
        frame = parse_price_csv(text, origin=path.name)
        # The window filter compares ISO text; unparseable dates stay in for quarantine.
        dates = pd.to_datetime(frame["date"], errors="coerce", format="mixed").dt.date
        outside = dates.notna() & ((dates < start) | (dates > end))
        return frame[~outside].reset_index(drop=True)
