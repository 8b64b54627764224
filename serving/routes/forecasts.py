from typing import Annotated, Any

from fastapi import APIRouter, Header, Response

from serving.caching import MAX_IF_NONE_MATCH_CHARS, cached_response
from serving.deps import ServicesDep
from serving.fast_reads import answered_from_cache
from serving.schemas import Forecasts
from tickerpulse.errors import UnknownTicker
from tickerpulse.queries import latest_forecasts

router = APIRouter(prefix="/v1/forecasts", tags=["forecasts"])
KIND, TABLE = "forecasts", "price_forecasts"


@router.get(
    "/{ticker}",
    response_model=Forecasts,
    summary="The latest forecast of each horizon, with 80/95 % intervals and model version",
    responses={304: {"description": "If-None-Match names the current ETag: nothing changed"}},
)
@answered_from_cache(KIND, TABLE)
async def get_forecasts(
    ticker: str,
    services: ServicesDep,
    if_none_match: Annotated[str | None, Header(max_length=MAX_IF_NONE_MATCH_CHARS)] = None,
) -> Response:
    symbol = services.universe.require(ticker)

    def read() -> dict[str, Any]:
        forecasts = latest_forecasts(services.warehouse, symbol)
        if not forecasts:
            raise UnknownTicker(
                f"{symbol} has no forecast yet: materialize price_forecasts in Dagster"
            )
        return {"ticker": symbol, "forecasts": forecasts}

    return await cached_response(services, Forecasts, KIND, TABLE, symbol, read, if_none_match)
