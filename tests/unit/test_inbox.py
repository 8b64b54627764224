"""The CSV inbox: each file ingested once, then filed under processed/ or rejected/."""

import json
import shutil
from pathlib import Path

import dagster as dg
import pytest

from orchestration.definitions import defs
from orchestration.jobs import InboxFileConfig
from orchestration.resources import InboxResource
from orchestration.sensors import inbox_files
from tests.conftest import FIXTURES, S3Inbox
from tickerpulse.errors import SchemaError
from tickerpulse.inbox import LocalInbox, process_file, ticker_from_filename
from tickerpulse.settings import Settings
from tickerpulse.stores.operational import OperationalStore


@pytest.fixture
def inbox(store_settings: Settings) -> LocalInbox:
    return LocalInbox(store_settings.inbox_dir)


def drop(inbox: LocalInbox, source: Path, name: str) -> None:
    shutil.copy(source, inbox.root / name)


def test_a_file_is_ingested_and_filed_with_its_report(
    inbox: LocalInbox, operational_store: OperationalStore
) -> None:
    drop(inbox, FIXTURES / "dirty.csv", "DIRTY_2024-01.csv")
    report = process_file(operational_store, inbox, "DIRTY_2024-01.csv")
    assert (report.ticker, report.stored, report.rejected) == ("DIRTY", 4, 7)
    assert not (inbox.root / "DIRTY_2024-01.csv").exists()
    assert (inbox.root / "processed" / "DIRTY_2024-01.csv").read_bytes() == (
        FIXTURES / "dirty.csv"
    ).read_bytes()
    summary = json.loads((inbox.root / "processed" / "DIRTY_2024-01.csv.report.json").read_text())
    assert summary["stored"] + summary["rejected"] == summary["rows_read"] == 11
    assert len(operational_store.quarantined("DIRTY")) == 7
    assert inbox.waiting() == []


def test_an_unusable_file_is_rejected_with_its_reason(
    inbox: LocalInbox, operational_store: OperationalStore
) -> None:
    (inbox.root / "BAD.csv").write_text("when,price\n2024-01-02,10\n")
    with pytest.raises(SchemaError):
        process_file(operational_store, inbox, "BAD.csv")
    reason = (inbox.root / "rejected" / "BAD.csv.reason.txt").read_text()
    assert "lacks column(s) date, open, high, low, close, volume" in reason
    assert (inbox.root / "rejected" / "BAD.csv").exists()
    assert operational_store.ticker("BAD", active_only=False) is None


def test_ticker_names_come_from_the_file_name() -> None:
    assert ticker_from_filename("aapl.csv") == "AAPL"
    assert ticker_from_filename("BRK.B_2024-06.csv") == "BRK.B"
    with pytest.raises(ValueError, match="not a ticker symbol"):
        ticker_from_filename("prices (1).csv")


def test_the_sensor_requests_each_file_once(inbox: LocalInbox, store_settings: Settings) -> None:
    drop(inbox, FIXTURES / "dirty.csv", "AAA.csv")
    drop(inbox, FIXTURES / "dirty.csv", "BBB.csv")
    resources = {"inbox": InboxResource()}
    with (
        dg.instance_for_test() as instance,
        dg.build_sensor_context(instance=instance, resources=resources) as context,
    ):
        first = inbox_files(context)
        names = [
            r.run_config["ops"]["ingest_inbox_file"]["config"]["name"] for r in first.run_requests
        ]
        assert names == ["AAA.csv", "BBB.csv"]
        context.update_cursor(first.cursor)
        assert inbox_files(context).run_requests == []  # still waiting, already requested
        drop(inbox, FIXTURES / "dirty.csv", "CCC.csv")
        third = inbox_files(context)
        assert [r.run_key.split("@")[0] for r in third.run_requests] == ["CCC.csv"]  # type: ignore[union-attr]


def test_the_inbox_job_ingests_through_dagster(
    inbox: LocalInbox, operational_store: OperationalStore
) -> None:
    drop(inbox, FIXTURES / "dirty.csv", "DIRTY.csv")
    job = defs.resolve_job_def("ingest_inbox")
    with dg.instance_for_test() as instance:
        result = job.execute_in_process(
            instance=instance,
            run_config=dg.RunConfig(ops={"ingest_inbox_file": InboxFileConfig(name="DIRTY.csv")}),
        )
        assert result.success
        assert instance.get_run_by_id(result.run_id).tags["tickerpulse/ticker"] == "DIRTY"  # type: ignore[union-attr]
    assert len(operational_store.read_prices(["DIRTY"])) == 4
    assert (inbox.root / "processed" / "DIRTY.csv").exists()


@pytest.mark.integration
def test_the_s3_inbox_ingests_once_and_files_away(
    s3_inbox: S3Inbox, store_settings: Settings
) -> None:
    """Through dagster-aws's S3 resource against a real S3 endpoint (moto_server)."""
    resource, client, bucket = s3_inbox.resource, s3_inbox.client, s3_inbox.bucket
    client.upload_file(str(FIXTURES / "dirty.csv"), bucket, "drop/DIRTY.csv")
    client.put_object(Bucket=bucket, Key="drop/NOTES.csv", Body=b"just,some\ntext,here\n")

    with (
        dg.instance_for_test() as instance,
        dg.build_sensor_context(instance=instance, resources={"inbox": resource}) as context,
    ):
        first = inbox_files(context)
        assert sorted(r.run_key.split("@")[0] for r in first.run_requests) == [
            "DIRTY.csv",
            "NOTES.csv",
        ]  # type: ignore[union-attr]

    store = OperationalStore(store_settings.raw_db_url)
    report = process_file(store, resource.inbox, "DIRTY.csv")
    assert (report.stored, report.rejected) == (4, 7)
    with pytest.raises(SchemaError):
        process_file(store, resource.inbox, "NOTES.csv")
    keys = sorted(o["Key"] for o in client.list_objects_v2(Bucket=bucket)["Contents"])
    assert keys == [
        "drop/processed/DIRTY.csv",
        "drop/processed/DIRTY.csv.report.json",
        "drop/rejected/NOTES.csv",
        "drop/rejected/NOTES.csv.reason.txt",
    ]
    reason = client.get_object(Bucket=bucket, Key="drop/rejected/NOTES.csv.reason.txt")[
        "Body"
    ].read()
    assert b"lacks column(s)" in reason
    assert resource.inbox.waiting() == []
