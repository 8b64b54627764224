"""Model and pipeline quality as Prometheus gauges, read from the stores when scraped.

Request handlers never call this. A scrape recomputes the figures at most once every
REFRESH_SECONDS and serves the ones it kept in between; tables of the embedded warehouse that
have not changed since they were last read (a file stat tells) are not read again.
When a part fails, its previous figures stay and tickerpulse_quality_refresh_errors_total
counts the failure, so one unreachable store never takes /metrics down.

Check results come from the operational database, where Dagster's `check_results_to_store`
sensor copies them: the API does not open Dagster's instance.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from functools import cached_property
from typing import Any

import numpy as np
import pandas as pd
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from runtime.collectors import replace_collector
from serving.deps import Services
from tickerpulse.anomaly.daily import ForecastErrorSpec, freshness
from tickerpulse.features import FEATURES
from tickerpulse.forecasting import champions
from tickerpulse.forecasting.accuracy import realized_errors, served_coverage
from tickerpulse.forecasting.champions import registered_name
from tickerpulse.forecasting.coverage import TERCILES
from tickerpulse.forecasting.drift import feature_drift
from tickerpulse.settings import Settings
from tickerpulse.stores.check_results import CheckResultStore
from tickerpulse.stores.operational import OperationalStore
from tickerpulse.stores.registry import ModelRegistry
from tickerpulse.stores.warehouse import Warehouse

logger = logging.getLogger(__name__)

REFRESH_SECONDS = 30.0
# The realized forecasts a ratio covers: the anomaly detector's window, so the dashboard
# shows what the detector judges.
ERROR_WINDOW = ForecastErrorSpec().window

Part = Callable[[], list[Metric]]


def recent_accuracy(
    forecasts: pd.DataFrame, realized: pd.DataFrame, window: int = ERROR_WINDOW
) -> pd.DataFrame:
    """Per ticker and horizon: the latest `window` realized forecasts' (`realized_errors` of
    `forecasts`) MAE over the naive MAE and interval coverage; every pair with a forecast
    appears, with scored = 0 until one realizes."""
    pairs = forecasts[["ticker", "horizon"]].drop_duplicates()
    realized = realized.sort_values(["target_date", "date"])
    latest = realized.groupby(["ticker", "horizon"]).tail(window)
    scored = latest.groupby(["ticker", "horizon"], as_index=False).agg(
        scored=("error", "size"),
        mae=("error", "mean"),
        naive_mae=("naive_error", "mean"),
        coverage_80=("inside_80", "mean"),
        coverage_95=("inside_95", "mean"),
    )
    table = pairs.merge(scored, on=["ticker", "horizon"], how="left")
    table["scored"] = table["scored"].fillna(0).astype(int)
    # An unchanged close on every day leaves the ratio undefined: no series, not infinity.
    table["ratio"] = table["mae"] / table["naive_mae"].where(table["naive_mae"] > 0)
    return table.sort_values(["ticker", "horizon"]).reset_index(drop=True)


def _gauge(name: str, documentation: str, labels: list[str], rows: Iterable[tuple]) -> Metric:
    family = GaugeMetricFamily(name, documentation, labels=labels)
    for *values, value in rows:
        family.add_metric([str(v) for v in values], float(value))
    return family


class QualityCollector(Collector):
    def __init__(
        self,
        operational_store: OperationalStore,
        warehouse: Warehouse,
        registry: ModelRegistry,
        settings: Settings,
        refresh_seconds: float = REFRESH_SECONDS,
    ) -> None:
        self.operational_store, self.warehouse, self.registry = (
            operational_store,
            warehouse,
            registry,
        )
        self.settings, self.refresh_seconds = settings, refresh_seconds
        self.parts: dict[str, Part] = {
            "forecasts": self._forecast_quality,
            "coverage_by_volatility": self._coverage_by_volatility,
            "champions": self._champions,
            "drift": self._drift,
            "freshness": self._freshness,
            "operational_store": self._operational_store,
            "checks": self._checks,
        }
        self._lock = threading.Lock()
        self._figures: dict[str, list[Metric]] = {}
        self._memo: dict[str, tuple[str, Any]] = {}
        self._errors = dict.fromkeys(self.parts, 0)
        self._refreshed_at = -float("inf")
        self._refresh_seconds = 0.0

    def describe(self) -> list[Metric]:
        return []  # registering must not compute anything (the app is starting)

    def collect(self) -> Iterator[Metric]:
        with self._lock:  # concurrent scrapes wait for one computation rather than repeat it
            if time.monotonic() - self._refreshed_at >= self.refresh_seconds:
                self._refresh()
            figures = [metric for part in self._figures.values() for metric in part]
            errors = dict(self._errors)
            took = self._refresh_seconds
        yield from figures
        failures = CounterMetricFamily(
            "tickerpulse_quality_refresh_errors",
            "Quality figures that could not be recomputed (the previous ones were kept), by part",
            labels=["part"],
        )
        for part, count in errors.items():
            failures.add_metric([part], count)
        yield failures
        yield GaugeMetricFamily(
            "tickerpulse_quality_refresh_seconds",
            "How long the last recomputation of the quality figures took",
            value=took,
        )

    def _refresh(self) -> None:
        started = time.perf_counter()
        for name, compute in self.parts.items():
            try:
                self._figures[name] = compute()
            except Exception:
                self._errors[name] += 1
                logger.exception("quality metrics: %s failed; keeping its previous figures", name)
        self._refreshed_at = time.monotonic()
        self._refresh_seconds = time.perf_counter() - started

    def _unless_unchanged(
        self, key: str, tables: tuple[str, ...], compute: Callable[[], Any]
    ) -> Any:
        """compute(), or its last result while `tables` are unchanged: the embedded warehouse
        tells from a file stat, and a chDB query holds the session request handlers use too."""
        stamps = (
            [self.warehouse.version(t) for t in tables] if self.warehouse.version_is_cheap else []
        )
        version = "|".join(stamps) if stamps and all(stamps) else ""
        held = self._memo.get(key)
        if version and held is not None and held[0] == version:
            return held[1]
        result = compute()
        self._memo[key] = (version, result)
        return result

    # the parts ---------------------------------------------------------------------------
    def _score_forecasts(self) -> tuple[pd.DataFrame, pd.DataFrame] | None:
        """The forecast history and its realized errors, which the accuracy and the coverage
        figures both start from."""
        forecasts = self.warehouse.read("price_forecasts")
        if forecasts.empty:
            return None
        # Only the closes a forecast can be scored against.
        prices = self.warehouse.read(
            "clean_prices", start=forecasts["target_date"].min(), columns="ticker, date, close"
        )
        return forecasts, realized_errors(forecasts, prices)

    def _scored(self) -> tuple[pd.DataFrame, pd.DataFrame] | None:
        tables = ("price_forecasts", "clean_prices")
        scored: tuple[pd.DataFrame, pd.DataFrame] | None = self._unless_unchanged(
            "scored", tables, self._score_forecasts
        )
        return scored

    def _accuracy(self) -> pd.DataFrame | None:
        scored = self._scored()
        return None if scored is None else recent_accuracy(*scored)

    def _forecast_quality(self) -> list[Metric]:
        tables = ("price_forecasts", "clean_prices")
        table = self._unless_unchanged("accuracy", tables, self._accuracy)
        if table is None:
            return []
        rated = table[np.isfinite(table["ratio"])]
        coverage = [
            (row.ticker, row.horizon, level, getattr(row, f"coverage_{level}"))
            for row in table[table["scored"] > 0].itertuples()
            for level in (80, 95)
        ]
        return [
            _gauge(
                "tickerpulse_forecasts_scored",
                f"Realized forecasts behind the error and coverage figures (the latest {ERROR_WINDOW} at most)",
                ["ticker", "horizon"],
                zip(table["ticker"], table["horizon"], table["scored"], strict=True),
            ),
            _gauge(
                "tickerpulse_forecast_error_vs_naive_ratio",
                "Realized MAE of the published forecasts over the MAE of the naive last close on the same days",
                ["ticker", "horizon"],
                zip(rated["ticker"], rated["horizon"], rated["ratio"], strict=True),
            ),
            _gauge(
                "tickerpulse_forecast_interval_coverage_ratio",
                "Share of realized closes inside the forecast interval (level: its nominal coverage in %)",
                ["ticker", "horizon", "level"],
                coverage,
            ),
        ]

    def _served_coverage(self) -> pd.DataFrame | None:
        scored = self._scored()
        return None if scored is None else served_coverage(scored[1], self._features())

    def _read_features(self) -> pd.DataFrame:
        return self.warehouse.read(
            "price_features", columns=", ".join(["ticker", "date", *FEATURES])
        )

    def _features(self) -> pd.DataFrame:
        """price_features' columns the drift and coverage figures use, read once per change."""
        features: pd.DataFrame = self._unless_unchanged(
            "features", ("price_features",), self._read_features
        )
        return features

    def _coverage_by_volatility(self) -> list[Metric]:
        tables = ("price_forecasts", "clean_prices", "price_features")
        table = self._unless_unchanged("served_coverage", tables, self._served_coverage)
        if table is None:
            return []
        rows = [
            (int(row["horizon"]), label, tercile, row[f"coverage_{label}_{tercile}_volatility"])
            for _, row in table.iterrows()
            for label in (80, 95)
            for tercile in TERCILES
            if np.isfinite(row[f"coverage_{label}_{tercile}_volatility"])
        ]
        return [
            _gauge(
                "tickerpulse_served_interval_coverage_by_volatility_ratio",
                "Share of realized closes inside the served forecasts' intervals, by the volatility "
                "tercile of the session each forecast was made from (level: nominal coverage in %)",
                ["horizon", "level", "volatility"],
                rows,
            )
        ]

    def _champions(self) -> list[Metric]:
        rows = []
        for horizon in self.settings.horizons:
            name = registered_name(self.settings.model_name, horizon)
            champion = champions.champion(self.registry, self.settings.model_name, horizon)
            if champion is not None:
                kind = champion.params.get("model", "unknown")
                rows.append((name, horizon, kind, float(champion.version)))
        return [
            _gauge(
                "tickerpulse_champion_version",
                "Registry version of the champion of each horizon (the model kind as a label)",
                ["model_name", "horizon", "model"],
                rows,
            )
        ]

    def _drift_table(self) -> pd.DataFrame | None:
        try:
            return feature_drift(self._features(), FEATURES)
        except (ValueError, KeyError):
            return None  # too little history (or none yet) to compare recent days with

    def _drift(self) -> list[Metric]:
        table = self._unless_unchanged("drift", ("price_features",), self._drift_table)
        if table is None:
            return []
        return [
            _gauge(
                "tickerpulse_feature_drift_psi",
                "Population stability index of each feature: the last 63 sessions against all before",
                ["feature"],
                zip(table["feature"], table["psi"], strict=True),
            )
        ]

    def _freshness(self) -> list[Metric]:
        active = {row["symbol"] for row in self.operational_store.list_tickers()}
        summary = self._unless_unchanged(
            "summary", ("clean_prices",), lambda: self.warehouse.summary("clean_prices")
        )
        summary = summary[summary["ticker"].isin(active)]
        if summary.empty:
            return []
        newest = summary.rename(columns={"last_date": "date"})[["ticker", "date"]]
        findings = freshness(newest, pd.Timestamp.now(tz="UTC"), self.settings.exchange)
        behind = [(f.subject.removeprefix("ticker:"), f.value) for f in findings]
        last_dates = pd.to_datetime(summary["last_date"]).astype("int64") // 10**9
        return [
            _gauge(
                "tickerpulse_sessions_behind",
                "Trading sessions between a ticker's newest clean price and the last completed session",
                ["ticker"],
                behind,
            ),
            _gauge(
                "tickerpulse_clean_prices_last_date_timestamp_seconds",
                "A ticker's newest clean price date (midnight UTC), as a Unix time",
                ["ticker"],
                zip(summary["ticker"], last_dates, strict=True),
            ),
            _gauge(
                "tickerpulse_clean_price_rows",
                "Rows of clean_prices per ticker",
                ["ticker"],
                zip(summary["ticker"], summary["rows"], strict=True),
            ),
        ]

    def _checks(self) -> list[Metric]:
        # Dagster's sensor (and bootstrap) copy the latest results to the operational database:
        # no Dagster instance is opened here.
        results = self._check_results.latest()
        return [
            _gauge(
                "tickerpulse_asset_check_failed",
                "1 when the latest evaluation of the asset check failed, 0 when it passed",
                ["asset", "check", "severity"],
                ((r.asset, r.check, r.severity, float(not r.passed)) for r in results),
            )
        ]

    @cached_property
    def _check_results(self) -> CheckResultStore:
        # Built (its table made if missing) once, at the first refresh: not at start-up, and
        # not again every refresh. A failure is not cached: the next refresh tries again.
        return CheckResultStore(self.operational_store)

    def _operational_store(self) -> list[Metric]:
        ingested, rejected = self.operational_store.ingestion_counts()
        # Every registered ticker, so a ticker with nothing ingested (or quarantined) shows 0.
        tickers = sorted(
            {row["symbol"] for row in self.operational_store.list_tickers(active_only=False)}
            | set(ingested)
            | set(rejected)
        )
        last_ingested = [
            (ticker, _unix_time(ingested[ticker][1])) for ticker in tickers if ticker in ingested
        ]
        return [
            _gauge(
                "tickerpulse_raw_price_rows",
                "Rows ingested into the operational store per ticker",
                ["ticker"],
                [(ticker, ingested.get(ticker, (0, None))[0]) for ticker in tickers],
            ),
            _gauge(
                "tickerpulse_quarantined_rows",
                "Input rows rejected with a reason and kept in the quarantine table, per ticker",
                ["ticker"],
                [(ticker, rejected.get(ticker, 0)) for ticker in tickers],
            ),
            _gauge(
                "tickerpulse_raw_prices_last_ingested_timestamp_seconds",
                "When a ticker's rows were last written to the operational store, as a Unix time",
                ["ticker"],
                last_ingested,
            ),
        ]


def _unix_time(stamp: Any) -> float:
    moment = pd.Timestamp(stamp)
    if moment.tzinfo is None:  # SQLite hands back naive datetimes: they were stored in UTC
        moment = moment.tz_localize("UTC")
    return moment.timestamp()


def watch_quality(services: Services) -> None:
    """Report this app's model and pipeline quality."""
    replace_collector(
        "quality",
        QualityCollector(
            services.operational_store, services.warehouse, services.registry, services.settings
        ),
    )
