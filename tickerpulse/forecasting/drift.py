"""Feature drift: how far recent feature values have moved from what the model trained on.

PSI (population stability index) over the reference window's deciles: below 0.1 is stable,
0.1-0.25 is a shift worth watching, above 0.25 a shift the model has not seen.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

WATCH, SHIFTED = 0.1, 0.25
_FLOOR = 1e-4  # an empty bin would make the log infinite


def population_stability_index(reference: np.ndarray, recent: np.ndarray, bins: int = 10) -> float:
    reference, recent = reference[np.isfinite(reference)], recent[np.isfinite(recent)]
    if len(reference) == 0 or len(recent) == 0:
        return float("nan")
    edges = np.unique(np.quantile(reference, np.linspace(0, 1, bins + 1)))
    if len(edges) < 2:  # a constant feature: drift is any value other than that constant
        return 0.0 if np.all(recent == edges[0]) else float("inf")
    edges[0], edges[-1] = -np.inf, np.inf
    expected = np.maximum(np.histogram(reference, edges)[0] / len(reference), _FLOOR)
    actual = np.maximum(np.histogram(recent, edges)[0] / len(recent), _FLOOR)
    return float(np.sum((actual - expected) * np.log(actual / expected)))


def feature_drift(
    features: pd.DataFrame, columns: list[str], recent_sessions: int = 63
) -> pd.DataFrame:
    """PSI per feature: the last `recent_sessions` dates against every date before them."""
    dates = np.sort(features["date"].unique())
    if len(dates) <= recent_sessions:
        raise ValueError(f"{len(dates)} dates: drift needs more than {recent_sessions}")
    is_recent = features["date"].to_numpy() >= dates[-recent_sessions]
    rows = []
    for column in columns:
        # One column at a time: two filtered copies of the universe's panel cost a gigabyte.
        values = features[column].to_numpy(float)
        psi = population_stability_index(values[~is_recent], values[is_recent])
        status = "shifted" if psi > SHIFTED else "watch" if psi > WATCH else "stable"
        rows.append({"feature": column, "psi": psi, "status": status})
    return pd.DataFrame(rows).sort_values("psi", ascending=False).reset_index(drop=True)
