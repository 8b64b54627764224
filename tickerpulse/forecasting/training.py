"""Train every candidate, keep the one nested selection picks, register it, apply the gate.

What is judged is the selection procedure's out-of-sample forecast (nested.py); what is
registered is the candidate that procedure picks on every fold. When the gate declines it and
no champion serves yet, the random walk is registered and serves.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from functools import partial

import numpy as np
import pandas as pd
from sklearn.base import RegressorMixin

from tickerpulse.features import FEATURES, add_targets
from tickerpulse.forecasting import champions
from tickerpulse.forecasting.champions import registered_name
from tickerpulse.forecasting.evaluation import (
    FOLD_DATES,
    TEST_SESSIONS,
    Evaluation,
    evaluate_folds,
    losses,
    recent_rows,
    training_sample,
    walk_forward_rows,
)
from tickerpulse.forecasting.models import BASELINE, CANDIDATES, model_inputs
from tickerpulse.forecasting.nested import NestedSelection, nested_selection
from tickerpulse.forecasting.plots import close_figures, forecast_vs_actual, skill_by_fold
from tickerpulse.forecasting.promotion import DEFAULT_LEVEL, Decision, decide
from tickerpulse.forecasting.significance import DieboldMariano, diebold_mariano
from tickerpulse.stores.operational import OperationalStore
from tickerpulse.stores.registry import ModelRegistry, ModelVersionInfo


@dataclass
class TrainingOutcome:
    horizon: int
    model_name: str
    best: Evaluation  # the candidate registered (chosen on every fold)
    candidates: dict[str, dict[str, float]]  # each on the selected forecast's test days
    version: ModelVersionInfo
    decision: Decision
    champion: ModelVersionInfo | None
    nested: NestedSelection


def fold_coverage(fold_metrics: list[dict[str, float]]) -> str:
    return ",".join(f"{m['coverage_80']:.3f}" for m in fold_metrics if "coverage_80" in m)


Candidates = Mapping[str, Callable[[int], RegressorMixin]]


def evaluate_candidates(
    features: pd.DataFrame,
    horizon: int,
    folds: int | None = None,
    train_dates: int | None = None,
    candidates: Candidates = CANDIDATES,
    test_dates: int = FOLD_DATES,
    test_sessions: int = TEST_SESSIONS,
    max_train_rows: int | None = None,
    max_folds: int | None = None,
    rows: pd.DataFrame | None = None,
) -> list[Evaluation]:
    """Every candidate on the same folds of `test_dates` (the retraining schedule); `folds`
    None: as many as cover the last `test_sessions` dates where the history allows, at most
    `max_folds` (wider ones then). `max_train_rows`: each fit on a sample of at most that
    many rows (the same sample for every candidate of a fold). `rows`: `features` already
    prepared by candidate_rows (the caller keeps it for the final fit)."""
    prepared = candidate_rows(features, horizon) if rows is None else rows
    return evaluate_folds(
        prepared,
        FEATURES,
        {name: partial(make_model, horizon) for name, make_model in candidates.items()},
        horizon,
        folds=folds,
        test_dates=test_dates,
        train_dates=train_dates,
        test_sessions=test_sessions,
        max_train_rows=max_train_rows,
        prepared=True,
        max_folds=max_folds,
    )


def candidate_rows(features: pd.DataFrame, horizon: int) -> pd.DataFrame:
    """The rows walk-forward and the final fit read: labelled for `horizon`, usable, ranked."""
    return walk_forward_rows(add_targets(features, horizon), FEATURES)


def universe_candidate_rows(chunks: Iterable[pd.DataFrame], horizon: int) -> pd.DataFrame:
    """candidate_rows of a universe read a few whole tickers at a time: labels, usability and
    volatility terciles are each ticker's own, so a chunk's rows are the ones the whole panel
    gives them, and only the order (date, then ticker) is set over all of them. The panel and
    its labelled copy are never held whole: at 500 tickers x 20 years they took training
    past 3 GiB. Each column is joined and ordered alone, so the rows exist about once."""
    pieces: dict[str, list[np.ndarray]] = {}
    for chunk in chunks:
        rows = candidate_rows(chunk, horizon)
        for name in rows.columns:
            # A copy: a column of the chunk's frame is a view that would keep all of it.
            pieces.setdefault(name, []).append(rows[name].to_numpy().copy())
        del rows
    if not pieces:
        raise ValueError("no feature rows to train on")
    tickers = pd.factorize(np.concatenate(pieces["ticker"]), sort=True)[0]
    order = np.lexsort((tickers, np.concatenate(pieces["date"])))
    columns = {name: np.concatenate(pieces.pop(name))[order] for name in list(pieces)}
    # copy=False: one block per column, not a second, consolidated copy of every row.
    return pd.DataFrame(columns, copy=False)


def train_horizon(
    features: pd.DataFrame | None,
    horizon: int,
    *,
    base_name: str,
    folds: int | None,
    registry: ModelRegistry,
    operational_store: OperationalStore,
    train_dates: int | None = None,
    candidates: Candidates = CANDIDATES,
    run_tags: Mapping[str, str] | None = None,
    significance: float = DEFAULT_LEVEL,
    test_dates: int = FOLD_DATES,
    test_sessions: int = TEST_SESSIONS,
    guard: Callable[[], None] | None = None,
    max_train_rows: int | None = None,
    max_folds: int | None = None,
    prepared: pd.DataFrame | None = None,
) -> TrainingOutcome:
    """`guard` runs before every alias move and raises to stop it (the training lease's
    check that it is still held). `run_tags` go on the registered version's MLflow run: the caller's lineage (which
    orchestrator run trained it, under which parent run). A registry that fails raises
    RegistryUnavailable and training stops there: the gate never mistakes an outage for "no
    champion", and an alias change is recorded only after the registry made it.
    `prepared`: the candidate rows already built (universe_candidate_rows), `features` then None."""
    if prepared is None:
        if features is None:
            raise ValueError("train_horizon needs features or prepared rows")
        prepared = candidate_rows(features, horizon)
    evaluations = evaluate_candidates(
        prepared,
        horizon,
        folds,
        train_dates,
        candidates,
        test_dates,
        test_sessions,
        max_train_rows,
        max_folds,
        rows=prepared,
    )
    nested = nested_selection(evaluations)
    best = nested.final
    # The same rows as walk-forward's (usable, date then ticker), not a second copy of the
    # panel; a rolling window keeps its last `train_dates` dates.
    rows = recent_rows(prepared, train_dates)
    # Every row again only if the random walk, not among the candidates, must be walked forward.
    fallback_rows = prepared if BASELINE not in candidates else None
    del prepared
    name = registered_name(base_name, horizon)
    # The procedure's figures are the ones judged; the registered candidate's quantiles give
    # the intervals it serves with.
    metrics = {
        **nested.selected.metrics,
        **best.quantiles,
        "candidate_relative_mae": best.metrics["relative_mae"],
        "significance_level": significance,
    }
    version = _register(
        registry,
        name,
        horizon,
        best.model,
        candidates[best.model],
        rows,
        metrics,
        nested.selected.fold_metrics,
        params={
            "folds": len(best.fold_metrics),
            "selection": "nested",
            # The selected forecast's 80 % coverage fold by fold (a quarter each), oldest first:
            # the model card draws it; MLflow charts it too, as the fold_coverage_80 steps.
            "coverage_80_by_fold": fold_coverage(nested.selected.fold_metrics),
        },
        tags=run_tags,
        artifacts={
            "candidates.json": json.dumps(nested.candidates, indent=2),
            "nested_choices.json": json.dumps(nested.choices),
            "features.json": json.dumps(FEATURES),
        },
        figures={
            "plots/skill_by_fold.png": skill_by_fold(evaluations),
            "plots/forecast_vs_actual.png": forecast_vs_actual(best),
        },
        window="expanding" if train_dates is None else f"rolling {train_dates} dates",
        max_train_rows=max_train_rows,
    )
    close_figures()
    champion = champions.champion(registry, base_name, horizon)
    decision = decide(
        best.model,
        metrics,
        champion.metrics if champion else None,
        significance,
        _champion_better(nested, evaluations, champion, horizon),
    )
    check = guard or (lambda: None)
    check()
    registry.set_alias(name, "challenger", version.version)
    # The gate's reason goes with the challenger row either way: a rejection is history too.
    verdict = "promoted" if decision.promote else "not promoted"
    operational_store.record_alias_change(
        name,
        version.version,
        None,
        "challenger",
        metrics,
        f"trained {best.model}; {verdict}: {decision.reason}",
    )
    registry.tag_version(name, version.version, "promotion", f"{verdict}: {decision.reason}")
    if decision.promote:
        check()
        # Compare-and-set: the champion the gate judged against must still be the champion.
        registry.move_alias(
            name, "champion", version.version, champion.version if champion else None
        )
        operational_store.record_alias_change(
            name, version.version, "challenger", "champion", metrics, decision.reason
        )
        champion = champions.champion(registry, base_name, horizon)
    elif champion is None:
        champion = _random_walk_serves(
            registry,
            operational_store,
            base_name,
            evaluations,
            fallback_rows,
            rows,
            horizon,
            train_dates,
            test_dates,
            decision,
            check,
        )
    return TrainingOutcome(
        horizon, name, best, nested.candidates, version, decision, champion, nested
    )


def _champion_better(
    nested: NestedSelection,
    evaluations: list[Evaluation],
    champion: ModelVersionInfo | None,
    horizon: int,
) -> DieboldMariano | None:
    """The champion's model, walked forward on the same folds, against the selected forecast."""
    model = champion.params.get("model") if champion else None
    same = [e for e in evaluations if e.model == model]
    if not same:
        return None
    mine = same[0].predictions
    theirs = losses(mine[mine["fold"] >= nested.first_scored_fold])["loss"]
    ours = losses(nested.selected.predictions)["loss"]
    return diebold_mariano(theirs.to_numpy(), ours.reindex(theirs.index).to_numpy(), horizon)


