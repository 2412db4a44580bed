"""The bus interface: topics in, events out, and what a subscriber sees when it falls behind.

The bus carries *notifications*, not data of record: everything a stream
delivers is also in storage (messages by per-channel seq, aggregates by
version, presence in the agents table). So a subscriber that cannot keep up
is not given unbounded memory: its subscription is marked *lagged*, its
queue is dropped, and it resumes from storage (see
:mod:`fleetyard.server.services.telemetry.stream`). A networked backend
(Redis, NATS) has the same contract and may lose events on a reconnect for
the same reason: consumers recover from storage by position.

Example::

    bus = create_bus("memory://")
    async with bus.subscribe(["channel:ch_1:messages"]) as subscription:
        await bus.publish("channel:ch_1:messages", event)
        async for item in subscription:
            if item is LAGGED:
                ...  # resume from storage, then carry on
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass
from types import TracebackType
from typing import Final, Self

__all__ = ["LAGGED", "Bus", "BusClosed", "BusEvent", "Delivery", "Lagged", "Subscription"]

DEFAULT_MAX_PENDING = 10_000
"""Events a subscriber may have waiting before it is marked lagged."""


@dataclass(frozen=True, slots=True)
class BusEvent:
    """One notification. ``body`` is the event's JSON object, serialised once for everyone.

    ``key`` is what the event is about (a channel id, an agent id) and
    ``position`` its place in that key's order (a message seq, an aggregate
    version), so consumers can skip what they already have and notice gaps.
    Everything is a plain string or number: a networked bus ships it as is.
    """

    type: str
    key: str
    position: int
    body: str


Delivery = tuple[str, BusEvent]
"""An event as a subscriber receives it: ``(topic, event)``."""


class Lagged:
    """The marker a subscription yields after it dropped events: resume from storage."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "LAGGED"


LAGGED: Final = Lagged()


class BusClosed(Exception):
    """The bus was closed (the server is stopping)."""


class Subscription(ABC):
    """One subscriber's view of the bus: a set of topics and a bounded queue.

    Iterate it for batches of ``(topic, event)`` (``list[Delivery]``) or
    :data:`LAGGED`; iteration ends when the subscription or the bus is closed.
    After :data:`LAGGED` nothing is queued until :meth:`resume`; call it
    *before* reading storage, so events published meanwhile are kept.
    """

    @abstractmethod
    def add(self, topics: Iterable[str]) -> None:
        """Start receiving ``topics`` (already-subscribed ones are ignored)."""

    @abstractmethod
    def remove(self, topics: Iterable[str]) -> None:
        """Stop receiving ``topics``."""

    @property
    @abstractmethod
    def topics(self) -> frozenset[str]:
        """The topics this subscription receives."""

    @property
    @abstractmethod
    def lagged(self) -> bool:
        """Whether events were dropped since the last :meth:`resume`."""

    @abstractmethod
    def resume(self) -> None:
        """Clear the lagged mark and queue events again."""

    @abstractmethod
    async def next_batch(self) -> list[Delivery] | Lagged:
        """Wait for queued events (all of them, in order) or :data:`LAGGED`.

        Raises :class:`BusClosed` when the subscription or the bus is closed.
        """

    @abstractmethod
    def close(self) -> None:
        """Leave the bus; a pending :meth:`next_batch` raises :class:`BusClosed`."""

    def __aiter__(self) -> AsyncIterator[list[Delivery] | Lagged]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[list[Delivery] | Lagged]:
        while True:
            try:
                yield await self.next_batch()
            except BusClosed:
                return

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class Bus(ABC):
    """Publish/subscribe by topic. Implementations: :class:`~.memory.MemoryBus` (default).

    A new backend (Redis, NATS) is one more subclass plus a URL scheme in
    :func:`~fleetyard.server.bus.create_bus`; routes and services only see
    this interface.
    """

    @abstractmethod
    async def start(self) -> None:
        """Connect (a networked bus); the memory bus has nothing to do."""

    @abstractmethod
    async def publish(self, topic: str, event: BusEvent) -> None:
        """Deliver ``event`` to every subscriber of ``topic``; never blocks on a subscriber."""

    async def publish_many(self, items: Iterable[tuple[str, BusEvent]]) -> None:
        """Publish several events in order (a backend may pipeline them)."""
        for topic, event in items:
            await self.publish(topic, event)

    def wants(self, topic: str) -> bool:
        """Whether publishing on ``topic`` can reach anyone (lets publishers skip work).

        A networked bus cannot know about other replicas' subscribers and says yes.
        """
        return True

    @abstractmethod
    def subscribe(
        self, topics: Iterable[str] = (), *, max_pending: int = DEFAULT_MAX_PENDING
    ) -> Subscription:
        """A new subscription to ``topics`` (more can be added later)."""

    @abstractmethod
    async def close(self) -> None:
        """End every subscription (their iteration stops) and refuse new ones."""
