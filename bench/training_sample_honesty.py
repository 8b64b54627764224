"""Is the sampled, fold-capped evaluation honest? The same walk-forward three ways.

python -m bench.training_sample_honesty DATA_DIR [MAX_ROWS] [MAX_FOLDS] [TEST_SESSIONS]
DATA_DIR holds price_features (what the pipeline bench's train_and_forecast run leaves, e.g.
a kept `bench-scale-*` folder). For horizon 1, each setting prints the nested-selected
forecast's relative MAE with its fold-to-fold standard error (the noise to judge a difference
by), its 80 % and 95 % coverage, each candidate's relative MAE, and the seconds it took:

  as trained    a sample of MAX_ROWS (default 250,000) per fold, at most MAX_FOLDS (8) folds,
                wider ones, over the last TEST_SESSIONS (2,000): what price_model runs
  every row     the same folds, each fitted on every training row: what the sample changes
  quarterly     a sample per fold, quarterly folds over the same sessions (33): what the
                fold cap changes

Fitting every row on quarterly folds as well (the setting before either change) costs about
33 x 40 s at 500 tickers, so each change is measured against its own control instead.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

HORIZON = 1


def measure(
    label: str, features: object, max_rows: int | None, max_folds: int | None, sessions: int
) -> dict[str, object]:
    from tickerpulse.forecasting.nested import nested_selection
    from tickerpulse.forecasting.training import evaluate_candidates

    started = time.perf_counter()
    evaluations = evaluate_candidates(
        features,  # type: ignore[arg-type]
        HORIZON,
        test_sessions=sessions,
        max_train_rows=max_rows,
        max_folds=max_folds,
    )
    nested = nested_selection(evaluations)
    selected = nested.selected.metrics
    return {
        "setting": label,
        "fit on": f"sample of {max_rows:,}" if max_rows else "every row",
        "folds": f"{len(evaluations[0].fold_metrics)} of {evaluations[0].test_dates} sessions",
        "seconds": round(time.perf_counter() - started, 1),
        "load avg": round(os.getloadavg()[0], 1),
        "selected relative_mae": round(selected["relative_mae"], 5),
        "stderr": round(selected["relative_mae_stderr"], 5),
        "coverage_80": round(selected["coverage_80"], 4),
        "coverage_95": round(selected["coverage_95"], 4),
        "scored rows": int(selected["rows"]),
        "candidates": {n: round(m["relative_mae"], 5) for n, m in nested.candidates.items()},
    }


if __name__ == "__main__":
    os.environ["TICKERPULSE_DATA_DIR"] = str(Path(sys.argv[1]))
    cap = int(sys.argv[2]) if len(sys.argv) > 2 else 250_000
    folds = int(sys.argv[3]) if len(sys.argv) > 3 else 8
    sessions = int(sys.argv[4]) if len(sys.argv) > 4 else 2000

    from tickerpulse.settings import get_settings
    from tickerpulse.stores.warehouse import open_warehouse

    features = open_warehouse(get_settings().warehouse_url).read("price_features")
    print(
        json.dumps({"tickers": int(features["ticker"].nunique()), "feature rows": len(features)}),
        flush=True,
    )
    for label, rows, most in (
        ("as trained", cap, folds),
        ("every row", None, folds),
        ("quarterly", cap, None),
    ):
        print(json.dumps(measure(label, features, rows, most, sessions)), flush=True)
