"""Response cache and request counters by URL: memory:// in-process, redis:// shared.

A cache is an optimisation: with Redis down, every call answers "miss" (or does nothing)
at once and the caller computes, so the API keeps answering, only slower.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from typing import Any, Protocol

log = logging.getLogger(__name__)


class Cache(Protocol):
    errors: int

    def get(self, key: str) -> Any | None: ...
    def set(self, key: str, value: Any, ttl_seconds: float) -> None: ...
    def invalidate(self, prefix: str = "") -> None: ...
    def hit_count(self, key: str, window_seconds: int) -> int | None:
        """Count one hit on `key` in the current window; None when the count is unavailable."""
        ...

    def ping(self) -> bool: ...


class MemoryCache:
    """A dict with expiry, bounded so a scan of many keys cannot grow it without limit."""

    def __init__(self, max_entries: int = 10_000) -> None:
        self._entries: dict[str, tuple[float, Any]] = {}
        self._lock = threading.Lock()
        self.max_entries = max_entries
        self.errors = 0

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

    def hit_count(self, key: str, window_seconds: int) -> int | None:
        window = int(time.time() // window_seconds)
        counter_key = f"hits:{key}:{window}"
        with self._lock:
            _, count = self._entries.get(counter_key, (0.0, 0))
            if len(self._entries) >= self.max_entries and counter_key not in self._entries:
                self._entries.pop(next(iter(self._entries)))
            self._entries[counter_key] = (time.monotonic() + window_seconds, count + 1)
            return int(count) + 1

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

    def hit_count(self, key: str, window_seconds: int) -> int | None:
        window = int(time.time() // window_seconds)
        counter_key = f"{self.prefix}hits:{key}:{window}"
        try:
            pipe = self._redis.pipeline()
            pipe.incr(counter_key)
            pipe.expire(counter_key, window_seconds)
            count, _ = pipe.execute()
        except self._error_types as error:
            self._failed("hit_count", error)
            return None
        return int(count)

    def ping(self) -> bool:
        try:
            return bool(self._redis.ping())
        except self._error_types:
            return False


def open_cache(url: str) -> Cache:
    scheme = url.split("://", 1)[0]
    if scheme == "memory":
        return MemoryCache()
    if scheme in ("redis", "rediss"):
        return RedisCache(url)
    raise ValueError(f"CACHE_URL={url!r}: use memory:// or redis://host:port/db")
