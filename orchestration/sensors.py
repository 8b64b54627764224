"""The ticker universe follows the operational store: new tickers get a partition and their history."""

import json

import dagster as dg

from orchestration.assets.ingestion import TICKERS_TAG
from orchestration.check_results import record_check_results
from orchestration.jobs import (
    TICKER_TAG,
    InboxFileConfig,
    clean_tickers,
    ingest_inbox,
    ingest_sessions,
)
from orchestration.partitions import TICKERS, tickers, trading_days
from orchestration.resources import InboxResource, OperationalStoreResource
from tickerpulse.calendar import last_completed_session
from tickerpulse.ingestion import FETCHED_SOURCES
from tickerpulse.stores.check_results import CheckResultStore

RANGE_START = "dagster/asset_partition_range_start"
RANGE_END = "dagster/asset_partition_range_end"


def history_range() -> tuple[str, str]:
    """The first trading-day partition and the last completed session's."""
    last = last_completed_session().isoformat()
    keys = trading_days.get_partition_keys()
    return keys[0], max(key for key in keys if key <= last)


@dg.sensor(
    job=ingest_sessions,
    minimum_interval_seconds=30,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Adds tickers of the operational store to the `tickers` partitions and requests their history.",
)
def ticker_universe(
    context: dg.SensorEvaluationContext, operational_store: OperationalStoreResource
) -> dg.SensorResult:
    rows = operational_store.store.list_tickers()
    active = {row["symbol"] for row in rows}
    known = set(context.instance.get_dynamic_partitions(TICKERS))
    added, removed = sorted(active - known), sorted(known - active)
    first, last = history_range()
    history = [
        dg.RunRequest(
            run_key=f"history-{row['symbol']}-{last}",
            tags={RANGE_START: first, RANGE_END: last, TICKERS_TAG: row["symbol"]},
        )
        for row in rows
        if row["symbol"] in added and row["source"] in FETCHED_SOURCES
    ]
    requests: list[dg.AddDynamicPartitionsRequest | dg.DeleteDynamicPartitionsRequest] = []
    if added:
        requests.append(tickers.build_add_request(added))
    if removed:
        requests.append(tickers.build_delete_request(removed))
    return dg.SensorResult(run_requests=history, dynamic_partitions_requests=requests)


@dg.sensor(
    job=ingest_inbox,
    minimum_interval_seconds=15,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="One run per CSV file dropped into the inbox; the cursor remembers what was requested.",
)
def inbox_files(context: dg.SensorEvaluationContext, inbox: InboxResource) -> dg.SensorResult:
    requested = set(json.loads(context.cursor)) if context.cursor else set()
    waiting = inbox.inbox.waiting()
    new = [file for file in waiting if file.key not in requested]
    # Keep only keys of files still waiting: the cursor stays as small as the inbox.
    still_waiting = {file.key for file in waiting} & (requested | {file.key for file in new})
    return dg.SensorResult(
        run_requests=[
            dg.RunRequest(
                run_key=file.key,
                run_config=dg.RunConfig(ops={"ingest_inbox_file": InboxFileConfig(name=file.name)}),
            )
            for file in new
        ],
        cursor=json.dumps(sorted(still_waiting)),
    )


@dg.run_status_sensor(
    run_status=dg.DagsterRunStatus.SUCCESS,
    monitored_jobs=[ingest_inbox],
    request_job=clean_tickers,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="After a file is ingested, rebuild that ticker's clean prices.",
)
def clean_after_inbox(context: dg.RunStatusSensorContext) -> dg.RunRequest | dg.SkipReason:
    ticker = context.dagster_run.tags.get(TICKER_TAG)
    if not ticker:
        return dg.SkipReason("the run recorded no ticker")
    if ticker not in context.instance.get_dynamic_partitions(TICKERS):
        context.instance.add_dynamic_partitions(TICKERS, [ticker])
    return dg.RunRequest(run_key=context.dagster_run.run_id, partition_key=ticker)


@dg.sensor(
    minimum_interval_seconds=30,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Copies the latest asset check results to the operational database for /metrics.",
)
def check_results_to_store(
    context: dg.SensorEvaluationContext, operational_store: OperationalStoreResource
) -> dg.SkipReason:
    recorded = record_check_results(context.instance, CheckResultStore(operational_store.store))
    return dg.SkipReason(f"recorded the latest results of {recorded} checks")
