from typing import Any

from fastapi import APIRouter, HTTPException, Response, status

from serving.deps import ServicesDep
from serving.schemas import PredictionRequestCreate, PredictionRequestStatus
from serving.security import ClientKey, charge_work
from tickerpulse.answering import REQUESTS_TOPIC, request_messages
from tickerpulse.predicting import UnknownHorizon

router = APIRouter(prefix="/v1/prediction-requests", tags=["predictions"])


@router.post(
    "",
    response_model=PredictionRequestStatus,
    status_code=status.HTTP_202_ACCEPTED,
    summary="Many tickers and horizons at once: queued on `prediction-requests`, poll for results",
    responses={
        401: {"description": "no or invalid API key"},
        404: {"description": "an unknown ticker; nothing was queued"},
        413: {"description": "the body is larger than MAX_BODY_BYTES; nothing was read"},
        422: {
            "description": "a horizon that is not served, or more predictions than the key "
            "may ask for in a minute; nothing was queued"
        },
        429: {"description": "the key's budget (predictions a minute) is spent; Retry-After"},
    },
)
async def request_predictions(
    body: PredictionRequestCreate, services: ServicesDep, response: Response, key: ClientKey
) -> dict[str, Any]:
    # Every ticker and horizon is checked before anything is queued: all or nothing.
    tickers = list(dict.fromkeys(services.universe.require(t) for t in body.tickers))
    horizons = sorted(set(body.horizons or services.settings.horizons))
    unknown = [h for h in horizons if h not in services.settings.horizons]
    if unknown:
        served = ", ".join(str(h) for h in services.settings.horizons)
        raise UnknownHorizon(f"horizon {unknown[0]} is not served; choose among {served}")
    work = len(tickers) * len(horizons)
    await charge_work(
        services,
        key,
        work,
        f"{work} predictions ({len(tickers)} tickers x {len(horizons)} horizons)",
    )
    request_id = services.prediction_requests.create(tickers, horizons, key.prefix)
    for message in request_messages(request_id, tickers, horizons):
        await services.bus.publish(REQUESTS_TOPIC, message)
    response.headers["Location"] = f"/v1/prediction-requests/{request_id}"
    return _status(services, request_id)


@router.get(
    "/{request_id}",
    response_model=PredictionRequestStatus,
    summary="Progress and the results so far of an asynchronous prediction request",
)
def get_prediction_request(request_id: str, services: ServicesDep) -> dict[str, Any]:
    return _status(services, request_id)


def _status(services: ServicesDep, request_id: str) -> dict[str, Any]:
    found = services.prediction_requests.progress(request_id)
    if found is None:
        raise HTTPException(404, f"no prediction request {request_id[:40]!r}")
    return found
