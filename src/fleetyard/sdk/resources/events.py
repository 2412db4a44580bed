"""Device and execution events through pollable listeners: ``client.events``.

A listener collects the organisation's (or one site's) events from the
moment it is registered; each ``fetch`` long-polls for what happened since
the previous one. A listener nobody fetched from for a while expires (404
``invalid_event_listener``). :meth:`Events.listen` does all of it: register,
fetch in a loop, register again when the listener expired, unregister when
closed.

:meth:`Events.stream` is the push alternative: device events sent over the
``/v1/stream`` WebSocket as they happen, with no polling; after a dropped
connection it resumes after the last event delivered (within the server's
event retention).
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Iterator, Mapping
from types import TracebackType
from typing import TYPE_CHECKING, Self, TypedDict, Unpack

from fleetyard.protocol.common import Deleted
from fleetyard.protocol.devices import DeviceEvent, EventBatch, EventListener
from fleetyard.sdk._exceptions import InvalidEventListenerError, NotFoundError
from fleetyard.sdk._operation import Operation, path_param
from fleetyard.sdk._stream import AsyncStreamSubscription, ReconnectCallback, StreamSubscription
from fleetyard.sdk._stream_state import ReconnectPolicy
from fleetyard.sdk._types import WriteOptions
from fleetyard.sdk.resources._base import (
    AsyncAPIResource,
    SyncAPIResource,
    async_raw_method,
    raw_method,
)
from fleetyard.sdk.resources.stream import DEFAULT_RECONNECT

if TYPE_CHECKING:
    from fleetyard.sdk._base_client import BaseClient
    from fleetyard.sdk._client import AsyncClient, Client
    from fleetyard.sdk._flow import Flow

__all__ = [
    "AsyncDeviceEventSubscription",
    "AsyncEvents",
    "AsyncEventsWithRawResponse",
    "DeviceEventSubscription",
    "Events",
    "EventsWithRawResponse",
]

DEFAULT_FETCH_TIMEOUT = 30.0
"""Seconds a fetch waits on the server for an event (the server allows 0 to 60)."""
_HTTP_MARGIN = 10.0
"""How much longer than the long poll the HTTP request may take before it is given up."""


class ListenOptions(TypedDict, total=False):
    """Options of every request a listen makes (no idempotency key: each fetch is new)."""

    extra_headers: Mapping[str, str]
    extra_query: Mapping[str, str | int]


class FetchOptions(ListenOptions, total=False):
    """Per-call options of a fetch: ``timeout`` is the long poll's own, so not here."""

    idempotency_key: str


def listener_path(listener_id: str) -> str:
    """``/v1/event-listeners/{listener_id}``, the id quoted."""
    return f"/v1/event-listeners/{path_param(listener_id, 'listener_id')}"


def _register(site_id: str | None) -> Operation[EventListener]:
    body = {} if site_id is None else {"site_id": site_id}
    return Operation("POST", "/v1/event-listeners", EventListener, json=body)


def _fetch(listener_id: str, timeout: float | None) -> Operation[EventBatch]:
    if timeout is not None and not 0 <= timeout <= 60:
        raise ValueError(f"timeout must be between 0 and 60 seconds, got {timeout!r}")
    params = {"timeout": None if timeout is None else _seconds(timeout)}
    return Operation("POST", f"{listener_path(listener_id)}/fetch", EventBatch, params=params)


def _seconds(value: float) -> int | str:
    return int(value) if float(value).is_integer() else f"{value:g}"


def _fetch_options(options: FetchOptions | ListenOptions, timeout: float | None) -> WriteOptions:
    wait = DEFAULT_FETCH_TIMEOUT if timeout is None else timeout
    # The client's default timeout (30 s) would cut a 30 s long poll short.
    result = _write_options(options)
    result["timeout"] = wait + _HTTP_MARGIN
    return result


