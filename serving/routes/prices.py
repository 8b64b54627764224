from fastapi import APIRouter

from serving.deps import ServicesDep
from serving.paging import DateWindow, read_page
from serving.schemas import Prices
from tickerpulse.queries import price_range

router = APIRouter(prefix="/v1/prices", tags=["prices"])


@router.get("/{ticker}", response_model=Prices, summary="Daily bars of one ticker")
def get_prices(ticker: str, services: ServicesDep, window: DateWindow) -> dict:
    symbol = services.universe.require(ticker)
    fields, bars = read_page(services, "prices", "clean_prices", symbol, window, price_range)
    return {**fields, "prices": bars}
