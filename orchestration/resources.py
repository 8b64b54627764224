"""Dagster resources: thin handles on the domain's stores, configured from Settings by default.

A field left empty means "the URL Settings resolves" (an env var or the embedded default), so
credentials in URLs never show in the Dagster UI.
"""

from __future__ import annotations

from functools import cached_property
from pathlib import Path

import dagster as dg

from tickerpulse.inbox import Inbox, LocalInbox
from tickerpulse.settings import Settings, get_settings
from tickerpulse.sources import get_source
from tickerpulse.sources.base import PriceSource
from tickerpulse.stores.raw import RawStore
from tickerpulse.stores.registry import ModelRegistry
from tickerpulse.stores.warehouse import Warehouse, open_warehouse


def _settings() -> Settings:
    return get_settings()


class RawStoreResource(dg.ConfigurableResource):
    url: str = ""

    @cached_property
    def store(self) -> RawStore:
        return RawStore(self.url or _settings().raw_db_url)


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


def default_resources() -> dict[str, dg.ConfigurableResource]:
    settings = _settings()
    return {
        "raw_store": RawStoreResource(),
        "warehouse": WarehouseResource(),
        "registry": RegistryResource(),
        "price_sources": PriceSourcesResource(seed=settings.synthetic_seed),
        "inbox": InboxResource(),
    }


class InboxResource(dg.ConfigurableResource):
    """Where CSV files are dropped; empty means var/inbox."""

    path: str = ""

    @cached_property
    def inbox(self) -> Inbox:
        return LocalInbox(Path(self.path) if self.path else _settings().inbox_dir)
