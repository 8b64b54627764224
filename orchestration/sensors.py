"""The ticker universe follows the raw store: new tickers get a partition and their history."""

import dagster as dg

from orchestration.assets.ingestion import TICKERS_TAG
from orchestration.jobs import ingest_sessions
from orchestration.partitions import TICKERS, tickers, trading_days
from orchestration.resources import RawStoreResource
from tickerpulse.calendar import last_completed_session
from tickerpulse.ingestion import FETCHED_SOURCES

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
    description="Adds tickers of the raw store to the `tickers` partitions and requests their history.",
)
def ticker_universe(
    context: dg.SensorEvaluationContext, raw_store: RawStoreResource
) -> dg.SensorResult:
    rows = raw_store.store.list_tickers()
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
