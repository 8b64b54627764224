"""Anomaly detector: streaming, explainable alerts on the API, the forecasts and the data.

What it watches:
- per API route, p99 latency and 5xx share between two metrics snapshots (`metrics.py`),
  each judged by its own streaming detector (`streaming.py`);
- per ticker, the latest price move, how many sessions the clean prices are behind and the
  served forecasts' realized error against the naive forecast (`daily.py`).
Every check yields findings; one `AlertBook` (`alerts.py`) turns them into alerts for the
`alerts` topic only when something starts, escalates or resolves.

Why a robust median/MAD over a window rather than an EWMA: API latency is spiky, and one
slow request in a quiet interval moves an EWMA's variance for minutes, widening the band
just when the next anomaly comes; the median and MAD of the last 120 intervals shrug off
a few outliers, need no tuning of a decay, and explain themselves ("9.3 robust sigmas above
the median 35 ms of the last 120 intervals"). A window of 120 sorts in microseconds, and the
daily price check uses the same robust sigma as `quality.return_outliers`.
"""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from tickerpulse.anomaly.alerts import Alert, AlertBook, Finding, format_value
from tickerpulse.anomaly.daily import (
    ForecastErrorSpec,
    FreshnessSpec,
    PriceMoveSpec,
    forecast_error,
    freshness,
    price_moves,
)
from tickerpulse.anomaly.metrics import (
    Observation,
    histogram_quantile,
    metrics_observations,
    restarted,
)
from tickerpulse.anomaly.streaming import StreamingDetector, StreamSpec

__all__ = [
    "Alert",
    "AlertBook",
    "AnomalyConfig",
    "AnomalyDetector",
    "Finding",
    "ForecastErrorSpec",
    "FreshnessSpec",
    "Observation",
    "PriceMoveSpec",
    "StreamSpec",
    "StreamingDetector",
    "forecast_error",
    "format_value",
    "freshness",
    "histogram_quantile",
    "metrics_observations",
    "price_moves",
    "restarted",
]


def _latency() -> StreamSpec:
    # A 5 ms (or 10 % of the median) sigma floor: at k=4 a route must be 20 ms and 40 %
    # slower than usual before it can fire, so bucket interpolation noise never does.
    return StreamSpec(
        "latency_p99_seconds", "p99 latency", "seconds", floor=0.005, relative_floor=0.1
    )


def _error_rate() -> StreamSpec:
    # Usually 0 % with a MAD of 0: the 2-point floor puts the bar at 8 points above the
    # median, which sporadic single errors among 20 requests do not reach 3 times in a row.
    return StreamSpec("error_rate", "5xx error rate", "fraction", floor=0.02)


@dataclass(frozen=True)
class AnomalyConfig:
    latency: StreamSpec = field(default_factory=_latency)
    error_rate: StreamSpec = field(default_factory=_error_rate)
    latency_quantile: float = 0.99
    min_requests: int = 20  # per route and interval, for either metric
    price_moves: PriceMoveSpec = field(default_factory=PriceMoveSpec)
    freshness: FreshnessSpec = field(default_factory=FreshnessSpec)
    forecast_error: ForecastErrorSpec = field(default_factory=ForecastErrorSpec)
    exchange: str = "XNYS"

    def __post_init__(self) -> None:
        metric = f"latency_p{self.latency_quantile * 100:g}_seconds"
        if self.latency.metric != metric:
            raise ValueError(
                f"latency.metric must be {metric} for quantile {self.latency_quantile}"
            )


class AnomalyDetector:
    """The facade the relay holds: feed it snapshots and daily frames, publish what it returns.

    Not thread-safe: call it from one task (run check_data's warehouse reads in a thread,
    then call check_data on the task).
    """

    def __init__(self, config: AnomalyConfig | None = None) -> None:
        self.config = config or AnomalyConfig()
        self.book = AlertBook()
        self._streams: dict[tuple[str, str], StreamingDetector] = {}
        self._previous: dict[str, Any] | None = None

    def observe_metrics(self, snapshot: dict[str, Any]) -> list[Alert]:
        """Alerts from the interval since the previous snapshot (none for the first one)."""
        previous, self._previous = self._previous, snapshot
        if previous is None:
            return []
        config = self.config
        specs = {spec.metric: spec for spec in (config.latency, config.error_rate)}
        alerts = []
        observations = metrics_observations(
            previous, snapshot, config.latency_quantile, config.min_requests
        )
        for observation in observations:
            context = (
                f" over the last {observation.seconds:.0f} s ({observation.requests} requests)"
            )
            alerts += self.observe_value(
                observation.subject,
                specs[observation.metric],
                observation.value,
                float(snapshot["at"]),
                context,
            )
        return alerts

    def observe_value(
        self, subject: str, spec: StreamSpec, value: float, at: float, context: str = ""
    ) -> list[Alert]:
        """One observation of any stream (consumer lag, queue depth...) into its detector."""
        key = (subject, spec.metric)
        detector = self._streams.get(key)
        if detector is None:
            detector = self._streams[key] = StreamingDetector(subject, spec)
        finding = detector.observe(value, context)
        return self.book.apply([finding], at) if finding else []

    def check_data(
        self,
        clean_prices: pd.DataFrame,
        price_forecasts: pd.DataFrame | None = None,
        now: pd.Timestamp | dt.datetime | float | None = None,
    ) -> list[Alert]:
        """Alerts from the daily tables: price moves, freshness, realized forecast error.

        An empty frame skips its checks (and keeps their alerts as they are): a failed read
        is not a recovery. `now` is a timestamp or epoch seconds, the current time if None.
        """
        stamp = _utc(now)
        at, config = stamp.timestamp(), self.config
        if clean_prices.empty:
            return []
        alerts = self.book.apply(
            price_moves(clean_prices, config.price_moves), at, sweep=("daily_return",)
        )
        alerts += self.book.apply(
            freshness(clean_prices, stamp, config.exchange, config.freshness),
            at,
            sweep=("sessions_behind",),
        )
        if price_forecasts is not None and not price_forecasts.empty:
            findings = forecast_error(price_forecasts, clean_prices, config.forecast_error)
            alerts += self.book.apply(findings, at, sweep=("forecast_error_ratio_",))
        return alerts


def _utc(now: pd.Timestamp | dt.datetime | float | None) -> pd.Timestamp:
    if now is None:
        now = time.time()
    if isinstance(now, int | float):
        return pd.Timestamp(now, unit="s", tz="UTC")
    stamp = pd.Timestamp(now)
    return stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")
