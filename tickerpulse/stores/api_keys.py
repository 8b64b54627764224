"""API keys, hashed at rest in the operational store's database.

A key is 32 random bytes, so a plain SHA-256 of it cannot be brute-forced; a slow password
hash (bcrypt, argon2) would only add its cost to every request.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from tickerpulse.stores.sql_engine import metadata

if TYPE_CHECKING:
    from tickerpulse.stores.operational import OperationalStore

ROLES = ("client", "admin")  # client: predictions; admin: also tickers and training runs

api_keys = sa.Table(
    "api_keys",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("name", sa.String(100), nullable=False),
    sa.Column("prefix", sa.String(16), nullable=False),  # shown in listings and logs
    sa.Column("key_hash", sa.String(64), nullable=False, unique=True),
    sa.Column("role", sa.String(10), nullable=False),
    sa.Column("rate_per_minute", sa.Integer, nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
)


@dataclass(frozen=True)
class ApiKey:
    id: int
    name: str
    prefix: str
    role: str
    rate_per_minute: int

    def allows(self, role: str) -> bool:
        return ROLES.index(self.role) >= ROLES.index(role)


def _digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


class ApiKeyStore:
    def __init__(self, store: OperationalStore | sa.Engine) -> None:
        # An engine alone serves the relay, which checks keys and has no use for the operational store.
        self.engine = store if isinstance(store, sa.Engine) else store.engine
        api_keys.create(self.engine, checkfirst=True)

    def create(self, name: str, role: str = "client", rate_per_minute: int = 600) -> str:
        """A new key, returned once: only its hash is kept."""
        if role not in ROLES:
            raise ValueError(f"role must be one of {', '.join(ROLES)}, not {role!r}")
        if rate_per_minute < 1:
            raise ValueError("rate_per_minute must be at least 1")
        key = f"tp_{secrets.token_urlsafe(32)}"
        with self.engine.begin() as connection:
            connection.execute(
                sa.insert(api_keys).values(
                    name=name,
                    prefix=key[:10],
                    key_hash=_digest(key),
                    role=role,
                    rate_per_minute=rate_per_minute,
                    created_at=dt.datetime.now(dt.UTC),
                )
            )
        return key

    def verify(self, key: str) -> ApiKey | None:
        query = sa.select(api_keys).where(
            api_keys.c.key_hash == _digest(key), api_keys.c.revoked_at.is_(None)
        )
        with self.engine.connect() as connection:
            row = connection.execute(query).mappings().first()
        if row is None:
            return None
        return ApiKey(row["id"], row["name"], row["prefix"], row["role"], row["rate_per_minute"])

    def revoke(self, prefix: str) -> int:
        """Revoke every live key starting with `prefix` (at least 6 characters); how many."""
        if len(prefix) < 6:
            raise ValueError("give at least the first 6 characters of the key")
        with self.engine.begin() as connection:
            result = connection.execute(
                sa.update(api_keys)
                .where(api_keys.c.prefix == prefix[:10], api_keys.c.revoked_at.is_(None))
                .values(revoked_at=dt.datetime.now(dt.UTC))
            )
        return int(result.rowcount)

    def list(self) -> list[dict[str, Any]]:
        query = sa.select(api_keys).order_by(api_keys.c.id)
        with self.engine.connect() as connection:
            rows = [dict(row) for row in connection.execute(query).mappings()]
        for row in rows:
            row.pop("key_hash")
        return rows
