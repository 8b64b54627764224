"""Online forecasts: each horizon's champion on a ticker's latest features.

Champions are loaded once per version and re-checked every `refresh_seconds`, so a promotion
reaches a running API within that time without a restart; latest feature rows are cached per
warehouse version of the ticker's features, so a new materialization is seen at once. While the
registry is unavailable, a champion already loaded keeps serving (re-checked after another
`refresh_seconds`); a horizon with none loaded raises RegistryUnavailable.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from tickerpulse.errors import RegistryUnavailable, TickerPulseError, UnknownTicker
from tickerpulse.forecasting.champions import champion, load_champion, registered_name
from tickerpulse.forecasting.coverage import VOLATILITY_RANK_DATES
from tickerpulse.forecasting.forecast import LoadedChampion, champion_forecasts, forecast_record
from tickerpulse.stores.registry import ModelRegistry
from tickerpulse.stores.warehouse import Warehouse


class NoModel(TickerPulseError):
    """No champion is registered for the horizon yet."""


class UnknownHorizon(TickerPulseError):
    pass


@dataclass
class Predictor:
    registry: ModelRegistry
    warehouse: Warehouse
    base_name: str
    horizons: list[int]
    exchange: str = "XNYS"
    refresh_seconds: float = 30.0
    on_load: Callable[[str, float], None] | None = None  # (model name, seconds), for metrics
    # horizon -> (its loaded champion, when last checked against the registry: time.monotonic)
    _champions: dict[int, tuple[LoadedChampion, float]] = field(default_factory=dict)
    _features: dict[str, tuple[str, pd.DataFrame]] = field(default_factory=dict)
    # (ticker, horizon) -> (champion version, features version, forecast record)
    _predictions: dict[tuple[str, int], tuple[str, str, dict[str, Any]]] = field(
        default_factory=dict
    )
    _lock: threading.Lock = field(default_factory=threading.Lock)
    # Why the last registry check failed, None once one succeeds: readiness reports it.
    registry_problem: str | None = None

    def _fresh(self, horizon: int) -> LoadedChampion | None:
        """The loaded champion, if checked against the registry within refresh_seconds (one
        dict read and a clock read: every request's path)."""
        entry = self._champions.get(horizon)
        if entry is None or time.monotonic() - entry[1] >= self.refresh_seconds:
            return None
        return entry[0]

    def champion(self, horizon: int) -> LoadedChampion:
        if horizon not in self.horizons:
            served = ", ".join(str(h) for h in self.horizons)
            raise UnknownHorizon(f"horizon {horizon} is not served; choose one of {served}")
        fresh = self._fresh(horizon)
        if fresh is not None:
            return fresh
        with self._lock:  # one loader at a time; the others wait and reuse its result
            fresh = self._fresh(horizon)
            if fresh is not None:
                return fresh
            entry = self._champions.get(horizon)
            current = entry[0] if entry else None
            try:
                loaded = self._load(horizon, current)
            except RegistryUnavailable as error:
                self.registry_problem = str(error)
                if current is None:
                    raise
                # Keep serving what is loaded; ask again after refresh_seconds, so requests
                # meanwhile do not each wait on the registry.
                self._champions[horizon] = (current, time.monotonic())
                return current
            self.registry_problem = None
            self._champions[horizon] = (loaded, time.monotonic())
            return loaded

    def _load(self, horizon: int, current: LoadedChampion | None) -> LoadedChampion:
        """The horizon's champion: `current` if still the champion, or the new version loaded."""
        info = champion(self.registry, self.base_name, horizon)
        if info is None:
            name = registered_name(self.base_name, horizon)
            raise NoModel(f"no champion for {name} yet: materialize price_model in Dagster")
        if current and current.version == info.version:
            return current
        started = time.perf_counter()
        loaded = load_champion(self.registry, info)
        if self.on_load is not None:
            self.on_load(info.name, time.perf_counter() - started)
        return loaded

    def loaded(self) -> dict[int, str]:
        """horizon -> "name vVERSION" of each champion loaded in this process."""
        return {h: f"{c.name} v{c.version}" for h, (c, _) in sorted(self._champions.items())}

    def latest_features(self, ticker: str) -> pd.DataFrame:
        version = self.warehouse.version("price_features", ticker)
        cached = self._features.get(ticker)
        if cached and cached[0] == version:
            return cached[1]
        rows = self.warehouse.read("price_features", ticker)
        if rows.empty:
            raise UnknownTicker(f"{ticker} has no features yet: materialize price_features")
        # Enough trailing rows to rank the latest volatility (its interval's tercile).
        latest = rows.sort_values("date").tail(VOLATILITY_RANK_DATES).assign(ticker=ticker)
        self._features[ticker] = (version, latest)
        return latest

    def predict(self, ticker: str, horizon: int) -> dict[str, Any]:
        champion = self.champion(horizon)
        version = self.warehouse.version("price_features", ticker)
        memo = self._predictions.get((ticker, horizon))
        if memo is None or memo[:2] != (champion.version, version):
            memo = (champion.version, version, self._forecast(champion, ticker, horizon))
            self._predictions[(ticker, horizon)] = memo
        return {"id": uuid.uuid4().hex, "ticker": ticker, **memo[2]}

    def peek(self, ticker: str, horizon: int) -> dict[str, Any] | None:
        """The prediction when it needs no model load, registry call or read: the same
        champion on the same features as last time. Cheap enough for an event loop when the
        warehouse's version is a file stat; None otherwise (call `predict`)."""
        champion = self._fresh(horizon)
        memo = self._predictions.get((ticker, horizon))
        if (
            champion is None
            or memo is None
            or not self.warehouse.version_is_cheap
            or memo[:2] != (champion.version, self.warehouse.version("price_features", ticker))
        ):
            return None
        return {"id": uuid.uuid4().hex, "ticker": ticker, **memo[2]}

    def _forecast(self, champion: LoadedChampion, ticker: str, horizon: int) -> dict[str, Any]:
        """The champion on the ticker's latest features, on the batch forecasts' path: the same
        until either changes, so it is computed once per (champion version, features version)."""
        forecasts, skipped = champion_forecasts(
            champion, self.latest_features(ticker), horizon, self.exchange
        )
        if skipped:
            raise UnknownTicker(
                f"{ticker}'s latest features are incomplete (too little history): no forecast"
            )
        return forecast_record(forecasts.iloc[0])
