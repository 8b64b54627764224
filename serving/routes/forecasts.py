from fastapi import APIRouter

from serving.caching import cached
from serving.deps import ServicesDep
from serving.schemas import Forecasts
from tickerpulse.errors import UnknownTicker
from tickerpulse.queries import known_ticker, latest_forecasts

router = APIRouter(prefix="/v1/forecasts", tags=["forecasts"])


@router.get(
    "/{ticker}",
    response_model=Forecasts,
    summary="The latest forecast of each horizon, with 80/95 % intervals and model version",
)
def get_forecasts(ticker: str, services: ServicesDep) -> dict:
    symbol = known_ticker(services.raw_store, ticker)
    forecasts = cached(
        services,
        "forecasts",
        "price_forecasts",
        symbol,
        "latest",
        lambda: latest_forecasts(services.warehouse, symbol),
    )
    if not forecasts:
        raise UnknownTicker(f"{symbol} has no forecast yet: materialize price_forecasts in Dagster")
    return {"ticker": symbol, "forecasts": forecasts}
