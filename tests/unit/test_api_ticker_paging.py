"""GET /v1/tickers at size: pages in symbol order, a bounded limit, a next link."""

import re

from fastapi.testclient import TestClient

from serving.app import create_app
from tickerpulse.settings import Settings
from tickerpulse.stores.operational import OperationalStore

UNIVERSE = [f"T{number:03d}" for number in range(250)]
NEXT = re.compile(r'^<(/v1/tickers\?[^>]+)>; rel="next"$')


def universe(settings: Settings, symbols: list[str]) -> None:
    store = OperationalStore(settings.raw_db_url)
    for symbol in symbols:
        store.add_ticker(symbol, source="synthetic", name=f"Company {symbol}")


def walk(client: TestClient, url: str) -> tuple[list[list[str]], list[str]]:
    """Every page from `url` on, following the next links; and the links followed."""
    pages, links = [], []
    while url:
        response = client.get(url)
        assert response.status_code == 200, response.text
        pages.append([row["symbol"] for row in response.json()])
        link = response.headers.get("link")
        url = NEXT.match(link).group(1) if link else ""  # type: ignore[union-attr]
        links.append(url)
    return pages, links


def test_the_universe_comes_a_page_at_a_time_in_symbol_order(store_settings: Settings) -> None:
    universe(store_settings, list(reversed(UNIVERSE)))
    with TestClient(create_app(store_settings)) as client:
        first = client.get("/v1/tickers")
        assert len(first.json()) == 100  # the default page
        assert [row["symbol"] for row in first.json()] == UNIVERSE[:100]
        pages, links = walk(client, "/v1/tickers?limit=60")
    assert [len(page) for page in pages] == [60, 60, 60, 60, 10]
    assert [s for page in pages for s in page] == UNIVERSE  # each once, in order
    assert all("limit=60" in link for link in links[:-1]) and links[-1] == ""


def test_a_search_keeps_its_query_across_pages(store_settings: Settings) -> None:
    universe(store_settings, UNIVERSE)
    with TestClient(create_app(store_settings)) as client:
        pages, _ = walk(client, "/v1/tickers?q=t1&limit=4")
    assert [s for page in pages for s in page] == [s for s in UNIVERSE if s.startswith("T1")]
    assert len(pages) == 25


def test_a_ticker_added_between_pages_moves_no_other_row(store_settings: Settings) -> None:
    universe(store_settings, UNIVERSE[:10])
    with TestClient(create_app(store_settings)) as client:
        first = client.get("/v1/tickers?limit=5")
        universe(store_settings, ["A000", "T004A"])  # one before the page boundary, one after
        following = NEXT.match(first.headers["link"]).group(1)  # type: ignore[union-attr]
        second = client.get(following)
    assert [row["symbol"] for row in first.json()] == UNIVERSE[:5]
    assert [row["symbol"] for row in second.json()] == UNIVERSE[5:10]
    assert "link" not in second.headers


def test_limits_and_cursors_are_checked(store_settings: Settings) -> None:
    universe(store_settings, UNIVERSE[:3])
    with TestClient(create_app(store_settings)) as client:
        for query in (
            "limit=0",
            "limit=1001",
            "limit=x",
            "cursor=not-a-cursor",
            "cursor=" + "A" * 65,
        ):
            refused = client.get(f"/v1/tickers?{query}")
            assert refused.status_code == 422, query
            assert refused.headers["content-type"] == "application/problem+json"
        # A cursor must be one exactly as the API wrote it: base64 of lower case is refused.
        assert client.get("/v1/tickers?cursor=dDAwMQ").status_code == 422
        assert len(client.get("/v1/tickers?limit=1000").json()) == 3


def test_paging_is_in_the_openapi_document(store_settings: Settings) -> None:
    with TestClient(create_app(store_settings)) as client:
        operation = client.get("/openapi.json").json()["paths"]["/v1/tickers"]["get"]
    parameters = {p["name"]: p for p in operation["parameters"]}
    assert parameters["limit"]["schema"]["maximum"] == 1000
    assert parameters["limit"]["schema"]["default"] == 100
    assert "cursor" in parameters
    assert "Link" in operation["responses"]["200"]["headers"]
