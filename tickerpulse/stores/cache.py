"""Response cache and request counters by URL: memory:// in-process, redis:// shared.

A cache is an optimisation: with Redis down, every call answers "miss" (or does nothing)
at once and the caller computes, so the API keeps answering, only slower.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections import OrderedDict
from typing import Any, Protocol

log = logging.getLogger(__name__)


class Cache(Protocol):
    errors: int

    def get(self, key: str) -> Any | None: ...
    def set(self, key: str, value: Any, ttl_seconds: float) -> None: ...
    def invalidate(self, prefix: str = "") -> None: ...
    def hit_count(self, key: str, window_seconds: int, cost: int = 1) -> int | None:
        """Count `cost` hits on `key` in the current window and return the window's total;
        None when the count is unavailable."""
        ...

    def refund(self, key: str, window_seconds: int, cost: int) -> None:
        """Take back `cost` hits counted in the current window (work that was refused)."""
        ...

    def ping(self) -> bool: ...


MiB = 1 << 20
# A dict slot, the entry tuple, its expiry float and the key's str header, roughly: counted so
# that a flood of tiny entries is bounded too.
ENTRY_OVERHEAD_BYTES = 200


def encoded_size(value: Any) -> int:
    """Bytes of `value` as a cache holds it: text as itself, anything else as its JSON (what
    Redis would store). The API caches JSON text, so for its entries this is exact."""
    if isinstance(value, bytes):
        return len(value)
    if isinstance(value, str):
        return len(value) if value.isascii() else len(value.encode())
    return len(json.dumps(value, default=str))


class MemoryCache:
    """A dict with expiry, bounded in bytes (least recently used out first), so no request
    parameter and no scan of many keys can grow it without limit. Request counters live
    apart, so a flood of cached responses cannot evict a key's rate budget."""

    def __init__(self, max_bytes: int = 64 * MiB, max_counters: int = 100_000) -> None:
        self._entries: OrderedDict[str, tuple[float, Any, int]] = OrderedDict()
        self._counters: OrderedDict[str, tuple[int, int]] = OrderedDict()  # key -> window, count
        self._lock = threading.Lock()
        self.max_bytes = max_bytes
        self.max_counters = max_counters
        self.size_bytes = 0
        self.errors = 0

    def __len__(self) -> int:
        return len(self._entries)

    def _drop(self, key: str) -> None:
        entry = self._entries.pop(key, None)
        if entry is not None:
            self.size_bytes -= entry[2]

    def get(self, key: str) -> Any | None:
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return None
            expires, value, _ = entry
            if expires < time.monotonic():
                self._drop(key)
                return None
            self._entries.move_to_end(key)
            return value

    def set(self, key: str, value: Any, ttl_seconds: float) -> None:
        size = len(key) + encoded_size(value) + ENTRY_OVERHEAD_BYTES
        with self._lock:
            self._drop(key)
            if size > self.max_bytes:
                return  # not kept: it would evict everything else and still not fit
            while self._entries and self.size_bytes + size > self.max_bytes:
                self._drop(next(iter(self._entries)))
            self._entries[key] = (time.monotonic() + ttl_seconds, value, size)
            self.size_bytes += size

    def invalidate(self, prefix: str = "") -> None:
        with self._lock:
            for key in [k for k in self._entries if k.startswith(prefix)]:
                self._drop(key)

    def hit_count(self, key: str, window_seconds: int, cost: int = 1) -> int | None:
        window = int(time.time() // window_seconds)
        with self._lock:
            counted_window, count = self._counters.pop(key, (window, 0))
            count = count + cost if counted_window == window else cost
            if len(self._counters) >= self.max_counters:
                self._counters.popitem(last=False)
            self._counters[key] = (window, count)
            return count

    def refund(self, key: str, window_seconds: int, cost: int) -> None:
        """Take back `cost` counted in the current window (work that was refused)."""
        window = int(time.time() // window_seconds)
        with self._lock:
            counted = self._counters.get(key)
            if counted is not None and counted[0] == window:
                self._counters[key] = (window, max(0, counted[1] - cost))

    def ping(self) -> bool:
        return True


class RedisCache:
    """Values as JSON under a key prefix; short timeouts so a dead Redis costs milliseconds."""

    def __init__(self, url: str, prefix: str = "tickerpulse:", timeout_seconds: float = 0.25):
        import redis

        self._redis = redis.Redis.from_url(
            url,
            socket_timeout=timeout_seconds,
            socket_connect_timeout=timeout_seconds,
            health_check_interval=30,
        )
        self._error_types: tuple[type[Exception], ...] = (redis.RedisError, OSError)
        self.prefix = prefix
        self.errors = 0

    def _failed(self, action: str, error: Exception) -> None:
        self.errors += 1
        log.warning("redis %s failed, bypassing the cache: %s", action, error)

    def get(self, key: str) -> Any | None:
        try:
            raw = self._redis.get(self.prefix + key)
        except self._error_types as error:
            self._failed("get", error)
            return None
        return None if raw is None else json.loads(raw)

    def set(self, key: str, value: Any, ttl_seconds: float) -> None:
        try:
            self._redis.set(
                self.prefix + key, json.dumps(value, default=str), px=int(ttl_seconds * 1000)
            )
        except self._error_types as error:
            self._failed("set", error)

    def invalidate(self, prefix: str = "") -> None:
        try:
            keys = list(self._redis.scan_iter(match=f"{self.prefix}{prefix}*", count=500))
            if keys:
                self._redis.delete(*keys)
        except self._error_types as error:
            self._failed("invalidate", error)

    def _counter_key(self, key: str, window_seconds: int) -> str:
        return f"{self.prefix}hits:{key}:{int(time.time() // window_seconds)}"

    def hit_count(self, key: str, window_seconds: int, cost: int = 1) -> int | None:
        counter_key = self._counter_key(key, window_seconds)
        try:
            pipe = self._redis.pipeline()
            pipe.incrby(counter_key, cost)
            pipe.expire(counter_key, window_seconds)
            count, _ = pipe.execute()
        except self._error_types as error:
            self._failed("hit_count", error)
            return None
        return int(count)

    def refund(self, key: str, window_seconds: int, cost: int) -> None:
        counter_key = self._counter_key(key, window_seconds)
        try:
            pipe = self._redis.pipeline()
            pipe.decrby(counter_key, cost)
            # The window may have turned since the charge: the key must expire all the same.
            pipe.expire(counter_key, window_seconds)
            pipe.execute()
        except self._error_types as error:
            self._failed("refund", error)

    def ping(self) -> bool:
        try:
            return bool(self._redis.ping())
        except self._error_types:
            return False


def open_cache(url: str, max_bytes: int = 64 * MiB) -> Cache:
    """`max_bytes` bounds the in-process cache; Redis is bounded by its own maxmemory."""
    scheme = url.split("://", 1)[0]
    if scheme == "memory":
        return MemoryCache(max_bytes)
    if scheme in ("redis", "rediss"):
        return RedisCache(url)
    raise ValueError(f"CACHE_URL={url!r}: use memory:// or redis://host:port/db")
