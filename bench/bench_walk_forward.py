"""Walk-forward skill on real and synthetic series, one row per series and horizon.

The peer is the random walk on the same test days (relative MAE 1.0 by definition): a model
row below 1.0 beats it. Real series: the GOOG and SPX daily files shipped with the demo.
Synthetic: GARCH-t random walks with no predictable drift, where honest skill is ~1.0.
"""

from __future__ import annotations

import datetime as dt
import tempfile
from pathlib import Path

import pandas as pd

from tickerpulse.cleaning import clean_ticker_prices
from tickerpulse.demo import DEMO_FILES
from tickerpulse.features import compute_features
from tickerpulse.forecasting.evaluation import Evaluation
from tickerpulse.forecasting.models import BASELINE
from tickerpulse.forecasting.training import evaluate_candidates
from tickerpulse.ingestion import ingest_csv, ingest_from_source
from tickerpulse.sources.synthetic import SyntheticSource
from tickerpulse.stores.operational import OperationalStore

HORIZONS = (1, 5)
FOLDS = 5
SYNTHETIC = ("SYNA", "SYNB", "SYNC")
SYNTHETIC_WINDOW = (dt.date(2012, 1, 3), dt.date(2025, 12, 31))


def _row(series: str, horizon: int, evaluations: list[Evaluation]) -> dict[str, object]:
    ranked = sorted(evaluations, key=lambda e: e.metrics["relative_mae"])
    best = ranked[0].metrics
    runner_up = next(e for e in ranked[1:] if e.model != BASELINE)
    return {
        "series": series,
        "h": horizon,
        "test rows": int(best["rows"]),
        "best model": ranked[0].model,
        "rel. MAE": f"{best['relative_mae']:.4f}",
        "next best": f"{runner_up.model} {runner_up.metrics['relative_mae']:.4f}",
        "random walk": "1.0000",
        "direction": f"{best['directional_accuracy']:.3f}",
        "cover 80%": f"{best['coverage_80']:.3f}",
        "cover 95%": f"{best['coverage_95']:.3f}",
    }


def run() -> tuple[str, list[dict[str, object]]]:
    with tempfile.TemporaryDirectory() as folder:
        store = OperationalStore(f"sqlite:///{Path(folder) / 'raw.db'}")
        for ticker, path in DEMO_FILES.items():
            ingest_csv(store, path, ticker)
        for ticker in SYNTHETIC:
            ingest_from_source(store, SyntheticSource(), ticker, *SYNTHETIC_WINDOW)
        raw = store.read_prices()
    rows: list[dict[str, object]] = []
    panel = []
    for ticker, history in raw.groupby("ticker"):
        prices = clean_ticker_prices(history.drop(columns="ticker"))
        panel.append(prices.assign(ticker=ticker))
        kind = "synthetic" if ticker in SYNTHETIC else "real"
        for horizon in HORIZONS:
            evaluations = evaluate_candidates(
                compute_features(prices.assign(ticker=ticker)), horizon, FOLDS
            )
            rows.append(_row(f"{ticker} ({kind})", horizon, evaluations))
    # All five in one panel: where a pooled model and per-ticker models can differ.
    features = compute_features(pd.concat(panel, ignore_index=True))
    for horizon in HORIZONS:
        rows.append(
            _row("all 5, pooled panel", horizon, evaluate_candidates(features, horizon, FOLDS))
        )
    return f"Walk-forward, {FOLDS} folds x 63 days, embargo = horizon, per series", rows
