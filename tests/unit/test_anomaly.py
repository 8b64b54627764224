"""The anomaly detector: streaming baselines, metrics intervals, daily checks, alert lifecycle."""

from __future__ import annotations

import datetime as dt
import json
import math

import numpy as np
import pandas as pd
import pytest
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest

from realtime.publisher import snapshot
from serving.metrics import REQUEST_DURATION_SECONDS
from tickerpulse.anomaly import (
    AnomalyConfig,
    AnomalyDetector,
    StreamingDetector,
    StreamSpec,
    forecast_error,
    freshness,
    metrics_observations,
    price_moves,
)
from tickerpulse.calendar import trading_days
from tickerpulse.stores.events import encode_event

BUCKETS = REQUEST_DURATION_SECONDS._upper_bounds  # the API's own latency buckets
LATENCY = AnomalyConfig().latency
ROUTE = "/v1/predictions"


class FakeApi:
    """One API process's counters, exposed and snapshotted as the publisher does."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "tickerpulse_http_requests_total",
            "requests",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.duration = Histogram(
            "tickerpulse_http_request_duration_seconds",
            "latency",
            ["method", "route"],
            buckets=BUCKETS,
            registry=self.registry,
        )

    def serve(self, latencies: np.ndarray, status: str = "200", route: str = ROUTE) -> None:
        for seconds in latencies:
            self.requests.labels("GET", route, status).inc()
            self.duration.labels("GET", route).observe(float(seconds))

    def snapshot(self, at: float) -> dict:
        taken = snapshot(generate_latest(self.registry).decode())
        return {**taken, "at": at}


def by_metric(observations: list, metric: str) -> dict:
    return {o.subject: o for o in observations if o.metric == metric}


def feed(detector: AnomalyDetector, values, start: float = 0.0, spec: StreamSpec = LATENCY):
    alerts = []
    for step, value in enumerate(values):
        alerts += detector.observe_value(f"api:GET {ROUTE}", spec, float(value), start + step)
    return alerts


# --- the streaming detector -------------------------------------------------------------


def test_warm_up_is_silent_even_for_wild_values() -> None:
    detector = AnomalyDetector()
    wild = [0.05] * 20 + [9.0] * (LATENCY.min_samples - 20)
    assert feed(detector, wild) == []
    # Once warm, the same wild value held for `confirm` observations fires.
    after = feed(detector, [9.0] * LATENCY.confirm, start=100)
    assert [a.state for a in after] == ["firing"]


def test_a_latency_step_fires_once_and_resolves_once_with_its_numbers() -> None:
    rng = np.random.default_rng(1)
    normal = 0.05 + rng.normal(0, 0.002, 100)
    detector = AnomalyDetector()
    alerts = feed(detector, [*normal, *[0.5] * 30, *normal[:50]])

    assert [a.state for a in alerts] == ["firing", "resolved"]
    firing, resolved = alerts
    assert firing.at == 100 + LATENCY.confirm - 1  # on the third slow sample, not the first
    assert resolved.at == 130 + LATENCY.confirm - 1
    assert firing.incident == firing.id == resolved.incident != resolved.id
    assert firing.subject == f"api:GET {ROUTE}" and firing.metric == "latency_p99_seconds"
    lower, upper = firing.expected
    assert lower < 0.05 < upper < 0.5
    assert firing.value == 0.5 and firing.severity == "critical"
    assert "500 ms" in firing.reason
    assert f"{lower * 1000:.3g} ms" in firing.reason and f"{upper * 1000:.3g} ms" in firing.reason
    assert "3 observations in a row" in firing.reason
    assert resolved.value == pytest.approx(normal[LATENCY.confirm - 1])
    assert "Resolved" in resolved.reason and "peak 500 ms" in resolved.reason


def test_a_long_incident_does_not_become_the_new_normal() -> None:
    rng = np.random.default_rng(2)
    detector = AnomalyDetector()
    feed(detector, 0.05 + rng.normal(0, 0.002, 60))
    alerts = feed(detector, [0.5] * 1000, start=60)  # far longer than the baseline window
    assert [a.state for a in alerts] == ["firing"]
    stream = detector._streams[(f"api:GET {ROUTE}", LATENCY.metric)]
    assert max(stream.baseline) < 0.1


@pytest.mark.parametrize("seed", [3, 4, 5])
def test_noise_around_a_flat_line_does_not_flap(seed: int) -> None:
    rng = np.random.default_rng(seed)
    gaussian = 0.05 + rng.normal(0, 0.005, 1000)
    heavy_tailed = 0.05 * rng.lognormal(0, 0.3, 1000)
    assert feed(AnomalyDetector(), gaussian) == []
    assert feed(AnomalyDetector(), heavy_tailed) == []


def test_a_flat_series_does_not_alert_on_a_millisecond() -> None:
    # MAD is 0 here: only the sigma floor stands between a 1 ms wiggle and an alert.
    assert feed(AnomalyDetector(), [0.050] * 100 + [0.051] * 50) == []


def test_a_value_in_the_hysteresis_band_does_not_resolve() -> None:
    spec = StreamSpec("latency_p99_seconds", "p99 latency", "seconds")  # no floors
    stream = StreamingDetector(f"api:GET {ROUTE}", spec)
    for value in 0.05 + np.random.default_rng(6).normal(0, 0.002, 100):
        stream.observe(float(value))
    center, sigma = stream.center_and_sigma()
    detector = AnomalyDetector()
    detector._streams[(stream.subject, spec.metric)] = stream

    assert [a.state for a in feed(detector, [center + 10 * sigma] * 3, spec=spec)] == ["firing"]
    band = center + (spec.k_exit + spec.k_enter) / 2 * sigma
    assert feed(detector, [band] * 50, spec=spec) == []
    # Recovered values interrupted by one in the band: the count to resolve starts again.
    recovered = center + 0.5 * sigma
    assert feed(detector, [recovered, recovered, band, recovered, recovered], spec=spec) == []
    resolved = feed(detector, [recovered], spec=spec)
    assert [a.state for a in resolved] == ["resolved"]


def test_an_incident_that_worsens_escalates_once() -> None:
    rng = np.random.default_rng(7)
    detector = AnomalyDetector()
    feed(detector, 0.05 + rng.normal(0, 0.002, 60))
    center, sigma = detector._streams[(f"api:GET {ROUTE}", LATENCY.metric)].center_and_sigma()
    warning = center + (LATENCY.k_enter + LATENCY.k_critical) / 2 * sigma
    critical = center + 2 * LATENCY.k_critical * sigma
    alerts = feed(detector, [warning] * 5 + [critical] * 5 + [warning] * 5, start=60)
    assert [(a.state, a.severity) for a in alerts] == [
        ("firing", "warning"),
        ("firing", "critical"),
    ]
    assert alerts[0].incident == alerts[1].incident
    assert alerts[1].reason.startswith("Escalated from warning to critical")


# --- metrics snapshots --------------------------------------------------------------------


@pytest.mark.parametrize(("seed", "median_seconds"), [(8, 0.03), (9, 0.2), (10, 0.004)])
def test_p99_from_bucket_deltas_matches_the_latencies_within_a_bucket(
    seed: int, median_seconds: float
) -> None:
    rng = np.random.default_rng(seed)
    api = FakeApi()
    api.serve(rng.lognormal(np.log(median_seconds * 5), 0.5, 3000))  # before: much slower
    before = api.snapshot(1000.0)
    latencies = rng.lognormal(np.log(median_seconds), 0.6, 2000)
    api.serve(latencies)
    observed = by_metric(metrics_observations(before, api.snapshot(1005.0)), "latency_p99_seconds")

    truth = float(np.quantile(latencies, 0.99))
    bounds = [0.0, *BUCKETS]
    upper_index = next(i for i, bound in enumerate(bounds) if bound >= truth)
    width = bounds[upper_index] - bounds[upper_index - 1]
    p99 = observed[f"api:GET {ROUTE}"]
    assert p99.requests == 2000 and p99.seconds == 5.0
    assert abs(p99.value - truth) <= width


def test_inside_a_bucket_the_quantile_is_interpolated_like_prometheus() -> None:
    # Evenly spread latencies are exactly what linear interpolation assumes.
    api = FakeApi()
    before = api.snapshot(0.0)
    latencies = np.linspace(0.1, 0.25, 1001)[1:]  # all inside the (0.1, 0.25] bucket
    api.serve(latencies)
    observations = metrics_observations(before, api.snapshot(5.0), quantile=0.5)
    median = by_metric(observations, "latency_p50_seconds")[f"api:GET {ROUTE}"]
    assert median.value == pytest.approx(float(np.quantile(latencies, 0.5)), abs=0.001)


def test_error_rate_is_the_5xx_share_of_the_interval() -> None:
    api = FakeApi()
    api.serve(np.full(500, 0.01), status="500")  # errors before the interval do not count
    before = api.snapshot(0.0)
    api.serve(np.full(80, 0.01))
    api.serve(np.full(10, 0.01), status="404")
    api.serve(np.full(6, 0.01), status="503")
    api.serve(np.full(4, 0.01), status="500")
    api.serve(np.full(5, 0.01), route="/v1/tickers")  # too few requests to judge
    rates = by_metric(metrics_observations(before, api.snapshot(5.0)), "error_rate")
    assert set(rates) == {f"api:GET {ROUTE}"}
    assert rates[f"api:GET {ROUTE}"].value == pytest.approx(0.10)
    assert rates[f"api:GET {ROUTE}"].requests == 100


def test_a_restarted_api_counts_from_zero_not_negative() -> None:
    rng = np.random.default_rng(11)
    old = FakeApi()
    old.serve(np.full(5000, 0.3))
    old.serve(np.full(500, 0.3), status="500")
    old.serve(np.full(50, 0.3), route="/v1/tickers")  # a route the new process has not served
    before = old.snapshot(0.0)

    new = FakeApi()  # a restart: every counter starts again
    latencies = rng.uniform(0.011, 0.024, 90)
    new.serve(latencies)
    new.serve(np.full(10, 0.02), status="502")
    observations = metrics_observations(before, new.snapshot(5.0))

    assert all(o.value >= 0 and o.requests > 0 for o in observations)
    p99 = by_metric(observations, "latency_p99_seconds")[f"api:GET {ROUTE}"]
    assert p99.requests == 100 and 0.01 <= p99.value <= 0.025
    errors = by_metric(observations, "error_rate")[f"api:GET {ROUTE}"]
    assert errors.value == pytest.approx(0.10)
    assert "api:GET /v1/tickers" not in by_metric(observations, "error_rate")


def test_a_slow_route_fires_once_through_snapshots() -> None:
    rng = np.random.default_rng(12)
    api, detector = FakeApi(), AnomalyDetector()
    alerts = []
    for tick in range(200):
        median = 0.3 if 100 <= tick < 130 else 0.02
        api.serve(rng.lognormal(np.log(median), 0.3, 50))
        alerts += detector.observe_metrics(api.snapshot(5.0 * tick))
    assert [(a.state, a.metric) for a in alerts] == [
        ("firing", "latency_p99_seconds"),
        ("resolved", "latency_p99_seconds"),
    ]
    firing = alerts[0]
    assert firing.at == 5.0 * (100 + LATENCY.confirm - 1)
    assert 0.25 < firing.value <= 1.0 and firing.expected[1] < 0.1
    assert "over the last 5 s (50 requests)" in firing.reason


def test_a_noisy_api_does_not_flap_through_snapshots() -> None:
    rng = np.random.default_rng(13)
    api, detector = FakeApi(), AnomalyDetector()
    alerts = []
    for tick in range(500):
        api.serve(rng.lognormal(np.log(0.02), 0.5, int(rng.integers(20, 200))))
        api.serve(np.full(int(rng.random() < 0.2), 0.01), status="500")  # sporadic errors
        alerts += detector.observe_metrics(api.snapshot(5.0 * tick))
    assert alerts == []


# --- daily checks -------------------------------------------------------------------------

SESSIONS = trading_days(dt.date(2024, 1, 2), dt.date(2024, 6, 14))


def prices(ticker: str, last_return: float, seed: int, days: list[dt.date] = SESSIONS):
    returns = np.random.default_rng(seed).normal(0, 0.01, len(days))
    returns[0], returns[-1] = 0.0, last_return
    close = 100 * np.exp(np.cumsum(returns))
    return pd.DataFrame({"ticker": ticker, "date": days, "close": close, "volume": 1e6})


def test_a_ten_sigma_move_alerts_and_an_ordinary_day_does_not() -> None:
    panel = pd.concat([prices("JUMP", 0.10, 20), prices("CALM", 0.004, 21)])
    findings = {f.subject: f for f in price_moves(panel)}
    assert findings["ticker:JUMP"].level == "anomalous"
    assert findings["ticker:CALM"].level == "normal"

    now = pd.Timestamp("2024-06-14 22:00", tz="UTC")
    detector = AnomalyDetector()
    alerts = detector.check_data(panel, now=now)
    assert [(a.subject, a.metric, a.state) for a in alerts] == [
        ("ticker:JUMP", "daily_return", "firing")
    ]
    jump = alerts[0]
    last_close = panel[panel["ticker"] == "JUMP"]["close"].iloc[-1]
    assert jump.value == pytest.approx(math.expm1(0.10))
    assert f"{last_close:.2f}" in jump.reason and "+10.52 %" in jump.reason
    assert jump.expected[0] < 0 < jump.expected[1] < jump.value
    assert detector.check_data(panel, now=now) == []  # same data, same incident: no repeat

    # The next session is ordinary: the move's alert resolves.
    calm_next = prices("JUMP", 0.10, 20, [*SESSIONS, dt.date(2024, 6, 17)])
    calm_next.loc[calm_next.index[-1], "close"] = calm_next["close"].iloc[-2] * 1.003
    later = detector.check_data(calm_next, now=pd.Timestamp("2024-06-17 22:00", tz="UTC"))
    assert [(a.subject, a.state) for a in later] == [("ticker:JUMP", "resolved")]


def test_a_stale_ticker_alerts_with_the_sessions_it_missed() -> None:
    # Juneteenth (Wed 2024-06-19) is no session: from Friday 14th to Friday 21st is 4 behind.
    panel = pd.concat(
        [
            prices("LATE", 0.0, 22, trading_days(dt.date(2024, 3, 1), dt.date(2024, 6, 14))),
            prices("FRESH", 0.0, 23, trading_days(dt.date(2024, 3, 1), dt.date(2024, 6, 21))),
            prices("ALMOST", 0.0, 24, trading_days(dt.date(2024, 3, 1), dt.date(2024, 6, 20))),
        ]
    )
    now = pd.Timestamp("2024-06-21 22:00", tz="UTC")  # after Friday's close
    findings = {f.subject: f for f in freshness(panel, now)}
    assert findings["ticker:LATE"].value == 4 and findings["ticker:LATE"].level == "anomalous"
    assert findings["ticker:FRESH"].value == 0 and findings["ticker:FRESH"].level == "normal"
    assert findings["ticker:ALMOST"].level == "borderline"  # one behind: the evening's ingest

    alerts = AnomalyDetector().check_data(panel, now=now)
    assert [(a.subject, a.metric) for a in alerts] == [("ticker:LATE", "sessions_behind")]
    assert "4 sessions behind" in alerts[0].reason and "2024-06-14" in alerts[0].reason
    assert alerts[0].severity == "warning"


def forecasts_for(ticker: str, prices_frame: pd.DataFrame, skill: float, n: int) -> pd.DataFrame:
    """h=1 forecasts last_close + skill x (actual - last_close): error |1 - skill| x naive."""
    close, days = prices_frame["close"].to_numpy(), list(prices_frame["date"])
    rows = []
    for i in range(len(days) - n, len(days)):
        last, actual = close[i - 1], close[i]
        value = last + skill * (actual - last)
        rows.append(
            {
                "ticker": ticker,
                "date": days[i - 1],
                "target_date": days[i],
                "horizon": 1,
                "last_close": last,
                "forecast": value,
                "lower_80": value - 1,
                "upper_80": value + 1,
                "lower_95": value - 2,
                "upper_95": value + 2,
                "model_name": "tickerpulse-price-h1",
                "model_version": "3",
            }
        )
    return pd.DataFrame(rows)


def test_a_model_worse_than_naive_alerts_and_a_better_one_does_not() -> None:
    worse_prices, better_prices = prices("WORSE", 0.0, 30), prices("BETTER", 0.0, 31)
    panel = pd.concat([worse_prices, better_prices])
    forecasts = pd.concat(
        [
            forecasts_for("WORSE", worse_prices, -0.4, 30),  # 1.4x the naive error
            forecasts_for("BETTER", better_prices, 0.5, 30),  # 0.5x
        ]
    )
    findings = {f.subject: f for f in forecast_error(forecasts, panel)}
    assert findings["ticker:WORSE"].value == pytest.approx(1.4)
    assert findings["ticker:BETTER"].value == pytest.approx(0.5)

    alerts = AnomalyDetector().check_data(
        panel, forecasts, now=pd.Timestamp("2024-06-14 22:00", tz="UTC")
    )
    assert [(a.subject, a.metric, a.severity) for a in alerts] == [
        ("ticker:WORSE", "forecast_error_ratio_h1", "warning")
    ]
    assert "1.40x" in alerts[0].reason and "last 30 realized 1-session" in alerts[0].reason


def test_too_few_realized_forecasts_are_no_evidence() -> None:
    worse_prices = prices("WORSE", 0.0, 32)
    forecasts = forecasts_for("WORSE", worse_prices, -1.0, 19)
    assert forecast_error(forecasts, worse_prices) == []


def test_a_ticker_that_leaves_the_data_resolves_its_alert() -> None:
    panel = pd.concat([prices("JUMP", 0.10, 20), prices("CALM", 0.004, 21)])
    now = pd.Timestamp("2024-06-14 22:00", tz="UTC")
    detector = AnomalyDetector()
    assert len(detector.check_data(panel, now=now)) == 1
    assert detector.check_data(panel.iloc[:0], now=now) == []  # an empty read changes nothing
    gone = detector.check_data(panel[panel["ticker"] == "CALM"], now=now)
    assert [(a.subject, a.state) for a in gone] == [("ticker:JUMP", "resolved")]
    assert "no longer checked" in gone[0].reason


# --- the alert on the wire ----------------------------------------------------------------


def test_an_alert_is_json_with_every_field_a_person_needs() -> None:
    panel = prices("JUMP", -0.12, 20)
    alert = AnomalyDetector().check_data(panel, now=1718402400.0)[0]  # 2024-06-14 22:00 UTC
    event = json.loads(json.dumps(alert.to_event()))
    assert event == json.loads(encode_event(alert.to_event()))
    assert set(event) == {
        "id",
        "incident",
        "at",
        "state",
        "severity",
        "subject",
        "metric",
        "value",
        "expected",
        "unit",
        "reason",
    }
    assert len(event["id"]) == 32 and event["at"] == 1718402400.0
    assert event["state"] == "firing" and event["severity"] in {"warning", "critical"}
    assert isinstance(event["expected"], list) and len(event["expected"]) == 2
    assert event["value"] == pytest.approx(math.expm1(-0.12))
