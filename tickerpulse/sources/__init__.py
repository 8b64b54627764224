"""Price sources by name: synthetic (offline), csv (files), stooq and yahoo (network)."""

from __future__ import annotations

from pathlib import Path

from tickerpulse.sources.base import PRICE_COLUMNS, PriceSource
from tickerpulse.sources.csv_file import CsvSource
from tickerpulse.sources.stooq import StooqSource
from tickerpulse.sources.synthetic import SyntheticSource
from tickerpulse.sources.yahoo import YahooSource

SOURCE_NAMES = ("synthetic", "csv", "stooq", "yahoo")


def get_source(name: str, *, seed: int = 7, path: Path | None = None) -> PriceSource:
    if name == "synthetic":
        return SyntheticSource(seed=seed)
    if name == "csv":
        if path is None:
            raise ValueError("the csv source needs a file or folder path")
        return CsvSource(path)
    if name == "stooq":
        return StooqSource()
    if name == "yahoo":
        return YahooSource()
    raise ValueError(f"unknown price source {name!r}: choose one of {', '.join(SOURCE_NAMES)}")


__all__ = ["PRICE_COLUMNS", "SOURCE_NAMES", "CsvSource", "PriceSource", "get_source"]
