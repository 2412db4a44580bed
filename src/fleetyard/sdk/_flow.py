"""The I/O-free core speaks to the clients through generators ("flows").

A flow yields *actions*: :class:`Send` a request, :class:`Sleep` a while, or
run a sub-flow :class:`Exclusive`-ly (under the client's lock). The sync
client performs them with blocking calls, the async client awaits them; the
logic (retries, token refresh, error mapping) exists once, in the flows. A
failed action is thrown into the flow at the ``yield``, so flows handle
transport errors with ordinary ``try``/``except``.
"""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import dataclass
from typing import Any, TypeAlias, TypeVar, cast

import httpx2

from fleetyard.sdk._operation import RequestSpec

__all__ = ["Action", "Exclusive", "Flow", "Send", "Sleep", "exclusive", "send", "sleep"]

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Send:
    """Send this request; the answer is an :class:`httpx2.Response` (body read)."""

    request: RequestSpec


@dataclass(frozen=True, slots=True)
class Sleep:
    """Wait this many seconds; the answer is ``None``."""

    seconds: float


@dataclass(frozen=True, slots=True)
class Exclusive:
    """Run ``flow`` while holding the client's lock; the answer is its result.

    Used for token renewal, so concurrent calls renew once, not once each.
    The lock is not reentrant: an exclusive flow must not yield another.
    """

    flow: Flow[Any]


Action: TypeAlias = Send | Sleep | Exclusive
Flow: TypeAlias = Generator[Action, object, T]


def send(request: RequestSpec) -> Flow[httpx2.Response]:
    """Yield a :class:`Send` and return the response."""
    response = yield Send(request)
    if not isinstance(response, httpx2.Response):  # a driver bug, not a user error
        raise TypeError(f"Send answered with {type(response).__name__}")
    return response


def sleep(seconds: float) -> Flow[None]:
    """Yield a :class:`Sleep`."""
    yield Sleep(seconds)


def exclusive(flow: Flow[T]) -> Flow[T]:
    """Yield an :class:`Exclusive` and return what the sub-flow returned."""
    result = yield Exclusive(flow)
    return cast(T, result)
