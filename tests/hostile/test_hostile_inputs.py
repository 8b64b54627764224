"""The hostile-case table (issue 15), its rows at the boundaries that are not HTTP requests:
WebSocket frames, inbox files and the inbox job's config, on the embedded platform.

A row is a hostile act and the answer expected to it (a close code and reason, a refusal, a
file filed as rejected). Around it the ledger of what the platform holds is taken: tickers,
raw price rows, prediction requests, stream clients, files waiting in the inbox, and the
operational database's file. The act must leave the ledger as it found it, and the platform
must go on serving: after each row, an event published on the bus reaches a well-behaved
stream client (nothing lost, nothing wedged). The HTTP rows and the dependency faults are in
test_hostile_cases.py; the Kafka rows (non-JSON, a JSON list, a 2 MiB message, on the real
broker) in tests/integration/test_relay.py and test_prediction_workers.py.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import dagster as dg
import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from orchestration.definitions import defs
from orchestration.jobs import InboxFileConfig
from realtime.stream import MAX_FRAME_BYTES
from tests.conftest import closed_with
from tests.hostile.platforms import Platform
from tickerpulse.errors import TickerPulseError
from tickerpulse.inbox import LocalInbox, process_file
from tickerpulse.stores.operational import OperationalStore

STREAM = "/v1/stream?channels=predictions:ACME"


def closed(platform: Platform, path: str, *frames: str) -> str:
    """Send the frames, read until the server closes: 'close CODE: REASON'."""
    assert isinstance(platform.client, TestClient)
    code, reason = closed_with(platform.client, path, *frames, messages=100)
    return f"close {code}: {reason}"


def refused(act: Callable[[], Any]) -> str:
    try:
        act()
    except TickerPulseError as error:
        return f"refused: {type(error).__name__}: {error}"
    return "accepted"


def inbox(platform: Platform) -> LocalInbox:
    return LocalInbox(platform.settings.inbox_dir)


def processed(platform: Platform, name: str) -> str:
    store = OperationalStore(platform.settings.raw_db_url)
    try:
        return refused(lambda: process_file(store, inbox(platform), name))
    finally:
        store.engine.dispose()


def inbox_file(platform: Platform, name: str, text: str) -> str:
    (inbox(platform).root / name).write_text(text)
    answer = processed(platform, name)
    if (inbox(platform).root / "rejected" / name).exists():
        reason = (inbox(platform).root / "rejected" / f"{name}.reason.txt").read_text()
        assert name in reason  # filed with its reason, which names it
    return answer


def inbox_job(platform: Platform, name: str) -> str:
    with dg.instance_for_test() as instance:
        result = defs.resolve_job_def("ingest_inbox").execute_in_process(
            instance=instance,
            run_config=dg.RunConfig(ops={"ingest_inbox_file": InboxFileConfig(name=name)}),
            raise_on_error=False,
        )
    if result.success:
        return "run succeeded"
    failure = result.failure_data_for_node("ingest_inbox_file")
    return f"run failed: {failure.error.cls_name if failure and failure.error else 'unknown'}"


@dataclass(frozen=True)
class Hostile:
    name: str
    act: Callable[[Platform], str]
    answer: str  # how the answer starts


FLOOD = [json.dumps({"subscribe": ["predictions:ACME"]})] * 60

INPUTS = [
    Hostile("websocket frame over the size limit",
            lambda p: closed(p, STREAM, '{"subscribe": ["' + "x" * MAX_FRAME_BYTES + '"]}'),
            f"close 1009: frames are at most {MAX_FRAME_BYTES} bytes"),
    Hostile("websocket message that is not JSON",
            lambda p: closed(p, STREAM, "{not json"),
            "close 4400: send JSON"),
    Hostile("websocket message that is a JSON list",
            lambda p: closed(p, STREAM, "[1, 2, 3]"),
            "close 4400: send a JSON object"),
    Hostile("websocket subscribe to 3000 channels",
            lambda p: closed(p, STREAM, json.dumps(
                {"subscribe": [f"predictions:T{n}" for n in range(3000)]})),
            "close 4400: at most 100 channels per connection"),
    Hostile("websocket unknown channel",
            lambda p: closed(p, "/v1/stream?channels=../../etc/passwd"),
            "close 4400: unknown channel"),
    Hostile("websocket invalid token",
            lambda p: closed(p, "/v1/stream?channels=metrics", json.dumps({"token": "tp_forged"})),
            "close 4401: the token is not a valid API key"),
    Hostile("websocket message flood",
            lambda p: closed(p, STREAM, *FLOOD),
            "close 4429: too many messages"),
    Hostile("inbox file named to leave the inbox",
            lambda p: processed(p, "../raw.db"),
            "refused: UnsafeFileName"),
    Hostile("inbox file that is not a price CSV",
            lambda p: inbox_file(p, "ACME.csv", "date,open\n2024-01-02,\x00\x01\n"),
            "refused: SchemaError"),
    Hostile("inbox file with a ticker name that is not a symbol",
            lambda p: inbox_file(p, "DROP TABLE.csv", "date,open,high,low,close,volume\n"),
            "refused: InvalidTicker"),
    Hostile("inbox job config naming a file outside the inbox",
            lambda p: inbox_job(p, "../raw.db"),
            "run failed"),
]  # fmt: skip


def ledger(platform: Platform) -> dict[str, Any]:
    """What the platform holds; a hostile act must not move any of it."""
    with platform.engine.connect() as connection:

        def count(table: str) -> int:
            return int(connection.execute(sa.text(f"SELECT count(*) FROM {table}")).scalar_one())

        held = {t: count(t) for t in ("tickers", "raw_prices", "prediction_requests")}
    metrics = platform.client.get("/metrics").text
    clients = [
        line for line in metrics.splitlines() if line.startswith("tickerpulse_stream_clients")
    ]
    raw_db = platform.settings.data_dir / "raw.db"
    return held | {
        "stream clients": clients,
        "inbox waiting": sorted(inbox(platform).waiting()),
        "raw.db present": raw_db.is_file(),
        "tickers listed": hashlib.sha256(platform.client.get("/v1/tickers").content).hexdigest(),
    }


def an_event_still_arrives(platform: Platform) -> None:
    client = platform.client
    assert isinstance(client, TestClient)
    services = client.app.state.services  # type: ignore[attr-defined]
    event = {"id": uuid.uuid4().hex, "ticker": "ACME", "horizon": 1}
    with client.websocket_connect(STREAM) as websocket:
        client.portal.call(services.bus.publish, "predictions", event)  # type: ignore[union-attr]
        for _ in range(50):
            message = websocket.receive_json()
            if message["type"] == "event" and message["data"]["id"] == event["id"]:
                return
    pytest.fail("the event published after the hostile act never reached a client")


@pytest.mark.parametrize("case", [pytest.param(c, id=c.name) for c in INPUTS])
def test_hostile_input(case: Hostile, embedded_platform: Platform) -> None:
    before = ledger(embedded_platform)
    answer = case.act(embedded_platform)
    assert answer.startswith(case.answer), answer
    assert ledger(embedded_platform) == before
    an_event_still_arrives(embedded_platform)


def test_the_input_table_names_each_case_once() -> None:
    names = [case.name for case in INPUTS]
    assert len(names) == len(set(names))
