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
