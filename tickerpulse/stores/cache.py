"""Response cache by URL: memory:// (in-process TTL) now, redis:// as one more backend later."""

from __future__ import annotations

import threading
import time
from typing import Any, Protocol


class Cache(Protocol):
    def get(self, key: str) -> Any | None: ...
    def set(self, key: str, value: Any, ttl_seconds: float) -> None: ...
    def invalidate(self, prefix: str = "") -> None: ...


class MemoryCache:
    """A dict with expiry, bounded so a scan of many keys cannot grow it without limit."""

    def __init__(self, max_entries: int = 10_000) -> None:
        self._entries: dict[str, tuple[float, Any]] = {}
        self._lock = threading.Lock()
        self.max_entries = max_entries

    def get(self, key: str) -> Any | None:
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return None
            expires, value = entry
            if expires < time.monotonic():
                del self._entries[key]
                return None
            return value

    def set(self, key: str, value: Any, ttl_seconds: float) -> None:
        with self._lock:
            if len(self._entries) >= self.max_entries:
                self._entries.pop(next(iter(self._entries)))  # oldest insertion first
            self._entries[key] = (time.monotonic() + ttl_seconds, value)

    def invalidate(self, prefix: str = "") -> None:
        with self._lock:
            for key in [k for k in self._entries if k.startswith(prefix)]:
                del self._entries[key]


def open_cache(url: str) -> Cache:
    scheme = url.split("://", 1)[0]
    if scheme == "memory":
        return MemoryCache()
    raise NotImplementedError(
        f"cache backend {scheme}:// is not built yet; use CACHE_URL=memory://"
    )
