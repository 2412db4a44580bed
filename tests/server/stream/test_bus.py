"""The in-process bus (fan-out, bounded queues, lagging, closing) and the fan-out listener."""

from __future__ import annotations

import asyncio
import json

import pytest

from fleetyard.server.bus import (
    LAGGED,
    BusClosed,
    BusEvent,
    MemoryBus,
    create_bus,
)
from fleetyard.server.services.telemetry.batches import CommittedAggregate, CommittedBatch
from fleetyard.server.services.telemetry.fanout import StreamFanout

pytestmark = pytest.mark.anyio


def event(n: int, key: str = "ch_1") -> BusEvent:
    return BusEvent("message.created", key, n, json.dumps({"seq": n}))


async def test_publish_reaches_every_subscriber_of_the_topic_in_order() -> None:
    bus = MemoryBus()
    a = bus.subscribe(["t1"])
    b = bus.subscribe(["t1", "t2"])
    c = bus.subscribe(["t2"])
    for n in range(1, 4):
        await bus.publish("t1", event(n))
    await bus.publish("t2", event(9))
    assert await a.next_batch() == [("t1", event(1)), ("t1", event(2)), ("t1", event(3))]
    assert [e.position for _, e in await b.next_batch()] == [1, 2, 3, 9]
    assert await c.next_batch() == [("t2", event(9))]
    # One event object is shared by every subscriber: fan-out copies nothing.
    assert (await asyncio.wait_for(_one(bus, "t1"), 1)) is not None


async def _one(bus: MemoryBus, topic: str) -> BusEvent:
    x, y = bus.subscribe([topic]), bus.subscribe([topic])
    shared = event(7)
    await bus.publish(topic, shared)
    [(_, first)] = await x.next_batch()  # type: ignore[misc]
    [(_, second)] = await y.next_batch()  # type: ignore[misc]
    assert first is second is shared
    return first


async def test_next_batch_waits_for_a_publish() -> None:
    bus = MemoryBus()
    sub = bus.subscribe(["t"])
    waiter = asyncio.ensure_future(sub.next_batch())
    await asyncio.sleep(0.01)
    assert not waiter.done()
    await bus.publish("t", event(1))
    assert await asyncio.wait_for(waiter, 1) == [("t", event(1))]


async def test_topics_can_be_added_and_removed_and_wants_follows_them() -> None:
    bus = MemoryBus()
    sub = bus.subscribe()
    assert not bus.wants("t")
    sub.add(["t", "u"])
    assert bus.wants("t")
    assert sub.topics == {"t", "u"}
    sub.remove(["t"])
    assert not bus.wants("t")
    await bus.publish("t", event(1))
    await bus.publish("u", event(2))
    assert await sub.next_batch() == [("u", event(2))]
    sub.close()
    assert not bus.wants("u")
    assert bus.subscriber_count == 0


async def test_a_slow_subscriber_is_marked_lagged_and_dropped_not_grown() -> None:
    bus = MemoryBus()
    slow = bus.subscribe(["t"], max_pending=10)
    fast = bus.subscribe(["t"], max_pending=10_000)
    for n in range(1, 11):
        await bus.publish("t", event(n))
    assert len(await fast.next_batch()) == 10  # fast keeps up
    await bus.publish("t", event(11))  # the 11th overflows the slow one
    assert slow.lagged
    assert bus.lag_count == 1
    for n in range(12, 1000):
        await bus.publish("t", event(n))
    # Nothing was kept for it while lagging: memory stayed bounded.
    assert slow.pending == 0  # type: ignore[attr-defined]
    assert await slow.next_batch() is LAGGED
    assert await slow.next_batch() is LAGGED  # until it resumes
    slow.resume()
    await bus.publish("t", event(1000))
    assert await slow.next_batch() == [("t", event(1000))]
    # The fast subscriber never lagged and got everything in order.
    assert not fast.lagged
    batch = await fast.next_batch()
    assert [e.position for _, e in batch] == list(range(11, 1001))


async def test_closing_the_bus_ends_every_subscription() -> None:
    bus = MemoryBus()
    sub = bus.subscribe(["t"])
    waiter = asyncio.ensure_future(sub.next_batch())
    await asyncio.sleep(0)
    await bus.close()
    with pytest.raises(BusClosed):
        await asyncio.wait_for(waiter, 1)
    with pytest.raises(BusClosed):
        bus.subscribe(["t"])
    seen = [item async for item in sub]
    assert seen == []


async def test_async_iteration_yields_batches_until_closed() -> None:
    bus = MemoryBus()
    async with bus.subscribe(["t"]) as sub:
        await bus.publish("t", event(1))
        async for batch in sub:
            assert batch == [("t", event(1))]
            sub.close()
    assert bus.subscriber_count == 0


async def test_create_bus_by_url() -> None:
    assert isinstance(create_bus("memory://"), MemoryBus)
    with pytest.raises(ValueError, match="unsupported bus URL"):
        create_bus("redis://localhost:6379")


async def test_fanout_publishes_only_what_someone_follows() -> None:
    bus = MemoryBus()
    fanout = StreamFanout(bus)
    rows = [
        (1, 1, "org_1", 1000, 1001, {"t": 1}, None),
        (2, 1, "org_1", 1000, 1001, {"t": 2}, "cm-1"),
        (1, 2, "org_1", 1000, 1001, {"t": 3}, None),
    ]
    batch = CommittedBatch(
        rows,
        {1: "ch_a", 2: "ch_b"},
        [CommittedAggregate("org_1", "ch_a", {"t": 3}, 5, 1001)],
    )
    messages = bus.subscribe(["channel:ch_a:messages"])
    aggregates = bus.subscribe(["channel:ch_a:aggregate"])
    await fanout(batch)
    got = await messages.next_batch()
    assert not isinstance(got, type(LAGGED))
    assert [(e.type, e.key, e.position) for _, e in got] == [
        ("message.created", "ch_a", 1),
        ("message.created", "ch_a", 2),
    ]
    body = json.loads(got[0][1].body)
    assert body == {
        "channel_id": "ch_a",
        "seq": 1,
        "message": {
            "channel_id": "ch_a",
            "seq": 1,
            "ts": "1970-01-01T00:00:01.000Z",
            "received_at": "1970-01-01T00:00:01.001Z",
            "payload": {"t": 1},
            "client_message_id": None,
        },
    }
    [(topic, agg)] = await aggregates.next_batch()  # type: ignore[misc]
    assert (topic, agg.type, agg.position) == ("channel:ch_a:aggregate", "aggregate.updated", 5)
    assert json.loads(agg.body)["data"] == {"t": 3}
    # ch_b had no subscriber: its messages were never even serialised.
    assert not bus.wants("channel:ch_b:messages")
