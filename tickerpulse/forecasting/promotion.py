"""The promotion gate: who may become champion, and the reason recorded either way.

A model must beat the random walk significantly: its relative MAE below 1.0 and a one-sided
Diebold-Mariano test of its losses against the random walk's below `level` (5 % by default).
0.998 on a few hundred days is noise, and noise is what the random walk serves instead. A
challenger then replaces the champion unless the same test finds the champion significantly
better on the same days.
"""

from __future__ import annotations

from dataclasses import dataclass

from tickerpulse.forecasting.models import BASELINE
from tickerpulse.forecasting.significance import DieboldMariano

DEFAULT_LEVEL = 0.05


@dataclass(frozen=True)
class Decision:
    promote: bool
    reason: str


def versus_random_walk(
    candidate: str, metrics: dict[str, float], level: float = DEFAULT_LEVEL
) -> Decision:
    """Would the gate put this forecast in the random walk's place?"""
    if candidate == BASELINE:
        return Decision(False, "the random walk itself")
    ratio = metrics["relative_mae"]
    if ratio >= 1.0:
        return Decision(False, f"relative MAE {ratio:.4f} >= 1.0: loses to the random walk")
    pvalue = metrics.get("dm_pvalue", float("nan"))
    if not pvalue < level:
        return Decision(
            False,
            f"relative MAE {ratio:.4f} is not a significant improvement on the random walk "
            f"(Diebold-Mariano p = {pvalue:.3f}, needs < {level:g})",
        )
    return Decision(
        True,
        f"relative MAE {ratio:.4f} beats the random walk significantly "
        f"(Diebold-Mariano p = {pvalue:.3f} < {level:g})",
    )


def decide(
    candidate: str,
    metrics: dict[str, float],
    champion_metrics: dict[str, float] | None,
    level: float = DEFAULT_LEVEL,
    champion_better: DieboldMariano | None = None,
) -> Decision:
    """`champion_better`: the champion's model against the candidate on the candidate's test
    days; without it (the champion's model was not evaluated) the fold-to-fold noise decides."""
    if candidate == BASELINE:
        if champion_metrics is None:
            return Decision(True, "no champion yet: the random walk serves until a model beats it")
        return Decision(False, "the random walk only serves when there is no champion")
    against_random_walk = versus_random_walk(candidate, metrics, level)
    if not against_random_walk.promote or champion_metrics is None:
        suffix = "; no champion yet" if against_random_walk.promote else ""
        return Decision(against_random_walk.promote, against_random_walk.reason + suffix)
    ratio, champion_ratio = metrics["relative_mae"], champion_metrics["relative_mae"]
    if champion_better is not None:
        if champion_better.pvalue < level:
            return Decision(
                False,
                f"relative MAE {ratio:.4f}: the champion is significantly better on the same "
                f"days (Diebold-Mariano p = {champion_better.pvalue:.3f})",
            )
        return Decision(
            True,
            f"{against_random_walk.reason}, and the champion is not significantly better "
            f"(p = {champion_better.pvalue:.3f})",
        )
    noise = max(
        metrics.get("relative_mae_stderr", 0.0), champion_metrics.get("relative_mae_stderr", 0.0)
    )
    if ratio > champion_ratio + noise:
        return Decision(
            False,
            f"relative MAE {ratio:.4f} is worse than the champion's "
            f"{champion_ratio:.4f} beyond noise ({noise:.4f})",
        )
    return Decision(
        True,
        f"{against_random_walk.reason} and is within noise of or better than the champion's "
        f"{champion_ratio:.4f}",
    )
