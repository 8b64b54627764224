import numpy as np
import pandas as pd
import pytest

from tests.conftest import synthetic_panel
from tickerpulse.features import FEATURES, compute_features
from tickerpulse.forecasting.drift import feature_drift, population_stability_index

rng = np.random.default_rng(3)


def test_the_same_distribution_is_stable_and_a_shift_is_flagged() -> None:
    reference = rng.normal(0, 1, 5000)
    assert population_stability_index(reference, rng.normal(0, 1, 1000)) < 0.05
    assert population_stability_index(reference, rng.normal(1.0, 1, 1000)) > 0.25
    assert population_stability_index(reference, rng.normal(0, 2.0, 1000)) > 0.25


def test_constant_and_empty_features_have_defined_answers() -> None:
    assert population_stability_index(np.ones(100), np.ones(10)) == 0.0
    assert population_stability_index(np.ones(100), np.full(10, 2.0)) == float("inf")
    assert np.isnan(population_stability_index(np.array([np.nan]), np.ones(10)))


def test_a_regime_change_in_volatility_shows_in_the_volatility_features() -> None:
    panel = synthetic_panel(("AAA", "BBB"), years=4)
    last = panel["date"] >= sorted(panel["date"].unique())[-63]
    # Triple every daily move in the last quarter, as a crisis would.
    returns = np.log(panel["close"]).groupby(panel["ticker"]).diff().fillna(0)
    returns[last] *= 3
    shocked = panel.assign(
        close=np.exp(np.log(panel["close"].iloc[0]) + returns.groupby(panel["ticker"]).cumsum())
    )
    shocked = shocked.assign(
        open=shocked["close"], high=shocked["close"] * 1.001, low=shocked["close"] * 0.999
    )
    table = feature_drift(compute_features(shocked), FEATURES).set_index("feature")
    assert table.loc["volatility_20", "status"] == "shifted"
    assert table.loc["day_of_week", "status"] == "stable"
    calm = feature_drift(compute_features(panel), FEATURES).set_index("feature")
    assert calm.loc["volatility_20", "psi"] < table.loc["volatility_20", "psi"]


def test_too_short_a_history_is_refused() -> None:
    frame = pd.DataFrame({"date": pd.date_range("2024-01-01", periods=30).date, "x": 1.0})
    with pytest.raises(ValueError, match="drift needs more than 63"):
        feature_drift(frame, ["x"])
