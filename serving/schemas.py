"""Response models: what the OpenAPI docs show and what clients can rely on."""

from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import BaseModel, Field


class Ticker(BaseModel):
    symbol: str
    name: str
    source: str = Field(description="where prices come from: csv, synthetic, stooq or yahoo")
    rows: int = Field(description="clean daily bars in the warehouse")
    first_date: dt.date | None
    last_date: dt.date | None


class TickerCreate(BaseModel):
    symbol: str = Field(examples=["MSFT"], description="1-20 letters, digits, '.', '-' or '_'")
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
    ticker: str = Field(examples=["ACME"])
    horizon: int = Field(1, ge=1, le=260, description="trading days ahead")


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
    dependencies: list[Dependency]
