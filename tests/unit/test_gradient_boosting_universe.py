"""A universe of a hundred tickers on which gradient boosting wins: trained with every
candidate as price_model trains, registered, promoted and served (issue 14's crash)."""

import numpy as np
import pandas as pd
import pytest

from tests.conftest import synthetic_panel
from tests.unit.test_every_candidate_can_win import assert_the_champion_serves, embedded
from tickerpulse.features import compute_features
from tickerpulse.forecasting.training import train_horizon
from tickerpulse.settings import Settings

pytestmark = pytest.mark.slow


def with_weekday_effect(prices: pd.DataFrame, size: float) -> pd.DataFrame:
    """Each session's return moved by +size after a Tuesday or Thursday, -size after the other
    weekdays: a pattern in `day_of_week` that is not monotone, so trees fit it and a linear
    model cannot. Plain synthetic prices have no predictable mean, so which candidate wins on
    them is luck (gradient boosting on 100 tickers, the drift on 120); this makes it skill."""
    parts = []
    for _, rows in prices.groupby("ticker"):
        rows = rows.sort_values("date").copy()
        previous_weekday = pd.to_datetime(rows["date"]).dt.dayofweek.shift(1).to_numpy()
        step = np.where(previous_weekday % 2 == 1, size, -size)
        step[0] = 0.0
        # The whole bar moves with the close, so it stays consistent (low <= open, close <= high).
        rows[["open", "high", "low", "close"]] *= np.exp(np.cumsum(step))[:, None]
        parts.append(rows)
    return pd.concat(parts, ignore_index=True)


def test_a_hundred_tickers_on_which_gradient_boosting_wins_get_served_forecasts(
    settings: Settings,
) -> None:
    # Three years: the fewest whole years that leave five walk-forward folds enough history.
    tickers = tuple(f"T{number:03d}" for number in range(100))
    features = compute_features(with_weekday_effect(synthetic_panel(tickers, years=3), 0.001))
    deployment = embedded(settings)
    outcome = train_horizon(
        features,
        1,
        base_name="universe",
        folds=settings.walk_forward_folds,
        registry=deployment.registry,
        operational_store=deployment.operational_store,
        train_dates=settings.training_window_dates,
    )
    ranked = sorted(outcome.candidates, key=lambda name: outcome.candidates[name]["relative_mae"])
    assert ranked[0] == outcome.best.model == "gradient_boosting", outcome.candidates
    assert outcome.decision.promote and outcome.champion is not None
    assert outcome.champion.version == outcome.version.version
    assert outcome.version.params["tickers"].count(",") == 99
    assert_the_champion_serves(
        deployment, features, "gradient_boosting", outcome.model_name, "universe", online_tickers=5
    )
