"""Response models: what the OpenAPI docs show and what clients can rely on."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from pydantic import BaseModel, Field

# Strings a client sends are bounded here, so nothing longer reaches the domain or an error
# message: a symbol is 1-20 characters (tickerpulse.symbols); a little room for spaces.
SymbolText = Annotated[str, Field(min_length=1, max_length=24, examples=["ACME"])]
Horizon = Annotated[int, Field(ge=1, le=260, description="trading days ahead")]


class Ticker(BaseModel):
    symbol: str
    name: str
    source: str = Field(description="where prices come from: csv, synthetic, stooq or yahoo")
    rows: int = Field(description="clean daily bars in the warehouse")
    first_date: dt.date | None
    last_date: dt.date | None


class TickerCreate(BaseModel):
    symbol: SymbolText = Field(
        examples=["MSFT"], description="1-20 letters, digits, '.', '-' or '_'"
    )
    source: Literal["synthetic", "stooq", "yahoo"] = Field(
        description="where its prices are fetched; files go through the inbox or `tickerpulse ingest`"
    )
    name: str = Field("", max_length=200)


class PriceBar(BaseModel):
    date: dt.date
    open: float
    high: float
    low: float
    close: float
    volume: float


class Page(BaseModel):
    ticker: str
    start: dt.date | None = Field(description="first day of this page's window (a cursor's day)")
    end: dt.date | None
    count: int
    next_cursor: str | None = Field(
        description="pass as `cursor` for the next page; null on the last page and without `start`"
    )


class Prices(Page):
    prices: list[PriceBar]


class FeatureInfo(BaseModel):
    name: str
    description: str


class FeatureRow(BaseModel):
    date: dt.date
    close: float
    values: dict[str, float | None] = Field(
        description="feature name -> value; null while a window is still warming up"
    )


class Features(Page):
    features: list[FeatureInfo] = Field(description="the features models use, in their order")
    rows: list[FeatureRow]


class Interval(BaseModel):
    lower: float
    upper: float


class Forecast(BaseModel):
    horizon: int = Field(description="trading days ahead")
    as_of: dt.date = Field(description="session whose close the forecast starts from")
    target_date: dt.date
    last_close: float
    forecast: float
    interval_80: Interval
    interval_95: Interval
    model_name: str
    model_version: str
    model: str = Field(description="the estimator behind the version: naive, drift, ridge, ...")
    created_at: dt.datetime


class Forecasts(BaseModel):
    ticker: str
    forecasts: list[Forecast]


class Health(BaseModel):
    status: str
    version: str


class PredictionRequest(BaseModel):
    ticker: SymbolText
    horizon: Horizon = 1


class Prediction(Forecast):
    id: str = Field(description="also the key of the event published to the predictions topic")
    ticker: str


class ModelVersion(BaseModel):
    version: str
    model: str = Field(description="naive, drift, ridge, ridge_per_ticker, gradient_boosting")
    relative_mae: float = Field(description="walk-forward MAE / random walk MAE; < 1 beats it")
    directional_accuracy: float
    coverage_80: float
    coverage_95: float
    dm_pvalue: float | None = Field(
        None,
        description="one-sided Diebold-Mariano p-value against the random walk (nested "
        "selection's forecast); none for versions registered before the test",
    )
    coverage_80_by_volatility: list[float] | None = Field(
        None, description="80 % interval coverage per volatility tercile: low, mid, high"
    )
    coverage_95_by_volatility: list[float] | None = Field(
        None, description="95 % interval coverage per volatility tercile: low, mid, high"
    )
    coverage_80_by_fold: list[float] = Field(
        default_factory=list,
        description="80 % interval coverage of each walk-forward test fold (63 sessions), oldest first",
    )
    trained_window: str = Field(description="first and last date of the training data")
    run_id: str


class AliasChange(BaseModel):
    version: str
    from_alias: str | None
    to_alias: str
    reason: str
    changed_at: dt.datetime


class ModelScope(BaseModel):
    name: str = Field(description="registered model: one per horizon")
    horizon: int
    champion: ModelVersion | None
    challenger: ModelVersion | None
    history: list[AliasChange]


class Dependency(BaseModel):
    name: str
    ok: bool
    required: bool = Field(description="a required dependency down makes the API not ready")
    detail: str


class Readiness(BaseModel):
    ready: bool
    status: Literal["ready", "degraded", "not ready"] = Field(
        description="degraded: ready, but an optional dependency is down (see reasons)"
    )
    reasons: list[str] = Field(description="each dependency that is down, and why")
    dependencies: list[Dependency]


class TrainingRunCreate(BaseModel):
    scope: str | None = Field(
        None,
        max_length=200,
        description="the registered model family to train (default: the configured one, "
        "e.g. tickerpulse-price: every horizon)",
    )


class TrainingRun(BaseModel):
    id: str
    scope: str
    state: Literal["queued", "running", "succeeded", "failed"]
    progress: float = Field(ge=0, le=1, description="share of the Dagster run's steps done")
    step: str = Field(description="what the run is doing, in words")
    attempts: int = Field(description="worker attempts; above 1 when a lost worker was replaced")
    dagster_run_id: str | None
    dagster_run_url: str | None = Field(description="the run in the Dagster UI")
    mlflow_run_ids: dict[str, str] = Field(description="horizon (h1, h5, ...) -> MLflow run id")
    error: str | None
    requested_by: str = Field(description="prefix of the API key that asked")
    created_at: dt.datetime
    started_at: dt.datetime | None
    finished_at: dt.datetime | None


class PredictionRequestCreate(BaseModel):
    tickers: list[SymbolText] = Field(min_length=1, max_length=500, examples=[["ACME", "GOOG"]])
    horizons: list[Horizon] | None = Field(
        None, min_length=1, max_length=20, description="default: every horizon served"
    )


class PredictionError(BaseModel):
    ticker: str
    horizon: int
    detail: str


class PredictionRequestStatus(BaseModel):
    id: str
    state: Literal["queued", "running", "done"]
    tickers: list[str]
    horizons: list[int]
    total: int = Field(description="ticker x horizon predictions asked for")
    done: int = Field(description="answered so far, predictions and errors")
    failed: int
    requested_by: str
    created_at: dt.datetime
    results: list[Prediction]
    errors: list[PredictionError]
