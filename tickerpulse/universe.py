"""The active tickers, held in memory: the API checks a symbol on every request, and a
database round trip for each was an eighth of a cached read's time.

Re-read every `ttl_seconds`, and at once (at most once a second) on a symbol it does not
know, so a ticker added by another process is found; one deactivated elsewhere is served
for at most `ttl_seconds` more. This process's own changes call `forget()`.
"""

from __future__ import annotations

import threading
import time

from tickerpulse.queries import requested_symbol, unknown_ticker
from tickerpulse.stores.operational import OperationalStore

MISS_REFRESH_SECONDS = 1.0


class Universe:
    def __init__(self, store: OperationalStore, ttl_seconds: float = 5.0) -> None:
        self.store = store
        self.ttl_seconds = ttl_seconds
        self._symbols: frozenset[str] = frozenset()
        self._read_at = float("-inf")
        self._lock = threading.Lock()

    def _refresh(self, older_than: float) -> frozenset[str]:
        with self._lock:
            if time.monotonic() - self._read_at >= older_than:
                self._symbols = frozenset(row["symbol"] for row in self.store.list_tickers())
                self._read_at = time.monotonic()
            return self._symbols

    def forget(self) -> None:
        self._read_at = float("-inf")

    def require(self, text: str) -> str:
        """The normalized symbol of an active ticker; anything else is an unknown ticker."""
        symbol = requested_symbol(text)
        if symbol in self._refresh(self.ttl_seconds):
            return symbol
        if symbol in self._refresh(MISS_REFRESH_SECONDS):
            return symbol
        raise unknown_ticker(symbol)
