"""One streaming detector per subject and metric: a robust baseline with warm-up and hysteresis.

The baseline is the median and the MAD (x 1.4826, a normal sigma) of the last `window`
ordinary observations. Values that look anomalous never enter it, so a long incident is
never learned as the new normal, and the sigma has a floor so a flat series does not alert
on a wiggle of a millisecond.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass
from typing import Literal

import numpy as np

from tickerpulse.anomaly.alerts import Finding, Level, format_value

MAD_TO_SIGMA = 1.4826  # the MAD of a normal distribution is 0.6745 sigma


@dataclass(frozen=True)
class StreamSpec:
    metric: str  # "latency_p99_seconds"
    label: str  # how a person names it: "p99 latency"
    unit: str  # "seconds", "fraction", ... (see alerts.format_value)
    window: int = 120  # ordinary observations the baseline remembers
    min_samples: int = 30  # warm-up: no verdict before the baseline has this many
    k_enter: float = 4.0  # robust sigmas from the median that count as anomalous
    k_exit: float = 2.0  # ... and that count as recovered
    k_critical: float = 8.0  # ... and that make an anomaly critical
    confirm: int = 3  # consecutive observations needed to fire, and to resolve
    floor: float = 0.0  # the smallest sigma, in the metric's unit
    relative_floor: float = 0.0  # the smallest sigma, as a share of the median
    direction: Literal["above", "both"] = "above"  # a latency drop is no incident
    minimum: float | None = 0.0  # the metric cannot go below this (the expected range stops)

    def __post_init__(self) -> None:
        if not 0 <= self.k_exit < self.k_enter <= self.k_critical:
            raise ValueError(f"{self.metric}: need 0 <= k_exit < k_enter <= k_critical")
        if self.confirm < 1 or not 3 <= self.min_samples <= self.window:
            raise ValueError(f"{self.metric}: need confirm >= 1 and 3 <= min_samples <= window")


class StreamingDetector:
    """Feed it observations in time order; it says anomalous, borderline or normal.

    Not firing: `confirm` observations in a row beyond k_enter make it fire ("anomalous");
    fewer are "borderline". Firing: `confirm` observations in a row within k_exit resolve it
    ("normal"); anything else keeps it firing ("anomalous" beyond k_enter, else "borderline").
    """

    def __init__(self, subject: str, spec: StreamSpec) -> None:
        self.subject, self.spec = subject, spec
        self.baseline: deque[float] = deque(maxlen=spec.window)
        self.firing = False
        self._streak = 0  # observations in a row that point to the other state

    def center_and_sigma(self) -> tuple[float, float]:
        values = np.fromiter(self.baseline, dtype=float)
        center = float(np.median(values))
        mad = float(np.median(np.abs(values - center)))
        spec = self.spec
        sigma = max(MAD_TO_SIGMA * mad, spec.floor, spec.relative_floor * abs(center))
        return center, max(sigma, 1e-12)

    def observe(self, value: float, context: str = "") -> Finding | None:
        """The verdict on one observation; None while warming up or for a non-finite value."""
        spec = self.spec
        if not math.isfinite(value):
            return None
        if len(self.baseline) < spec.min_samples:
            self.baseline.append(value)
            return None
        center, sigma = self.center_and_sigma()
        seen = len(self.baseline)
        z = (value - center) / sigma
        deviation = z if spec.direction == "above" else abs(z)
        level: Level
        if not self.firing:
            self._streak = self._streak + 1 if deviation >= spec.k_enter else 0
            if self._streak == 0:
                level = "normal"
                self.baseline.append(value)
            elif self._streak < spec.confirm:
                level = "borderline"
            else:
                level, self.firing, self._streak = "anomalous", True, 0
                return self._finding(value, z, center, sigma, seen, level, context, transition=True)
        elif deviation >= spec.k_enter:
            level, self._streak = "anomalous", 0
        else:
            self._streak = self._streak + 1 if deviation <= spec.k_exit else 0
            if self._streak < spec.confirm:
                level = "borderline"
            else:
                level, self.firing, self._streak = "normal", False, 0
                self.baseline.append(value)
                return self._finding(value, z, center, sigma, seen, level, context, transition=True)
        return self._finding(value, z, center, sigma, seen, level, context)

    def _finding(
        self,
        value: float,
        z: float,
        center: float,
        sigma: float,
        seen: int,
        level: Level,
        context: str,
        transition: bool = False,
    ) -> Finding:
        spec = self.spec
        lower, upper = center - spec.k_enter * sigma, center + spec.k_enter * sigma
        if spec.minimum is not None:
            lower = max(lower, spec.minimum)

        def fmt(number: float) -> str:
            return format_value(number, spec.unit)

        side = "above" if z >= 0 else "below"
        position = "within" if lower <= value <= upper else side
        reason = (
            f"{spec.label} of {self.subject} was {fmt(value)}{context}, {position} the "
            f"expected {fmt(lower)} to {fmt(upper)}: {abs(z):.1f} robust sigmas {side} the median "
            f"{fmt(center)} of the last {seen} observations (sigma {fmt(sigma)})"
        )
        reason += f", {spec.confirm} observations in a row." if transition else "."
        return Finding(
            subject=self.subject,
            metric=spec.metric,
            value=float(value),
            expected=(lower, upper),
            level=level,
            reason=reason,
            unit=spec.unit,
            severity="critical" if abs(z) >= spec.k_critical else "warning",  # read if anomalous
        )
