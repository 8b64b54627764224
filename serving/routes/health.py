import asyncio

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from serving import VERSION
from serving.deps import ServicesDep
from serving.schemas import Health, Readiness
from tickerpulse.readiness import check_dependencies

router = APIRouter(tags=["operations"])


@router.get("/healthz", response_model=Health, summary="The process is up")
def healthz() -> dict:
    return {"status": "ok", "version": VERSION}


@router.get(
    "/readyz",
    response_model=Readiness,
    summary="Each dependency's state; 503 when a required one is down",
    responses={503: {"model": Readiness, "description": "a required dependency is down"}},
)
async def readyz(services: ServicesDep) -> JSONResponse:
    dependencies = await asyncio.to_thread(
        check_dependencies,
        services.raw_store,
        services.warehouse,
        services.cache,
        services.bus,
        services.registry,
    )
    ready = all(d["ok"] for d in dependencies if d["required"])
    body = Readiness.model_validate({"ready": ready, "dependencies": dependencies}).model_dump()
    return JSONResponse(body, status_code=200 if ready else 503)


@router.get("/metrics", summary="Prometheus metrics", response_class=Response)
def metrics() -> Response:
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
