"""Evaluation plots logged with each training run: skill per fold, and interval calibration."""

from __future__ import annotations

from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only: no display on servers and workers
import matplotlib.pyplot as plt

from tickerpulse.forecasting.evaluation import Evaluation


def skill_by_fold(evaluations: list[Evaluation]) -> Any:
    """Relative MAE of every candidate in every fold; below the line beats the random walk."""
    figure, axis = plt.subplots(figsize=(7, 4))
    for evaluation in evaluations:
        ratios = [fold["relative_mae"] for fold in evaluation.fold_metrics]
        axis.plot(range(1, len(ratios) + 1), ratios, marker="o", label=evaluation.model)
    axis.set_xticks(range(1, len(evaluations[0].fold_metrics) + 1))
    axis.axhline(1.0, color="black", linewidth=1, linestyle="--")
    axis.set(
        xlabel="walk-forward fold",
        ylabel="MAE / random-walk MAE",
        title="Skill against the random walk",
    )
    axis.legend()
    figure.tight_layout()
    return figure


def forecast_vs_actual(evaluation: Evaluation) -> Any:
    """Predicted against realized log returns on the test folds of the chosen model."""
    figure, axis = plt.subplots(figsize=(5, 5))
    predictions = evaluation.predictions
    axis.scatter(predictions["prediction"], predictions["target"], s=4, alpha=0.4)
    axis.axhline(0, color="grey", linewidth=0.5)
    axis.axvline(0, color="grey", linewidth=0.5)
    axis.set(
        xlabel="forecast log return",
        ylabel="realized log return",
        title=f"{evaluation.model}, {evaluation.horizon} day(s) ahead",
    )
    figure.tight_layout()
    return figure


def close_figures() -> None:
    """Free the figures once logged: a long-lived worker would otherwise keep every one."""
    plt.close("all")
