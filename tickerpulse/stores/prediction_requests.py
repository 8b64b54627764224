"""Asynchronous prediction requests and their results, in the operational store's database.

A request is split into one message per ticker; workers answer them in any order, possibly
twice after a redelivery. Results are keyed by (request, ticker, horizon) and inserted with
ON CONFLICT DO NOTHING, so a repeated answer changes nothing and progress never overcounts.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from typing import Any

import sqlalchemy as sa

from tickerpulse.stores.operational import _insert, create_tables, metadata

prediction_requests = sa.Table(
    "prediction_requests",
    metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("tickers", sa.Text, nullable=False),  # JSON list
    sa.Column("horizons", sa.Text, nullable=False),  # JSON list
    sa.Column("requested_by", sa.String(100), nullable=False, default=""),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
)

prediction_results = sa.Table(
    "prediction_results",
    metadata,
    sa.Column("request_id", sa.String(32), primary_key=True),
    sa.Column("ticker", sa.String(20), primary_key=True),
    sa.Column("horizon", sa.Integer, primary_key=True),
    sa.Column("result", sa.Text, nullable=True),  # the prediction as JSON, or null on error
    sa.Column("error", sa.Text, nullable=True),
    sa.Column("answered_at", sa.DateTime(timezone=True), nullable=False),
)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class PredictionRequestStore:
    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine
        create_tables(engine, [prediction_requests, prediction_results])

    def create(self, tickers: list[str], horizons: list[int], requested_by: str = "") -> str:
        request_id = uuid.uuid4().hex
        with self.engine.begin() as connection:
            connection.execute(
                sa.insert(prediction_requests).values(
                    id=request_id,
                    tickers=json.dumps(tickers),
                    horizons=json.dumps(horizons),
                    requested_by=requested_by,
                    created_at=_now(),
                )
            )
        return request_id

    def exists(self, request_id: str) -> bool:
        query = sa.select(prediction_requests.c.id).where(prediction_requests.c.id == request_id)
        with self.engine.connect() as connection:
            return connection.execute(query).first() is not None

    def record(
        self,
        request_id: str,
        ticker: str,
        horizon: int,
        result: dict[str, Any] | None = None,
        error: str | None = None,
    ) -> bool:
        """Store one answer; False when this (request, ticker, horizon) was answered before."""
        statement = (
            _insert(self.engine, prediction_results)
            .values(
                request_id=request_id,
                ticker=ticker,
                horizon=horizon,
                result=json.dumps(result, default=str) if result is not None else None,
                error=error,
                answered_at=_now(),
            )
            .on_conflict_do_nothing()
        )
        with self.engine.begin() as connection:
            return bool(connection.execute(statement).rowcount)

    def progress(self, request_id: str) -> dict[str, Any] | None:
        with self.engine.connect() as connection:
            request = connection.execute(
                sa.select(prediction_requests).where(prediction_requests.c.id == request_id)
            ).first()
            if request is None:
                return None
            answers = connection.execute(
                sa.select(prediction_results)
                .where(prediction_results.c.request_id == request_id)
                .order_by(prediction_results.c.ticker, prediction_results.c.horizon)
            ).all()
        tickers, horizons = json.loads(request.tickers), json.loads(request.horizons)
        total = len(tickers) * len(horizons)
        results = [json.loads(a.result) for a in answers if a.result is not None]
        errors = [
            {"ticker": a.ticker, "horizon": a.horizon, "detail": a.error}
            for a in answers
            if a.result is None
        ]
        done = len(answers)
        return {
            "id": request.id,
            "state": "done" if done >= total else ("running" if done else "queued"),
            "tickers": tickers,
            "horizons": horizons,
            "total": total,
            "done": done,
            "failed": len(errors),
            "requested_by": request.requested_by,
            "created_at": request.created_at,
            "results": results,
            "errors": errors,
        }
