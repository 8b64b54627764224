import datetime as dt

import numpy as np
import pandas as pd
import pytest

from tests.conftest import synthetic_panel
from tickerpulse.features import FEATURES, add_targets, compute_features
from tickerpulse.forecasting.evaluation import NotEnoughHistory, conformal_quantile, walk_forward
from tickerpulse.forecasting.forecast import make_forecasts
from tickerpulse.forecasting.models import CANDIDATES
from tickerpulse.forecasting.promotion import decide

FEATURE_PANEL = compute_features(synthetic_panel(("AAA", "BBB", "CCC", "DDD"), years=8))


def evaluate(name: str, horizon: int = 1):  # type: ignore[no-untyped-def]
    return walk_forward(
        add_targets(FEATURE_PANEL, horizon), FEATURES, CANDIDATES[name], name, horizon
    )


def test_the_random_walk_scores_exactly_one() -> None:
    evaluation = evaluate("naive")
    assert evaluation.metrics["relative_mae"] == pytest.approx(1.0)
    assert evaluation.metrics["directional_accuracy"] == 0.5
    assert evaluation.metrics["n_folds"] == 5


@pytest.mark.parametrize("horizon", [1, 5])
def test_conformal_intervals_cover_unseen_data(horizon: int) -> None:
    metrics = evaluate("ridge", horizon).metrics
    # Calibrated on earlier folds only; on 4 x 63 days x 4 tickers the sampling error is ~2-3 %.
    assert 0.72 <= metrics["coverage_80"] <= 0.88
    assert 0.90 <= metrics["coverage_95"] <= 0.99
    assert metrics["width_95"] > metrics["width_80"] > 0


def test_on_a_random_walk_no_model_beats_the_naive_forecast_by_much() -> None:
    # The synthetic prices have no predictable drift: honest skill is ~1.0, not 0.8.
    for name in ("drift", "ridge"):
        assert 0.97 < evaluate(name).metrics["relative_mae"] < 1.05


def test_training_never_sees_the_test_block_or_its_embargo() -> None:
    horizon = 5
    dataset = add_targets(FEATURE_PANEL, horizon)
    seen: list[tuple[dt.date, int]] = []

    class Spy:
        def fit(self, features: pd.DataFrame, target: pd.Series) -> "Spy":
            seen.append((max(dataset.loc[features.index, "date"]), len(features)))
            return self

        def predict(self, features: pd.DataFrame) -> np.ndarray:
            return np.zeros(len(features))

    evaluation = walk_forward(dataset, FEATURES, Spy, "spy", horizon)
    dates = np.sort(dataset.dropna(subset=[*FEATURES, "target"])["date"].unique())
    for fold, (last_train_date, _) in enumerate(seen):
        first_test = evaluation.predictions.loc[
            evaluation.predictions["fold"] == fold, "date"
        ].min()
        gap = np.searchsorted(dates, first_test) - np.searchsorted(dates, last_train_date)
        assert gap > horizon  # the labels of the last training row end before the test starts


def test_short_history_is_a_clear_refusal() -> None:
    short = FEATURE_PANEL.groupby("ticker").tail(300)
    with pytest.raises(NotEnoughHistory, match="usable dates"):
        walk_forward(add_targets(short, 1), FEATURES, CANDIDATES["ridge"], "ridge", 1)


def test_conformal_quantile_is_the_finite_sample_one() -> None:
    scores = np.arange(1, 11, dtype=float)  # n = 10: rank ceil(11 * 0.8) = 9
    assert conformal_quantile(scores, 0.8) == 9.0
    assert conformal_quantile(scores, 0.95) == 10.0


def test_forecasts_carry_nested_intervals_and_skip_incomplete_tickers() -> None:
    features = FEATURE_PANEL.copy()
    last_bbb = features.index[features["ticker"] == "BBB"][-1]
    features.loc[last_bbb, "rsi_14"] = np.nan
    model = CANDIDATES["naive"]().fit(
        features[FEATURES].dropna(), np.zeros(len(features[FEATURES].dropna()))
    )
    forecasts, skipped = make_forecasts(
        features, model, 5, {"q80": 1.3, "q95": 2.3}, "m", "7", "naive"
    )
    assert skipped == ["BBB"]
    assert list(forecasts["ticker"]) == ["AAA", "CCC", "DDD"]
    assert (forecasts["lower_95"] < forecasts["lower_80"]).all()
    assert (forecasts["lower_80"] < forecasts["forecast"]).all()
    assert (forecasts["forecast"] < forecasts["upper_80"]).all()
    assert (forecasts["upper_80"] < forecasts["upper_95"]).all()
    assert (forecasts["forecast"] == forecasts["last_close"]).all()  # the random walk
    assert (forecasts["target_date"] == dt.date(2026, 11, 6)).all()  # 5 sessions after 30 Oct
    assert set(forecasts["model_version"]) == {"7"}


class TestPromotionGate:
    def test_a_model_that_loses_to_the_random_walk_is_never_promoted(self) -> None:
        decision = decide("ridge", {"relative_mae": 1.002}, None)
        assert not decision.promote and "loses to the random walk" in decision.reason

    def test_the_random_walk_serves_only_when_there_is_no_champion(self) -> None:
        assert decide("naive", {"relative_mae": 1.0}, None).promote
        assert not decide("naive", {"relative_mae": 1.0}, {"relative_mae": 0.99}).promote

    def test_a_challenger_worse_than_the_champion_beyond_noise_waits(self) -> None:
        champion = {"relative_mae": 0.95, "relative_mae_stderr": 0.002}
        assert decide(
            "ridge", {"relative_mae": 0.951, "relative_mae_stderr": 0.002}, champion
        ).promote
        decision = decide("ridge", {"relative_mae": 0.97, "relative_mae_stderr": 0.002}, champion)
        assert not decision.promote and "beyond noise" in decision.reason
