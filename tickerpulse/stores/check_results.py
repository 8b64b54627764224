"""The latest result of every asset check, in the operational database: Dagster writes it (a
sensor, orchestration/sensors.py), the API reads it for /metrics. The API thus reads a store
of ours, not Dagster's own instance."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass

import sqlalchemy as sa

from tickerpulse.stores.operational import OperationalStore, metadata

asset_check_results = sa.Table(
    "asset_check_results",
    metadata,
    sa.Column("asset", sa.String(200), primary_key=True),
    sa.Column("check_name", sa.String(200), primary_key=True),
    sa.Column("passed", sa.Boolean, nullable=False),
    sa.Column("severity", sa.String(10), nullable=False),  # ERROR (blocking) or WARN
    sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
)


@dataclass(frozen=True)
class CheckResult:
    asset: str
    check: str
    passed: bool
    severity: str


class CheckResultStore:
    def __init__(self, store: OperationalStore) -> None:
        self.engine = store.engine
        asset_check_results.create(self.engine, checkfirst=True)

    def replace(self, results: Iterable[CheckResult]) -> int:
        """Make `results` the latest, in one transaction: a check no longer evaluated goes."""
        now = dt.datetime.now(dt.UTC)
        rows = [
            {
                "asset": r.asset,
                "check_name": r.check,
                "passed": r.passed,
                "severity": r.severity,
                "recorded_at": now,
            }
            for r in results
        ]
        with self.engine.begin() as connection:
            connection.execute(asset_check_results.delete())
            if rows:
                connection.execute(asset_check_results.insert(), rows)
        return len(rows)

    def latest(self) -> list[CheckResult]:
        table = asset_check_results.c
        query = sa.select(table.asset, table.check_name, table.passed, table.severity).order_by(
            table.asset, table.check_name
        )
        with self.engine.connect() as connection:
            return [CheckResult(*row) for row in connection.execute(query)]
