"""The latest result of every asset check in a Dagster instance, for the API's /metrics.

Check results live in the instance's event log, not in the warehouse; the API reads them from
the instance named by DAGSTER_HOME (as `tickerpulse up` and compose set it).
"""

from __future__ import annotations

from dataclasses import dataclass

import dagster as dg

SCANNED_EVENTS = 2000  # the newest evaluations; every check is evaluated on each run


@dataclass(frozen=True)
class CheckResult:
    asset: str
    check: str
    passed: bool
    severity: str  # ERROR (blocking) or WARN


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
