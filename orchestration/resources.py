"""Dagster resources: thin handles on the domain's stores, configured from Settings by default.

A field left empty means "the URL Settings resolves" (an env var or the embedded default), so
credentials in URLs never show in the Dagster UI.
"""

from __future__ import annotations

from functools import cached_property
from pathlib import Path

import dagster as dg
from dagster_aws.s3 import S3Resource

from orchestration.tracking import scoped_mlflow_tracking
from tickerpulse.inbox import Inbox, LocalInbox, S3Inbox
from tickerpulse.settings import Settings, get_settings
from tickerpulse.sources import get_source
from tickerpulse.sources.base import PriceSource
from tickerpulse.stores.operational import OperationalStore
from tickerpulse.stores.registry import ModelRegistry
from tickerpulse.stores.warehouse import Warehouse, open_warehouse


def _settings() -> Settings:
    return get_settings()


class OperationalStoreResource(dg.ConfigurableResource):
    url: str = ""

    @cached_property
    def store(self) -> OperationalStore:
        return OperationalStore(self.url or _settings().raw_db_url)


class WarehouseResource(dg.ConfigurableResource):
    url: str = ""

    @cached_property
    def warehouse(self) -> Warehouse:
        return open_warehouse(self.url or _settings().warehouse_url)


class RegistryResource(dg.ConfigurableResource):
    tracking_uri: str = ""
    artifact_uri: str = ""
    model_name: str = ""

    @cached_property
    def registry(self) -> ModelRegistry:
        settings = _settings()
        return ModelRegistry(
            self.tracking_uri or settings.mlflow_tracking_uri,
            self.artifact_uri or settings.mlflow_artifact_uri,
        )

    @property
    def base_name(self) -> str:
        return self.model_name or _settings().model_name


class PriceSourcesResource(dg.ConfigurableResource):
    """The sources tickers are fetched from; seed fixes the synthetic histories."""

    seed: int = 7

    def sources(self) -> dict[str, PriceSource]:
        return {name: get_source(name, seed=self.seed) for name in ("synthetic", "stooq", "yahoo")}


def default_resources() -> dict[str, dg.ConfigurableResource | dg.ResourceDefinition]:
    settings = _settings()
    return {
        "operational_store": OperationalStoreResource(),
        "warehouse": WarehouseResource(),
        "registry": RegistryResource(),
        # dagster-mlflow's key: its hook reads `context.resources.mlflow`.
        "mlflow": scoped_mlflow_tracking,
        "price_sources": PriceSourcesResource(seed=settings.synthetic_seed),
        "inbox": InboxResource(
            s3_bucket=settings.inbox_s3_bucket,
            s3_prefix=settings.inbox_s3_prefix,
            s3=S3Resource(endpoint_url=settings.s3_endpoint_url or None),
        ),
    }


class InboxResource(dg.ConfigurableResource):
    """Where CSV files are dropped: an S3/MinIO bucket when `s3_bucket` is set (through
    dagster-aws's S3 resource), else a folder (empty `path` means var/inbox)."""

    path: str = ""
    s3_bucket: str = ""
    s3_prefix: str = "inbox/"
    s3: S3Resource | None = None  # endpoint and credentials; None means AWS defaults

    @cached_property
    def inbox(self) -> Inbox:
        if self.s3_bucket:
            client = (self.s3 or S3Resource()).get_client()
            return S3Inbox(client, self.s3_bucket, self.s3_prefix)
        return LocalInbox(Path(self.path) if self.path else _settings().inbox_dir)
