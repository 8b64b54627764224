"""/v1/features and cursor paging of the per-day endpoints, through the real app."""

import datetime as dt
import math
from collections.abc import Iterator

import pandas as pd
import pytest
from fastapi.testclient import TestClient

from serving.app import create_app
from serving.paging import Window, encode_cursor
from tickerpulse.features import FEATURES, compute_features
from tickerpulse.settings import Settings
from tickerpulse.stores.warehouse import open_warehouse

pytestmark = pytest.mark.slow
PROBLEM = "application/problem+json"
# The endpoint and the field its rows come in.
PAGED = [("/v1/prices/GOOG", "prices"), ("/v1/features/GOOG", "rows")]


@pytest.fixture
def client(platform_settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(platform_settings)) as test_client:
        yield test_client


@pytest.fixture
def expected_features(platform_settings: Settings) -> pd.DataFrame:
    """GOOG's features computed here from its clean prices, independently of the pipeline."""
    prices = open_warehouse(platform_settings.warehouse_url).read("clean_prices", "GOOG")
    return compute_features(prices).set_index("date")


def test_features_are_what_the_feature_code_computes_from_clean_prices(
    client: TestClient, expected_features: pd.DataFrame
) -> None:
    day = expected_features.index[300]  # every window warmed up
    body = client.get("/v1/features/goog", params={"start": str(day), "end": str(day)}).json()
    assert body["ticker"] == "GOOG" and body["count"] == 1 and body["next_cursor"] is None
    [row] = body["rows"]
    expected = expected_features.loc[day]
    assert row["date"] == str(day) and row["close"] == pytest.approx(expected["close"])
    assert list(row["values"]) == FEATURES
    assert row["values"] == pytest.approx({name: expected[name] for name in FEATURES})


def test_features_are_listed_in_model_order_with_a_description(client: TestClient) -> None:
    features = client.get("/v1/features/GOOG", params={"limit": 1}).json()["features"]
    assert [f["name"] for f in features] == FEATURES
    assert all(f["description"] for f in features)


def test_warm_up_values_are_json_null(client: TestClient, expected_features: pd.DataFrame) -> None:
    first_days = expected_features.head(60)
    response = client.get(
        "/v1/features/GOOG", params={"start": str(first_days.index[0]), "limit": 60}
    )
    assert response.status_code == 200 and "NaN" not in response.text
    rows = response.json()["rows"]
    nulls = {(r["date"], name) for r in rows for name, v in r["values"].items() if v is None}
    missing = {
        (str(day), name)
        for day, row in first_days.iterrows()
        for name in FEATURES
        if math.isnan(row[name])
    }
    assert nulls == missing and ("2004-08-19", "ret_1") in nulls
    assert rows[0]["values"]["day_of_week"] is not None


def test_unknown_tickers_are_404_problems(client: TestClient) -> None:
    for path in ("/v1/features/NOPE", "/v1/features/%2e%2e"):
        response = client.get(path)
        assert response.status_code == 404 and response.headers["content-type"] == PROBLEM
        assert "/v1/tickers" in response.json()["detail"]


@pytest.mark.parametrize(
    ("params", "detail"),
    [
        ({"start": "2024-13-01"}, "start: Input should be a valid date"),
        ({"start": "2012-05-01", "end": "2012-01-01"}, "start: must not be after end 2012-01-01"),
        ({"limit": "0"}, "limit: Input should be greater than or equal to 1"),
    ],
)
def test_bad_dates_and_limits_are_422_problems(
    client: TestClient, params: dict, detail: str
) -> None:
    response = client.get("/v1/features/GOOG", params=params)
    assert response.status_code == 422 and response.headers["content-type"] == PROBLEM
    assert detail in response.json()["detail"]


