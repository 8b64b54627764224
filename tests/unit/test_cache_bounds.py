"""The response cache is bounded in bytes, and request parameters cannot mint keys without end."""

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from serving.app import create_app
from tests.conftest import synthetic_panel
from tickerpulse.features import compute_features
from tickerpulse.settings import Settings, get_settings
from tickerpulse.stores.cache import MemoryCache
from tickerpulse.stores.operational import OperationalStore
from tickerpulse.stores.warehouse import open_warehouse

MAX_BYTES = 1 << 20  # 1 MiB: a few hundred feature rows of JSON fill it


class TestMemoryCache:
    def test_it_holds_at_most_its_bytes_and_drops_the_least_recently_used(self) -> None:
        cache = MemoryCache(max_bytes=10_000)
        cache.set("kept", "k" * 1000, 60)
        for i in range(100):
            cache.set(f"v{i}", "x" * 1000, 60)
            assert cache.get("kept") is not None  # read every time: the most recently used
        assert cache.size_bytes <= 10_000
        # 1,000 bytes of value plus the key and bookkeeping: at most nine fit in 10,000.
        assert 5 <= len(cache) <= 9
        assert cache.get("v99") == "x" * 1000 and cache.get("v0") is None

    def test_a_value_larger_than_the_whole_bound_is_not_kept(self) -> None:
        cache = MemoryCache(max_bytes=10_000)
        cache.set("small", "s", 60)
        cache.set("huge", "h" * 20_000, 60)
        assert cache.get("huge") is None and cache.get("small") == "s"

    def test_objects_are_counted_by_their_json_encoding(self) -> None:
        cache = MemoryCache(max_bytes=1 << 20)
        rows = [{"date": "2024-01-02", "close": 1.5}] * 100  # 35 bytes of JSON each, and commas
        cache.set("rows", rows, 60)
        assert 3_600 <= cache.size_bytes <= 3_600 + 500

    def test_the_setting_bounds_the_apis_cache(
        self, settings: Settings, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        assert settings.cache_max_bytes == 64 << 20  # the default: 64 MiB
        monkeypatch.setenv("CACHE_MAX_BYTES", str(MAX_BYTES))
        get_settings.cache_clear()
        assert get_settings().cache_max_bytes == MAX_BYTES


@pytest.fixture
def features_settings(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Settings:
    monkeypatch.setenv("CACHE_MAX_BYTES", str(MAX_BYTES))
    get_settings.cache_clear()
    settings = get_settings()
    OperationalStore(settings.raw_db_url).add_ticker("ACME", source="synthetic")
    features = compute_features(synthetic_panel(("ACME",), years=3)).drop(columns="ticker")
    open_warehouse(settings.warehouse_url).write_partition("price_features", "ACME", features)
    return settings


@pytest.fixture
def client(features_settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(features_settings)) as test_client:
        yield test_client


@pytest.fixture
def feature_days(features_settings: Settings) -> list[str]:
    """Every day of ACME's features, read from the warehouse, not through the API."""
    frame = open_warehouse(features_settings.warehouse_url).read("price_features", "ACME")
    return [str(day) for day in frame["date"]]


def test_many_distinct_limits_stay_within_the_byte_bound_and_answer_right(
    client: TestClient, feature_days: list[str]
) -> None:
    cache = client.app.state.services.local_cache  # type: ignore[attr-defined]
    assert len(feature_days) > 700
    for limit in range(1, 401):
        rows = client.get("/v1/features/ACME", params={"limit": limit}).json()["rows"]
        assert [r["date"] for r in rows] == feature_days[-limit:]
        assert cache.size_bytes <= MAX_BYTES
    # Limits share power-of-two buckets of at least 64 rows: 1..400 fall in 64, 128, 256, 512.
    assert len(cache) <= 4


def test_pages_from_a_start_are_sliced_from_shared_entries(
    client: TestClient, feature_days: list[str]
) -> None:
    start = feature_days[100]
    for limit in (1, 7, 63, 64, 65, 200):
        body = client.get("/v1/features/ACME", params={"start": start, "limit": limit}).json()
        assert [r["date"] for r in body["rows"]] == feature_days[100 : 100 + limit]
        assert body["count"] == limit
        follow = client.get(
            "/v1/features/ACME", params={"start": start, "limit": 1, "cursor": body["next_cursor"]}
        ).json()
        assert [r["date"] for r in follow["rows"]] == [feature_days[100 + limit]]
    last = client.get("/v1/features/ACME", params={"start": feature_days[-3], "limit": 5}).json()
    assert last["count"] == 3 and last["next_cursor"] is None


def test_settings_refuse_the_cache_in_the_brokers_redis_database() -> None:
    with pytest.raises(ValueError, match="database of its own"):
        Settings(
            cache_url="redis://127.0.0.1:26379/2", celery_broker_url="redis://127.0.0.1:26379/2"
        )
    apart = Settings(
        cache_url="redis://127.0.0.1:26379/2", celery_broker_url="redis://127.0.0.1:26379/3"
    )
    assert apart.cache_url.endswith("/2")


@pytest.mark.integration
def test_the_projects_redis_evicts_cache_entries_and_keeps_queued_tasks(redis_url: str) -> None:
    import redis

    client = redis.Redis.from_url(redis_url)
    assert int(client.config_get("maxmemory")["maxmemory"]) > 0
    # volatile-lru: entries with a TTL (every cache entry, every rate counter) may be evicted;
    # Celery's queued tasks have none, so a full cache never costs a queued training run.
    assert client.config_get("maxmemory-policy")["maxmemory-policy"] == "volatile-lru"


def test_counters_take_a_cost_and_a_refund_and_survive_a_flood_of_entries() -> None:
    cache = MemoryCache(max_bytes=1 << 20)
    assert cache.hit_count("rate:1", 60, 50) == 50
    assert cache.hit_count("rate:1", 60) == 51
    cache.refund("rate:1", 60, 50)
    for i in range(2_000):  # 2,000 x 1 KiB: twice the bound, every response evicted in turn
        cache.set(f"r{i}", "x" * 1024, 60)
    assert cache.hit_count("rate:1", 60) == 2  # the budget was not evicted with them


@pytest.mark.integration
def test_redis_counters_take_a_cost_and_a_refund(redis_url: str) -> None:
    import uuid

    from tickerpulse.stores.cache import RedisCache

    cache = RedisCache(redis_url, prefix=f"test-{uuid.uuid4().hex[:8]}:")
    assert cache.hit_count("rate:1", 60, 50) == 50
    assert cache.hit_count("rate:1", 60) == 51
    cache.refund("rate:1", 60, 50)
    assert cache.hit_count("rate:1", 60) == 2
    assert cache.errors == 0