def _write_options(options: FetchOptions | ListenOptions) -> WriteOptions:
    result: WriteOptions = {}
    if "extra_headers" in options:
        result["extra_headers"] = options["extra_headers"]
    if "extra_query" in options:
        result["extra_query"] = options["extra_query"]
    key = options.get("idempotency_key")
    if isinstance(key, str):
        result["idempotency_key"] = key
    return result


def _unregister(listener_id: str) -> Operation[Deleted]:
    return Operation("DELETE", listener_path(listener_id), Deleted)


class _Listening:
    """What a subscription knows: its listener, if any, and how to fetch."""

    def __init__(self, site_id: str | None, timeout: float | None, options: ListenOptions) -> None:
        self.site_id = site_id
        self.timeout = timeout
        self.options = options
        self.listener_id: str | None = None
        self.registrations = 0
        self.closed = False


def _ensure_registered(client: BaseClient, state: _Listening) -> Flow[str]:
    if state.listener_id is None:
        raw = yield from client._call(_register(state.site_id), _write_options(state.options))
        state.listener_id = raw.parse().id
        state.registrations += 1
    return state.listener_id


def _next_batch(client: BaseClient, state: _Listening) -> Flow[list[DeviceEvent]]:
    """Fetch once; an expired listener is registered again (events meanwhile are lost)."""
    fresh_failures = 0
    while True:
        registered_before = state.listener_id is not None
        listener_id = yield from _ensure_registered(client, state)
        op = _fetch(listener_id, state.timeout)
        try:
            raw = yield from client._call(op, _fetch_options(state.options, state.timeout))
        except InvalidEventListenerError:
            state.listener_id = None
            if not registered_before:
                # A listener that is invalid right after registering will not get better.
                fresh_failures += 1
                if fresh_failures >= 2:
                    raise
            continue
        return raw.parse().events


def _close(client: BaseClient, state: _Listening) -> Flow[None]:
    state.closed = True
    listener_id, state.listener_id = state.listener_id, None
    if listener_id is None:
        return
    # A listener that expired already needs no cleaning up.
    with contextlib.suppress(NotFoundError):
        yield from client._call(_unregister(listener_id), {})


class DeviceEventSubscription:
    """Device and execution events as they happen, for a :class:`~fleetyard.Client`.

    Made by :meth:`client.events.listen() <Events.listen>`. Registers its
    listener on ``__enter__`` (or on first iteration), so events from then on
    are seen; iterates forever; unregisters on :meth:`close` / ``__exit__``.

    Example::

        with client.events.listen() as events:
            for event in events:
                print(event.seq, event.type, event.device_url or event.execution_id)
    """

    def __init__(
        self,
        client: Client,
        *,
        site_id: str | None = None,
        timeout: float | None = None,
        options: ListenOptions | None = None,
    ) -> None:
        self._client = client
        self._state = _Listening(site_id, timeout, options or {})

    @property
    def listener_id(self) -> str | None:
        """The listener in use now (``None`` before the first registration or once closed).

        Example::

            print(events.listener_id)
        """
        return self._state.listener_id

    @property
    def registrations(self) -> int:
        """How many listeners were registered: more than one means some expired.

        Example::

            if events.registrations > 1:
                print("events may have been missed while the listener was expired")
        """
        return self._state.registrations

    def __enter__(self) -> Self:
        self._client._drive(_ensure_registered(self._client, self._state))
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __iter__(self) -> Iterator[DeviceEvent]:
        while not self._state.closed:
            yield from self._client._drive(_next_batch(self._client, self._state))

    def close(self) -> None:
        """Stop and unregister the listener (errors other than "already gone" raise).

        Example::

            events.close()
        """
        self._client._drive(_close(self._client, self._state))


