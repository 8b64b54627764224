"""Embedded stores: SQLite operational store, Parquet+chDB warehouse, memory cache, memory bus."""

import asyncio
import datetime as dt
import time
import uuid
from pathlib import Path

import pandas as pd
import pytest

from tests.conftest import synthetic_panel
from tickerpulse.errors import EventBusUnavailable, OperationalDatabaseUnavailable, UnknownTicker
from tickerpulse.quality import validate_prices
from tickerpulse.settings import Settings
from tickerpulse.stores.cache import ENTRY_OVERHEAD_BYTES, MemoryCache, open_cache
from tickerpulse.stores.events import MemoryBus, decode_event, open_bus
from tickerpulse.stores.operational import OperationalStore
from tickerpulse.stores.warehouse import ParquetWarehouse, open_warehouse


def bars(days: list[str], close: float = 10.0) -> pd.DataFrame:
    return validate_prices(
        pd.DataFrame(
            {
                "date": days,
                "open": close,
                "high": close + 1,
                "low": close - 1,
                "close": close,
                "volume": 100,
            }
        )
    ).valid


class TestOperationalStore:
    def test_upserting_twice_leaves_identical_rows(
        self, operational_store: OperationalStore
    ) -> None:
        prices = bars(["2024-01-02", "2024-01-03"])
        operational_store.upsert_prices("ACME", "csv", prices)
        first = operational_store.read_prices(["ACME"]).drop(columns="ingested_at")
        operational_store.upsert_prices("ACME", "csv", prices)
        second = operational_store.read_prices(["ACME"]).drop(columns="ingested_at")
        pd.testing.assert_frame_equal(first, second)
        assert len(second) == 2

    def test_a_later_delivery_overwrites_the_same_day(
        self, operational_store: OperationalStore
    ) -> None:
        operational_store.upsert_prices("ACME", "csv", bars(["2024-01-02"], close=10))
        operational_store.upsert_prices(
            "ACME", "stooq", bars(["2024-01-02", "2024-01-03"], close=12)
        )
        stored = operational_store.read_prices(["ACME"])
        assert list(stored["close"]) == [12, 12]
        assert set(stored["source"]) == {"stooq"}
        assert operational_store.last_dates() == {"ACME": dt.date(2024, 1, 3)}

    def test_quarantine_keeps_the_row_and_its_reason(
        self, operational_store: OperationalStore
    ) -> None:
        frame = pd.DataFrame(
            {
                "date": ["2024-01-02", "junk"],
                "open": [1, 1],
                "high": [2, 2],
                "low": [0.5, 0.5],
                "close": [1.5, 1.5],
                "volume": [1, 1],
            }
        )
        result = validate_prices(frame)
        operational_store.quarantine_rows("ACME", "csv:acme.csv", result.rejected)
        kept = operational_store.quarantined("ACME")
        assert list(kept["reason"]) == ["unreadable date"]
        assert '"junk"' in kept["raw"].iloc[0] and kept["row_number"].iloc[0] == 2

    def test_tickers_are_added_reactivated_and_required(
        self, operational_store: OperationalStore
    ) -> None:
        assert operational_store.add_ticker("ACME", "synthetic") is True
        assert operational_store.add_ticker("ACME", "stooq") is False
        assert operational_store.require_ticker("ACME")["source"] == "stooq"
        with pytest.raises(UnknownTicker, match="NOPE"):
            operational_store.require_ticker("NOPE")

    def test_alias_history_is_kept_in_order(self, operational_store: OperationalStore) -> None:
        operational_store.record_alias_change(
            "m", "1", None, "challenger", {"relative_mae": 0.99}, "trained"
        )
        operational_store.record_alias_change(
            "m", "1", "challenger", "champion", {"relative_mae": 0.99}, "beats"
        )
        history = operational_store.alias_history("m")
        assert [(h["from_alias"], h["to_alias"]) for h in history] == [
            (None, "challenger"),
            ("challenger", "champion"),
        ]
        assert history[1]["metrics"] == {"relative_mae": 0.99}


CREATE_STORES = """
import sys, time
from tickerpulse.stores.prediction_requests import PredictionRequestStore
from tickerpulse.stores.operational import OperationalStore
time.sleep(max(0.0, float(sys.argv[2]) - time.time()))  # imports done: all start together
PredictionRequestStore(OperationalStore(sys.argv[1]).engine)
"""


