from typing import Any

from fastapi import APIRouter, Response

from serving.caching import cached_response
from serving.deps import ServicesDep
from serving.schemas import Forecasts
from tickerpulse.errors import UnknownTicker
from tickerpulse.queries import latest_forecasts

router = APIRouter(prefix="/v1/forecasts", tags=["forecasts"])


@router.get(
    "/{ticker}",
    response_model=Forecasts,
    summary="The latest forecast of each horizon, with 80/95 % intervals and model version",
)
async def get_forecasts(ticker: str, services: ServicesDep) -> Response:
    symbol = services.universe.require(ticker)

    def read() -> dict[str, Any]:
        forecasts = latest_forecasts(services.warehouse, symbol)
        if not forecasts:
            raise UnknownTicker(
                f"{symbol} has no forecast yet: materialize price_forecasts in Dagster"
            )
        return {"ticker": symbol, "forecasts": forecasts}

    return await cached_response(services, Forecasts, "forecasts", "price_forecasts", symbol, read)
