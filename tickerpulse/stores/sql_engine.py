"""SQLAlchemy engines whose every wait is bounded, and whose failures name the dependency.

A request must not hang on the operational database: connecting, waiting for a lock (a row or
table lock on PostgreSQL, the write lock on SQLite), running a statement and waiting for a
pooled connection each stop after `timeout_seconds`. What the driver then raises (and what it
raises when the server is down or the file cannot be opened) is translated here, at the store
boundary, into OperationalDatabaseUnavailable, which the API answers with 503 and Retry-After.
Errors that are bugs (a constraint, a syntax error, a missing table) stay what they are.
"""

from __future__ import annotations

import logging
import math
import sqlite3
from functools import partial
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from tickerpulse.errors import OperationalDatabaseUnavailable

log = logging.getLogger(__name__)

# The operational database's tables, wherever they are defined: here, so that a store of one
# table (API keys, in the relay) need not import the operational store and its pandas.
metadata = sa.MetaData()

# SQLite's primary result codes that say "the file cannot be used now", not "the SQL is wrong":
# BUSY, LOCKED (another connection holds the lock), PERM, READONLY, NOMEM, IOERR, CORRUPT,
# FULL, CANTOPEN, PROTOCOL, NOTADB.
_SQLITE_UNAVAILABLE = {5, 6, 3, 8, 7, 10, 11, 13, 14, 15, 26}


def bounded_engine(url: str, timeout_seconds: float) -> sa.Engine:
    backend = sa.engine.make_url(url).get_backend_name()
    millis = max(1, int(timeout_seconds * 1000))
    connect_args: dict[str, Any] = {}
    if backend == "sqlite":
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    elif backend == "postgresql":
        connect_args = {
            # libpq counts whole seconds and treats less than 2 as 2.
            "connect_timeout": max(2, math.ceil(timeout_seconds)),
            "options": f"-c statement_timeout={millis} -c lock_timeout={millis}",
        }
    engine = sa.create_engine(
        url,
        poolclass=BoundedQueuePool,
        pool_pre_ping=True,
        pool_timeout=timeout_seconds,
        connect_args=connect_args,
    )
    if backend == "sqlite":
        sa.event.listen(engine, "connect", partial(_sqlite_pragmas, millis))
    sa.event.listen(engine, "handle_error", _translate_unavailable)
    return engine


class BoundedQueuePool(sa.pool.QueuePool):
    """SQLAlchemy's pool (the default for PostgreSQL and an SQLite file), whose wait for a
    free connection, when every one is busy on a slow database, is unavailability too."""

    def _do_get(self) -> sa.pool.ConnectionPoolEntry:
        try:
            return super()._do_get()
        except sa.exc.TimeoutError as error:
            log.warning("operational database unavailable: %s", error)
            raise OperationalDatabaseUnavailable(
                f"every connection to the operational database stayed busy for "
                f"{self._timeout:g} s; try again shortly"
            ) from error


def _sqlite_pragmas(busy_millis: int, connection: Any, _record: Any) -> None:
    # WAL lets the API read while a Dagster step writes; the busy timeout waits out short
    # write locks, and no longer. synchronous=NORMAL is SQLite's advice for WAL: a commit
    # no longer waits for an fsync (a history load commits once per ticker: 4 s of 31 at 500
    # tickers), the file stays consistent after any crash, and only a power loss can undo
    # the last commits, which a re-run of the load or the day's fetch writes again.
    cursor = connection.cursor()
    cursor.execute(f"PRAGMA busy_timeout={busy_millis}")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def is_unavailable(dialect: sa.Dialect, error: BaseException) -> bool:
    """Whether a DBAPI error means the database cannot serve now (down, locked, timed out)."""
    if isinstance(error, sqlite3.Error):
        code = getattr(error, "sqlite_errorcode", None)
        return code is not None and code & 0xFF in _SQLITE_UNAVAILABLE
    dbapi = dialect.loaded_dbapi
    # PEP 249: OperationalError is the database's operation failing (connection lost or
    # refused, statement or lock timeout, shutdown), InterfaceError the connection unusable.
    return isinstance(error, (dbapi.OperationalError, dbapi.InterfaceError))


def _translate_unavailable(context: sa.engine.ExceptionContext) -> None:
    if context.is_pre_ping:
        return  # the pool reconnects after a failed ping; a failed reconnect comes back here
    error = context.original_exception
    if not is_unavailable(context.dialect, error):
        return
    # The driver's text names hosts and ports: the server log gets it, the client a summary.
    log.warning("operational database unavailable: %s", error)
    raise OperationalDatabaseUnavailable(
        f"the operational database did not answer in time or refused the connection "
        f"({type(error).__name__}); try again shortly"
    ) from error
