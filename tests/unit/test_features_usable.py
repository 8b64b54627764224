"""price_features' usability check, judged on per-ticker counts summed over the chunks the
asset writes: the same verdict as on the whole panel at once."""

import numpy as np
import pandas as pd

from orchestration.assets.features import features_usable, usability_counts
from tests.conftest import synthetic_panel
from tickerpulse.features import compute_features

LONG = synthetic_panel(("AAA", "BBB"), years=1)
NEW = synthetic_panel(("NEW",), years=1).tail(10)  # ten sessions: still warming up


def counts_in_chunks(*chunks: pd.DataFrame) -> pd.DataFrame:
    return pd.concat([usability_counts(compute_features(chunk)) for chunk in chunks])


def test_counts_per_ticker_from_chunks() -> None:
    counts = counts_in_chunks(LONG[LONG["ticker"] == "AAA"], LONG[LONG["ticker"] == "BBB"], NEW)
    assert list(counts.index) == ["AAA", "BBB", "NEW"]
    sessions = LONG.groupby("ticker").size()
    assert counts.loc["AAA", "rows"] == sessions["AAA"]
    assert counts.loc["NEW", "rows"] == 10
    # 60 sessions of warm-up (the 60-day return and volatility) leave the rest complete.
    assert counts.loc["BBB", "complete_rows"] == sessions["BBB"] - 60
    assert counts.loc["NEW", "complete_rows"] == 0
    result = features_usable(counts)
    assert result.passed
    assert result.metadata["tickers_warming_up"].value == "NEW"


def test_an_infinite_value_in_any_chunk_fails_the_check() -> None:
    broken = compute_features(LONG)
    broken.loc[broken.index[-1], "ret_1"] = np.inf
    counts = pd.concat([usability_counts(broken), usability_counts(compute_features(NEW))])
    result = features_usable(counts)
    assert not result.passed
    assert result.metadata["infinite_values"].value == 1


def test_no_rows_fail_the_check() -> None:
    assert not features_usable(usability_counts(pd.DataFrame())).passed
