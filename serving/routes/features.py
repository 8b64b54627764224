from fastapi import APIRouter

from serving.deps import ServicesDep
from serving.paging import DateWindow, read_page
from serving.schemas import Features
from tickerpulse.queries import feature_catalog, feature_range

router = APIRouter(prefix="/v1/features", tags=["features"])


@router.get(
    "/{ticker}",
    response_model=Features,
    summary="Point-in-time features of one ticker per day: what the models see",
)
def get_features(ticker: str, services: ServicesDep, window: DateWindow) -> dict:
    symbol = services.universe.require(ticker)
    fields, rows = read_page(services, "features", "price_features", symbol, window, feature_range)
    return {**fields, "features": feature_catalog(), "rows": rows}
