"""Hostile inbox input: names that point outside, unreadable files, replays, backfills."""

import datetime as dt
import json
import shutil
from pathlib import Path

import dagster as dg
import pandas as pd
import pytest

from orchestration.definitions import defs
from orchestration.jobs import InboxFileConfig
from tests.conftest import FIXTURES, S3Inbox
from tickerpulse.errors import (
    InvalidTicker,
    OperationalDatabaseUnavailable,
    SchemaError,
    UnsafeFileName,
)
from tickerpulse.inbox import LocalInbox, process_file
from tickerpulse.settings import Settings
from tickerpulse.stores.operational import OperationalStore
from tickerpulse.stores.warehouse import ParquetWarehouse

ESCAPES = ["../raw.db", "sub/AAA.csv", "/etc/hosts", "..", ".hidden.csv", "AAA.csv\x00.txt"]


@pytest.fixture
def inbox(settings: Settings) -> LocalInbox:
    return LocalInbox(settings.inbox_dir)


@pytest.fixture
def store(settings: Settings) -> OperationalStore:
    return OperationalStore(settings.raw_db_url)


@pytest.mark.parametrize("name", ESCAPES)
def test_a_name_that_leaves_the_inbox_is_refused_and_nothing_moves(
    inbox: LocalInbox, store: OperationalStore, settings: Settings, name: str
) -> None:
    raw_db = settings.data_dir / "raw.db"
    before = raw_db.read_bytes()
    with pytest.raises(UnsafeFileName, match="inbox"):
        process_file(store, inbox, name)
    assert raw_db.read_bytes() == before
    assert sorted(p.name for p in inbox.root.iterdir()) == []  # no rejected/, no copy


def test_a_link_out_of_the_inbox_is_refused(
    inbox: LocalInbox, store: OperationalStore, tmp_path: Path
) -> None:
    outside = tmp_path / "secret.csv"
    shutil.copy(FIXTURES / "dirty.csv", outside)
    (inbox.root / "LINKED.csv").symlink_to(outside)
    with pytest.raises(UnsafeFileName, match="outside the inbox"):
        process_file(store, inbox, "LINKED.csv")
    assert outside.read_bytes() == (FIXTURES / "dirty.csv").read_bytes()
    assert store.ticker("LINKED", active_only=False) is None
    assert (inbox.root / "rejected" / "LINKED.csv").is_symlink()  # the link, filed unfollowed


def test_the_inbox_job_refuses_a_name_outside_the_inbox(
    inbox: LocalInbox, settings: Settings
) -> None:
    raw_db = settings.data_dir / "raw.db"
    OperationalStore(settings.raw_db_url)  # the database the old job moved into the inbox
    job = defs.resolve_job_def("ingest_inbox")
    with dg.instance_for_test() as instance:
        result = job.execute_in_process(
            instance=instance,
            run_config=dg.RunConfig(ops={"ingest_inbox_file": InboxFileConfig(name="../raw.db")}),
            raise_on_error=False,
        )
    assert not result.success
    assert raw_db.exists() and not (inbox.root / "rejected").exists()


def test_a_file_the_csv_reader_chokes_on_is_rejected_with_its_reason(
    inbox: LocalInbox, store: OperationalStore
) -> None:
    # One field past the csv module's 128 KiB field limit: an error that is not a ValueError.
    (inbox.root / "HUGE.csv").write_text(
        "date,open,high,low,close,volume\n2024-01-02," + "9" * 200_000 + ",1,1,1,1\n"
    )
    with pytest.raises(SchemaError):
        process_file(store, inbox, "HUGE.csv")
    assert inbox.waiting() == []
    reason = (inbox.root / "rejected" / "HUGE.csv.reason.txt").read_text()
    assert "line 2" in reason


def test_a_replayed_file_adds_no_quarantine_rows_and_both_copies_are_kept(
    inbox: LocalInbox, store: OperationalStore
) -> None:
    for _ in range(2):
        shutil.copy(FIXTURES / "dirty.csv", inbox.root / "DIRTY.csv")
        process_file(store, inbox, "DIRTY.csv")
    assert len(store.quarantined("DIRTY")) == 7  # the fixture's seven bad rows, once
    kept = sorted((inbox.root / "processed").glob("DIRTY*.csv"))
    assert len(kept) == 2
    reports = sorted((inbox.root / "processed").glob("DIRTY*.csv.report.json"))
    assert [json.loads(r.read_text())["rejected"] for r in reports] == [7, 7]


