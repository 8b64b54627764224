"""Training runs requested through the API, and what became of them, in the operational store's database.

The database, not the queue, is the truth about a run: a partial unique index lets only one
queued or running run exist per scope, and a worker takes a run with a compare-and-set on its
state and heartbeat, so a redelivered task never trains twice while the first worker lives.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from dataclasses import asdict, dataclass, field
from typing import Any

import sqlalchemy as sa

from tickerpulse.stores.leases import DAGSTER_RUN, TRAINING, LeaseStore, leases
from tickerpulse.stores.operational import OperationalStore, metadata

ACTIVE = ("queued", "running")
FINISHED = ("succeeded", "failed")
# A running run whose heartbeat is this old, and whose training holds no lease, lost its worker:
# a redelivered task may take it over, and a new submission replaces it. The worker beats ten
# times in it (orchestration/requested_training.py).
STALE_AFTER = dt.timedelta(seconds=20)

training_runs = sa.Table(
    "training_runs",
    metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("scope", sa.String(200), nullable=False),
    sa.Column("state", sa.String(10), nullable=False),
    sa.Column("progress", sa.Float, nullable=False, default=0.0),
    sa.Column("step", sa.String(200), nullable=False, default=""),
    sa.Column("attempts", sa.Integer, nullable=False, default=0),
    sa.Column("dagster_run_id", sa.String(64), nullable=True),
    sa.Column("mlflow_run_ids", sa.Text, nullable=False, default="{}"),
    sa.Column("error", sa.Text, nullable=True),
    sa.Column("requested_by", sa.String(100), nullable=False, default=""),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("heartbeat_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
    sa.Index(
        "one_active_training_run_per_scope",
        "scope",
        unique=True,
        sqlite_where=sa.text("state IN ('queued', 'running')"),
        postgresql_where=sa.text("state IN ('queued', 'running')"),
    ),
)


@dataclass(frozen=True)
class TrainingRun:
    id: str
    scope: str
    state: str
    progress: float
    step: str
    attempts: int
    dagster_run_id: str | None
    error: str | None
    requested_by: str
    created_at: dt.datetime
    started_at: dt.datetime | None
    heartbeat_at: dt.datetime | None
    finished_at: dt.datetime | None
    mlflow_run_ids: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_row(cls, row: Any) -> TrainingRun:
        values = dict(row._mapping)
        values["mlflow_run_ids"] = json.loads(values["mlflow_run_ids"] or "{}")
        return cls(**values)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class TrainingRunStore:
    def __init__(self, store: OperationalStore) -> None:
        self.engine = store.engine
        training_runs.create(self.engine, checkfirst=True)
        LeaseStore(store)  # claim reads the training lease

    def submit(
        self, scope: str, requested_by: str = "", stale_after: dt.timedelta = STALE_AFTER
    ) -> tuple[TrainingRun, bool]:
        """A new queued run, or the scope's queued or running one: (run, created). A running
        one whose worker is gone is marked failed and replaced: with a broker that does not
        redeliver (the embedded SQLite one), after Ctrl-C or a crash mid-training nothing
        would ever take it again, and every submission returned it."""
        run_id = uuid.uuid4().hex
        try:
            with self.engine.begin() as connection:
                connection.execute(
                    sa.insert(training_runs).values(
                        id=run_id,
                        scope=scope,
                        state="queued",
                        progress=0.0,
                        step="waiting for a worker",
                        attempts=0,
                        mlflow_run_ids="{}",
                        requested_by=requested_by,
                        created_at=_now(),
                    )
                )
        except sa.exc.IntegrityError:
            active = self.active(scope)
            if active is None:  # it finished between our insert and this read
                return self.submit(scope, requested_by, stale_after)
            if self._abandon(active.id, stale_after):
                return self.submit(scope, requested_by, stale_after)
            return active, False
        return self.require(run_id), True

    def get(self, run_id: str) -> TrainingRun | None:
        with self.engine.connect() as connection:
            row = connection.execute(
                sa.select(training_runs).where(training_runs.c.id == run_id)
            ).first()
        return TrainingRun.from_row(row) if row else None

    def require(self, run_id: str) -> TrainingRun:
        run = self.get(run_id)
        if run is None:
            raise LookupError(f"no training run {run_id!r}")
        return run

    def active(self, scope: str) -> TrainingRun | None:
        with self.engine.connect() as connection:
            row = connection.execute(
                sa.select(training_runs).where(
                    training_runs.c.scope == scope, training_runs.c.state.in_(ACTIVE)
                )
            ).first()
        return TrainingRun.from_row(row) if row else None

    def recent(self, limit: int = 20) -> list[TrainingRun]:
        query = sa.select(training_runs).order_by(training_runs.c.created_at.desc()).limit(limit)
        with self.engine.connect() as connection:
            return [TrainingRun.from_row(row) for row in connection.execute(query)]

    def _abandon(self, run_id: str, stale_after: dt.timedelta) -> bool:
        """Mark the run failed if its worker is gone; whether it was."""
        now = _now()
        query = (
            sa.update(training_runs)
            .where(training_runs.c.id == run_id, _worker_gone(now, stale_after))
            .values(
                state="failed",
                step="failed",
                error=f"its worker stopped beating for {stale_after.total_seconds():.0f} s "
                "(stopped or killed mid-training); a new submission replaced it",
                finished_at=now,
            )
        )
        with self.engine.begin() as connection:
            return connection.execute(query).rowcount == 1

    def claim(self, run_id: str, dagster_run_id: str, stale_after: dt.timedelta) -> bool:
        """Take a queued run, or a running one whose worker is gone: exactly one wins."""
        now = _now()
        query = (
            sa.update(training_runs)
            .where(
                training_runs.c.id == run_id,
                sa.or_(training_runs.c.state == "queued", _worker_gone(now, stale_after)),
            )
            .values(
                state="running",
                progress=0.0,
                step="starting",
                attempts=training_runs.c.attempts + 1,
                dagster_run_id=dagster_run_id,
                started_at=now,
                heartbeat_at=now,
                error=None,
            )
        )
        with self.engine.begin() as connection:
            return connection.execute(query).rowcount == 1

    def beat(self, run_id: str, progress: float, step: str) -> None:
        self._update(run_id, progress=progress, step=step[:200], heartbeat_at=_now())

    def release(self, run_id: str, error: str) -> None:
        """Back to the queue after a failure of the machinery, for a retry to take."""
        self._update(run_id, state="queued", step="waiting for a retry", error=error[:2000])

    def finish(
        self,
        run_id: str,
        succeeded: bool,
        error: str | None = None,
        mlflow_run_ids: dict[str, str] | None = None,
    ) -> None:
        values: dict[str, Any] = {
            "state": "succeeded" if succeeded else "failed",
            "step": "done" if succeeded else "failed",
            "error": error,
            "finished_at": _now(),
        }
        if succeeded:
            values["progress"] = 1.0
        if mlflow_run_ids is not None:
            values["mlflow_run_ids"] = json.dumps(mlflow_run_ids)
        self._update(run_id, **values)

    def _update(self, run_id: str, **values: Any) -> None:
        with self.engine.begin() as connection:
            connection.execute(
                sa.update(training_runs).where(training_runs.c.id == run_id).values(**values)
            )


def _worker_gone(now: dt.datetime, stale_after: dt.timedelta) -> sa.ColumnElement[bool]:
    """A running run whose worker stopped beating. A late heartbeat alone is no proof the
    worker died (a loaded host, a locked database): while the run's Dagster run still renews
    the scope's training lease, it is alive."""
    alive = sa.exists().where(
        leases.c.name == sa.literal(TRAINING) + training_runs.c.scope,
        leases.c.owner.startswith(
            sa.literal(DAGSTER_RUN) + training_runs.c.dagster_run_id + sa.literal(" ")
        ),
        leases.c.expires_at >= now,
    )
    return sa.and_(
        training_runs.c.state == "running",
        training_runs.c.heartbeat_at < now - stale_after,
        ~alive,
    )
