"""Is the sampled evaluation honest? The same walk-forward fitted on every row and on a sample.

python -m bench.training_sample_honesty DATA_DIR [MAX_ROWS] [TEST_SESSIONS]
DATA_DIR holds price_features (what the pipeline bench's train_and_forecast run leaves, e.g.
a kept `bench-scale-*` folder). For horizon 1 it prints, per fit, the nested-selected
forecast's relative MAE (with its fold standard error: the noise to judge a difference by),
its 80 % and 95 % coverage and each candidate's relative MAE, and the seconds it took.
TEST_SESSIONS (default 504, two years: 9 folds) keeps fitting on everything affordable at
500 tickers; the sampled setting is training_max_rows.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

HORIZON = 1


def measure(max_rows: int | None, test_sessions: int) -> dict[str, object]:
    from tickerpulse.forecasting.nested import nested_selection
    from tickerpulse.forecasting.training import evaluate_candidates
    from tickerpulse.settings import get_settings
    from tickerpulse.stores.warehouse import open_warehouse

    features = open_warehouse(get_settings().warehouse_url).read("price_features")
    started = time.perf_counter()
    evaluations = evaluate_candidates(
        features, HORIZON, test_sessions=test_sessions, max_train_rows=max_rows
    )
    nested = nested_selection(evaluations)
    selected = nested.selected.metrics
    return {
        "fit on": f"sample of {max_rows:,}" if max_rows else "every row",
        "seconds": round(time.perf_counter() - started, 1),
        "load avg": round(os.getloadavg()[0], 1),
        "selected relative_mae": round(selected["relative_mae"], 5),
        "stderr": round(selected["relative_mae_stderr"], 5),
        "coverage_80": round(selected["coverage_80"], 4),
        "coverage_95": round(selected["coverage_95"], 4),
        "candidates": {n: round(m["relative_mae"], 5) for n, m in nested.candidates.items()},
        "tickers": int(features["ticker"].nunique()),
        "feature rows": len(features),
    }


if __name__ == "__main__":
    os.environ["TICKERPULSE_DATA_DIR"] = str(Path(sys.argv[1]))
    cap = int(sys.argv[2]) if len(sys.argv) > 2 else 250_000
    sessions = int(sys.argv[3]) if len(sys.argv) > 3 else 504
    for rows in (cap, None):
        print(json.dumps(measure(rows, sessions)), flush=True)
