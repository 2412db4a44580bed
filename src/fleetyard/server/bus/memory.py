"""The in-process bus: one event loop, shared event objects, a bounded queue per subscriber.

Publishing appends a reference to each subscriber's list (events are shared,
never copied), so fan-out costs a few pointer writes per subscriber and
memory is bounded by ``max_pending`` references per subscriber. A
subscriber whose queue is full is marked lagged and its queue is dropped;
it recovers from storage.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable

from fleetyard.server.bus.base import (
    DEFAULT_MAX_PENDING,
    LAGGED,
    Bus,
    BusClosed,
    BusEvent,
    Delivery,
    Lagged,
    Subscription,
)

__all__ = ["MemoryBus"]


class _MemorySubscription(Subscription):
    __slots__ = ("_bus", "_closed", "_lagged", "_max", "_queue", "_topics", "_waiter")

    def __init__(self, bus: MemoryBus, max_pending: int) -> None:
        self._bus = bus
        self._topics: set[str] = set()
        self._queue: list[Delivery] = []
        self._max = max_pending
        self._lagged = False
        self._closed = False
        self._waiter: asyncio.Future[None] | None = None

    # -- topics ------------------------------------------------------------------------

    def add(self, topics: Iterable[str]) -> None:
        if self._closed:
            raise BusClosed("the subscription is closed")
        for topic in topics:
            if topic not in self._topics:
                self._topics.add(topic)
                self._bus._attach(topic, self)

    def remove(self, topics: Iterable[str]) -> None:
        for topic in topics:
            if topic in self._topics:
                self._topics.discard(topic)
                self._bus._detach(topic, self)

    @property
    def topics(self) -> frozenset[str]:
        return frozenset(self._topics)

    # -- delivery ----------------------------------------------------------------------

    @property
    def lagged(self) -> bool:
        return self._lagged

    @property
    def pending(self) -> int:
        return len(self._queue)

    def resume(self) -> None:
        self._lagged = False

    def _offer(self, topic: str, event: BusEvent) -> None:
        if self._lagged:
            return
        if len(self._queue) >= self._max:
            # Drop, don't grow: the consumer re-reads what it missed from storage.
            self._queue = []
            self._lagged = True
            self._bus.lag_count += 1
        else:
            self._queue.append((topic, event))
        self._wake()

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def next_batch(self) -> list[Delivery] | Lagged:
        while True:
            if self._closed:
                raise BusClosed("the subscription is closed")
            if self._queue:
                batch, self._queue = self._queue, []
                return batch
            if self._lagged:
                return LAGGED
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self.remove(list(self._topics))
        self._queue = []
        self._bus._subscriptions.discard(self)
        self._wake()


class MemoryBus(Bus):
    """The default bus: subscribers in this process only (one server replica).

    Example::

        bus = MemoryBus()
        subscription = bus.subscribe(["agent:agt_1:presence"])
        await bus.publish("agent:agt_1:presence", BusEvent("agent.online", "agt_1", 0, "{}"))
        assert await subscription.next_batch() == [("agent:agt_1:presence", ...)]
    """

    def __init__(self) -> None:
        self._topics: dict[str, set[_MemorySubscription]] = {}
        self._subscriptions: set[_MemorySubscription] = set()
        self._closed = False
        self.lag_count = 0
        """How many times a subscriber was marked lagged (for metrics and tests)."""

    async def start(self) -> None:
        self._closed = False

    def publish_nowait(self, topic: str, event: BusEvent) -> None:
        """:meth:`publish` without the await (it never waits anyway)."""
        for subscription in self._topics.get(topic, ()):
            subscription._offer(topic, event)

    async def publish(self, topic: str, event: BusEvent) -> None:
        self.publish_nowait(topic, event)

    async def publish_many(self, items: Iterable[tuple[str, BusEvent]]) -> None:
        topics = self._topics
        for topic, event in items:
            for subscription in topics.get(topic, ()):
                subscription._offer(topic, event)

    def wants(self, topic: str) -> bool:
        return topic in self._topics

    def subscribe(
        self, topics: Iterable[str] = (), *, max_pending: int = DEFAULT_MAX_PENDING
    ) -> Subscription:
        if self._closed:
            raise BusClosed("the bus is closed")
        if max_pending < 1:
            raise ValueError("max_pending must be at least 1")
        subscription = _MemorySubscription(self, max_pending)
        self._subscriptions.add(subscription)
        subscription.add(topics)
        return subscription

    @property
    def subscriber_count(self) -> int:
        return len(self._subscriptions)

    def _attach(self, topic: str, subscription: _MemorySubscription) -> None:
        self._topics.setdefault(topic, set()).add(subscription)

    def _detach(self, topic: str, subscription: _MemorySubscription) -> None:
        subscribers = self._topics.get(topic)
        if subscribers is not None:
            subscribers.discard(subscription)
            if not subscribers:
                del self._topics[topic]

    async def close(self) -> None:
        self._closed = True
        for subscription in list(self._subscriptions):
            subscription.close()
