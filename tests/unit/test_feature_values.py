"""Each feature against values worked by hand or published, never against compute_features.

The RSI series is Wilder's worked example as StockCharts reproduces it (ChartSchool, "Relative
Strength Index"); its table rounds the averages to two places, so later values agree to 0.1.
"""

import math

import numpy as np
import pandas as pd
import pytest

from tickerpulse.features import compute_features

WILDER_CLOSES = [
    44.34, 44.09, 44.15, 43.61, 44.33, 44.83, 45.10, 45.42, 45.84, 46.08, 45.89, 46.03,
    45.61, 46.28, 46.28, 46.00, 46.03, 46.41, 46.22, 45.64, 46.21, 46.25, 45.71, 46.45,
    45.78, 45.35, 44.03, 44.18, 44.22, 44.57, 43.42, 42.66, 43.13,
]  # fmt: skip
WILDER_RSI = [
    70.53, 66.32, 66.55, 69.41, 66.36, 57.97, 62.93, 63.26, 56.06, 62.38, 54.71, 50.42,
    39.99, 41.46, 41.87, 45.46, 37.30, 33.08, 37.77,
]  # fmt: skip


def panel(close: list[float], **columns: list[float]) -> pd.DataFrame:
    """One ticker from 2 Jan 2024 (a Tuesday), a session a weekday; open, high and low are the
    close unless given."""
    frame = pd.DataFrame(
        {
            "ticker": "T",
            "date": pd.bdate_range("2024-01-02", periods=len(close)).date,
            "open": close,
            "high": close,
            "low": close,
            "close": close,
            "volume": 1000.0,
        }
    )
    for name, values in columns.items():
        frame[name] = values
    return frame


def test_rsi_is_wilders_worked_example() -> None:
    rsi = compute_features(panel(WILDER_CLOSES))["rsi_14"].to_numpy()
    assert np.isnan(rsi[:14]).all()  # 14 changes need 15 closes
    # By hand: the first 14 changes gain 3.34 and lose 1.40 in all: RS = 3.34 / 1.40.
    assert rsi[14] == pytest.approx(100 - 100 / (1 + 3.34 / 1.40), abs=1e-9)  # 70.46
    np.testing.assert_allclose(rsi[14:], WILDER_RSI, atol=0.1)


def test_returns_are_log_returns_over_each_window() -> None:
    close = [100.0 * 1.01**day for day in range(61)]  # +1 % every session
    features = compute_features(panel(close)).iloc[-1]
    for window in (1, 5, 10, 20, 60):
        assert features[f"ret_{window}"] == pytest.approx(window * math.log(1.01))


def test_volatility_is_the_sample_deviation_of_daily_log_returns() -> None:
    # Log returns +1 %, -1 %, +2 %, 0, -2 %: mean 0, squares sum to 0.001, over n - 1 = 4.
    returns = [0.01, -0.01, 0.02, 0.0, -0.02]
    close = list(100 * np.exp(np.cumsum([0.0, *returns])))
    features = compute_features(panel(close)).iloc[-1]
    assert features["volatility_5"] == pytest.approx(math.sqrt(0.001 / 4))


def test_moving_average_gaps() -> None:
    # Closes 10..59: the last 10 average 54.5, the last 50 average 34.5.
    features = compute_features(panel([float(value) for value in range(10, 60)])).iloc[-1]
    assert features["ma_ratio_10"] == pytest.approx(59 / 54.5 - 1)
    assert features["ma_ratio_50"] == pytest.approx(59 / 34.5 - 1)


def test_exponential_averages_lag_a_trend_by_span_minus_one_over_two() -> None:
    # On a line rising 1 a session, an EMA of span n settles (n - 1) / 2 sessions behind it:
    # 5.5 for 12, 12.5 for 26. At close 400 the fast one is 7 above the slow one; the MACD is
    # f(c) = 7 / c. The signal line (span 9, weight 0.2) weighs f k sessions back by
    # 0.2 * 0.8^k: lags of mean 4 and mean square 36, so by Taylor it is f - 4 f' + 18 f'',
    # and the histogram 4 f' - 18 f'' with f' = -7 / c^2, f'' = 14 / c^3.
    close = [float(value) for value in range(101, 401)]
    features = compute_features(panel(close)).iloc[-1]
    assert features["ema_ratio_12_26"] == pytest.approx((400 - 5.5) / (400 - 12.5) - 1, rel=1e-6)
    assert features["macd_hist"] == pytest.approx(-4 * 7 / 400**2 - 18 * 14 / 400**3, rel=0.002)


def test_bollinger_percent_b_uses_the_population_deviation() -> None:
    # 20 closes alternating 9 and 11, the last 11: middle 10, deviation 1 (population), the
    # bands 8 and 12, so the close sits three quarters of the way up.
    close = [9.0, 11.0] * 10
    features = compute_features(panel(close)).iloc[-1]
    assert features["bollinger_pct_b"] == pytest.approx(0.75)


def test_average_true_range_is_wilders() -> None:
    # Close 100 with a range of 2 for 20 sessions, then a jump to 110 (high 111, low 109): its
    # true range reaches back to the last close, 111 - 100 = 11. Wilder's average of 14:
    # (13 * 2 + 11) / 14 that day, then (13 * 37/14 + 2) / 14 on a quiet day at 110.
    close = [100.0] * 20 + [110.0, 110.0]
    features = compute_features(
        panel(close, high=[value + 1 for value in close], low=[value - 1 for value in close])
    )
    assert features["atr_ratio_14"].iloc[19] == pytest.approx(2 / 100)
    assert features["atr_ratio_14"].iloc[20] == pytest.approx(37 / 14 / 110)
    assert features["atr_ratio_14"].iloc[21] == pytest.approx((13 * 37 / 14 + 2) / 14 / 110)


def test_volume_z_overnight_gap_and_calendar() -> None:
    # Volumes alternate e^2 - 1 and e^4 - 1, so log(1 + volume) alternates 2 and 4: mean 3,
    # sample deviation sqrt(20 / 19); the last is 4. The last open is 2 % above the last close.
    volume = [math.e**2 - 1, math.e**4 - 1] * 10
    close = [100.0] * 20
    opening = [100.0] * 19 + [102.0]
    features = compute_features(panel(close, volume=volume, open=opening)).iloc[-1]
    assert features["volume_z_20"] == pytest.approx(1 / math.sqrt(20 / 19))
    assert features["overnight_gap"] == pytest.approx(math.log(1.02))
    # The 20th weekday from Tuesday 2 January 2024 is Monday 29 January.
    assert (features["day_of_week"], features["month"]) == (0.0, 1.0)