class AsyncDeviceEventSubscription:
    """Device and execution events as they happen, for an :class:`~fleetyard.AsyncClient`.

    Example::

        async with client.events.listen() as events:
            async for event in events:
                print(event.seq, event.type)
    """

    def __init__(
        self,
        client: AsyncClient,
        *,
        site_id: str | None = None,
        timeout: float | None = None,
        options: ListenOptions | None = None,
    ) -> None:
        self._client = client
        self._state = _Listening(site_id, timeout, options or {})

    @property
    def listener_id(self) -> str | None:
        """The listener in use now (``None`` before the first registration or once closed).

        Example::

            print(events.listener_id)
        """
        return self._state.listener_id

    @property
    def registrations(self) -> int:
        """How many listeners were registered: more than one means some expired.

        Example::

            print(events.registrations)
        """
        return self._state.registrations

    async def __aenter__(self) -> Self:
        await self._client._drive(_ensure_registered(self._client, self._state))
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def __aiter__(self) -> AsyncIterator[DeviceEvent]:
        while not self._state.closed:
            for event in await self._client._drive(_next_batch(self._client, self._state)):
                yield event

    async def close(self) -> None:
        """Stop and unregister the listener.

        Example::

            await events.close()
        """
        await self._client._drive(_close(self._client, self._state))


class Events(SyncAPIResource):
    """Device and execution events (``device.state_changed``, ``execution.state_changed``…).

    Example::

        with client.events.listen(site_id="site_01…") as events:
            for event in events:
                print(event.type, event.device_url, event.new_state)
    """

    def register_listener(
        self, *, site_id: str | None = None, **options: Unpack[WriteOptions]
    ) -> EventListener:
        """Start collecting events (of one site, or all readable ones) from now.

        Example::

            listener = client.events.register_listener()
            events = client.events.fetch(listener.id, timeout=5)
        """
        return self._send(_register(site_id), options)

    def fetch(
        self, listener_id: str, *, timeout: float | None = None, **options: Unpack[FetchOptions]
    ) -> list[DeviceEvent]:
        """The events since the last fetch; waits up to ``timeout`` seconds (0-60, server
        default 30) for one to arrive. An expired listener raises
        :class:`~fleetyard.InvalidEventListenerError`.

        Example::

            for event in client.events.fetch(listener.id, timeout=10):
                print(event.seq, event.type)
        """
        op = _fetch(listener_id, timeout)
        batch: EventBatch = self._send(op, _fetch_options(options, timeout))
        return batch.events

    def unregister(self, listener_id: str, **options: Unpack[WriteOptions]) -> Deleted:
        """Stop a listener.

        Example::

            client.events.unregister(listener.id)
        """
        return self._send(_unregister(listener_id), options)

    def listen(
        self,
        *,
        site_id: str | None = None,
        timeout: float | None = None,
        **options: Unpack[ListenOptions],
    ) -> DeviceEventSubscription:
        """Iterate events as they happen; use it in a ``with`` block so the listener is
        removed at the end. ``timeout`` is each long poll's (seconds).

        A listener that expired (the loop stopped for longer than the server's
        listener lifetime) is replaced by a new one; what happened in between
        is not seen (``registrations`` tells).

        Example::

            with client.events.listen() as events:
                for event in events:
                    if event.type == "execution.state_changed":
                        print(event.execution_id, event.old_state, "->", event.new_state)
        """
        return DeviceEventSubscription(
            self._client, site_id=site_id, timeout=timeout, options=options
        )

    def stream(
        self,
        *,
        site_id: str | None = None,
        idle_timeout: float | None = None,
        reconnect: ReconnectPolicy = DEFAULT_RECONNECT,
        on_reconnect: ReconnectCallback | None = None,
    ) -> StreamSubscription:
        """Device events pushed over the WebSocket: the same as
        ``client.stream.subscribe(device_events=site_id or True)``.

        Each event is a :class:`~fleetyard.protocol.stream.DeviceEventFrame`
        (``type == "device.event"``), the event itself in ``.event``. The
        connection is re-opened when it drops and resumes after the last
        event delivered, so nothing in between is lost (within the server's
        event retention) and nothing comes twice.

        Example::

            with client.events.stream(site_id="site_01…") as frames:
                for frame in frames:
                    if frame.type == "device.event":
                        print(frame.event.seq, frame.event.type, frame.event.device_url)
        """
        return self._client.stream.subscribe(
            device_events=True if site_id is None else site_id,
            idle_timeout=idle_timeout,
            reconnect=reconnect,
            on_reconnect=on_reconnect,
        )