def _follow(client: TestClient, path: str, field: str, params: dict) -> list[list[dict]]:
    """Every page from `params` on, following next_cursor with the other parameters unchanged."""
    pages, cursor = [], None
    while True:
        body = client.get(path, params={**params, **({"cursor": cursor} if cursor else {})}).json()
        pages.append(body[field])
        assert body["count"] == len(body[field])
        cursor = body["next_cursor"]
        if cursor is None:
            return pages
        assert len(pages) < 1000, "cursors do not advance"


@pytest.mark.parametrize(("path", "field"), PAGED)
@pytest.mark.parametrize(
    "window",
    [
        {"start": "2011-01-01", "end": "2011-12-31"},
        {"start": "2012-06-01"},  # to the last bar
    ],
)
@pytest.mark.parametrize("limit", [7, 100])
def test_cursors_cover_a_range_exactly_once_in_order(
    client: TestClient, path: str, field: str, window: dict, limit: int
) -> None:
    whole = client.get(path, params={**window, "limit": 10_000}).json()
    assert whole["next_cursor"] is None and len(whole[field]) > 150
    pages = _follow(client, path, field, {**window, "limit": limit})
    assert all(len(page) == limit for page in pages[:-1]) and 1 <= len(pages[-1]) <= limit
    assert [row for page in pages for row in page] == whole[field]
    # Again, now from the cache: the same pages.
    assert _follow(client, path, field, {**window, "limit": limit}) == pages


@pytest.mark.parametrize(("path", "field"), PAGED)
def test_a_page_ending_on_the_last_row_has_no_next_cursor(
    client: TestClient, path: str, field: str
) -> None:
    window = {"start": "2011-01-01", "end": "2011-12-31"}
    count = client.get(path, params=window).json()["count"]
    assert client.get(path, params={**window, "limit": count}).json()["next_cursor"] is None
    assert len(_follow(client, path, field, {**window, "limit": count - 1})) == 2


def test_without_a_start_the_latest_rows_come_with_no_cursor(client: TestClient) -> None:
    body = client.get("/v1/prices/GOOG", params={"limit": 3}).json()
    assert [bar["date"] for bar in body["prices"]] == ["2013-02-27", "2013-02-28", "2013-03-01"]
    assert body["next_cursor"] is None


def test_a_cursor_alone_pages_forward_from_its_day(client: TestClient) -> None:
    body = client.get(
        "/v1/prices/GOOG", params={"cursor": encode_cursor(dt.date(2013, 2, 27)), "limit": 2}
    ).json()
    assert [bar["date"] for bar in body["prices"]] == ["2013-02-27", "2013-02-28"]
    last = client.get("/v1/prices/GOOG", params={"cursor": body["next_cursor"]}).json()
    assert [bar["date"] for bar in last["prices"]] == ["2013-03-01"]
    assert last["next_cursor"] is None


@pytest.mark.parametrize(("path", "field"), PAGED)
@pytest.mark.parametrize(
    "cursor",
    [
        "not-a-cursor",
        encode_cursor("yesterday"),
        encode_cursor(dt.date(2011, 1, 3)) + "==",  # padded: not the string we handed out
        "é",
        "x" * 65,
    ],
)
def test_malformed_cursors_are_422_problems(
    client: TestClient, path: str, field: str, cursor: str
) -> None:
    response = client.get(path, params={"start": "2011-01-01", "cursor": cursor})
    assert response.status_code == 422 and response.headers["content-type"] == PROBLEM
    assert response.json()["detail"].startswith("cursor: ")


def test_cursors_survive_rows_cached_as_json() -> None:
    # Through Redis, cached dates come back as ISO text: the cursor must not change.
    window = Window(dt.date(2011, 1, 3), None, 1)
    as_dates = window.page([{"date": dt.date(2011, 1, 3)}, {"date": dt.date(2011, 1, 4)}])
    as_text = window.page([{"date": "2011-01-03"}, {"date": "2011-01-04"}])
    assert as_dates[1] == as_text[1] == encode_cursor(dt.date(2011, 1, 4))
