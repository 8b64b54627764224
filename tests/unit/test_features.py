import numpy as np
import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import synthetic_panel
from tickerpulse.features import FEATURES, add_targets, compute_features, latest_rows

PANEL = synthetic_panel(("AAA", "BBB"), years=2)


def test_at_least_fourteen_features_all_finite_once_warm() -> None:
    features = compute_features(PANEL)
    assert len(FEATURES) >= 14
    warm = features.groupby("ticker").tail(300)
    assert np.isfinite(warm[FEATURES].to_numpy()).all()


def test_features_are_computed_per_ticker() -> None:
    joint = compute_features(PANEL).set_index(["ticker", "date"])
    alone = compute_features(PANEL[PANEL["ticker"] == "BBB"]).set_index(["ticker", "date"])
    pd.testing.assert_frame_equal(joint.loc[alone.index], alone)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cut=st.integers(min_value=80, max_value=450), extra=st.integers(min_value=1, max_value=40))
def test_appending_future_rows_changes_no_past_feature(cut: int, extra: int) -> None:
    ordered = PANEL.sort_values(["ticker", "date"])
    position = ordered.groupby("ticker").cumcount()
    past = compute_features(ordered[position < cut]).set_index(["ticker", "date"])
    later = compute_features(ordered[position < cut + extra]).set_index(["ticker", "date"])
    pd.testing.assert_frame_equal(later.loc[past.index], past)


def test_targets_look_forward_by_the_horizon_and_end_in_nan() -> None:
    features = add_targets(compute_features(PANEL), horizon=5)
    one = features[features["ticker"] == "AAA"].reset_index(drop=True)
    expected = np.log(one["close"].iloc[5] / one["close"].iloc[0])
    assert one["target"].iloc[0] == expected
    assert one["target"].tail(5).isna().all() and one["target"].iloc[-6:-5].notna().all()


def test_latest_rows_are_each_tickers_last_day() -> None:
    latest = latest_rows(compute_features(PANEL))
    assert list(latest["ticker"]) == ["AAA", "BBB"]
    assert (latest["date"] == PANEL["date"].max()).all()
