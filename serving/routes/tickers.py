from typing import Annotated

from fastapi import APIRouter, Query, Request, Response, status

from serving.deps import ServicesDep
from serving.paging import decode_symbol_cursor, encode_cursor
from serving.schemas import Ticker, TickerCreate
from serving.security import AdminKey
from tickerpulse.queries import list_tickers
from tickerpulse.symbols import normalize_ticker

router = APIRouter(prefix="/v1/tickers", tags=["tickers"])


MAX_TICKERS_PAGE = 1000

_NEXT_LINK = {
    "Link": {
        "description": 'The next page, when there is one: `</v1/tickers?limit=100&cursor=...>; rel="next"` '
        "(RFC 8288; the query of this request with the cursor of the next page)",
        "schema": {"type": "string"},
    }
}


@router.get(
    "",
    response_model=list[Ticker],
    summary="The active ticker universe, or a search in it, a page at a time in symbol order",
    responses={200: {"description": "a page of tickers, by symbol", "headers": _NEXT_LINK}},
)
def get_tickers(
    services: ServicesDep,
    request: Request,
    response: Response,
    q: Annotated[
        str | None,
        Query(max_length=40, description="symbol prefix or part of the name, any case"),
    ] = None,
    limit: Annotated[
        int, Query(ge=1, le=MAX_TICKERS_PAGE, description="at most this many tickers")
    ] = 100,
    cursor: Annotated[
        str | None,
        Query(
            max_length=64,
            description='from the previous page\'s `Link: <...>; rel="next"` header; '
            "the other parameters unchanged",
        ),
    ] = None,
) -> list[dict]:
    rows = list_tickers(services.operational_store, services.warehouse)
    if q:
        needle = q.strip().upper()
        rows = [r for r in rows if r["symbol"].startswith(needle) or needle in r["name"].upper()]
    if cursor is not None:
        # The cursor is the next page's first symbol (inclusive): rows are in symbol order,
        # so a ticker added or removed meanwhile moves no other row across a page boundary.
        first = decode_symbol_cursor(cursor)
        rows = [r for r in rows if r["symbol"] >= first]
    if len(rows) > limit:
        following = request.url.include_query_params(cursor=encode_cursor(rows[limit]["symbol"]))
        response.headers["Link"] = f'<{following.path}?{following.query}>; rel="next"'
    return rows[:limit]


@router.post(
    "",
    response_model=Ticker,
    status_code=status.HTTP_201_CREATED,
    summary="Add a ticker (or re-activate one); the Dagster universe sensor then fetches its history",
    responses={200: {"description": "the ticker was known and is active again"}},
)
def add_ticker(body: TickerCreate, services: ServicesDep, response: Response, _: AdminKey) -> dict:
    symbol = normalize_ticker(body.symbol)
    created = services.operational_store.add_ticker(symbol, body.source, body.name)
    services.universe.forget()
    if not created:
        response.status_code = status.HTTP_200_OK
    response.headers["Location"] = f"/v1/prices/{symbol}"
    listed = {
        row["symbol"]: row for row in list_tickers(services.operational_store, services.warehouse)
    }
    return listed[symbol]


@router.delete(
    "/{ticker}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Deactivate a ticker: no more fetching or forecasts; its history is kept",
)
def deactivate_ticker(ticker: str, services: ServicesDep, _: AdminKey) -> Response:
    symbol = services.universe.require(ticker)
    services.operational_store.deactivate_ticker(symbol)
    services.universe.forget()
    return Response(status_code=status.HTTP_204_NO_CONTENT)
