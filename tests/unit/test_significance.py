"""Diebold-Mariano (HLN-corrected) and Wilson intervals against numbers worked outside the code."""

import math

import numpy as np
import pytest

from tickerpulse.forecasting.significance import diebold_mariano, wilson_interval


def test_one_step_dm_matches_the_hand_worked_statistic_and_p_value() -> None:
    # d = 0 - [1, 3, 2] = [-1, -3, -2]: mean -2, gamma0 = (1 + 1 + 0) / 3 = 2/3,
    # DM = -2 / sqrt((2/3) / 3) = -3 sqrt 2; HLN factor sqrt((3 + 1 - 2) / 3) = sqrt(2/3),
    # so -2 sqrt 3. Student t with 2 df has F(t) = 1/2 + t / (2 sqrt(2 + t^2)).
    result = diebold_mariano(np.zeros(3), np.array([1.0, 3.0, 2.0]), horizon=1)
    statistic = -2 * math.sqrt(3)
    assert result.statistic == pytest.approx(statistic)
    assert result.pvalue == pytest.approx(0.5 + statistic / (2 * math.sqrt(2 + statistic**2)))
    assert result.pvalue == pytest.approx(0.03709, abs=1e-5)
    assert result.mean_differential == -2.0 and result.observations == 3


def test_two_step_dm_counts_the_lag_one_autocovariance() -> None:
    # d = [-1, -3, -4, 0]: mean -2, centred [1, -1, -2, 2], gamma0 = 10/4, gamma1 =
    # (1*-1 + -1*-2 + -2*2) / 4 = -3/4, long-run variance 2.5 - 1.5 = 1, DM = -2 / sqrt(1/4) = -4;
    # HLN factor sqrt((4 + 1 - 4 + 2/4) / 4) = sqrt(3/8), so -sqrt 6. Student t with 3 df:
    # F(t) = 1/2 + (t / (sqrt3 (1 + t^2/3)) + atan(t / sqrt3)) / pi.
    result = diebold_mariano(np.zeros(4), np.array([1.0, 3.0, 4.0, 0.0]), horizon=2)
    statistic = -math.sqrt(6)
    expected = (
        0.5
        + (
            statistic / (math.sqrt(3) * (1 + statistic**2 / 3))
            + math.atan(statistic / math.sqrt(3))
        )
        / math.pi
    )
    assert result.statistic == pytest.approx(statistic)
    assert result.pvalue == pytest.approx(expected)
    assert result.pvalue == pytest.approx(0.04586, abs=1e-5)


def test_a_worse_forecast_gets_a_positive_statistic_and_a_large_p_value() -> None:
    result = diebold_mariano(np.array([1.0, 3.0, 2.0]), np.zeros(3), horizon=1)
    assert result.statistic == pytest.approx(2 * math.sqrt(3))
    assert result.pvalue == pytest.approx(1 - 0.03709, abs=1e-5)


def test_identical_losses_are_no_evidence() -> None:
    losses = np.array([0.5, 0.2, 0.9])
    result = diebold_mariano(losses, losses, horizon=5)
    assert math.isnan(result.statistic) and result.pvalue == 1.0


@pytest.mark.parametrize("horizon", [1, 5])
def test_under_the_null_a_five_percent_test_rejects_about_five_percent(horizon: int) -> None:
    # Loss differentials with mean zero and the MA(h-1) overlap of h-step forecasts, fat tails:
    # the rejection rate is the test's size, which must be near its nominal 5 %.
    rng = np.random.default_rng(20)
    draws, n = 2000, 300
    shocks = rng.standard_t(5, size=(draws, n + horizon - 1))
    differentials = sum(shocks[:, lag : lag + n] for lag in range(horizon))
    pvalues = np.array([diebold_mariano(d, np.zeros(n), horizon).pvalue for d in differentials])
    assert 0.035 < np.mean(pvalues < 0.05) < 0.065
    # ... and a real edge of a fifth of the long-run standard deviation (h shocks' worth) is
    # found most of the time: 0.2 sqrt(300) = 3.5 standard errors.
    edge = 0.2 * horizon * shocks.std()
    found = [
        diebold_mariano(d - edge, np.zeros(n), horizon).pvalue < 0.05 for d in differentials[:300]
    ]
    assert np.mean(found) > 0.8


@pytest.mark.parametrize(
    ("successes", "trials", "lower", "upper"),
    # Newcombe (1998), Statistics in Medicine 17:857, table I, method 3 (Wilson score).
    [
        (81, 263, 0.2553, 0.3662),
        (15, 148, 0.0624, 0.1605),
        (0, 20, 0.0, 0.1611),
        (1, 29, 0.0061, 0.1718),
    ],
)
def test_wilson_interval_matches_newcombes_published_values(
    successes: int, trials: int, lower: float, upper: float
) -> None:
    low, high = wilson_interval(successes, trials)
    assert low == pytest.approx(lower, abs=5e-5) and high == pytest.approx(upper, abs=5e-5)
