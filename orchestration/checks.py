"""Asset checks: each reads back what its asset stored. Blocking ones stop the downstream."""

import dagster as dg
import numpy as np
import pandas as pd

from orchestration.assets.features import price_features
from orchestration.assets.ingestion import clean_prices, raw_prices
from orchestration.assets.models import price_model
from orchestration.assets.predictions import price_forecasts
from orchestration.metadata import markdown_table
from orchestration.resources import OperationalStoreResource, RegistryResource, WarehouseResource
from tickerpulse.calendar import last_completed_session
from tickerpulse.cleaning import CLEAN_COLUMNS
from tickerpulse.features import FEATURES, LONGEST_WINDOW
from tickerpulse.forecasting import champions
from tickerpulse.forecasting.champions import registered_name
from tickerpulse.forecasting.forecast import forecastable
from tickerpulse.forecasting.models import BASELINE
from tickerpulse.ingestion import FETCHED_SOURCES
from tickerpulse.quality import (
    missing_sessions,
    ohlc_violations,
    return_outliers,
    schema_problems,
    split_candidates,
    stale_tickers,
)
from tickerpulse.settings import get_settings


def _examples(frame: pd.DataFrame) -> dg.MetadataValue:
    return dg.MetadataValue.md(markdown_table(frame, limit=10))


@dg.asset_check(asset=raw_prices, blocking=True, description="Every active ticker has stored rows.")
def raw_prices_every_ticker_has_rows(
    operational_store: OperationalStoreResource,
) -> dg.AssetCheckResult:
    store = operational_store.store
    last_dates = store.last_dates()
    empty = [row["symbol"] for row in store.list_tickers() if row["symbol"] not in last_dates]
    return dg.AssetCheckResult(
        passed=not empty,
        metadata={
            "tickers_with_rows": len(last_dates),
            "tickers_without_rows": ", ".join(empty) or "none",
        },
    )


@dg.asset_check(
    asset=clean_prices,
    blocking=True,
    description="low <= open, close <= high; prices > 0; volume >= 0.",
)
def clean_prices_ohlc_consistent(warehouse: WarehouseResource) -> dg.AssetCheckResult:
    prices = warehouse.warehouse.read("clean_prices")
    bad = ohlc_violations(prices)
    return dg.AssetCheckResult(
        passed=bad.empty and not prices.empty,
        metadata={"rows_checked": len(prices), "violations": len(bad), "examples": _examples(bad)},
    )


@dg.asset_check(
    asset=clean_prices, blocking=True, description="At most one row per ticker and day."
)
def clean_prices_unique_days(warehouse: WarehouseResource) -> dg.AssetCheckResult:
    prices = warehouse.warehouse.read("clean_prices", columns="ticker, date")
    duplicated = prices[prices.duplicated(["ticker", "date"], keep=False)]
    return dg.AssetCheckResult(
        passed=duplicated.empty,
        metadata={
            "rows_checked": len(prices),
            "duplicates": len(duplicated),
            "examples": _examples(duplicated),
        },
    )


@dg.asset_check(asset=clean_prices, description="Trading days (exchange calendar) with no row.")
def clean_prices_calendar_gaps(warehouse: WarehouseResource) -> dg.AssetCheckResult:
    prices = warehouse.warehouse.read("clean_prices", columns="ticker, date")
    exchange = get_settings().exchange
    gaps = {
        str(ticker): missing_sessions(rows["date"], exchange)
        for ticker, rows in prices.groupby("ticker")
    }
    table = pd.DataFrame(
        [
            {"ticker": t, "missing_days": len(days), "first_missing": days[0] if days else None}
            for t, days in gaps.items()
        ]
    )
    missing = int(table["missing_days"].sum()) if len(table) else 0
    return dg.AssetCheckResult(
        passed=missing == 0,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={"missing_days": missing, "per_ticker": _examples(table)},
    )


@dg.asset_check(
    asset=price_features,
    blocking=True,
    description="No infinities; every ticker past its warm-up has complete rows.",
)
def price_features_usable(warehouse: WarehouseResource) -> dg.AssetCheckResult:
    features = warehouse.warehouse.read("price_features")
    values = features[FEATURES].to_numpy(dtype=float)
    infinite = int(np.isinf(values).sum())
    complete = features[FEATURES].notna().all(axis=1).groupby(features["ticker"]).sum()
    # A ticker no longer than the longest window (a new CSV of a few days) cannot have a
    # complete row yet: reported, not failed, or it would block every run until it grows.
    short = features.groupby("ticker").size() <= LONGEST_WINDOW
    without = sorted(complete[(complete == 0) & ~short].index)
    warming = sorted(complete[(complete == 0) & short].index)
    return dg.AssetCheckResult(
        passed=infinite == 0 and not without and not features.empty,
        metadata={
            "infinite_values": infinite,
            "tickers_without_complete_rows": ", ".join(without) or "none",
            "tickers_warming_up": ", ".join(warming) or "none",
            "complete_rows_per_ticker": _examples(complete.rename("complete_rows").reset_index()),
        },
    )


