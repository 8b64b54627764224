"""Stores for request handlers, created once per app and injected as Annotated dependencies."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request

from tickerpulse.settings import Settings
from tickerpulse.stores.cache import Cache, open_cache
from tickerpulse.stores.events import EventBus, open_bus
from tickerpulse.stores.raw import RawStore
from tickerpulse.stores.warehouse import Warehouse, open_warehouse


@dataclass
class Services:
    settings: Settings
    raw_store: RawStore
    warehouse: Warehouse
    cache: Cache
    bus: EventBus

    @classmethod
    def from_settings(cls, settings: Settings) -> Services:
        return cls(
            settings,
            RawStore(settings.raw_db_url),
            open_warehouse(settings.warehouse_url),
            open_cache(settings.cache_url),
            open_bus(settings.events_url),
        )


def get_services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


ServicesDep = Annotated[Services, Depends(get_services)]