def _random_walk_serves(
    registry: ModelRegistry,
    operational_store: OperationalStore,
    base_name: str,
    evaluations: list[Evaluation],
    prepared: pd.DataFrame | None,
    rows: pd.DataFrame,
    horizon: int,
    train_dates: int | None,
    test_dates: int,
    decision: Decision,
    check: Callable[[], None],
) -> ModelVersionInfo | None:
    """Registers the random walk as champion: the declined model must not leave nothing to serve."""
    name = registered_name(base_name, horizon)
    naive = next((e for e in evaluations if e.model == BASELINE), None)
    if naive is None:  # the candidates offered left it out; its intervals still need scores
        assert prepared is not None  # train_horizon keeps them for this case
        naive = evaluate_candidates(
            prepared,
            horizon,
            len(evaluations[0].fold_metrics),
            train_dates,
            {BASELINE: CANDIDATES[BASELINE]},
            evaluations[0].test_dates or test_dates,  # the same folds, widened or not
            rows=prepared,
        )[0]
    metrics = {**naive.metrics, **naive.quantiles}
    version = _register(
        registry,
        name,
        horizon,
        BASELINE,
        CANDIDATES[BASELINE],
        rows,
        metrics,
        naive.fold_metrics,
        params={
            "folds": len(naive.fold_metrics),
            "selection": "fallback",
            "coverage_80_by_fold": fold_coverage(naive.fold_metrics),
        },
        tags=None,
        window="expanding" if train_dates is None else f"rolling {train_dates} dates",
    )
    reason = f"the random walk serves: {decision.reason}"
    check()
    registry.move_alias(name, "champion", version.version, expected=None)
    operational_store.record_alias_change(name, version.version, None, "champion", metrics, reason)
    registry.tag_version(name, version.version, "promotion", f"promoted: {reason}")
    return champions.champion(registry, base_name, horizon)


