"""Raw rows to clean prices: re-validated, and split/dividend adjusted where the source says how."""

from __future__ import annotations

import numpy as np
import pandas as pd

from tickerpulse.quality import validate_prices

CLEAN_COLUMNS = ["date", "open", "high", "low", "close", "volume", "adj_factor"]


def clean_ticker_prices(raw: pd.DataFrame) -> pd.DataFrame:
    """One ticker's raw rows as clean, adjusted bars (adj_factor = adjusted / raw close)."""
    valid = validate_prices(raw).valid
    factor = (valid["adj_close"] / valid["close"]).to_numpy()
    # Adjust only when the source gave an adjusted close for every day: a partial series
    # would mix adjusted and unadjusted prices in one history.
    if len(valid) == 0 or not np.isfinite(factor).all():
        factor = np.ones(len(valid))
    clean = valid.assign(adj_factor=factor)
    for column in ("open", "high", "low", "close"):
        clean[column] = clean[column] * factor
    return clean[CLEAN_COLUMNS].reset_index(drop=True)
