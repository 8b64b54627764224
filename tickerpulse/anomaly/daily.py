"""Checks over the daily tables, as pure functions from frames to findings per ticker.

Each returns one `Finding` per ticker (and horizon) it could judge, with three levels so the
AlertBook can hold an alert between the exit and the enter thresholds instead of flapping.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from tickerpulse.anomaly.alerts import Finding, Level, Severity, format_value
from tickerpulse.anomaly.streaming import MAD_TO_SIGMA
from tickerpulse.calendar import last_completed_session, trading_days
from tickerpulse.forecasting.accuracy import realized_errors


@dataclass(frozen=True)
class PriceMoveSpec:
    # Daily returns are fat-tailed: 4-sigma days come several times a year per ticker, so
    # with hundreds of tickers only a move beyond 6 robust sigmas is worth a person's look.
    k_enter: float = 6.0
    k_exit: float = 4.0
    k_critical: float = 12.0
    window: int = 60  # sessions before the latest that set its sigma (as quality.py)
    min_history: int = 20
    min_sigma: float = 0.002  # a flat (suspended, pegged) ticker: 0.2 % a day


@dataclass(frozen=True)
class FreshnessSpec:
    # One session behind is normal between the close and the evening ingestion.
    max_sessions_behind: int = 1
    critical_sessions_behind: int = 5  # a trading week


@dataclass(frozen=True)
class ForecastErrorSpec:
    window: int = 60  # the latest realized forecasts per ticker and horizon
    min_points: int = 20  # fewer are no evidence either way
    enter: float = 1.2  # model MAE / naive MAE above this fires
    exit: float = 1.1  # ... at or below this resolves
    critical: float = 1.5


def _level(score: float, enter: float, exit: float, critical: float) -> tuple[Level, Severity]:
    severity: Severity = "critical" if score >= critical else "warning"
    if score > enter:
        return "anomalous", severity
    return ("normal" if score <= exit else "borderline"), severity


def price_moves(clean_prices: pd.DataFrame, spec: PriceMoveSpec | None = None) -> list[Finding]:
    """Each ticker's latest daily return against the robust sigma of the returns before it.

    Sigma is 1.4826 x the median absolute log return of the previous `window` sessions,
    never including the day judged, so a crash cannot hide inside its own estimate.
    """
    spec = spec or PriceMoveSpec()
    findings = []
    panel = clean_prices.dropna(subset=["close"])
    panel = panel[panel["close"] > 0].sort_values(["ticker", "date"])
    for ticker, rows in panel.groupby("ticker", sort=True):
        tail = rows.tail(spec.window + 2)
        closes = tail["close"].to_numpy(dtype=float)
        returns = np.diff(np.log(closes))
        if len(returns) < spec.min_history + 1:
            continue
        latest, trailing = float(returns[-1]), returns[:-1]
        sigma = max(MAD_TO_SIGMA * float(np.median(np.abs(trailing))), spec.min_sigma)
        z = latest / sigma
        level, severity = _level(abs(z), spec.k_enter, spec.k_exit, spec.k_critical)
        band = spec.k_enter * sigma
        previous, close, day = closes[-2], closes[-1], tail["date"].iloc[-1]
        move = math.expm1(latest)
        reason = (
            f"{ticker} closed at {close:.2f} on {_day(day)}, a {format_value(move, 'return')} move "
            f"from {previous:.2f}: {abs(z):.1f} robust sigmas of its daily returns over the "
            f"previous {len(trailing)} sessions (sigma {sigma * 100:.2f} %); a close between "
            f"{previous * math.exp(-band):.2f} and {previous * math.exp(band):.2f} was expected."
        )
        findings.append(
            Finding(
                subject=f"ticker:{ticker}",
                metric="daily_return",
                value=move,
                expected=(math.expm1(-band), math.expm1(band)),
                level=level,
                reason=reason,
                unit="return",
                severity=severity,
            )
        )
    return findings


def freshness(
    clean_prices: pd.DataFrame,
    now: pd.Timestamp,
    exchange: str = "XNYS",
    spec: FreshnessSpec | None = None,
) -> list[Finding]:
    """Sessions between each ticker's newest clean price and the last completed session."""
    spec = spec or FreshnessSpec()
    expected_day = last_completed_session(now, exchange)
    newest = pd.to_datetime(clean_prices["date"]).groupby(clean_prices["ticker"]).max()
    behind_by_day: dict[dt.date, int] = {}
    findings = []
    for ticker, stamp in newest.sort_index().items():
        day = stamp.date()
        if day not in behind_by_day:
            missed = trading_days(day + dt.timedelta(days=1), expected_day, exchange)
            behind_by_day[day] = len(missed) if day < expected_day else 0
        behind = behind_by_day[day]
        limit = spec.max_sessions_behind
        if behind > limit:
            level: Level = "anomalous"
        else:
            level = "normal" if behind == 0 else "borderline"
        plural = "session" if behind == 1 else "sessions"
        reason = (
            f"{ticker}'s newest clean price is for {day}, {behind} {plural} behind the last "
            f"completed {exchange} session {expected_day}; at most {limit} behind is expected."
        )
        findings.append(
            Finding(
                subject=f"ticker:{ticker}",
                metric="sessions_behind",
                value=float(behind),
                expected=(0.0, float(limit)),
                level=level,
                reason=reason,
                unit="sessions",
                severity="critical" if behind >= spec.critical_sessions_behind else "warning",
            )
        )
    return findings


def forecast_error(
    price_forecasts: pd.DataFrame,
    clean_prices: pd.DataFrame,
    spec: ForecastErrorSpec | None = None,
) -> list[Finding]:
    """The served model's realized MAE over the naive last close's, per ticker and horizon.

    Over the latest `window` forecasts whose target session has closed, whichever model
    version made them: what users of the forecasts actually got. Already realized rows
    (with error and naive_error, as accuracy.realized_errors makes) are used as they are.
    """
    spec = spec or ForecastErrorSpec()
    if {"error", "naive_error"} <= set(price_forecasts.columns):
        realized = price_forecasts
    else:
        realized = realized_errors(price_forecasts, clean_prices)
    findings = []
    ordered = realized.sort_values(["target_date", "date"])
    for (ticker, horizon), rows in ordered.groupby(["ticker", "horizon"], sort=True):
        latest = rows.tail(spec.window)
        mae, naive_mae = float(latest["error"].mean()), float(latest["naive_error"].mean())
        if len(latest) < spec.min_points or not naive_mae > 0:
            continue  # an unchanged close everywhere leaves the ratio undefined
        ratio = mae / naive_mae
        level, severity = _level(ratio, spec.enter, spec.exit, spec.critical)
        versions = ", ".join(sorted({str(v) for v in latest.get("model_version", [])}))
        made_by = f" (model version {versions})" if versions else ""
        position = "above" if ratio > spec.enter else "within"
        reason = (
            f"Over the last {len(latest)} realized {horizon}-session forecasts for {ticker}"
            f"{made_by}, the mean absolute error was {mae:.2f} against {naive_mae:.2f} for the "
            f"naive last-close forecast: {ratio:.2f}x, {position} the {spec.enter:.2f}x limit."
        )
        findings.append(
            Finding(
                subject=f"ticker:{ticker}",
                metric=f"forecast_error_ratio_h{horizon}",
                value=ratio,
                expected=(0.0, spec.enter),
                level=level,
                reason=reason,
                unit="ratio",
                severity=severity,
            )
        )
    return findings


def _day(value: object) -> str:
    return str(pd.Timestamp(value).date())  # type: ignore[arg-type]
