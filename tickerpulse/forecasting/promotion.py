"""The promotion gate: who may become champion, and the reason recorded either way."""

from __future__ import annotations

from dataclasses import dataclass

from tickerpulse.forecasting.models import BASELINE


@dataclass(frozen=True)
class Decision:
    promote: bool
    reason: str


def decide(
    candidate: str, metrics: dict[str, float], champion_metrics: dict[str, float] | None
) -> Decision:
    ratio = metrics["relative_mae"]
    if candidate == BASELINE:
        if champion_metrics is None:
            return Decision(True, "no champion yet: the random walk serves until a model beats it")
        return Decision(False, "the random walk only serves when there is no champion")
    if ratio >= 1.0:
        return Decision(False, f"relative MAE {ratio:.4f} >= 1.0: loses to the random walk")
    if champion_metrics is None:
        return Decision(True, f"relative MAE {ratio:.4f} beats the random walk; no champion yet")
    noise = max(
        metrics.get("relative_mae_stderr", 0.0), champion_metrics.get("relative_mae_stderr", 0.0)
    )
    bar = champion_metrics["relative_mae"] + noise
    if ratio > bar:
        return Decision(
            False,
            f"relative MAE {ratio:.4f} is worse than the champion's "
            f"{champion_metrics['relative_mae']:.4f} beyond noise ({noise:.4f})",
        )
    return Decision(
        True,
        f"relative MAE {ratio:.4f} beats the random walk and is within noise of or better "
        f"than the champion's {champion_metrics['relative_mae']:.4f}",
    )
