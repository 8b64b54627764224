"""After each session of the exchange closes, ingest that session."""

import datetime as dt

import dagster as dg
import pandas as pd

from orchestration.jobs import ingest_sessions
from orchestration.partitions import EXCHANGE_TIMEZONE
from tickerpulse.calendar import exchange_calendar
from tickerpulse.settings import get_settings


@dg.schedule(
    cron_schedule="30 16 * * 1-5",  # 30 minutes after the regular close; early closes are earlier
    execution_timezone=EXCHANGE_TIMEZONE,
    job=ingest_sessions,
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="Ingest today's session once the exchange has closed; skips holidays.",
)
def after_the_close(context: dg.ScheduleEvaluationContext) -> dg.RunRequest | dg.SkipReason:
    stamp = context.scheduled_execution_time or dt.datetime.now(dt.UTC)
    today = pd.Timestamp(stamp).tz_convert(EXCHANGE_TIMEZONE).date()
    exchange = get_settings().exchange
    if not exchange_calendar(exchange).is_session(pd.Timestamp(today)):
        return dg.SkipReason(f"{today} is not a trading day on {exchange}")
    return dg.RunRequest(run_key=f"session-{today}", partition_key=today.isoformat())
