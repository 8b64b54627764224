"""Raw prices and metadata in a SQL database: SQLite embedded, PostgreSQL in full mode.

SQLAlchemy Core keeps one code path for both; upserts use each dialect's ON CONFLICT.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from typing import Any, cast

import numpy as np
import pandas as pd
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from tickerpulse.errors import UnknownTicker
from tickerpulse.stores.price_panel import as_panel
from tickerpulse.stores.sql_engine import bounded_engine, metadata

tickers = sa.Table(
    "tickers",
    metadata,
    sa.Column("symbol", sa.String(20), primary_key=True),
    sa.Column("name", sa.String(200), nullable=False, default=""),
    sa.Column("source", sa.String(20), nullable=False),
    sa.Column("active", sa.Boolean, nullable=False, default=True),
    sa.Column("added_at", sa.DateTime(timezone=True), nullable=False),
)

raw_prices = sa.Table(
    "raw_prices",
    metadata,
    sa.Column("ticker", sa.String(20), primary_key=True),
    sa.Column("date", sa.Date, primary_key=True),
    sa.Column("open", sa.Float, nullable=False),
    sa.Column("high", sa.Float, nullable=False),
    sa.Column("low", sa.Float, nullable=False),
    sa.Column("close", sa.Float, nullable=False),
    sa.Column("volume", sa.Float, nullable=False),
    sa.Column("adj_close", sa.Float, nullable=True),
    sa.Column("source", sa.String(200), nullable=False),  # "csv:<file name>" names the file
    sa.Column("ingested_at", sa.DateTime(timezone=True), nullable=False),
    # SQLite: rows stored in the (ticker, date) key's own B-tree, not in a rowid table plus
    # an index on the key: an upsert writes one tree instead of two (a bare sqlite3 loop:
    # 188k rows/s with the rowid, 223k without). A file made before keeps its layout.
    sqlite_with_rowid=False,
)

quarantine = sa.Table(
    "quarantine",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("ticker", sa.String(20), nullable=False, index=True),
    sa.Column("source", sa.String(200), nullable=False),
    sa.Column("row_number", sa.Integer, nullable=False),
    sa.Column("raw", sa.Text, nullable=False),
    sa.Column("reason", sa.String(200), nullable=False),
    sa.Column("quarantined_at", sa.DateTime(timezone=True), nullable=False),
)

model_meta = sa.Table(
    "model_meta",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("model_name", sa.String(200), nullable=False, index=True),
    sa.Column("version", sa.String(20), nullable=False),
    sa.Column("from_alias", sa.String(40), nullable=True),
    sa.Column("to_alias", sa.String(40), nullable=False),
    sa.Column("metrics", sa.Text, nullable=False),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
)

PRICE_FIELDS = ["open", "high", "low", "close", "volume", "adj_close"]
_BATCH = 2000


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


# Any fixed number: the advisory lock every process takes while it creates the tables.
_SCHEMA_LOCK = 7_316_227


def create_tables(engine: sa.Engine, tables: Sequence[sa.Table] | None = None) -> None:
    """Create the missing tables. On PostgreSQL, processes starting at once (two prediction
    workers, say) would collide creating the same table (a unique violation in pg_type), so
    they take a transaction-scoped advisory lock and create one after another."""
    with engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            connection.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": _SCHEMA_LOCK})
        metadata.create_all(connection, tables=tables)


def _insert(engine: sa.Engine, table: sa.Table) -> Any:
    dialect = {"sqlite": sqlite, "postgresql": postgresql}[engine.dialect.name]
    return dialect.insert(table)


def _sqlite_executemany(
    connection: sa.Connection,
    statement: Any,
    ticker: str,
    source: str,
    stamp: dt.datetime,
    prices: pd.DataFrame,
) -> None:
    """The upsert as one sqlite3 executemany of plain tuples.

    Through SQLAlchemy each row is a dict whose every value goes through the statement's
    parameter processing, which cost 80 % of a history load (cProfile: 42k rows/s on 500
    tickers x 20 years). Here each column is converted once, by the column type's own bind
    processor (the same text SQLAlchemy would store), and sqlite3 binds the rest in C.
    """
    dialect = connection.dialect
    compiled = statement.compile(dialect=dialect)
    constants = {"ticker": ticker, "source": source, "ingested_at": stamp}
    columns: list[list[Any]] = []
    for name in compiled.positiontup:
        process = raw_prices.c[name].type.bind_processor(dialect)
        if name in constants:
            # Converted once here: left to sqlite3, its adapter would format the same
            # timestamp once per row (cProfile: 4 s of a 31 s history load).
            value = process(constants[name]) if process else _sqlite_text(constants[name])
            columns.append([value] * len(prices))
            continue
        values = prices[name]
        if name == "date" and process is None:
            columns.append(_iso_dates(values))  # what sqlite3's date adapter stores, in C
            continue
        listed = values.tolist() if name == "date" else values.astype(float).tolist()
        if name != "date":  # NaN (a missing adjusted close) is stored as NULL
            listed = [None if v != v else v for v in listed] if values.isna().any() else listed
        columns.append([process(v) for v in listed] if process else listed)
    connection.exec_driver_sql(compiled.string, list(zip(*columns, strict=True)))


def _sqlite_text(value: object) -> object:
    """A date or timestamp as the text sqlite3's default adapter stores for it (isoformat)."""
    if isinstance(value, dt.datetime):
        return value.isoformat(" ")
    if isinstance(value, dt.date):
        return value.isoformat()
    return value


