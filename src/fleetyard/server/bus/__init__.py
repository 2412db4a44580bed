"""Pub/sub between the parts of a server (and, with a networked backend, between replicas).

``create_bus(url)`` picks the backend by URL scheme; ``memory://`` (the
default) is in-process. A Redis or NATS backend is a new :class:`Bus`
subclass registered in :data:`BACKENDS`: nothing else changes.

Example::

    bus = create_bus(settings.bus_url)
    await bus.start()
    ...
    await bus.close()
"""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import urlsplit

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
from fleetyard.server.bus.memory import MemoryBus

__all__ = [
    "BACKENDS",
    "DEFAULT_MAX_PENDING",
    "LAGGED",
    "Bus",
    "BusClosed",
    "BusEvent",
    "Delivery",
    "Lagged",
    "MemoryBus",
    "Subscription",
    "create_bus",
]


def _memory(url: str) -> Bus:
    return MemoryBus()


BACKENDS: dict[str, Callable[[str], Bus]] = {"memory": _memory}
"""URL scheme → factory taking the whole URL (``redis://…`` would go here)."""


def create_bus(url: str = "memory://") -> Bus:
    """The bus a URL names.

    >>> type(create_bus("memory://")).__name__
    'MemoryBus'
    """
    scheme = urlsplit(url).scheme.lower()
    factory = BACKENDS.get(scheme)
    if factory is None:
        known = ", ".join(f"{name}://" for name in sorted(BACKENDS))
        raise ValueError(f"unsupported bus URL {url!r}: use one of {known}")
    return factory(url)