def test_a_backfill_file_keeps_a_fetched_tickers_source(
    inbox: LocalInbox, store: OperationalStore
) -> None:
    store.add_ticker("ACME", source="stooq")
    shutil.copy(FIXTURES / "dirty.csv", inbox.root / "ACME_backfill.csv")
    process_file(store, inbox, "ACME_backfill.csv")
    assert store.ticker("ACME")["source"] == "stooq"  # type: ignore[index]
    assert len(store.read_prices(["ACME"])) == 4


def test_a_file_fed_ticker_stays_file_fed(inbox: LocalInbox, store: OperationalStore) -> None:
    shutil.copy(FIXTURES / "dirty.csv", inbox.root / "FILED.csv")
    process_file(store, inbox, "FILED.csv")
    assert store.ticker("FILED")["source"] == "csv"  # type: ignore[index]


@pytest.mark.parametrize("key", ["../../escaped", "aaa", "A/B", ""])
def test_a_ticker_key_that_is_not_a_symbol_builds_no_path(tmp_path: Path, key: str) -> None:
    warehouse = ParquetWarehouse(tmp_path / "warehouse")
    frame = pd.DataFrame({"date": [dt.date(2024, 1, 2)], "close": [1.0]})
    with pytest.raises(InvalidTicker, match="not a ticker symbol"):
        warehouse.write_partition("clean_prices", key, frame)
    with pytest.raises(InvalidTicker):
        warehouse.read("clean_prices", key)
    assert [p for p in tmp_path.rglob("*") if p.is_file()] == []


def test_a_hand_added_partition_key_fails_the_clean_run_before_any_file(
    settings: Settings,
) -> None:
    store = OperationalStore(settings.raw_db_url)
    store.add_ticker("AAA", source="synthetic")
    job = defs.resolve_job_def("clean_tickers")
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions("tickers", ["../../escaped"])
        result = job.execute_in_process(
            instance=instance, partition_key="../../escaped", raise_on_error=False
        )
    assert not result.success
    assert [p for p in settings.data_dir.parent.rglob("*.parquet")] == []
    [failure] = [e for e in result.all_events if e.is_step_failure]
    assert failure.step_key == "clean_prices"
    assert "not a ticker symbol" in str(failure.step_failure_data.error)  # type: ignore[union-attr]


@pytest.mark.integration
def test_the_s3_inbox_keeps_both_copies_and_refuses_names_outside_its_prefix(
    s3_inbox: S3Inbox, settings: Settings
) -> None:
    resource, client, bucket = s3_inbox.resource, s3_inbox.client, s3_inbox.bucket
    client.put_object(Bucket=bucket, Key="raw.db", Body=b"not for the inbox")
    store = OperationalStore(settings.raw_db_url)
    for _ in range(2):
        client.upload_file(str(FIXTURES / "dirty.csv"), bucket, "drop/DIRTY.csv")
        process_file(store, resource.inbox, "DIRTY.csv")
    with pytest.raises(UnsafeFileName):
        process_file(store, resource.inbox, "../raw.db")
    keys = sorted(o["Key"] for o in client.list_objects_v2(Bucket=bucket)["Contents"])
    filed = [k for k in keys if k.startswith("drop/processed/") and k.endswith(".csv")]
    assert len(filed) == 2 and "raw.db" in keys
    assert len(store.quarantined("DIRTY")) == 7


def test_a_locked_database_leaves_the_file_waiting_not_rejected(
    inbox: LocalInbox, settings: Settings
) -> None:
    """A database that stays locked says nothing about the file: it waits for the next run."""
    import sqlite3

    store = OperationalStore(settings.raw_db_url, timeout_seconds=0.3)
    shutil.copy(FIXTURES / "dirty.csv", inbox.root / "DIRTY.csv")
    holder = sqlite3.connect(settings.raw_db_url.removeprefix("sqlite:///"))
    holder.isolation_level = None
    holder.execute("BEGIN IMMEDIATE")  # another writer holds the lock
    try:
        with pytest.raises(OperationalDatabaseUnavailable):
            process_file(store, inbox, "DIRTY.csv")
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert (inbox.root / "DIRTY.csv").is_file()
    assert not (inbox.root / "rejected").exists()
    process_file(store, inbox, "DIRTY.csv")  # the next run takes it
    assert len(store.quarantined("DIRTY")) == 7
