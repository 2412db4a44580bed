"""What every resource class builds on: how a call is sent, and raw-response views."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, ParamSpec, TypeVar, cast

from fleetyard.sdk._operation import Operation
from fleetyard.sdk._response import RawResponse
from fleetyard.sdk._types import ReadOptions

if TYPE_CHECKING:
    from fleetyard.sdk._client import AsyncClient, Client
    from fleetyard.sdk._flow import Flow

__all__ = ["AsyncAPIResource", "SyncAPIResource", "async_raw_method", "raw_method"]

T = TypeVar("T")
P = ParamSpec("P")


class _Resource:
    def __init__(self, *, raw: bool) -> None:
        # In raw mode (behind `client.with_raw_response`) methods return the
        # RawResponse itself instead of parsing it.
        self._raw = raw

    def _result(self, raw: RawResponse[T]) -> T:
        return cast(T, raw) if self._raw else raw.parse()


class SyncAPIResource(_Resource):
    """Base of :class:`~fleetyard.Client`'s resources: they build operations, this sends them."""

    def __init__(self, client: Client, *, raw: bool = False) -> None:
        super().__init__(raw=raw)
        self._client = client

    def _send(self, op: Operation[T], options: ReadOptions) -> T:
        return self._run(self._client._call(op, options))

    def _run(self, flow: Flow[RawResponse[T]]) -> T:
        return self._result(self._client._drive(flow))


class AsyncAPIResource(_Resource):
    """Base of the resources of :class:`~fleetyard.AsyncClient`."""

    def __init__(self, client: AsyncClient, *, raw: bool = False) -> None:
        super().__init__(raw=raw)
        self._client = client

    async def _send(self, op: Operation[T], options: ReadOptions) -> T:
        return await self._run(self._client._call(op, options))

    async def _run(self, flow: Flow[RawResponse[T]]) -> T:
        return self._result(await self._client._drive(flow))


def _check_raw(method: Callable[..., object]) -> None:
    owner = getattr(method, "__self__", None)
    if not isinstance(owner, _Resource) or not owner._raw:
        raise TypeError("raw views need a method of a resource created with raw=True")


def raw_method(method: Callable[P, T]) -> Callable[P, RawResponse[T]]:
    """Type a raw-mode resource's method as returning :class:`RawResponse`, which it does."""
    _check_raw(method)
    return cast("Callable[P, RawResponse[T]]", method)


def async_raw_method(
    method: Callable[P, Awaitable[T]],
) -> Callable[P, Awaitable[RawResponse[T]]]:
    """:func:`raw_method` for coroutine methods."""
    _check_raw(method)
    return cast("Callable[P, Awaitable[RawResponse[T]]]", method)