def _iso_dates(values: pd.Series) -> list[str]:
    """Dates as 'YYYY-MM-DD' text (date.isoformat), the whole column at once."""
    # pandas converts date objects in C; numpy's own np.array(dates) took 1.6 us a date.
    days = pd.to_datetime(values).to_numpy(dtype="datetime64[D]")
    return cast(list[str], np.datetime_as_string(days, unit="D").tolist())


def _sqlite_frame(connection: sa.Connection, query: sa.Select[Any]) -> pd.DataFrame:
    """A query's rows as sqlite3 returns them (dates and stamps as their stored text): a
    Result would turn every date into a date object in Python, row by row, which cost
    more than the rest of reading a universe; pandas converts whole columns instead."""
    compiled = query.compile(
        dialect=connection.dialect, compile_kwargs={"render_postcompile": True}
    )
    params = tuple(compiled.params[name] for name in compiled.positiontup or ())
    # The sqlite3 cursor itself: a Result would also wrap every tuple in a Row.
    cursor = connection.connection.driver_connection.execute(compiled.string, params)  # type: ignore[union-attr]
    columns = [described[0] for described in cursor.description]
    frame = pd.DataFrame.from_records(cursor.fetchall(), columns=columns)
    if "ingested_at" in frame:
        frame["ingested_at"] = pd.to_datetime(frame["ingested_at"], format="ISO8601")
    return frame


# Batch callers (Dagster steps, the CLI) wait this long for a lock or a statement; the API
# passes its own few seconds, so a request answers 503 rather than hang. Long enough for a
# universe's read (3,000 tickers x 20 years is 15 M rows), short of forever.
BATCH_TIMEOUT_SECONDS = 300.0


