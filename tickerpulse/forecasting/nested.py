"""Nested walk-forward: the skill of choosing a candidate, not of the candidate chosen in hindsight.

Picking the best of several candidates on the folds it is then scored on is optimistic by
construction. Here each test fold's forecast comes from the candidate with the lowest relative
MAE on the folds before it (errors pooled over those folds); the first `seed_folds` folds have
nothing before them, so they only seed the choice and are not scored. The candidate that
would serve next is chosen the same way, on every fold. Ties go to the earlier candidate
(the random walk comes first), so a model must do strictly better to be chosen.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from tickerpulse.forecasting.coverage import TERCILE
from tickerpulse.forecasting.evaluation import Evaluation, NotEnoughHistory, summarize

SELECTED = "selected"
SEED_FOLDS = 1


@dataclass
class NestedSelection:
    selected: Evaluation  # the stitched forecast of each scored fold's choice
    choices: list[str]  # the choice for each scored fold, in order
    first_scored_fold: int
    final: Evaluation  # the candidate chosen on every fold: what is trained to serve
    candidates: dict[str, dict[str, float]]  # each candidate on the scored folds, for reference


def _ratio_before(evaluation: Evaluation, fold: int) -> float:
    earlier = evaluation.fold_metrics[:fold]
    error = sum(m["mae"] * m["rows"] for m in earlier)
    naive = sum(m["naive_mae"] * m["rows"] for m in earlier)
    return error / naive if naive > 0 else float("inf")


def _scores_before(evaluation: Evaluation, fold: int) -> pd.DataFrame:
    predictions = evaluation.predictions
    return predictions.loc[predictions["fold"] < fold, ["score", TERCILE]]


def choose(evaluations: list[Evaluation], fold: int) -> Evaluation:
    """The candidate a forecaster standing before `fold` would pick."""
    return min(evaluations, key=lambda evaluation: _ratio_before(evaluation, fold))


def nested_selection(
    evaluations: list[Evaluation], seed_folds: int = SEED_FOLDS
) -> NestedSelection:
    """`evaluations` ran on the same folds (same rows, same fold numbers)."""
    folds = len(evaluations[0].fold_metrics)
    if folds <= seed_folds:
        raise NotEnoughHistory(
            f"{folds} folds: nested selection needs more than the {seed_folds} that seed it"
        )
    horizon = evaluations[0].horizon
    parts, fold_metrics, choices = [], [], []
    calibration: dict[int, pd.DataFrame] = {}
    for fold in range(seed_folds, folds):
        chosen = choose(evaluations, fold)
        predictions = chosen.predictions
        parts.append(predictions[predictions["fold"] == fold].assign(model=chosen.model))
        fold_metrics.append(chosen.fold_metrics[fold])
        # Its intervals come from the chosen model's own earlier residuals, as they would live.
        calibration[fold] = _scores_before(chosen, fold)
        choices.append(chosen.model)
    stitched = pd.concat(parts, ignore_index=True)
    selected = summarize(SELECTED, horizon, stitched, fold_metrics, calibration)
    scored = {
        e.model: summarize(
            e.model,
            horizon,
            e.predictions[e.predictions["fold"] >= seed_folds],
            e.fold_metrics[seed_folds:],
            {fold: _scores_before(e, fold) for fold in range(seed_folds, folds)},
        ).metrics
        for e in evaluations
    }
    final = choose(evaluations, folds)
    return NestedSelection(selected, choices, seed_folds, final, scored)
