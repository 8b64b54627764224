"""Training's rows built a few tickers at a time are the rows the whole panel gives."""

import pandas as pd
import pytest

from tests.conftest import synthetic_panel
from tickerpulse.features import compute_features
from tickerpulse.forecasting.training import candidate_rows, universe_candidate_rows

PANEL = compute_features(synthetic_panel(("AAA", "BBB", "CCC"), years=2))


@pytest.mark.parametrize("horizon", [1, 5])
def test_chunks_give_the_whole_panels_rows_in_its_order(horizon: int) -> None:
    whole = candidate_rows(PANEL, horizon).reset_index(drop=True)
    chunks = [PANEL[PANEL["ticker"].isin(tickers)] for tickers in (["AAA", "BBB"], ["CCC"])]
    joined = universe_candidate_rows(iter(chunks), horizon)
    pd.testing.assert_frame_equal(joined, whole)
    # Date then ticker, as walk-forward slices folds by date.
    first_day = joined[joined["date"] == joined["date"].iloc[0]]
    assert list(first_day["ticker"]) == ["AAA", "BBB", "CCC"]


def test_no_chunks_is_an_error() -> None:
    with pytest.raises(ValueError, match="no feature rows"):
        universe_candidate_rows(iter([]), 1)
