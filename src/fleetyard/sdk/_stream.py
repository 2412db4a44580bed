"""Subscriptions that survive the network: the blocking and async drivers of a stream.

Each driver owns a :class:`~fleetyard.sdk._stream_state.StreamState` (all
the rules) and a WebSocket to ``/v1/stream``; it only connects, sends, waits
and reconnects:

- connect (renewing an access token first when needed), send the state's
  ``subscribe``, wait for ``subscribed`` (on ``__enter__``, so "from now"
  means from when the ``with`` line returned);
- hand each frame to the state; yield what it returns;
- on a lost connection (closed, reset, silent for three heartbeats) wait
  with backoff and jitter, reconnect and resubscribe from the last seen
  positions; ``on_reconnect(attempt, delay, error)`` hears about each try
  (presence, device and software events are live only: they continue from the new
  connection, what happened in between is not replayed);
- stop when closed, after ``idle_timeout`` seconds without an event
  (heartbeats do not count), or raise what cannot be retried (a channel
  that is not found, credentials refused).

WebSockets need ``wsproto``, which ``pip install fleetyard`` brings (through
``httpx2[ws]``); if an install lacks it, a clear error says so.
"""

from __future__ import annotations

import contextlib
import threading
from contextlib import AbstractAsyncContextManager, AbstractContextManager, AsyncExitStack
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self

import anyio

from fleetyard.sdk._exceptions import APIConnectionError, APIStatusError, TokenExpiredError
from fleetyard.sdk._flow import exclusive
from fleetyard.sdk._stream_base import (
    Driver,
    ReconnectCallback,
    lost_error,
    server_closing_first,
    upgrade_error,
    ws_errors,
    ws_url,
)
from fleetyard.sdk._stream_state import (
    MAX_MESSAGE_BYTES,
    ReconnectPolicy,
    StreamEvent,
    StreamState,
)

if TYPE_CHECKING:
    from fleetyard.sdk._client import AsyncClient, Client

__all__ = ["AsyncStreamSubscription", "ReconnectCallback", "StreamSubscription"]


class StreamSubscription(Driver):
    """Live events of a :class:`~fleetyard.Client`: iterate it; it reconnects and resumes.

    Made by :meth:`client.stream.subscribe <fleetyard.sdk.resources.stream.Stream.subscribe>`.
    Safe to :meth:`close` from another thread.

    Example::

        with client.stream.subscribe(["ch_01…"], aggregates=True) as events:
            for event in events:
                if event.type == "message.created":
                    print(event.seq, event.message.payload)
    """

    def __init__(
        self,
        client: Client,
        state: StreamState,
        *,
        idle_timeout: float | None = None,
        reconnect: ReconnectPolicy = ReconnectPolicy(),
        on_reconnect: ReconnectCallback | None = None,
    ) -> None:
        super().__init__(
            state,
            idle_timeout=idle_timeout,
            reconnect=reconnect,
            on_reconnect=on_reconnect,
            first_attempts=client.retry.max_attempts,
            rand=client._rand,
        )
        self._client = client
        self._cm: AbstractContextManager[Any] | None = None
        self._ws: Any = None
        self._bearer: str | None = None
        self._early: list[StreamEvent] = []
        self._stop = threading.Event()
        self._owner: int | None = None

    def __enter__(self) -> Self:
        self._owner = threading.get_ident()
        try:
            self._ensure_connected()
            # Wait for the server's acknowledgement: from here on nothing is missed.
            while not self._state.subscribed and not self._closed:
                self._ensure_connected()
                if self._closed:
                    break
                event = self._receive_one()
                if event is not None:  # pragma: no cover - the server acknowledges first
                    self._early.append(event)
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __iter__(self) -> Self:
        return self

    def __next__(self) -> StreamEvent:
        self._owner = threading.get_ident()
        if self._early:
            return self._early.pop(0)
        while not self._closed:
            self._ensure_connected()
            if self._closed:
                break
            event = self._receive_one()
            if event is not None:
                return event
        self._teardown()
        raise StopIteration

    def close(self) -> None:
        """Stop: iteration ends (also when called from another thread) and the connection closes."""
        self._closed = True
        self._stop.set()
        ws = self._ws
        if ws is not None:
            with contextlib.suppress(Exception):
                ws.close()
        # The iterating thread releases the connection; another one only wakes it up.
        if self._owner in (None, threading.get_ident()):
            self._teardown()

    # -- internals ---------------------------------------------------------------------

    def _receive_one(self) -> StreamEvent | None:
        from httpx2.websockets import WebSocketInvalidTypeReceived

        wait = self._wait_seconds()
        if wait is None:  # idle for idle_timeout: the caller asked to stop then
            self.close()
            return None
        try:
            text = self._ws.receive_text(timeout=wait)
        except TimeoutError:
            if self._state.seconds_until_dead() <= 0:
                self._lost(APIConnectionError("the stream went silent", request=None))
            return None
        except WebSocketInvalidTypeReceived:
            return None
        except ws_errors() as exc:
            self._lost(exc)
            return None
        try:
            return self._take(text)
        except TokenExpiredError:
            if not self._may_renew(self._client._credentials.can_renew()):
                self.close()
                raise
            # Renewed: reconnect at once with the new token (no backoff, no error).
            self._client._drive(exclusive(self._client._renew(self._bearer, force=True)))
            self._teardown()
            self._error = None
            return None
        except APIStatusError:
            self.close()
            raise

    def _lost(self, error: Exception) -> None:
        self._error = lost_error(error)
        self._teardown()

    def _ensure_connected(self) -> None:
        while self._ws is None and not self._closed:
            if self._error is not None:
                delay = self._next_delay()
                if self._stop.wait(delay):
                    return
            try:
                self._open()
            except ws_errors() as exc:
                self._error = upgrade_error(exc) or lost_error(exc)
            else:
                self._error = None
                self._ever_connected = True

    def _open(self) -> None:
        client = self._client
        creds = client._credentials
        if creds.needs_renewal(client._now()):
            client._drive(exclusive(client._renew(creds.access_token, force=False)))
        self._bearer = creds.bearer()
        cm = client._http_client.websocket(
            ws_url(client.base_url),
            headers=self._headers(self._bearer, client.default_headers),
            max_message_size_bytes=MAX_MESSAGE_BYTES,
            timeout=client.timeout,
        )
        ws = cm.__enter__()
        try:
            with server_closing_first():
                ws.send_text(self._state.subscribe_frame())
        except BaseException:
            with contextlib.suppress(Exception):
                cm.__exit__(None, None, None)
            raise
        self._state.connected()
        self._cm, self._ws = cm, ws

    def _teardown(self) -> None:
        cm, self._cm, self._ws = self._cm, None, None
        if cm is not None:
            with contextlib.suppress(Exception):
                cm.__exit__(None, None, None)


