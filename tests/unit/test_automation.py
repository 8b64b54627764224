"""Partitions, the after-the-close schedule, the universe sensor and declarative automation."""

import datetime as dt

import dagster as dg
import pytest

from orchestration.definitions import defs
from orchestration.partitions import TICKERS, trading_day_partitions
from orchestration.resources import OperationalStoreResource
from orchestration.schedules import after_the_close
from orchestration.sensors import RANGE_END, RANGE_START, ticker_universe
from tickerpulse.settings import Settings
from tickerpulse.stores.operational import OperationalStore

NEW_YORK = dt.timezone(dt.timedelta(hours=-5))


def test_trading_day_partitions_skip_weekends_and_holidays() -> None:
    partitions = trading_day_partitions(dt.date(2024, 12, 20))
    keys = partitions.get_partition_keys(current_time=dt.datetime(2025, 1, 10, tzinfo=dt.UTC))
    assert keys[:7] == [
        "2024-12-20",
        "2024-12-23",
        "2024-12-24",
        "2024-12-26",
        "2024-12-27",
        "2024-12-30",
        "2024-12-31",
    ]
    assert "2025-01-01" not in keys and "2024-12-28" not in keys


def test_twenty_years_stay_far_below_dagsters_partition_limit() -> None:
    partitions = trading_day_partitions(dt.date(2006, 1, 3))
    keys = partitions.get_partition_keys(current_time=dt.datetime(2026, 1, 2, tzinfo=dt.UTC))
    assert 5000 < len(keys) < 5100  # ~252 a year, for any number of tickers


def test_a_fridays_partition_exists_on_friday_evening() -> None:
    partitions = trading_day_partitions(dt.date(2024, 5, 1))
    friday_evening = dt.datetime(2024, 6, 7, 16, 30, tzinfo=NEW_YORK)
    keys = partitions.get_partition_keys(current_time=friday_evening)
    assert keys[-1] == "2024-06-07"


def test_the_schedule_ingests_the_session_that_just_closed() -> None:
    friday = dg.build_schedule_context(
        scheduled_execution_time=dt.datetime(2024, 6, 7, 16, 30, tzinfo=NEW_YORK)
    )
    request = after_the_close(friday)
    assert isinstance(request, dg.RunRequest) and request.partition_key == "2024-06-07"
    christmas = dg.build_schedule_context(
        scheduled_execution_time=dt.datetime(2024, 12, 25, 16, 30, tzinfo=NEW_YORK)
    )
    skipped = after_the_close(christmas)
    assert isinstance(skipped, dg.SkipReason) and "not a trading day" in str(skipped.skip_message)


def test_the_universe_sensor_adds_new_tickers_and_requests_their_history(
    settings: Settings,
) -> None:
    store = OperationalStore(settings.raw_db_url)
    store.add_ticker("NEWCO", "synthetic")
    store.add_ticker("FILED", "csv")
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions(TICKERS, ["GONE"])
        context = dg.build_sensor_context(
            instance=instance, resources={"operational_store": OperationalStoreResource()}
        )
        result = ticker_universe(context)
        assert isinstance(result, dg.SensorResult)
        added, removed = result.dynamic_partitions_requests or []
        assert list(added.partition_keys or []) == ["FILED", "NEWCO"]
        assert list(removed.partition_keys or []) == ["GONE"]
        # Only the fetched ticker needs its history fetched; a file-fed one already has it.
        [history] = result.run_requests or []
        assert history.tags["tickerpulse/tickers"] == "NEWCO"
        assert history.tags[RANGE_START] == "2006-01-03" and history.tags[RANGE_END] >= "2026-01-02"

        instance.add_dynamic_partitions(TICKERS, ["FILED", "NEWCO"])
        instance.delete_dynamic_partition(TICKERS, "GONE")
        again = ticker_universe(context)
        assert not again.run_requests and not again.dynamic_partitions_requests


@pytest.mark.slow
def test_a_new_session_carries_itself_to_clean_prices(settings: Settings) -> None:
    store = OperationalStore(settings.raw_db_url)
    for symbol in ("AAA", "BBB"):
        store.add_ticker(symbol, "synthetic")
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions(TICKERS, ["AAA", "BBB"])
        first = dg.evaluate_automation_conditions(defs=defs, instance=instance)
        defs.resolve_job_def("ingest_sessions").execute_in_process(
            instance=instance, partition_key="2024-06-07"
        )
        after = dg.evaluate_automation_conditions(defs=defs, instance=instance, cursor=first.cursor)
        requested = after.get_requested_partitions(dg.AssetKey("clean_prices"))
        assert requested == {"AAA", "BBB"}


def test_raw_prices_declare_how_fresh_they_must_be() -> None:
    node = defs.resolve_asset_graph().get(dg.AssetKey("raw_prices"))
    policy = node.freshness_policy
    assert policy is not None and policy.fail_window.to_timedelta() == dt.timedelta(hours=100)  # type: ignore[attr-defined]


def test_every_sensor_and_the_schedule_run_without_a_click() -> None:
    for name in ("automation", "ticker_universe", "inbox_files", "clean_after_inbox"):
        assert defs.resolve_sensor_def(name).default_status == dg.DefaultSensorStatus.RUNNING
    assert (
        defs.resolve_schedule_def("after_the_close").default_status
        == dg.DefaultScheduleStatus.RUNNING
    )
