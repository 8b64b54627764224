"""The latest result of every asset check in a Dagster instance, copied to the operational
database for the API's /metrics (tickerpulse/stores/check_results.py): the API reads a store of
ours and never opens Dagster's instance. The `check_results_to_store` sensor copies them every
30 s, and bootstrap once at its end."""

from __future__ import annotations

import dagster as dg

from tickerpulse.stores.check_results import CheckResult, CheckResultStore

SCANNED_EVENTS = 2000  # the newest evaluations; every check is evaluated on each run


def latest_check_results(instance: dg.DagsterInstance) -> list[CheckResult]:
    records = instance.get_event_records(
        dg.EventRecordsFilter(event_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION),
        limit=SCANNED_EVENTS,
        ascending=False,
    )
    latest: dict[tuple[str, str], CheckResult] = {}
    for record in records:
        event = record.event_log_entry.dagster_event
        evaluation = event.event_specific_data if event else None
        if not isinstance(evaluation, dg.AssetCheckEvaluation):
            continue
        key = (evaluation.asset_key.to_user_string(), evaluation.check_name)
        if key not in latest:  # newest first: the first seen is the latest
            latest[key] = CheckResult(*key, evaluation.passed, evaluation.severity.value)
    return sorted(latest.values(), key=lambda r: (r.asset, r.check))


def record_check_results(instance: dg.DagsterInstance, store: CheckResultStore) -> int:
    """Copy the latest results into the store; how many checks there are."""
    return store.replace(latest_check_results(instance))
