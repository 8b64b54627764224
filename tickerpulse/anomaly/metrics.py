"""What the API did between two metrics snapshots: p99 latency and 5xx share per route.

Snapshots are realtime.publisher's: {"at": epoch, "series": {sample: [{labels, value}]}},
cumulative since the API process started. The interval is their difference; when any of
our counters went down the API restarted, and (as Prometheus' increase() does) the counts
since the restart are the current values themselves.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

import numpy as np

REQUESTS = "tickerpulse_http_requests_total"
DURATION = "tickerpulse_http_request_duration_seconds"
_COUNTERS = (REQUESTS, f"{DURATION}_bucket", f"{DURATION}_count")

Key = tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class Observation:
    subject: str  # "api:GET /v1/predictions"
    metric: str  # "latency_p99_seconds" or "error_rate"
    value: float
    requests: int  # requests in the interval behind the value
    seconds: float  # the interval's length


def _values(snapshot: dict[str, Any], name: str) -> dict[Key, float]:
    return {
        tuple(sorted(sample["labels"].items())): float(sample["value"])
        for sample in snapshot.get("series", {}).get(name, [])
    }


def restarted(previous: dict[str, Any], snapshot: dict[str, Any]) -> bool:
    """Whether a counter went down or vanished: the process behind the snapshots restarted."""
    for name in _COUNTERS:
        before, now = _values(previous, name), _values(snapshot, name)
        if any(key not in now or now[key] < value for key, value in before.items()):
            return True
    return False


def histogram_quantile(quantile: float, buckets: list[tuple[float, float]]) -> float:
    """Prometheus' histogram_quantile over (upper bound, cumulative count) pairs.

    Linear inside the bucket the rank falls in; a rank in the +Inf bucket answers the
    highest finite bound (a lower bound on the truth). NaN without observations.
    """
    buckets = sorted(buckets)
    if len(buckets) < 2 or not math.isinf(buckets[-1][0]):
        return math.nan
    bounds = [bound for bound, _ in buckets]
    counts = np.maximum.accumulate([count for _, count in buckets])  # scrapes are not atomic
    total = float(counts[-1])
    if total <= 0:
        return math.nan
    rank = quantile * total
    index = int(np.searchsorted(counts, rank, side="left"))
    if index >= len(buckets) - 1:
        return bounds[-2]
    if index == 0 and bounds[0] <= 0:
        return bounds[0]
    lower = 0.0 if index == 0 else bounds[index - 1]
    below = 0.0 if index == 0 else float(counts[index - 1])
    inside = float(counts[index]) - below
    return lower + (bounds[index] - lower) * (rank - below) / inside


def metrics_observations(
    previous: dict[str, Any],
    snapshot: dict[str, Any],
    quantile: float = 0.99,
    min_requests: int = 20,
) -> list[Observation]:
    """Latency quantile and 5xx share per method and route over the interval between the two.

    Routes with fewer than `min_requests` requests in the interval are left out: a p99 of
    three requests is the slowest one, and one error in three is no rate.
    """
    seconds = float(snapshot["at"]) - float(previous["at"])
    if seconds <= 0:
        return []
    reset = restarted(previous, snapshot)

    def deltas(name: str) -> dict[Key, float]:
        before, now = _values(previous, name), _values(snapshot, name)
        return {key: value if reset else value - before.get(key, 0.0) for key, value in now.items()}

    buckets: dict[tuple[str, str], list[tuple[float, float]]] = defaultdict(list)
    for key, count in deltas(f"{DURATION}_bucket").items():
        labels = dict(key)
        buckets[(labels["method"], labels["route"])].append((float(labels["le"]), count))
    requests: dict[tuple[str, str], float] = defaultdict(float)
    errors: dict[tuple[str, str], float] = defaultdict(float)
    for key, count in deltas(REQUESTS).items():
        labels = dict(key)
        endpoint = (labels["method"], labels["route"])
        requests[endpoint] += count
        if labels["status"].startswith("5"):
            errors[endpoint] += count

    metric = f"latency_p{quantile * 100:g}_seconds"
    observations = []
    for method, route in sorted(set(buckets) | set(requests)):
        subject = f"api:{method} {route}"
        counted = max(
            (count for bound, count in buckets[(method, route)] if math.isinf(bound)), default=0.0
        )
        if counted >= min_requests:
            value = histogram_quantile(quantile, buckets[(method, route)])
            if math.isfinite(value):
                observations.append(Observation(subject, metric, value, int(counted), seconds))
        total = requests[(method, route)]
        if total >= min_requests:
            share = errors[(method, route)] / total
            observations.append(Observation(subject, "error_rate", share, int(total), seconds))
    return observations