def _register(
    registry: ModelRegistry,
    name: str,
    horizon: int,
    model: str,
    make_model: Callable[[int], RegressorMixin],
    rows: pd.DataFrame,
    metrics: dict[str, float],
    fold_metrics: list[dict[str, float]],
    *,
    params: dict[str, object],
    tags: Mapping[str, str] | None,
    window: str,
    artifacts: dict[str, str] | None = None,
    figures: dict[str, object] | None = None,
    max_train_rows: int | None = None,
) -> ModelVersionInfo:
    inputs = model_inputs(FEATURES)
    # The registered model fits as each fold did: on a sample when the history is larger.
    fitted_on = training_sample(rows, max_train_rows)
    estimator = make_model(horizon).fit(fitted_on[inputs], fitted_on["target"])
    return registry.log_and_register(
        name,
        estimator,
        params={
            **params,
            "model": model,
            "horizon": horizon,
            "window": window,
            "features": ",".join(FEATURES),
            "tickers": ",".join(sorted(rows["ticker"].unique())),
            # A date either way, whether the features came with date objects or datetime64.
            "data_start": str(pd.Timestamp(rows["date"].min()).date()),
            "data_end": str(pd.Timestamp(rows["date"].max()).date()),
            "training_rows": len(fitted_on),
            "max_train_rows": max_train_rows if max_train_rows is not None else "all",
        },
        metrics=metrics,
        fold_metrics=fold_metrics,
        input_example=rows.head(5)[inputs],  # not every row's inputs copied first
        tags={**(tags or {}), "model": model, "horizon": str(horizon)},
        artifacts=artifacts,
        figures=figures,
    )
