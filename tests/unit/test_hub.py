"""The relay's fan-out: channels, sequence numbers, replay, duplicates, slow subscribers."""

import asyncio
import json

from realtime.hub import Hub, Subscriber, needs_token, valid_channel


def drain(subscriber: Subscriber) -> list[dict]:
    messages = []
    while subscriber.pending:
        messages.append(json.loads(subscriber.pending.popleft()))
    return messages


def prediction(ticker: str, number: int) -> dict:
    return {"id": f"{ticker}-{number}", "ticker": ticker, "forecast": float(number)}


def test_a_subscriber_gets_its_channels_once_each_in_sequence() -> None:
    async def scenario() -> None:
        hub = Hub()
        acme = Subscriber({"predictions:ACME"})
        both = Subscriber({"predictions", "predictions:ACME"})  # overlapping: still once
        metrics = Subscriber({"metrics"})
        for s in (acme, both, metrics):
            hub.subscribe(s)
        for number in range(3):
            hub.publish("predictions", prediction("ACME", number))
            hub.publish("predictions", prediction("GOOG", number))
        hub.publish("metrics", {"at": 1.0, "series": {}})
        got = drain(acme)
        assert [m["data"]["id"] for m in got] == ["ACME-0", "ACME-1", "ACME-2"]
        assert {m["channel"] for m in got} == {"predictions:ACME"}
        assert len(drain(both)) == 6
        seqs = [m["seq"] for m in got]
        assert seqs == sorted(seqs) and len(set(seqs)) == 3
        assert [m["channel"] for m in drain(metrics)] == ["metrics"]

    asyncio.run(scenario())


def test_a_redelivered_event_is_not_passed_on_twice() -> None:
    async def scenario() -> None:
        hub = Hub()
        subscriber = Subscriber({"predictions"})
        hub.subscribe(subscriber)
        assert hub.publish("predictions", prediction("ACME", 1)) is not None
        assert hub.publish("predictions", prediction("ACME", 1)) is None
        assert len(drain(subscriber)) == 1 and hub.duplicates == 1

    asyncio.run(scenario())


def test_a_reconnecting_client_resumes_after_its_last_sequence() -> None:
    async def scenario() -> None:
        hub = Hub(replay=100)
        first = Subscriber({"predictions:ACME"})
        hub.subscribe(first)
        for number in range(5):
            hub.publish("predictions", prediction("ACME", number))
            hub.publish("predictions", prediction("GOOG", number))
        seen = drain(first)[:2]  # it read two, then its connection dropped
        hub.unsubscribe(first)
        for number in range(5, 7):
            hub.publish("predictions", prediction("ACME", number))
        again = Subscriber({"predictions:ACME"})
        hub.subscribe(again, last_seq=seen[-1]["seq"])
        resumed = [m["data"]["id"] for m in drain(again)]
        assert resumed == [f"ACME-{n}" for n in range(2, 7)]  # no loss, no repeat

    asyncio.run(scenario())


def test_a_resume_beyond_the_ring_is_told_about_the_gap() -> None:
    async def scenario() -> None:
        hub = Hub(replay=3)
        start = hub.seq
        for number in range(10):
            hub.publish("predictions", prediction("ACME", number))
        late = Subscriber({"predictions"})
        hub.subscribe(late, last_seq=start + 1)
        messages = drain(late)
        gap = {"type": "gap", "from_seq": start + 2, "to_seq": start + 7, "seq": hub.seq}
        assert messages[0] == gap
        assert [m["data"]["id"] for m in messages[1:]] == ["ACME-7", "ACME-8", "ACME-9"]

    asyncio.run(scenario())


def test_a_slow_subscriber_overflows_and_is_flagged_not_grown() -> None:
    async def scenario() -> None:
        hub = Hub()
        slow = Subscriber({"predictions"}, queue_size=5)
        hub.subscribe(slow)
        for number in range(8):
            hub.publish("predictions", prediction("ACME", number))
        assert slow.overflowed and len(slow.pending) == 5

    asyncio.run(scenario())


def test_channel_names_and_which_need_a_token() -> None:
    assert valid_channel("predictions:ACME") and valid_channel("alerts")
    assert not valid_channel("prices") and not valid_channel("predictions:" + "X" * 30)
    assert not needs_token("predictions:ACME") and needs_token("metrics")
    assert needs_token("alerts")


def test_a_resume_from_further_back_than_the_queue_holds_gets_a_gap_not_an_overflow() -> None:
    # Replaying all 5,000 missed events into a queue of 1,000 would overflow it at once: the
    # client is cut off as too slow, resumes from the same place, and overflows again.
    async def scenario() -> None:
        hub = Hub()
        start = hub.seq
        for number in range(5000):
            hub.publish("predictions", prediction("ACME", number))
        back = Subscriber({"predictions"}, queue_size=1000)
        hub.subscribe(back, last_seq=start)
        messages = drain(back)
        assert not back.overflowed
        gap, replayed = messages[0], messages[1:]
        assert [m["data"]["id"] for m in replayed] == [f"ACME-{n}" for n in range(4500, 5000)]
        first_replayed = replayed[0]["seq"]
        assert gap == {
            "type": "gap",
            "from_seq": start + 1,
            "to_seq": first_replayed - 1,
            "seq": hub.seq,
        }
        assert first_replayed == start + 4501  # the 4,501st event of the hub's life

    asyncio.run(scenario())


def test_a_resume_within_reach_gets_every_missed_event_and_no_gap() -> None:
    async def scenario() -> None:
        hub = Hub()
        start = hub.seq
        for number in range(10):
            hub.publish("predictions", prediction("ACME", number))
            hub.publish("predictions", prediction("GOOG", number))
        back = Subscriber({"predictions:ACME"}, queue_size=1000)
        hub.subscribe(back, last_seq=start + 4)  # after ACME-0, GOOG-0, ACME-1, GOOG-1
        ids = [m["data"]["id"] for m in drain(back)]
        assert ids == [f"ACME-{n}" for n in range(2, 10)]

    asyncio.run(scenario())


def test_adding_a_channel_costs_what_it_adds() -> None:
    # A subscriber with many channels that adds one must not be taken off and put back on
    # every channel it has (a flood of small subscribes would re-walk them all each time).
    hub = Hub()
    many = Subscriber({f"predictions:T{n:03d}" for n in range(100)})
    hub.subscribe(many)
    touched: list[str] = []
    original = hub._by_channel

    class Recording(dict):  # type: ignore[type-arg]
        def setdefault(self, key, default=None):  # type: ignore[no-untyped-def]
            touched.append(key)
            return super().setdefault(key, default)

        def get(self, key, default=None):  # type: ignore[no-untyped-def]
            touched.append(key)
            return super().get(key, default)

    hub._by_channel = Recording(original)
    hub.add_channels(many, {"predictions:NEW"})
    hub.remove_channels(many, {"predictions:T000"})
    assert touched == ["predictions:NEW", "predictions:T000"]
    assert "predictions:NEW" in many.channels and "predictions:T000" not in many.channels
