from fastapi import APIRouter, Response, status

from serving.deps import ServicesDep
from serving.schemas import Ticker, TickerCreate
from tickerpulse.queries import list_tickers
from tickerpulse.symbols import normalize_ticker

router = APIRouter(prefix="/v1/tickers", tags=["tickers"])


@router.get("", response_model=list[Ticker], summary="The active ticker universe")
def get_tickers(services: ServicesDep) -> list[dict]:
    return list_tickers(services.raw_store, services.warehouse)


@router.post(
    "",
    response_model=Ticker,
    status_code=status.HTTP_201_CREATED,
    summary="Add a ticker (or re-activate one); the Dagster universe sensor then fetches its history",
    responses={200: {"description": "the ticker was known and is active again"}},
)
def add_ticker(body: TickerCreate, services: ServicesDep, response: Response) -> dict:
    symbol = normalize_ticker(body.symbol)
    created = services.raw_store.add_ticker(symbol, body.source, body.name)
    if not created:
        response.status_code = status.HTTP_200_OK
    response.headers["Location"] = f"/v1/prices/{symbol}"
    listed = {row["symbol"]: row for row in list_tickers(services.raw_store, services.warehouse)}
    return listed[symbol]
