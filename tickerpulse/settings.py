"""One Settings object: every backend is chosen by a URL, and all embedded state lives under var/."""

from __future__ import annotations

import datetime as dt
from functools import lru_cache
from pathlib import Path

from pydantic import AliasChoices, Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parents[1]

_SCHEMES = {
    "raw_db_url": ("sqlite", "postgresql"),
    "warehouse_url": ("chdb", "clickhouse"),
    "cache_url": ("memory", "redis"),
    "events_url": ("memory", "kafka"),
}


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_file=PROJECT_ROOT / ".env", extra="ignore", populate_by_name=True
    )

    environment: str = Field("development", validation_alias="TICKERPULSE_ENV")
    data_dir: Path = Field(
        PROJECT_ROOT / "var",
        validation_alias=AliasChoices("TICKERPULSE_DATA_DIR", "data_dir"),
        description="Where embedded state lives (SQLite, Parquet, MLflow, Dagster).",
    )
    raw_db_url: str = ""
    warehouse_url: str = ""
    mlflow_tracking_uri: str = ""
    mlflow_artifact_uri: str = ""
    cache_url: str = "memory://"
    cache_ttl_seconds: float = 60.0
    # The API's in-process cache, in bytes of cached JSON: what a client can make it hold.
    # Redis is bounded by its own maxmemory (scripts/redis.sh, docker/compose.yaml).
    cache_max_bytes: int = Field(64 << 20, ge=1 << 20)
    # The largest request body the API reads (500 tickers x 20 characters is about 12 KB);
    # larger is 413 before anything parses it.
    max_body_bytes: int = Field(64 << 10, ge=1 << 10)
    # How long the API waits on one call to a store (a connection, a lock, a statement, a
    # warehouse query) before it answers 503 naming the store. A failing request must answer
    # within 5 s; on a loaded machine a 3 s wait came back as a 503 after 4.4 s, so 2.5.
    dependency_timeout_seconds: float = Field(2.5, gt=0, le=5)
    events_url: str = "memory://"
    metrics_interval_seconds: float = 5.0
    # Whether the API answers prediction requests itself. Unset: yes on the in-process bus
    # (embedded), no on Kafka, where `python -m serving.prediction_worker` processes do.
    prediction_worker_in_api: bool | None = None
    # Whether the API runs the relay (/v1/stream) and the metrics publisher itself. Unset:
    # yes on the in-process bus; on Kafka they are services of their own (realtime.service).
    realtime_in_api: bool | None = None
    relay_group: str = "tickerpulse-relay"  # Kafka consumer groups <this>-<topic>
    relay_port: int = 8001
    stream_heartbeat_seconds: float = Field(15.0, gt=0)
    # What one client may hold of the relay: channels per connection, connections per API key
    # and per address (a bench of many clients on one host raises the last).
    stream_max_channels: int = Field(100, ge=1)
    stream_max_connections_per_key: int = Field(50, ge=1)
    stream_max_connections_per_ip: int = Field(500, ge=1)
    stream_max_messages_per_second: float = Field(10.0, gt=0)  # a client's subscribes etc.
    anomaly_check_seconds: float = Field(300.0, gt=0)  # daily-data checks; metrics as they come
    # Full mode: `python -m serving.prediction_worker` processes `tickerpulse up` starts.
    prediction_workers: int = Field(2, ge=1)
    # Where browsers reach the relay when it is its own service (full mode); the API tells the
    # web page. Unset: the page's own origin, /v1/stream (the API's relay, embedded).
    stream_public_url: str = ""
    # Set: Dagster's instance is docker/dagster.yaml (PostgreSQL storage, queued runs, compute
    # logs in S3 bucket DAGSTER_COMPUTE_LOG_BUCKET); unset: dagster.yaml (SQLite under var/).
    dagster_postgres_url: str = ""
    celery_broker_url: str = ""
    # Redis broker: an unacknowledged training task is handed out again after this long.
    celery_visibility_timeout_seconds: float = Field(3600.0, ge=1)

    inbox_s3_bucket: str = ""  # set to watch s3://bucket/prefix instead of var/inbox
    inbox_s3_prefix: str = "inbox/"
    s3_endpoint_url: str = ""  # MinIO or moto_server; empty means AWS

    exchange: str = "XNYS"
    model_name: str = "tickerpulse-price"
    horizons: list[int] = [1, 5]
    # Walk-forward: folds of `walk_forward_fold_dates` sessions (each retrains once: the
    # retraining schedule) covering the last `walk_forward_test_sessions` sessions, or as many
    # as the history holds; `walk_forward_folds` fixes the count instead.
    walk_forward_folds: int | None = Field(default=None, ge=2)
    walk_forward_fold_dates: int = Field(default=63, ge=5)
    walk_forward_test_sessions: int = Field(default=2000, ge=10)
    # Training a universe walks forward on at most this many folds, wider ones when the test
    # sessions need more (evaluation.fold_plan): each fold refits every candidate, and at 500
    # tickers 33 quarterly folds took over 20 minutes. Unset: quarterly folds however many.
    walk_forward_max_folds: int | None = Field(default=8, ge=2)
    # The gate promotes a model only when a one-sided Diebold-Mariano test against the random
    # walk (and against the champion) is significant at this level.
    promotion_significance: float = Field(default=0.05, gt=0, lt=0.5)
    # Unset: every fold trains on all history before it (expanding). Set: only the last N
    # sessions (rolling), for markets whose old regime no longer says much. At least 250.
    training_window_dates: int | None = Field(default=None, ge=250)
    # Each walk-forward fold, and the registered model, fits on a uniform sample of at most
    # this many training rows (evaluation.training_sample); test rows are never sampled.
    # Unset: every row. At 500 tickers x 20 years (2.5 M rows) fitting on everything took
    # most of an hour; docs/benchmarks.md shows the sampled evaluation against the full one.
    training_max_rows: int | None = Field(default=250_000, ge=10_000)
    synthetic_seed: int = 7
    demo_years: int = 10  # history `tickerpulse up` ingests for fetched tickers
    history_start: dt.date = dt.date(2006, 1, 3)  # first trading-day partition

    # Browsers on these origins may call the API (the web page in development, say).
    cors_origins: list[str] = ["http://127.0.0.1:5173", "http://localhost:5173"]
    api_host: str = "127.0.0.1"
    api_port: int = 8000
    dagster_port: int = 3000
    mlflow_ui_port: int = 5000  # `tickerpulse up` serves the embedded MLflow store here

    @model_validator(mode="after")
    def _embedded_defaults(self) -> Settings:
        """Fill every unset URL with the embedded backend under data_dir."""
        data = self.data_dir.resolve()
        self.data_dir = data
        self.raw_db_url = self.raw_db_url or f"sqlite:///{data / 'raw.db'}"
        self.warehouse_url = self.warehouse_url or f"chdb://{data / 'warehouse'}"
        self.mlflow_tracking_uri = self.mlflow_tracking_uri or f"sqlite:///{data / 'mlflow.db'}"
        if self.mlflow_tracking_uri.startswith("sqlite") and not self.mlflow_artifact_uri:
            # A tracking server decides where artifacts go (S3 in full mode); a file store here.
            self.mlflow_artifact_uri = (data / "mlruns").as_uri()
        self.celery_broker_url = self.celery_broker_url or f"sqla+sqlite:///{data / 'celery.db'}"
        for field, schemes in _SCHEMES.items():
            url: str = getattr(self, field)
            scheme = url.split("://", 1)[0].split("+", 1)[0]
            if "://" not in url or scheme not in schemes:
                allowed = ", ".join(f"{s}://" for s in schemes)
                raise ValueError(f"{field.upper()}={url!r} is not supported; use one of {allowed}")
        _check_cache_apart(self.cache_url, self.celery_broker_url)
        return self

    @field_validator("horizons")
    @classmethod
    def _positive_horizons(cls, horizons: list[int]) -> list[int]:
        if not horizons or any(h < 1 for h in horizons):
            raise ValueError("HORIZONS must be a non-empty list of positive trading-day counts")
        return sorted(set(horizons))

    @property
    def answers_prediction_requests(self) -> bool:
        if self.prediction_worker_in_api is not None:
            return self.prediction_worker_in_api
        return self.events_url.startswith("memory")

    @property
    def runs_realtime_in_api(self) -> bool:
        if self.realtime_in_api is not None:
            return self.realtime_in_api
        return self.events_url.startswith("memory")

    @property
    def dagster_home(self) -> Path:
        return self.data_dir / "dagster"

    @property
    def dagster_ui_url(self) -> str:
        """Where people browse Dagster runs: `<dagster_ui_url>/runs/<run id>`."""
        return f"http://{self.api_host}:{self.dagster_port}"

    @property
    def mlflow_ui_url(self) -> str:
        """Where people browse MLflow runs: the tracking server, or the UI `up` starts."""
        if self.mlflow_tracking_uri.startswith("http"):
            return self.mlflow_tracking_uri.rstrip("/")
        return f"http://{self.api_host}:{self.mlflow_ui_port}"

    @property
    def inbox_dir(self) -> Path:
        return self.data_dir / "inbox"


def _check_cache_apart(cache_url: str, broker_url: str) -> None:
    """The cache's Redis database may be flushed and its keys evicted under memory pressure;
    Celery's queued tasks must not be, so the two never share a database."""

    def database(url: str) -> tuple[str, str] | None:
        if not url.startswith(("redis://", "rediss://")):
            return None
        server, _, path = url.split("://", 1)[1].rpartition("@")[2].partition("/")
        return server, path.split("?", 1)[0] or "0"

    shared = database(cache_url)
    if shared is not None and shared == database(broker_url):
        server, number = shared  # no credentials in the message: it ends up in logs
        raise ValueError(
            f"CACHE_URL and CELERY_BROKER_URL both name Redis database {number} on {server}: "
            "give the cache a database of its own (e.g. /2 for the cache, /3 for the broker)"
        )


@lru_cache
def get_settings() -> Settings:
    return Settings()  # type: ignore[call-arg]  # every field has a default
