import asyncio

from fastapi import APIRouter, Response

from serving.deps import ServicesDep
from serving.metrics import PREDICTIONS_TOTAL
from serving.schemas import Prediction, PredictionRequest
from serving.security import ClientKey
from tickerpulse.stores.events import encode_event

router = APIRouter(prefix="/v1/predictions", tags=["predictions"])


@router.post(
    "",
    response_model=Prediction,
    summary="Forecast one ticker now with the horizon's champion; published to `predictions`",
    responses={
        401: {"description": "no or invalid API key"},
        404: {"description": "unknown ticker, or no features yet"},
        429: {"description": "the key's rate limit; see Retry-After"},
        503: {"description": "no champion model trained yet"},
    },
)
async def predict(body: PredictionRequest, services: ServicesDep, key: ClientKey) -> Response:
    symbol = services.universe.require(body.ticker)
    # Model loads and warehouse reads block: off the event loop, unless nothing changed.
    prediction = services.predictor.peek(symbol, body.horizon)
    if prediction is None:
        prediction = await asyncio.to_thread(services.predictor.predict, symbol, body.horizon)
    PREDICTIONS_TOTAL.labels(prediction["model_name"], prediction["model_version"]).inc()
    await services.bus.publish("predictions", {**prediction, "source": "online", "key": key.prefix})
    # The record is built by forecast_record, whose fields are the Prediction schema's: sent
    # as it is, without validating it again per request.
    return Response(encode_event(prediction), media_type="application/json")