class AsyncEvents(AsyncAPIResource):
    """Device and execution events (``device.state_changed``, ``execution.state_changed``…).

    Example::

        async with client.events.listen() as events:
            async for event in events:
                print(event.type)
    """

    async def register_listener(
        self, *, site_id: str | None = None, **options: Unpack[WriteOptions]
    ) -> EventListener:
        """Start collecting events (of one site, or all readable ones) from now.

        Example::

            listener = await client.events.register_listener()
        """
        return await self._send(_register(site_id), options)

    async def fetch(
        self,
        listener_id: str,
        *,
        timeout: float | None = None,  # noqa: ASYNC109 - the long poll's, as in the sync twin
        **options: Unpack[FetchOptions],
    ) -> list[DeviceEvent]:
        """The events since the last fetch; waits up to ``timeout`` seconds for one.

        Example::

            events = await client.events.fetch(listener.id, timeout=10)
        """
        op = _fetch(listener_id, timeout)
        batch: EventBatch = await self._send(op, _fetch_options(options, timeout))
        return batch.events

    async def unregister(self, listener_id: str, **options: Unpack[WriteOptions]) -> Deleted:
        """Stop a listener.

        Example::

            await client.events.unregister(listener.id)
        """
        return await self._send(_unregister(listener_id), options)

    def listen(
        self,
        *,
        site_id: str | None = None,
        timeout: float | None = None,
        **options: Unpack[ListenOptions],
    ) -> AsyncDeviceEventSubscription:
        """Iterate events as they happen (see :meth:`Events.listen`).

        Example::

            async with client.events.listen(timeout=20) as events:
                async for event in events:
                    print(event.type)
        """
        return AsyncDeviceEventSubscription(
            self._client, site_id=site_id, timeout=timeout, options=options
        )

    def stream(
        self,
        *,
        site_id: str | None = None,
        idle_timeout: float | None = None,
        reconnect: ReconnectPolicy = DEFAULT_RECONNECT,
        on_reconnect: ReconnectCallback | None = None,
    ) -> AsyncStreamSubscription:
        """Device events pushed live over the WebSocket (see :meth:`Events.stream`).

        Example::

            async with client.events.stream() as frames:
                async for frame in frames:
                    if frame.type == "device.event":
                        print(frame.event.type)
        """
        return self._client.stream.subscribe(
            device_events=True if site_id is None else site_id,
            idle_timeout=idle_timeout,
            reconnect=reconnect,
            on_reconnect=on_reconnect,
        )


class EventsWithRawResponse:
    """``client.with_raw_response.events``: the same calls, answering :class:`RawResponse`.

    Subscriptions (``listen``, ``stream``) have no raw form, nor has ``fetch``
    (its answer is unwrapped into a list of events).

    Example::

        raw = client.with_raw_response.events.register_listener(site_id="site_01…")
        print(raw.status_code, raw.parse().expires_at)
    """

    _WITHOUT_RAW_FORM = frozenset({"fetch", "listen", "stream"})

    def __init__(self, events: Events) -> None:
        self.register_listener = raw_method(events.register_listener)
        self.unregister = raw_method(events.unregister)


class AsyncEventsWithRawResponse:
    """``client.with_raw_response.events`` of an :class:`~fleetyard.AsyncClient`.

    Example::

        raw = await client.with_raw_response.events.unregister("evl_01…")
        print(raw.status_code)
    """

    _WITHOUT_RAW_FORM = frozenset({"fetch", "listen", "stream"})

    def __init__(self, events: AsyncEvents) -> None:
        self.register_listener = async_raw_method(events.register_listener)
        self.unregister = async_raw_method(events.unregister)
