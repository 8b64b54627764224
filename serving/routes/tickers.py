from fastapi import APIRouter

from serving.deps import ServicesDep
from serving.schemas import Ticker
from tickerpulse.queries import list_tickers

router = APIRouter(prefix="/v1/tickers", tags=["tickers"])


@router.get("", response_model=list[Ticker], summary="The active ticker universe")
def get_tickers(services: ServicesDep) -> list[dict]:
    return list_tickers(services.raw_store, services.warehouse)