class AsyncStreamSubscription(Driver):
    """Live events of an :class:`~fleetyard.AsyncClient`: ``async for`` them.

    Example::

        async with client.stream.subscribe(["ch_01…"]) as events:
            async for event in events:
                print(event.type)
    """

    def __init__(
        self,
        client: AsyncClient,
        state: StreamState,
        *,
        idle_timeout: float | None = None,
        reconnect: ReconnectPolicy = ReconnectPolicy(),
        on_reconnect: ReconnectCallback | None = None,
    ) -> None:
        super().__init__(
            state,
            idle_timeout=idle_timeout,
            reconnect=reconnect,
            on_reconnect=on_reconnect,
            first_attempts=client.retry.max_attempts,
            rand=client._rand,
        )
        self._client = client
        self._stack: AsyncExitStack | None = None
        self._ws: Any = None
        self._bearer: str | None = None
        self._early: list[StreamEvent] = []
        self._stop = anyio.Event()

    async def __aenter__(self) -> Self:
        try:
            await self._ensure_connected()
            while not self._state.subscribed and not self._closed:
                await self._ensure_connected()
                if self._closed:
                    break
                event = await self._receive_one()
                if event is not None:  # pragma: no cover - the server acknowledges first
                    self._early.append(event)
        except BaseException:
            await self.close()
            raise
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    def __aiter__(self) -> Self:
        return self

    async def __anext__(self) -> StreamEvent:
        if self._early:
            return self._early.pop(0)
        while not self._closed:
            await self._ensure_connected()
            if self._closed:
                break
            event = await self._receive_one()
            if event is not None:
                return event
        await self._teardown()
        raise StopAsyncIteration

    async def close(self) -> None:
        """Stop: iteration ends and the connection is closed."""
        self._closed = True
        self._stop.set()
        ws = self._ws
        if ws is not None:
            with contextlib.suppress(Exception):
                await ws.close()
        await self._teardown()

    async def _receive_one(self) -> StreamEvent | None:
        from httpx2.websockets import WebSocketInvalidTypeReceived

        wait = self._wait_seconds()
        if wait is None:
            await self.close()
            return None
        try:
            text = await self._ws.receive_text(timeout=wait)
        except TimeoutError:
            if self._state.seconds_until_dead() <= 0:
                await self._lost(APIConnectionError("the stream went silent", request=None))
            return None
        except WebSocketInvalidTypeReceived:
            return None
        except ws_errors() as exc:
            await self._lost(exc)
            return None
        try:
            return self._take(text)
        except TokenExpiredError:
            if not self._may_renew(self._client._credentials.can_renew()):
                await self.close()
                raise
            await self._client._drive(exclusive(self._client._renew(self._bearer, force=True)))
            await self._teardown()
            self._error = None
            return None
        except APIStatusError:
            await self.close()
            raise

    async def _lost(self, error: Exception) -> None:
        self._error = lost_error(error)
        await self._teardown()

    async def _ensure_connected(self) -> None:
        while self._ws is None and not self._closed:
            if self._error is not None:
                delay = self._next_delay()
                with anyio.move_on_after(delay):
                    await self._stop.wait()
                if self._closed:
                    return
            try:
                await self._open()
            except ws_errors() as exc:
                self._error = upgrade_error(exc) or lost_error(exc)
            else:
                self._error = None
                self._ever_connected = True

    async def _open(self) -> None:
        client = self._client
        creds = client._credentials
        if creds.needs_renewal(client._now()):
            await client._drive(exclusive(client._renew(creds.access_token, force=False)))
        self._bearer = creds.bearer()
        stack = AsyncExitStack()
        try:
            connection: AbstractAsyncContextManager[Any] = client._http_client.websocket(
                ws_url(client.base_url),
                headers=self._headers(self._bearer, client.default_headers),
                max_message_size_bytes=MAX_MESSAGE_BYTES,
                timeout=client.timeout,
            )
            ws = await stack.enter_async_context(connection)
            with server_closing_first():
                await ws.send_text(self._state.subscribe_frame())
        except BaseException:
            with contextlib.suppress(Exception):
                await stack.aclose()
            raise
        self._state.connected()
        self._stack, self._ws = stack, ws

    async def _teardown(self) -> None:
        stack, self._stack, self._ws = self._stack, None, None
        if stack is not None:
            # Not under a shielding scope: the connection's task group was entered
            # before it, and cancel scopes must close in the order they opened.
            with contextlib.suppress(Exception):
                await stack.aclose()
