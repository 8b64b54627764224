"""Copies of the built platform (tests/conftest.py copy_platform): the worker that built it
keeps its SQLite databases open in WAL mode, most of their pages still in the -wal file."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path

from tests.conftest import copy_platform


def test_a_copy_of_a_database_held_open_has_every_row_and_takes_writes(tmp_path: Path) -> None:
    source = tmp_path / "built"
    (source / "warehouse").mkdir(parents=True)
    (source / "warehouse" / "part.parquet").write_bytes(b"not a database")
    builder = sqlite3.connect(source / "raw.db")
    builder.execute("PRAGMA journal_mode=WAL")
    builder.execute("PRAGMA wal_autocheckpoint=0")  # every page stays in the -wal, as in CI
    builder.execute("CREATE TABLE keys (name TEXT)")
    builder.executemany("INSERT INTO keys VALUES (?)", [(f"k{n}",) for n in range(1000)])
    builder.commit()
    reading = builder.execute("SELECT name FROM keys")  # a read left open, as a pool may
    reading.fetchone()
    assert (source / "raw.db-wal").stat().st_size > (source / "raw.db").stat().st_size

    target = tmp_path / "copy"
    copy_platform(source, target)

    assert not (target / "raw.db-shm").exists() and not (target / "raw.db-wal").exists()
    assert (target / "warehouse" / "part.parquet").read_bytes() == b"not a database"
    with closing(sqlite3.connect(target / "raw.db")) as copy:
        assert copy.execute("SELECT count(*) FROM keys").fetchone() == (1000,)
        copy.execute("INSERT INTO keys VALUES ('after')")
        copy.commit()
        assert copy.execute("SELECT count(*) FROM keys").fetchone() == (1001,)
    builder.close()
    with closing(sqlite3.connect(source / "raw.db")) as original:  # the source is untouched
        assert original.execute("SELECT count(*) FROM keys").fetchone() == (1000,)


def test_what_is_left_out_is_not_copied(tmp_path: Path) -> None:
    source = tmp_path / "built"
    (source / "dagster").mkdir(parents=True)
    with closing(sqlite3.connect(source / "dagster" / "runs.db")) as runs:
        runs.execute("CREATE TABLE runs (id TEXT)")
    with closing(sqlite3.connect(source / "raw.db")) as raw:
        raw.execute("CREATE TABLE keys (name TEXT)")
    copy_platform(source, tmp_path / "copy", "dagster")
    assert not (tmp_path / "copy" / "dagster").exists()
    assert (tmp_path / "copy" / "raw.db").exists()
