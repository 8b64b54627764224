import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.exceptions import RequestValidationError

from serving.caching import cached
from serving.deps import ServicesDep
from serving.schemas import Prices
from tickerpulse.queries import known_ticker, price_range

router = APIRouter(prefix="/v1/prices", tags=["prices"])


@router.get("/{ticker}", response_model=Prices, summary="Daily bars of one ticker")
def get_prices(
    ticker: str,
    services: ServicesDep,
    request: Request,
    start: Annotated[dt.date | None, Query(description="first day, YYYY-MM-DD")] = None,
    end: Annotated[dt.date | None, Query(description="last day, YYYY-MM-DD")] = None,
    limit: Annotated[int, Query(ge=1, le=10_000, description="at most this many bars")] = 1000,
) -> dict:
    symbol = known_ticker(services.raw_store, ticker)
    if start and end and start > end:
        raise RequestValidationError(
            [
                {
                    "loc": ("query", "start"),
                    "msg": f"must not be after end {end}",
                    "input": str(start),
                }
            ]
        )
    bars = cached(
        services,
        "prices",
        "clean_prices",
        symbol,
        f"{start}:{end}:{limit}",
        lambda: price_range(services.warehouse, symbol, start, end, limit),
    )
    return {"ticker": symbol, "start": start, "end": end, "count": len(bars), "prices": bars}
