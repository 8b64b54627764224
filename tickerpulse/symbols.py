"""Ticker symbols: one normal form, so that files, URLs and tables agree on a name."""

import re

from tickerpulse.errors import InvalidTicker

# Letters, digits and the separators real symbols use (BRK.B, RDS-A); safe in paths and SQL.
_TICKER = re.compile(r"^[A-Z0-9][A-Z0-9._-]{0,19}$")


def normalize_ticker(text: str) -> str:
    symbol = text.strip().upper()
    if not _TICKER.fullmatch(symbol):
        raise InvalidTicker(
            f"{text!r} is not a ticker symbol: use 1-20 letters, digits, '.', '-' or '_'"
        )
    return symbol


def require_symbol(key: str) -> str:
    """`key` itself when it is a symbol in normal form (a partition key, a file stem), else
    InvalidTicker: such keys become paths, so they are never normalized behind a caller's back."""
    if normalize_ticker(key) != key:
        raise InvalidTicker(
            f"{key!r} is not a ticker symbol in normal form: use {normalize_ticker(key)!r}"
        )
    return key