class OperationalStore:
    def __init__(self, url: str, timeout_seconds: float = BATCH_TIMEOUT_SECONDS) -> None:
        self.engine = bounded_engine(url, timeout_seconds)
        create_tables(self.engine)

    # tickers -----------------------------------------------------------------------------
    def add_ticker(self, symbol: str, source: str, name: str = "") -> bool:
        """Register or re-activate a ticker; True when it was not known before."""
        known = self.ticker(symbol, active_only=False)
        statement = _insert(self.engine, tickers).values(
            symbol=symbol, name=name, source=source, active=True, added_at=_now()
        )
        statement = statement.on_conflict_do_update(
            index_elements=["symbol"], set_={"source": source, "active": True}
        )
        with self.engine.begin() as connection:
            connection.execute(statement)
        return known is None

    def ticker(self, symbol: str, active_only: bool = True) -> dict[str, Any] | None:
        query = sa.select(tickers).where(tickers.c.symbol == symbol)
        if active_only:
            query = query.where(tickers.c.active)
        with self.engine.connect() as connection:
            row = connection.execute(query).mappings().first()
        return dict(row) if row else None

    def list_tickers(self, active_only: bool = True) -> list[dict[str, Any]]:
        query = sa.select(tickers).order_by(tickers.c.symbol)
        if active_only:
            query = query.where(tickers.c.active)
        with self.engine.connect() as connection:
            return [dict(row) for row in connection.execute(query).mappings()]

    def deactivate_ticker(self, symbol: str) -> bool:
        """Take a ticker out of the universe, keeping its history; False if it was not active."""
        with self.engine.begin() as connection:
            result = connection.execute(
                sa.update(tickers)
                .where(tickers.c.symbol == symbol, tickers.c.active)
                .values(active=False)
            )
        return bool(result.rowcount)

    def require_ticker(self, symbol: str) -> dict[str, Any]:
        row = self.ticker(symbol)
        if row is None:
            raise UnknownTicker(f"ticker {symbol} is not in the universe")
        return row

    # prices ------------------------------------------------------------------------------
    def upsert_prices(self, ticker: str, source: str, prices: pd.DataFrame) -> int:
        """Insert or overwrite rows by (ticker, date): replaying a file changes nothing."""
        if prices.empty:
            return 0
        stamp = _now()
        statement = _insert(self.engine, raw_prices)
        statement = statement.on_conflict_do_update(
            index_elements=["ticker", "date"],
            set_={name: statement.excluded[name] for name in [*PRICE_FIELDS, "source"]},
        )
        if self.engine.dialect.name == "sqlite":
            with self.engine.begin() as connection:
                _sqlite_executemany(connection, statement, ticker, source, stamp, prices)
            return len(prices)
        frame = prices[["date", *PRICE_FIELDS]].astype(object)
        frame = frame.where(pd.notna(frame), None)
        rows: list[dict[str, Any]] = [
            {"ticker": ticker, "source": source, "ingested_at": stamp, **record}
            for record in cast(list[dict[str, Any]], frame.to_dict("records"))
        ]
        with self.engine.begin() as connection:
            for start in range(0, len(rows), _BATCH):
                connection.execute(statement, rows[start : start + _BATCH])
        return len(rows)

    def read_prices(
        self, symbols: Sequence[str] | None = None, fields: Sequence[str] | None = None
    ) -> pd.DataFrame:
        """Rows by ticker and date; only `fields` (with ticker and date) when given: a column
        left out is one less to convert on every row of a universe."""
        frame = self._read(symbols, fields)
        frame["date"] = pd.to_datetime(frame["date"], format="ISO8601").dt.date
        return frame

    def _read(self, symbols: Sequence[str] | None, fields: Sequence[str] | None) -> pd.DataFrame:
        """read_prices' rows with the date as the driver gives it (text on SQLite)."""
        chosen = (
            ["ticker", "date", *(f for f in fields if f not in ("ticker", "date"))]
            if fields
            else None
        )
        selected = [raw_prices.c[name] for name in chosen] if chosen else [raw_prices]
        query = sa.select(*selected).order_by(raw_prices.c.ticker, raw_prices.c.date)
        if symbols is not None:
            query = query.where(raw_prices.c.ticker.in_(list(symbols)))
        with self.engine.connect() as connection:
            if connection.dialect.name == "sqlite":
                frame = _sqlite_frame(connection, query)
            else:
                frame = pd.read_sql(query, connection)
        return frame

    def read_panel(
        self, symbols: Sequence[str] | None = None, fields: Sequence[str] = PRICE_FIELDS
    ) -> pd.DataFrame:
        """A universe's rows for cleaning: ticker (categorical), date (datetime64) and
        `fields`, by ticker and date; read_prices' date objects cost 0.4 s a million rows."""
        unknown = set(fields) - set(PRICE_FIELDS)
        if unknown:
            raise ValueError(f"not a price field: {', '.join(sorted(unknown))}")
        return as_panel(self._read(symbols, fields), fields)

    def last_dates(self) -> dict[str, dt.date]:
        query = sa.select(raw_prices.c.ticker, sa.func.max(raw_prices.c.date)).group_by(
            raw_prices.c.ticker
        )
        with self.engine.connect() as connection:
            return {ticker: day for ticker, day in connection.execute(query)}

    def count_prices(self) -> int:
        with self.engine.connect() as connection:
            return int(
                connection.execute(sa.select(sa.func.count()).select_from(raw_prices)).scalar_one()
            )

    # quarantine --------------------------------------------------------------------------
    def quarantine_rows(self, ticker: str, source: str, rejected: pd.DataFrame) -> int:
        """Keep rejected rows with their reasons; a row already kept from the same source
        (a replayed file, a re-fetched window) is not kept twice. How many were added."""
        if rejected.empty:
            return 0
        stamp = _now()
        rows = [
            {
                "ticker": ticker,
                "source": source,
                "row_number": int(record["row_number"]),
                "raw": str(record["raw"]),
                "reason": str(record["reason"]),
                "quarantined_at": stamp,
            }
            for record in rejected.to_dict("records")
        ]
        kept = sa.select(quarantine.c.row_number, quarantine.c.raw, quarantine.c.reason).where(
            quarantine.c.ticker == ticker, quarantine.c.source == source
        )
        with self.engine.begin() as connection:
            known = {tuple(row) for row in connection.execute(kept)}
            new = [r for r in rows if (r["row_number"], r["raw"], r["reason"]) not in known]
            if new:
                connection.execute(sa.insert(quarantine), new)
        return len(new)

    def quarantined(self, ticker: str | None = None) -> pd.DataFrame:
        query = sa.select(quarantine).order_by(quarantine.c.id)
        if ticker is not None:
            query = query.where(quarantine.c.ticker == ticker)
        with self.engine.connect() as connection:
            return pd.read_sql(query, connection)

    def ingestion_counts(self) -> tuple[dict[str, tuple[int, Any]], dict[str, int]]:
        """Per ticker: (rows stored, when last ingested), and rows kept in quarantine."""
        per_ticker = sa.select(
            raw_prices.c.ticker, sa.func.count(), sa.func.max(raw_prices.c.ingested_at)
        ).group_by(raw_prices.c.ticker)
        quarantined = sa.select(quarantine.c.ticker, sa.func.count()).group_by(quarantine.c.ticker)
        with self.engine.connect() as connection:
            ingested = {ticker: (rows, at) for ticker, rows, at in connection.execute(per_ticker)}
            rejected = {ticker: rows for ticker, rows in connection.execute(quarantined)}
        return ingested, rejected

    # model metadata ----------------------------------------------------------------------
    def record_alias_change(
        self,
        model_name: str,
        version: str,
        from_alias: str | None,
        to_alias: str,
        metrics: dict[str, float],
        reason: str,
    ) -> None:
        with self.engine.begin() as connection:
            connection.execute(
                sa.insert(model_meta).values(
                    model_name=model_name,
                    version=version,
                    from_alias=from_alias,
                    to_alias=to_alias,
                    metrics=json.dumps(metrics, sort_keys=True),
                    reason=reason,
                    changed_at=_now(),
                )
            )

    def alias_history(self, model_name: str | None = None) -> list[dict[str, Any]]:
        query = sa.select(model_meta).order_by(model_meta.c.id)
        if model_name is not None:
            query = query.where(model_meta.c.model_name == model_name)
        with self.engine.connect() as connection:
            rows = [dict(row) for row in connection.execute(query).mappings()]
        for row in rows:
            row["metrics"] = json.loads(row["metrics"])
        return rows
