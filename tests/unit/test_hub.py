"""The relay's fan-out: channels, sequence numbers, replay, duplicates, slow subscribers."""

import asyncio
import json

from realtime.hub import Hub, Subscriber, needs_token, valid_channel


def drain(subscriber: Subscriber) -> list[dict]:
    messages = []
    while not subscriber.queue.empty():
        messages.append(json.loads(subscriber.queue.get_nowait()))
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
        assert messages[0] == {"type": "gap", "from_seq": start + 2, "to_seq": start + 7}
        assert [m["data"]["id"] for m in messages[1:]] == ["ACME-7", "ACME-8", "ACME-9"]

    asyncio.run(scenario())


def test_a_slow_subscriber_overflows_and_is_flagged_not_grown() -> None:
    async def scenario() -> None:
        hub = Hub()
        slow = Subscriber({"predictions"}, queue_size=5)
        hub.subscribe(slow)
        for number in range(8):
            hub.publish("predictions", prediction("ACME", number))
        assert slow.overflowed.is_set() and slow.queue.qsize() == 5

    asyncio.run(scenario())


def test_channel_names_and_which_need_a_token() -> None:
    assert valid_channel("predictions:ACME") and valid_channel("alerts")
    assert not valid_channel("prices") and not valid_channel("predictions:" + "X" * 30)
    assert not needs_token("predictions:ACME") and needs_token("metrics")
    assert needs_token("alerts")
