"""Train every candidate, keep the best, register it and apply the promotion gate."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import partial

import pandas as pd
from sklearn.base import RegressorMixin

from tickerpulse.features import FEATURES, add_targets
from tickerpulse.forecasting.evaluation import Evaluation, modelling_rows, walk_forward
from tickerpulse.forecasting.models import CANDIDATES, model_inputs
from tickerpulse.forecasting.plots import close_figures, forecast_vs_actual, skill_by_fold
from tickerpulse.forecasting.promotion import Decision, decide
from tickerpulse.stores.raw import RawStore
from tickerpulse.stores.registry import ModelRegistry, ModelVersionInfo


@dataclass
class TrainingOutcome:
    horizon: int
    model_name: str
    best: Evaluation
    candidates: dict[str, dict[str, float]]
    version: ModelVersionInfo
    decision: Decision
    champion: ModelVersionInfo | None


def registered_name(base: str, horizon: int) -> str:
    return f"{base}-h{horizon}"


Candidates = Mapping[str, Callable[[int], RegressorMixin]]


def evaluate_candidates(
    features: pd.DataFrame,
    horizon: int,
    folds: int,
    train_dates: int | None = None,
    candidates: Candidates = CANDIDATES,
) -> list[Evaluation]:
    dataset = add_targets(features, horizon)
    return [
        walk_forward(
            dataset,
            FEATURES,
            partial(make_model, horizon),
            name,
            horizon,
            folds,
            train_dates=train_dates,
        )
        for name, make_model in candidates.items()
    ]


def train_horizon(
    features: pd.DataFrame,
    horizon: int,
    *,
    base_name: str,
    folds: int,
    registry: ModelRegistry,
    raw_store: RawStore,
    train_dates: int | None = None,
    candidates: Candidates = CANDIDATES,
    run_tags: Mapping[str, str] | None = None,
) -> TrainingOutcome:
    """`run_tags` go on the registered version's MLflow run: the caller's lineage (which
    orchestrator run trained it, under which parent run)."""
    evaluations = evaluate_candidates(features, horizon, folds, train_dates, candidates)
    best = min(evaluations, key=lambda evaluation: evaluation.metrics["relative_mae"])
    rows = modelling_rows(add_targets(features, horizon), FEATURES, train_dates)
    inputs = model_inputs(FEATURES)
    estimator = candidates[best.model](horizon).fit(rows[inputs], rows["target"])
    name = registered_name(base_name, horizon)
    window = (rows["date"].min(), rows["date"].max())
    version = registry.log_and_register(
        name,
        estimator,
        params={
            "model": best.model,
            "horizon": horizon,
            "folds": folds,
            "window": "expanding" if train_dates is None else f"rolling {train_dates} dates",
            "features": ",".join(FEATURES),
            "tickers": ",".join(sorted(rows["ticker"].unique())),
            "data_start": str(window[0]),
            "data_end": str(window[1]),
            "training_rows": len(rows),
        },
        metrics={**best.metrics, **best.quantiles},
        fold_metrics=best.fold_metrics,
        input_example=rows[inputs].head(5),
        tags={**(run_tags or {}), "model": best.model, "horizon": str(horizon)},
        artifacts={
            "candidates.json": json.dumps({e.model: e.metrics for e in evaluations}, indent=2),
            "features.json": json.dumps(FEATURES),
        },
        figures={
            "plots/skill_by_fold.png": skill_by_fold(evaluations),
            "plots/forecast_vs_actual.png": forecast_vs_actual(best),
        },
    )
    close_figures()
    champion = registry.by_alias(name, "champion")
    decision = decide(best.model, best.metrics, champion.metrics if champion else None)
    registry.set_alias(name, "challenger", version.version)
    # The gate's reason goes with the challenger row either way: a rejection is history too.
    verdict = "promoted" if decision.promote else "not promoted"
    raw_store.record_alias_change(
        name,
        version.version,
        None,
        "challenger",
        best.metrics,
        f"trained {best.model}; {verdict}: {decision.reason}",
    )
    registry.tag_version(name, version.version, "promotion", f"{verdict}: {decision.reason}")
    if decision.promote:
        registry.set_alias(name, "champion", version.version)
        raw_store.record_alias_change(
            name, version.version, "challenger", "champion", best.metrics, decision.reason
        )
        champion = registry.by_alias(name, "champion")
    return TrainingOutcome(
        horizon,
        name,
        best,
        {e.model: e.metrics for e in evaluations},
        version,
        decision,
        champion,
    )