@dg.asset_check(
    asset=price_model,
    blocking=True,
    description=(
        "The promotion gate held: each horizon's champion is the random walk or beats it "
        "significantly (Diebold-Mariano), and the model_meta history names the version the "
        "champion alias points to."
    ),
)
def price_model_promotion_gate(
    registry: RegistryResource, operational_store: OperationalStoreResource
) -> dg.AssetCheckResult:
    rows = []
    settings = get_settings()
    for horizon in settings.horizons:
        name = registered_name(registry.base_name, horizon)
        champion = champions.champion(registry.registry, registry.base_name, horizon)
        history = operational_store.store.alias_history(name)
        promotions = [h for h in history if h["to_alias"] == "champion"]
        latest = promotions[-1] if promotions else None
        challengers = [h for h in history if h["to_alias"] == "challenger"]
        rows.append(
            {
                "horizon": horizon,
                "version": champion.version if champion else None,
                "model": champion.params.get("model") if champion else None,
                "relative_mae": champion.metrics["relative_mae"] if champion else np.nan,
                # Champions registered before the significance gate carry no p-value.
                "dm_pvalue": champion.metrics.get("dm_pvalue", np.nan) if champion else np.nan,
                "coverage_80": champion.metrics["coverage_80"] if champion else np.nan,
                "recorded_version": latest["version"] if latest else None,
                "last_gate": challengers[-1]["reason"] if challengers else None,
            }
        )
    table = pd.DataFrame(rows)
    significant = table["dm_pvalue"].isna() | (table["dm_pvalue"] < settings.promotion_significance)
    beats = ((table["relative_mae"] < 1.0) & significant) | (table["model"] == BASELINE)
    recorded = table["version"].notna() & (table["version"] == table["recorded_version"])
    return dg.AssetCheckResult(
        passed=bool((beats & recorded).all()),
        metadata={"champions": _examples(table)},
    )


@dg.asset_check(
    asset=price_forecasts,
    blocking=True,
    description="Intervals nest around the forecast; every ticker covered.",
)
def price_forecasts_intervals_ordered(
    warehouse: WarehouseResource, operational_store: OperationalStoreResource
) -> dg.AssetCheckResult:
    forecasts = warehouse.warehouse.read("price_forecasts")
    ordered = (
        (
            (forecasts["lower_95"] <= forecasts["lower_80"])
            & (forecasts["lower_80"] <= forecasts["forecast"])
            & (forecasts["forecast"] <= forecasts["upper_80"])
            & (forecasts["upper_80"] <= forecasts["upper_95"])
            & (forecasts["lower_95"] > 0)
        )
        if len(forecasts)
        else pd.Series(dtype=bool)
    )
    # Every ticker that can be forecast has one; a ticker too new for its features' warm-up
    # (or not cleaned yet) is reported, not failed: it must not block every later retrain.
    universe = {row["symbol"] for row in operational_store.store.list_tickers()}
    features = warehouse.warehouse.read("price_features")
    expected = universe & set(forecastable(features)[0]["ticker"]) if len(features) else set()
    missing = sorted(expected - set(forecasts.get("ticker", [])))
    return dg.AssetCheckResult(
        passed=bool(ordered.all()) and not missing and not forecasts.empty,
        metadata={
            "forecasts": len(forecasts),
            "misordered": int((~ordered).sum()),
            "tickers_without_forecast": ", ".join(missing) or "none",
            "tickers_not_forecastable_yet": ", ".join(sorted(universe - expected)) or "none",
            "examples": _examples(forecasts[~ordered]) if len(forecasts) else _examples(forecasts),
        },
    )


@dg.asset_check(
    asset=raw_prices,
    description="Fetched tickers reach the last completed session of the exchange.",
)
def raw_prices_fresh(operational_store: OperationalStoreResource) -> dg.AssetCheckResult:
    store = operational_store.store
    fetched = {row["symbol"] for row in store.list_tickers() if row["source"] in FETCHED_SOURCES}
    expected = last_completed_session(exchange=get_settings().exchange)
    stale = stale_tickers({t: d for t, d in store.last_dates().items() if t in fetched}, expected)
    table = pd.DataFrame([{"ticker": t, "last_date": d} for t, d in stale.items()])
    return dg.AssetCheckResult(
        passed=not stale,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={
            "last_session": str(expected),
            "stale_tickers": len(stale),
            "examples": _examples(table),
        },
    )


@dg.asset_check(
    asset=clean_prices,
    description=(
        "Daily moves beyond 8 robust sigmas, flagged and kept. Warns when one is among a "
        "ticker's last 5 sessions: new data a person should look at."
    ),
)
def clean_prices_return_outliers(warehouse: WarehouseResource) -> dg.AssetCheckResult:
    prices = warehouse.warehouse.read("clean_prices", columns="ticker, date, close")
    flagged = return_outliers(prices)
    recent_days = prices.sort_values("date").groupby("ticker").tail(5)[["ticker", "date"]]
    recent = flagged.merge(recent_days, on=["ticker", "date"])
    return dg.AssetCheckResult(
        passed=recent.empty,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={
            "outliers_in_history": len(flagged),
            "outliers_in_last_5_sessions": len(recent),
            "recent": _examples(recent),
            "history_examples": _examples(flagged.sort_values("z", key=abs, ascending=False)),
        },
    )


@dg.asset_check(
    asset=clean_prices,
    description="Overnight jumps matching a split ratio (2:1, 3:1, 1:10, ...) in adjusted prices.",
)
def clean_prices_unadjusted_splits(warehouse: WarehouseResource) -> dg.AssetCheckResult:
    prices = warehouse.warehouse.read("clean_prices", columns="ticker, date, open, close")
    found = split_candidates(prices)
    return dg.AssetCheckResult(
        passed=found.empty,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={"split_candidates": len(found), "examples": _examples(found)},
    )


@dg.asset_check(
    asset=clean_prices,
    blocking=True,
    description="The warehouse table has the expected columns and types: dates, positive floats.",
)
def clean_prices_schema(warehouse: WarehouseResource) -> dg.AssetCheckResult:
    prices = warehouse.warehouse.read("clean_prices")
    problems = schema_problems(prices, ["ticker", *CLEAN_COLUMNS])
    return dg.AssetCheckResult(
        passed=not problems and not prices.empty,
        metadata={
            "columns": ", ".join(prices.columns),
            "problems": "; ".join(problems) or "none",
        },
    )
