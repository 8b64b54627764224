import asyncio

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from serving import VERSION
from serving.deps import ServicesDep
from serving.schemas import Health, Readiness
from tickerpulse.readiness import check_dependencies, readiness

router = APIRouter(tags=["operations"])


@router.get("/healthz", response_model=Health, summary="The process is up")
def healthz() -> dict:
    return {"status": "ok", "version": VERSION}


@router.get(
    "/readyz",
    response_model=Readiness,
    summary="Each dependency's state: ready, degraded (and why), or 503 if a required one is down",
    responses={503: {"model": Readiness, "description": "a required dependency is down"}},
)
async def readyz(services: ServicesDep) -> JSONResponse:
    dependencies = await asyncio.to_thread(
        check_dependencies,
        services.operational_store,
        services.warehouse,
        services.cache,
        services.bus,
        services.registry,
        services.predictor.loaded(),
        services.predictor.registry_problem,
    )
    body = Readiness.model_validate(readiness(dependencies)).model_dump()
    return JSONResponse(body, status_code=200 if body["ready"] else 503)


@router.get("/metrics", summary="Prometheus metrics", response_class=Response)
def metrics() -> Response:
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
