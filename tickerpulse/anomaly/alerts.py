"""Alerts, and the book that turns each tick's findings into firing/resolved transitions.

Every check, streaming or daily, reports a `Finding` per subject and metric on every tick.
The book remembers what is firing and emits an `Alert` only when that changes: a new
incident, an escalation from warning to critical, a resolution. A finding that is
"borderline" (between the exit and the enter thresholds) changes nothing, which is the
hysteresis that keeps an alert from flapping around one threshold.
"""

from __future__ import annotations

import math
import uuid
from dataclasses import asdict, dataclass
from typing import Any, Literal

Severity = Literal["warning", "critical"]
Level = Literal["anomalous", "borderline", "normal"]
State = Literal["firing", "resolved"]
_RANK = {"warning": 1, "critical": 2}


@dataclass(frozen=True)
class Finding:
    """One check's verdict on one subject and metric at one tick, with its explanation."""

    subject: str  # "api:GET /v1/predictions", "ticker:ACME"
    metric: str  # "latency_p99_seconds", "daily_return", ...
    value: float
    expected: tuple[float, float]  # the normal range, in the metric's unit
    level: Level
    reason: str
    unit: str = ""
    severity: Severity = "warning"  # read only when anomalous


@dataclass(frozen=True)
class Alert:
    """What goes to the `alerts` topic: `to_event()` is its JSON shape."""

    id: str  # this message
    incident: str  # the id of the firing alert that opened the incident; shared by its updates
    at: float  # epoch seconds
    state: State
    severity: Severity
    subject: str
    metric: str
    value: float
    expected: tuple[float, float]
    unit: str
    reason: str

    def to_event(self) -> dict[str, Any]:
        event = asdict(self)
        event["expected"] = [float(bound) for bound in self.expected]
        return event


@dataclass
class _Incident:
    id: str
    since: float
    severity: Severity
    peak: float
    peak_excess: float
    last: Finding


def _excess(finding: Finding) -> float:
    """How far the value lies outside its expected range (0 inside it)."""
    lower, upper = finding.expected
    return max(lower - finding.value, finding.value - upper, 0.0)


class AlertBook:
    """What is firing, keyed by (subject, metric); emits only transitions."""

    def __init__(self) -> None:
        self._open: dict[tuple[str, str], _Incident] = {}

    def firing(self) -> list[tuple[str, str]]:
        return sorted(self._open)

    def apply(self, findings: list[Finding], at: float, sweep: tuple[str, ...] = ()) -> list[Alert]:
        """The transitions these findings cause.

        `sweep` names metric prefixes this batch covers completely: an incident of such a
        metric whose subject has no finding in the batch (a ticker that left the data) resolves.
        """
        alerts = [alert for finding in findings if (alert := self._apply(finding, at))]
        if sweep:
            seen = {(finding.subject, finding.metric) for finding in findings}
            for key in [key for key in self._open if key[1].startswith(sweep) and key not in seen]:
                incident = self._open.pop(key)
                reason = (
                    f"Resolved: {key[0]} is no longer checked for {key[1]} (no data). "
                    f"It had been firing for {_duration(at - incident.since)}."
                )
                alerts.append(self._alert(incident.last, at, "resolved", incident, reason))
        return alerts

    def _apply(self, finding: Finding, at: float) -> Alert | None:
        key = (finding.subject, finding.metric)
        incident = self._open.get(key)
        if incident is None:
            if finding.level != "anomalous":
                return None
            incident = _Incident(
                uuid.uuid4().hex, at, finding.severity, finding.value, 0.0, finding
            )
            incident.peak_excess = _excess(finding)
            self._open[key] = incident
            return self._alert(finding, at, "firing", incident, finding.reason, incident.id)
        incident.last = finding
        if finding.level == "normal":
            del self._open[key]
            reason = (
                f"Resolved: {finding.reason} It had been firing for "
                f"{_duration(at - incident.since)}, peak {format_value(incident.peak, finding.unit)}."
            )
            return self._alert(finding, at, "resolved", incident, reason)
        if finding.level == "anomalous" and _excess(finding) > incident.peak_excess:
            incident.peak, incident.peak_excess = finding.value, _excess(finding)
        if finding.level == "anomalous" and _RANK[finding.severity] > _RANK[incident.severity]:
            previous, incident.severity = incident.severity, finding.severity
            reason = f"Escalated from {previous} to {finding.severity}: {finding.reason}"
            return self._alert(finding, at, "firing", incident, reason)
        return None

    @staticmethod
    def _alert(
        finding: Finding,
        at: float,
        state: State,
        incident: _Incident,
        reason: str,
        alert_id: str | None = None,
    ) -> Alert:
        return Alert(
            id=alert_id or uuid.uuid4().hex,
            incident=incident.id,
            at=float(at),
            state=state,
            severity=incident.severity,
            subject=finding.subject,
            metric=finding.metric,
            value=float(finding.value),
            expected=(float(finding.expected[0]), float(finding.expected[1])),
            unit=finding.unit,
            reason=reason,
        )


def format_value(value: float, unit: str) -> str:
    """A number as a person reads it in that unit: 412 ms, 8.3 %, +2.41 %, 1.34x."""
    if not math.isfinite(value):
        return str(value)
    if unit == "seconds":
        return f"{value * 1000:.3g} ms" if abs(value) < 1 else f"{value:.3g} s"
    if unit == "fraction":
        return f"{value * 100:.3g} %"
    if unit == "return":
        return f"{value * 100:+.2f} %"
    if unit == "ratio":
        return f"{value:.2f}x"
    if unit == "sessions":
        return f"{value:.0f}"
    return f"{value:.4g}"


def _duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    if seconds < 172800:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} days"
