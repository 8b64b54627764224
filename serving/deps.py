"""Stores for request handlers, created once per app and injected as Annotated dependencies."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from celery import Celery
from fastapi import Depends, Request

from serving.task_queue import QueueDepth, make_celery
from tickerpulse.predicting import Predictor
from tickerpulse.settings import Settings
from tickerpulse.stores.api_keys import ApiKeyStore
from tickerpulse.stores.cache import Cache, MemoryCache, open_cache
from tickerpulse.stores.events import EventBus, open_bus
from tickerpulse.stores.operational import OperationalStore
from tickerpulse.stores.prediction_requests import PredictionRequestStore
from tickerpulse.stores.registry import FOR_REQUESTS, ModelRegistry
from tickerpulse.stores.training_runs import TrainingRunStore
from tickerpulse.stores.warehouse import Warehouse, open_warehouse
from tickerpulse.universe import Universe


@dataclass
class Services:
    settings: Settings
    operational_store: OperationalStore
    warehouse: Warehouse
    cache: Cache
    bus: EventBus
    registry: ModelRegistry
    api_keys: ApiKeyStore
    predictor: Predictor
    verified_keys: MemoryCache
    local_cache: Cache  # this process's memory, in front of `cache` (the same one embedded)
    training_runs: TrainingRunStore
    celery: Celery
    queue_depth: QueueDepth
    prediction_requests: PredictionRequestStore
    universe: Universe

    @classmethod
    def from_settings(cls, settings: Settings) -> Services:
        operational_store = OperationalStore(
            settings.raw_db_url, settings.dependency_timeout_seconds
        )
        warehouse = open_warehouse(settings.warehouse_url, settings.dependency_timeout_seconds)
        registry = ModelRegistry(
            settings.mlflow_tracking_uri, settings.mlflow_artifact_uri, lookups=FOR_REQUESTS
        )
        celery = make_celery(settings)
        cache = open_cache(settings.cache_url, settings.cache_max_bytes)
        return cls(
            settings,
            operational_store,
            warehouse,
            cache,
            open_bus(settings.events_url),
            registry,
            ApiKeyStore(operational_store),
            Predictor(
                registry, warehouse, settings.model_name, settings.horizons, settings.exchange
            ),
            MemoryCache(max_bytes=1 << 20),  # verified keys: a few hundred bytes each
            cache if isinstance(cache, MemoryCache) else MemoryCache(settings.cache_max_bytes),
            TrainingRunStore(operational_store),
            celery,
            QueueDepth(celery),
            PredictionRequestStore(operational_store.engine),
            Universe(operational_store),
        )


async def get_services(request: Request) -> Services:
    # async although it waits for nothing: FastAPI runs sync dependencies in a thread.
    services: Services = request.app.state.services
    return services


ServicesDep = Annotated[Services, Depends(get_services)]