@pytest.mark.integration
def test_processes_starting_at_once_on_a_new_database_all_get_the_tables(
    postgres_database: str,
) -> None:
    """Two prediction workers starting together on a fresh PostgreSQL database once failed:
    both created the same table and one died on a unique violation in pg_type."""
    import subprocess
    import sys

    together = str(time.time() + 15)
    starts = [
        subprocess.Popen(
            [sys.executable, "-c", CREATE_STORES, postgres_database, together],
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(12)
    ]
    errors = [start.communicate(timeout=120)[1] for start in starts]
    assert [start.returncode for start in starts] == [0] * 12, errors


class TestWarehouse:
    """Every backend: one ticker's rows replaced as a whole, reads by ticker and date range."""

    def test_partitions_replace_and_read_back_by_ticker_and_date(
        self, store_settings: Settings
    ) -> None:
        warehouse = open_warehouse(store_settings.warehouse_url)
        panel = synthetic_panel(("AAA", "BBB"), years=1)
        for ticker, rows in panel.groupby("ticker"):
            warehouse.write_partition("clean_prices", str(ticker), rows.drop(columns="ticker"))
            warehouse.write_partition("clean_prices", str(ticker), rows.drop(columns="ticker"))
        everything = warehouse.read("clean_prices")
        assert len(everything) == len(panel)  # written twice, stored once
        window = warehouse.read("clean_prices", "AAA", dt.date(2026, 10, 1), dt.date(2026, 10, 9))
        assert set(window["ticker"]) == {"AAA"}
        assert [str(d) for d in window["date"]] == [
            "2026-10-01",
            "2026-10-02",
            "2026-10-05",
            "2026-10-06",
            "2026-10-07",
            "2026-10-08",
            "2026-10-09",
        ]
        summary = warehouse.summary("clean_prices")
        assert list(summary["ticker"]) == ["AAA", "BBB"]
        assert list(summary["rows"]) == [len(panel) // 2] * 2

    def test_reads_by_tickers(self, store_settings: Settings) -> None:
        warehouse = open_warehouse(store_settings.warehouse_url)
        panel = synthetic_panel(("AAA", "BBB", "CCC"), years=1)
        for ticker, rows in panel.groupby("ticker"):
            warehouse.write_partition("clean_prices", str(ticker), rows.drop(columns="ticker"))
        chosen = warehouse.read("clean_prices", tickers=["CCC", "AAA"])
        assert list(chosen["ticker"].unique()) == ["AAA", "CCC"]
        assert len(chosen) == 2 * len(panel) // 3
        # With a date bound the read is a query (chDB or ClickHouse), not the Parquet files.
        queried = warehouse.read("clean_prices", start=dt.date(2026, 10, 1), tickers=["BBB"])
        assert set(queried["ticker"]) == {"BBB"}
        assert min(queried["date"]) >= dt.date(2026, 10, 1)
        assert warehouse.partitions("clean_prices") == ["AAA", "BBB", "CCC"]
        chunks = list(warehouse.read_by_tickers("clean_prices", per_read=2))
        assert [list(chunk["ticker"].unique()) for chunk in chunks] == [["AAA", "BBB"], ["CCC"]]
        whole = warehouse.read("clean_prices")
        pd.testing.assert_frame_equal(pd.concat(chunks, ignore_index=True), whole)

    def test_a_shorter_rewrite_leaves_no_stale_rows(self, store_settings: Settings) -> None:
        warehouse = open_warehouse(store_settings.warehouse_url)
        days = [dt.date(2024, 1, d) for d in (2, 3, 4)]
        warehouse.write_partition(
            "clean_prices", "AAA", pd.DataFrame({"date": days, "close": [1.0, 2.0, 3.0]})
        )
        warehouse.write_partition(
            "clean_prices", "BBB", pd.DataFrame({"date": days, "close": [4.0, 5.0, 6.0]})
        )
        before = warehouse.version("clean_prices", "AAA")
        time.sleep(0.01)
        warehouse.write_partition(
            "clean_prices", "AAA", pd.DataFrame({"date": days[:2], "close": [7.0, 8.0]})
        )
        assert list(warehouse.read("clean_prices", "AAA")["close"]) == [7.0, 8.0]
        assert list(warehouse.read("clean_prices", "BBB")["close"]) == [4.0, 5.0, 6.0]
        assert warehouse.version("clean_prices", "AAA") != before

    def test_a_panel_written_at_once_replaces_each_of_its_tickers(
        self, store_settings: Settings
    ) -> None:
        warehouse = open_warehouse(store_settings.warehouse_url)
        panel = synthetic_panel(("AAA", "BBB", "CCC"), years=1)
        first = panel.sort_values(["ticker", "date"], ignore_index=True)
        warehouse.write_partitions("clean_prices", first, ticker_spans(first))
        # Again, shorter: AAA loses its last ten days, BBB every row (an empty span), CCC
        # gets new closes; what the panel does not name stays.
        warehouse.write_partition("clean_prices", "ZZZ", first.head(3).drop(columns="ticker"))
        again = first[first["ticker"] != "BBB"].copy()
        again = again.drop(again[again["ticker"] == "AAA"].index[-10:])
        again.loc[again["ticker"] == "CCC", "close"] = 1.0
        again = again.reset_index(drop=True)
        spans = {**ticker_spans(again), "BBB": (0, 0)}
        warehouse.write_partitions("clean_prices", again, spans)
        stored = warehouse.read("clean_prices")
        rows = stored.groupby("ticker").size().to_dict()
        assert rows == {"AAA": len(first) // 3 - 10, "CCC": len(first) // 3, "ZZZ": 3}
        assert set(stored.loc[stored["ticker"] == "CCC", "close"]) == {1.0}

    def test_missing_tables_read_as_empty(self, store_settings: Settings) -> None:
        warehouse = open_warehouse(store_settings.warehouse_url)
        assert warehouse.read("price_forecasts", "NOPE").empty
        assert warehouse.summary("clean_prices").empty
        assert warehouse.version("clean_prices") == ""


WRITER = """
import sys, datetime as dt, pandas as pd
from tickerpulse.stores.warehouse import open_warehouse
warehouse = open_warehouse(sys.argv[1])
for n in range(4):
    rows = pd.DataFrame({"date": [dt.date(2024, 1, 2 + n)], "close": [float(n)]})
    warehouse.write_partition("clean_prices", f"{sys.argv[2]}{n}", rows)
print(len(warehouse.read("clean_prices")))
"""


class TestSharedChdbWarehouse:
    """clickhouse+chdb:///dir, make up-full's warehouse: chDB admits one process per data
    directory, yet the API, Dagster runs and workers are separate processes sharing it."""

    def test_processes_writing_at_once_all_land(self, tmp_path: Path) -> None:
        import subprocess
        import sys

        url = f"clickhouse+chdb://{tmp_path / 'warehouse'}?database=shared"
        writers = [
            subprocess.Popen(
                [sys.executable, "-c", WRITER, url, prefix], stdout=subprocess.PIPE, text=True
            )
            for prefix in ("A", "B", "C")
        ]
        seen = [int(w.communicate(timeout=120)[0].strip().splitlines()[-1]) for w in writers]
        assert all(w.returncode == 0 for w in writers)
        assert max(seen) == 12 and min(seen) >= 4  # each saw its own rows, the last all
        reader = subprocess.run(
            [
                sys.executable,
                "-c",
                WRITER.split("for n")[0]
                + "print(sorted(set(warehouse.read('clean_prices')['ticker'])))",
                url,
            ],
            capture_output=True,
            text=True,
            timeout=120,
            check=True,
        )
        assert reader.stdout.strip() == str(sorted(f"{p}{n}" for p in "ABC" for n in range(4)))

    def test_a_process_alone_keeps_the_engine_and_hands_it_to_a_waiter(
        self, tmp_path: Path
    ) -> None:
        import subprocess
        import sys

        url = f"clickhouse+chdb://{tmp_path / 'warehouse'}?database=shared"
        # The holder: many operations on one open engine, then a long idle stretch with a
        # generous idle limit, so only a waiter's request can make it let go in time.
        holder = subprocess.Popen(
            [
                sys.executable,
                "-c",
                WRITER.split("for n")[0]
                + "shared = warehouse._connect.__self__\n"
                + "shared.idle_seconds = 600\n"
                + "for _ in range(20): warehouse.read('clean_prices')\n"
                + "print(shared.opens, flush=True)\n"
                + "import time; time.sleep(90)\n",
                url,
            ],
            stdout=subprocess.PIPE,
            text=True,
        )
        try:
            assert holder.stdout is not None
            assert holder.stdout.readline().strip() == "1"  # 21 operations, one open
            writer = subprocess.run(
                [sys.executable, "-c", WRITER, url, "W"],
                capture_output=True,
                text=True,
                timeout=60,
            )
            assert writer.returncode == 0, writer.stderr
            assert writer.stdout.strip().splitlines()[-1] == "4"
            assert holder.poll() is None  # handed over while the holder still lived
        finally:
            holder.kill()
            holder.wait()

    def test_a_directory_given_as_a_host_is_refused(self) -> None:
        with pytest.raises(ValueError, match="ABSOLUTE/DIR"):
            open_warehouse("clickhouse+chdb://warehouse/tickerpulse")


def ticker_spans(panel: pd.DataFrame) -> dict[str, tuple[int, int]]:
    """Each ticker's (first row, row count) in a panel sorted by ticker."""
    sizes = panel.groupby("ticker", sort=True).size()
    starts = sizes.cumsum() - sizes
    return {str(t): (int(starts[t]), int(sizes[t])) for t in sizes.index}


def test_clickhouse_replaces_a_panels_tickers_with_one_delete() -> None:
    # Each DELETE is a mutation of the table's parts that the writer waits for: one per
    # ticker made cleaning 500 tickers in full mode take minutes.
    database = f"t{uuid.uuid4().hex[:12]}"
    warehouse = open_warehouse(f"clickhouse+chdb://memory/{database}")
    panel = synthetic_panel(("AAA", "BBB", "CCC", "DDD"), years=1)
    panel = panel.sort_values(["ticker", "date"], ignore_index=True)
    for _ in range(2):
        warehouse.write_partitions("clean_prices", panel, ticker_spans(panel))
    assert len(warehouse.read("clean_prices")) == len(panel)
    with warehouse._client() as client:  # type: ignore[attr-defined]
        mutations = client.command(
            "SELECT count() FROM system.mutations WHERE database = {db:String}",
            parameters={"db": database},
        )
    assert int(mutations) == 2  # one per write, not one per ticker (8)


class TestParquetWarehouse:
    def test_writes_are_atomic_renames(self, tmp_path: Path) -> None:
        warehouse = ParquetWarehouse(tmp_path)
        warehouse.write_partition(
            "clean_prices", "AAA", pd.DataFrame({"date": [dt.date(2024, 1, 2)], "close": [1.0]})
        )
        assert [p.name for p in tmp_path.rglob("*")] == ["clean_prices", "AAA.parquet"]

    def test_missing_data_reads_as_empty(self, tmp_path: Path) -> None:
        warehouse = ParquetWarehouse(tmp_path)
        assert warehouse.read("price_forecasts", "NOPE").empty
        assert warehouse.summary("clean_prices").empty
        with pytest.raises(ValueError, match="unknown warehouse table"):
            warehouse.read("users; DROP TABLE x")

    def test_the_version_token_changes_on_rewrite(self, tmp_path: Path) -> None:
        warehouse = ParquetWarehouse(tmp_path)
        frame = pd.DataFrame({"date": [dt.date(2024, 1, 2)], "close": [1.0]})
        warehouse.write_partition("price_forecasts", "AAA", frame)
        before = warehouse.version("price_forecasts", "AAA")
        time.sleep(0.01)
        warehouse.write_partition("price_forecasts", "AAA", frame.assign(close=2.0))
        assert warehouse.version("price_forecasts", "AAA") != before

    def test_ticker_values_are_parameters_not_sql(self, tmp_path: Path) -> None:
        warehouse = ParquetWarehouse(tmp_path)
        frame = pd.DataFrame({"date": [dt.date(2024, 1, 2)], "close": [1.0]})
        warehouse.write_partition("clean_prices", "AAA", frame)
        sql = f"SELECT count() AS n FROM {warehouse._source('clean_prices', None)} WHERE ticker = {{t:String}}"
        assert warehouse.query(sql, {"t": "AAA' OR '1'='1"})["n"].iloc[0] == 0
        assert warehouse.query(sql, {"t": "AAA"})["n"].iloc[0] == 1

    def test_unknown_backends_are_named_not_guessed(self) -> None:
        with pytest.raises(ValueError, match="use chdb:// or clickhouse://"):
            open_warehouse("duckdb:///tmp/x")


class TestCache:
    def test_entries_expire_and_invalidate_by_prefix(self) -> None:
        cache = open_cache("memory://")
        cache.set("prices:A", 1, ttl_seconds=0.05)
        cache.set("forecasts:A", 2, ttl_seconds=60)
        assert cache.get("prices:A") == 1
        time.sleep(0.06)
        assert cache.get("prices:A") is None
        cache.invalidate("forecasts:")
        assert cache.get("forecasts:A") is None

    def test_size_is_bounded(self) -> None:
        cache = MemoryCache(
            max_bytes=3 * (1 + 1 + ENTRY_OVERHEAD_BYTES)
        )  # three 1-char keys+values
        for i in range(5):
            cache.set(str(i), i, 60)
        assert [cache.get(str(i)) for i in range(5)] == [None, None, 2, 3, 4]


class TestMemoryBus:
    def test_every_subscriber_gets_every_event_in_order(self) -> None:
        async def scenario() -> list[list[int]]:
            bus = open_bus("memory://")
            async with (
                bus.subscribe("predictions") as first,
                bus.subscribe("predictions") as second,
            ):
                for n in range(3):
                    await bus.publish("predictions", {"n": n})
                await bus.publish("alerts", {"n": 99})
                return [[(await anext(s))["n"] for _ in range(3)] for s in (first, second)]

        assert asyncio.run(scenario()) == [[0, 1, 2], [0, 1, 2]]

    def test_a_slow_subscriber_holds_the_publisher_back_and_loses_nothing(self) -> None:
        async def scenario() -> list[int]:
            bus = MemoryBus(queue_size=2)
            async with bus.subscribe("metrics") as events:

                async def read_slowly() -> list[int]:
                    received = []
                    for _ in range(20):
                        await asyncio.sleep(0.005)
                        received.append((await anext(events))["n"])
                    return received

                reader = asyncio.create_task(read_slowly())
                for n in range(20):
                    await bus.publish("metrics", {"n": n})
                return await reader

        assert asyncio.run(scenario()) == list(range(20))

    def test_a_queue_that_stays_full_refuses_the_event_instead_of_dropping_one(self) -> None:
        async def scenario() -> tuple[list[int], dict[str, int]]:
            bus = MemoryBus(queue_size=2, publish_timeout_seconds=0.05)
            async with bus.subscribe("metrics") as events:
                await bus.publish("metrics", {"n": 0})
                await bus.publish("metrics", {"n": 1})
                with pytest.raises(EventBusUnavailable, match="metrics"):
                    await bus.publish("metrics", {"n": 2})
                received = [(await anext(events))["n"]]
                await bus.publish("metrics", {"n": 3})  # room again: taken
                received += [(await anext(events))["n"] for _ in range(2)]
                return received, bus.stats()

        received, stats = asyncio.run(scenario())
        assert received == [0, 1, 3]  # the refused event was never taken; none was dropped
        assert (stats["delivered"], stats["dropped"]) == (3, 1)

    def test_a_group_keeps_its_events_while_its_consumer_restarts(self) -> None:
        async def scenario() -> list[int]:
            bus = MemoryBus()
            async with bus.subscribe("predictions", group="relay") as events:
                await bus.publish("predictions", {"n": 0})
                first = (await anext(events))["n"]
            await bus.publish("predictions", {"n": 1})  # no consumer at this moment
            async with bus.subscribe("predictions", group="relay") as events:
                return [first, (await anext(events))["n"]]

        assert asyncio.run(scenario()) == [0, 1]

    def test_events_must_serialize(self) -> None:
        with pytest.raises(TypeError, match="not JSON"):
            asyncio.run(MemoryBus().publish("metrics", {"when": object()}))

    def test_events_arrive_as_json_with_dates_as_iso_strings(self) -> None:
        async def scenario() -> dict:
            bus = MemoryBus()
            async with bus.subscribe("predictions", group="workers") as shared:
                await bus.publish("predictions", {"as_of": dt.date(2026, 11, 27)})
                return await anext(shared)

        assert asyncio.run(scenario()) == {"as_of": "2026-11-27"}


@pytest.mark.parametrize(
    ("message", "reason"),
    [
        (b"{not json", "not JSON"),
        (b"\xff\xfe", "not JSON"),
        (b"[1, 2]", "JSON list, not an object"),
        (b'"a string"', "JSON str, not an object"),
        (b"", "not JSON"),
        (b'{"pad": "' + b"x" * (1024 * 1024) + b'"}', "over the 1048576-byte limit"),
    ],
)
def test_a_message_that_is_no_event_says_why(message: bytes, reason: str) -> None:
    decoded = decode_event(message)
    assert isinstance(decoded, str) and reason in decoded


def test_an_event_is_a_json_object_within_the_limit() -> None:
    assert decode_event(b'{"id": "a", "n": 1}') == {"id": "a", "n": 1}


def test_the_memory_bus_keeps_what_a_consumer_rejects_with_the_reason() -> None:
    async def scenario() -> tuple[dict, dict[str, int]]:
        bus = MemoryBus()
        async with bus.subscribe("dead-letters") as dead:
            await bus.reject("prediction-requests", {"request_id": "r1"}, "no ticker")
            return await anext(dead), bus.stats()

    letter, stats = asyncio.run(scenario())
    assert letter == {
        "reason": "no ticker",
        "topic": "prediction-requests",
        "event": {"request_id": "r1"},
    }
    assert stats["dead_letters"] == 1


def test_a_kafka_group_never_reads_an_unknown_place_as_no_place() -> None:
    # An OffsetFetch answer with a partition-level error says nothing about the group's place:
    # pinning the end over it would skip whatever the group had not handled yet. (librdkafka's
    # Consumer cannot be made to answer so on purpose, hence this stand-in for the call.)
    from types import SimpleNamespace

    from tickerpulse.stores.events.kafka import PinFailed, _pin_the_end

    commits: list[object] = []
    loading = SimpleNamespace(
        topic="predictions", partition=0, offset=-1001, error="COORDINATOR_LOAD_IN_PROGRESS"
    )
    consumer = SimpleNamespace(
        committed=lambda partitions, timeout: [loading],
        get_watermark_offsets=lambda partition, timeout: (0, 100),
        commit=lambda offsets, asynchronous: commits.append(offsets),
    )
    with pytest.raises(PinFailed, match="unknown"):
        _pin_the_end(consumer, [loading])
    assert commits == []


def test_one_failing_source_does_not_stop_the_universe(operational_store: OperationalStore) -> None:
    from tickerpulse.errors import SourceError
    from tickerpulse.ingestion import ingest_window
    from tickerpulse.sources.synthetic import SyntheticSource

    class Down:
        name = "stooq"

        def fetch(self, ticker: str, start: dt.date, end: dt.date) -> pd.DataFrame:
            raise SourceError("could not reach stooq: connection refused")

    operational_store.add_ticker("GOOD", "synthetic")
    operational_store.add_ticker("AWAY", "stooq")
    operational_store.add_ticker("FILE", "csv")
    sources = {"synthetic": SyntheticSource(), "stooq": Down()}
    report = ingest_window(operational_store, sources, dt.date(2024, 6, 1), dt.date(2024, 6, 28))
    assert [r.ticker for r in report.reports] == ["GOOD"]
    assert report.failures == {"AWAY": "SourceError: could not reach stooq: connection refused"}
    assert report.kept == ["FILE"]
    assert operational_store.last_dates() == {"GOOD": dt.date(2024, 6, 28)}


def test_a_wait_for_a_pooled_connection_is_bounded_and_names_the_database(
    store_settings: Settings,
) -> None:
    """Every pooled connection busy (a slow database under load): the next caller waits the
    store's timeout, then hears that the operational database is unavailable."""
    store = OperationalStore(store_settings.raw_db_url, timeout_seconds=0.5)
    size = store.engine.pool.size() + store.engine.pool._max_overflow  # type: ignore[attr-defined]
    busy = [store.engine.connect() for _ in range(size)]
    try:
        started = time.monotonic()
        with pytest.raises(OperationalDatabaseUnavailable, match="stayed busy"):
            store.list_tickers()
        assert 0.4 < time.monotonic() - started < 3
    finally:
        for connection in busy:
            connection.close()
    assert store.list_tickers() == []
