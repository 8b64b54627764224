"""One chDB data directory shared by the platform's processes (`clickhouse+chdb:///dir`).

chDB admits one process per data directory, yet the API, Dagster runs and the workers are
separate processes. So a process holds the engine under an exclusive file lock while it uses
it, and hands it over: right after an operation when another process is waiting, or once it
has been idle for `idle_seconds`. Opening the engine costs far more than a read (it loads the
tables' parts), so a process working alone keeps it open; under contention they take turns.

A waiter cannot be seen through flock itself, so a waiting process keeps touching a `.want`
file beside the directory; a holder that sees it touched since it took the lock lets go.
"""

from __future__ import annotations

import contextlib
import fcntl
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from tickerpulse.errors import WarehouseUnavailable

POLL_SECONDS = 0.02


class SharedChdbDirectory:
    def __init__(self, path: Path, idle_seconds: float = 1.0, wait_seconds: float = 300.0) -> None:
        path.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.idle_seconds = idle_seconds
        # How long an operation waits for the engine (another process using it, or this
        # process's other threads) before it gives up with WarehouseUnavailable.
        self.wait_seconds = wait_seconds
        self._lock_path = path.parent / f"{path.name}.lock"
        self._want_path = path.parent / f"{path.name}.want"
        self._mutex = threading.Lock()  # one operation at a time in this process
        self._lock_file: IO[str] | None = None
        self._client: Any = None
        self._held_since = 0.0  # wall clock: compared with the .want file's mtime
        self._last_use = 0.0
        self.opens = 0  # how often this process opened the engine (for tests and benchmarks)

    @contextlib.contextmanager
    def client(self) -> Iterator[Any]:
        deadline = time.monotonic() + self.wait_seconds
        if not self._mutex.acquire(timeout=self.wait_seconds):
            raise self._busy()
        try:
            if self._client is None:
                self._take(deadline)
            try:
                yield self._client
            finally:
                self._last_use = time.monotonic()
                if self._someone_waits():
                    self._let_go()
        finally:
            self._mutex.release()

    def _busy(self) -> WarehouseUnavailable:
        return WarehouseUnavailable(
            f"the warehouse's chDB directory stayed held by another process for "
            f"{self.wait_seconds:g} s; try again shortly"
        )

    def close(self) -> None:
        with self._mutex:
            self._let_go()

    def _take(self, deadline: float) -> None:
        import clickhouse_connect

        lock = self._lock_path.open("a")
        while True:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    lock.close()
                    raise self._busy() from None
                self._want_path.touch()  # "I am waiting", seen by the holder
                time.sleep(POLL_SECONDS)
        self._lock_file = lock
        self._held_since = time.time()
        self._client = clickhouse_connect.get_client(dsn=f"chdb://{self.path}")
        self.opens += 1
        threading.Thread(target=self._watch, args=(lock,), daemon=True).start()

    def _someone_waits(self) -> bool:
        try:
            return self._want_path.stat().st_mtime > self._held_since
        except FileNotFoundError:
            return False

    def _let_go(self) -> None:
        if self._client is not None:
            self._client.close()  # releases chDB's own lock on the directory
            self._client = None
        if self._lock_file is not None:
            self._lock_file.close()  # and ours
            self._lock_file = None

    def _watch(self, lock: IO[str]) -> None:
        """While this process holds the engine and is not using it: hand it over to a waiter
        at once, or let it go after `idle_seconds` so nobody waits on an idle process."""
        while self._lock_file is lock:
            time.sleep(POLL_SECONDS)
            if not self._mutex.acquire(blocking=False):
                continue  # an operation is running; it checks for waiters when it ends
            try:
                idle = time.monotonic() - self._last_use > self.idle_seconds
                if self._lock_file is lock and (idle or self._someone_waits()):
                    self._let_go()
            finally:
                self._mutex.release()
