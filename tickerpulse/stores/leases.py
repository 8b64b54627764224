"""Leases: a named lock shared by every process of the platform, in the operational store's database.

Training can start through three doors (the weekly automation, the Dagster UI, the API's
Celery worker), each in its own process, so an in-process lock or Dagster's run queue alone
cannot keep two trainings of one model apart. A lease is a row: the name is the primary key,
so one insert wins; it names its owner and expires unless renewed. A holder renews it while it
works; one that died stops renewing, and once the lease has expired the next taker deletes it
and inserts its own. Every renewal checks the owner, so a holder that was too slow to renew
learns it lost the lease instead of going on as if it held it. SQLite and PostgreSQL alike:
only a primary key, single-row updates and their row counts are relied on.
"""

from __future__ import annotations

import datetime as dt
import threading
from dataclasses import dataclass

import sqlalchemy as sa

from tickerpulse.errors import LeaseHeld, LeaseLost
from tickerpulse.stores.operational import OperationalStore, create_tables, metadata

leases = sa.Table(
    "leases",
    metadata,
    sa.Column("name", sa.String(200), primary_key=True),
    sa.Column("owner", sa.String(200), nullable=False),
    sa.Column("acquired_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
)


TRAINING = "training/"
DAGSTER_RUN = "Dagster run "


def training_lease(model_name: str) -> str:
    """The lease every training of `model_name` holds, whichever door it came through."""
    return f"{TRAINING}{model_name}"


def dagster_owner(dagster_run_id: str) -> str:
    """How a Dagster run names itself as a lease's owner (its host and pid follow)."""
    return f"{DAGSTER_RUN}{dagster_run_id} "


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _utc(moment: dt.datetime) -> dt.datetime:
    """SQLite gives back naive datetimes; they were written in UTC."""
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


@dataclass(frozen=True)
class LeaseInfo:
    name: str
    owner: str
    acquired_at: dt.datetime
    expires_at: dt.datetime

    def describe(self) -> str:
        return (
            f"{self.name} is held by {self.owner} since {self.acquired_at:%Y-%m-%d %H:%M:%S} UTC "
            f"(expires {self.expires_at:%H:%M:%S} UTC unless renewed)"
        )


class LeaseStore:
    def __init__(self, store: OperationalStore) -> None:
        self.engine = store.engine
        create_tables(self.engine, [leases])

    def holder(self, name: str) -> LeaseInfo | None:
        with self.engine.connect() as connection:
            row = connection.execute(sa.select(leases).where(leases.c.name == name)).first()
        if row is None:
            return None
        return LeaseInfo(row.name, row.owner, _utc(row.acquired_at), _utc(row.expires_at))

    def acquire(self, name: str, owner: str, ttl: dt.timedelta) -> bool:
        """Take the lease if nobody holds it or its holder let it expire: exactly one of any
        number of concurrent takers wins (the primary key)."""
        now = _now()
        with self.engine.begin() as connection:  # an expired lease's holder is gone: reclaim it
            connection.execute(
                sa.delete(leases).where(leases.c.name == name, leases.c.expires_at < now)
            )
        try:
            with self.engine.begin() as connection:
                connection.execute(
                    sa.insert(leases).values(
                        name=name, owner=owner, acquired_at=now, expires_at=now + ttl
                    )
                )
        except sa.exc.IntegrityError:
            return False
        return True

    def renew(self, name: str, owner: str, ttl: dt.timedelta) -> bool:
        """Extend the lease; False when `owner` no longer holds it (it expired and was taken)."""
        with self.engine.begin() as connection:
            renewed = connection.execute(
                sa.update(leases)
                .where(leases.c.name == name, leases.c.owner == owner)
                .values(expires_at=_now() + ttl)
            )
        return renewed.rowcount == 1

    def release(self, name: str, owner: str) -> None:
        with self.engine.begin() as connection:
            connection.execute(
                sa.delete(leases).where(leases.c.name == name, leases.c.owner == owner)
            )


class HeldLease:
    """A lease taken by `take` and held for a `with` block, renewed by a thread every
    `ttl / 4`; released when the block ends. `ensure_held` is the holder's check before an
    action only the lease's holder may take: it renews, and raises LeaseLost when someone else
    holds the lease now."""

    def __init__(self, store: LeaseStore, name: str, owner: str, ttl: dt.timedelta) -> None:
        self.store, self.name, self.owner, self.ttl = store, name, owner, ttl
        self._stop = threading.Event()
        self._lost = threading.Event()
        self._thread = threading.Thread(target=self._renew_until_stopped, daemon=True)

    @classmethod
    def take(cls, store: LeaseStore, name: str, owner: str, ttl: dt.timedelta) -> HeldLease:
        """The lease, taken; LeaseHeld, naming the holder, when another process holds it."""
        if not store.acquire(name, owner, ttl):
            holder = store.holder(name)
            raise LeaseHeld(holder.describe() if holder else f"{name} is held by another process")
        return cls(store, name, owner, ttl)

    def __enter__(self) -> HeldLease:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self._thread.join()
        self.store.release(self.name, self.owner)

    def _renew_until_stopped(self) -> None:
        while not self._stop.wait(self.ttl.total_seconds() / 4):
            try:
                if not self.store.renew(self.name, self.owner, self.ttl):
                    self._lost.set()
                    return
            except Exception:  # a database hiccup: three more tries before the lease expires
                continue

    def ensure_held(self) -> None:
        if self._lost.is_set() or not self.store.renew(self.name, self.owner, self.ttl):
            self._lost.set()
            holder = self.store.holder(self.name)
            now = f"; {holder.describe()}" if holder else ""
            raise LeaseLost(
                f"{self.owner} lost the lease {self.name} (not renewed in time){now}: "
                "stopped before changing anything only its holder may change"
            )
