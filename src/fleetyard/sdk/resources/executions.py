"""Run commands on devices and follow them: ``client.executions``.

:meth:`Executions.execute` answers an :class:`ExecutionHandle` at once (the
gateway runs the execution); ``handle.wait()`` polls it until it finished.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import TYPE_CHECKING, Unpack

from fleetyard.protocol.common import Page
from fleetyard.protocol.executions import (
    ActionGroup,
    Execution,
    ExecutionMode,
    ExecutionStarted,
    ExecutionState,
)
from fleetyard.sdk._operation import Operation, path_param
from fleetyard.sdk._pagination import AsyncPager, SyncPager
from fleetyard.sdk._types import ReadOptions, WriteOptions
from fleetyard.sdk.resources._actions import ActionLike, group_body
from fleetyard.sdk.resources._base import (
    AsyncAPIResource,
    SyncAPIResource,
    async_raw_method,
    raw_method,
)
from fleetyard.sdk.resources._polling import (
    DEFAULT_POLL_INTERVAL,
    PollOptions,
    poll_until,
    read_options,
)
from fleetyard.sdk.resources._telemetry import Instant, absolute, wire_time
from fleetyard.sdk.resources.execution_handles import (
    AsyncExecutionHandle,
    ExecutionCallback,
    ExecutionHandle,
)

if TYPE_CHECKING:
    from fleetyard.sdk._base_client import BaseClient
    from fleetyard.sdk._flow import Flow
    from fleetyard.sdk._response import RawResponse

__all__ = [
    "AsyncExecutionHandle",
    "AsyncExecutions",
    "AsyncExecutionsWithRawResponse",
    "ExecutionHandle",
    "Executions",
    "ExecutionsWithRawResponse",
]


def execution_path(execution_id: str) -> str:
    """``/v1/executions/{execution_id}``, the id quoted."""
    return f"/v1/executions/{path_param(execution_id, 'execution_id')}"


def _execute(
    group: ActionGroup | None,
    actions: ActionLike | Iterable[ActionLike] | None,
    label: str | None,
    mode: ExecutionMode | str | None,
    gateway_id: str | None,
    queue: bool | None,
) -> Operation[ExecutionStarted]:
    body = group_body(group, actions, label, mode, gateway_id=gateway_id, queue=queue)
    return Operation("POST", "/v1/executions", ExecutionStarted, json=body)


def _get(execution_id: str) -> Operation[Execution]:
    return Operation("GET", execution_path(execution_id), Execution)


def _cancel(execution_id: str) -> Operation[Execution]:
    return Operation("POST", f"{execution_path(execution_id)}/cancel", Execution)


def _current_page(
    cursor: str | None, gateway_id: str | None, limit: int | None
) -> Operation[Page[Execution]]:
    params = {"cursor": cursor, "limit": limit, "gateway_id": gateway_id}
    return Operation("GET", "/v1/executions/current", Page[Execution], params=params)


def _history_page(
    cursor: str | None,
    gateway_id: str | None,
    device_url: str | None,
    state: ExecutionState | str | None,
    start: datetime | None,
    end: datetime | None,
    limit: int | None,
) -> Operation[Page[Execution]]:
    params = {
        "cursor": cursor,
        "limit": limit,
        "gateway_id": gateway_id,
        "device_url": device_url,
        "state": None if state is None else ExecutionState(state).value,
        "start": wire_time(start),
        "end": wire_time(end),
    }
    return Operation("GET", "/v1/executions", Page[Execution], params=params)


def _fingerprint(execution: Execution) -> object:
    commands = tuple(c.state for a in execution.actions for c in a.commands)
    return execution.state, commands, execution.updated_at


def _wait(
    client: BaseClient,
    execution_id: str,
    timeout: float | None,
    on_progress: ExecutionCallback | None,
    poll_interval: float,
    options: ReadOptions,
) -> Flow[RawResponse[Execution]]:
    return poll_until(
        client,
        _get(execution_id),
        done=lambda e: e.finished,
        fingerprint=_fingerprint,
        what=f"execution {execution_id}",
        timeout=timeout,
        poll_interval=poll_interval,
        on_progress=on_progress,
        options=options,
    )


class Executions(SyncAPIResource):
    """Executions: action groups running (or run) on a gateway's devices.

    Example::

        handle = client.executions.execute(
            actions=[{"device_url": "io://1234-5678-3293/3541212",
                      "commands": [("setClosure", 50)]}],
            label="Half closed",
        )
        execution = handle.wait(timeout=60)
        print(execution.state, execution.failed_commands)
    """

    def execute(
        self,
        group: ActionGroup | None = None,
        *,
        actions: ActionLike | Iterable[ActionLike] | None = None,
        label: str | None = None,
        mode: ExecutionMode | str | None = None,
        gateway_id: str | None = None,
        queue: bool | None = None,
        **options: Unpack[WriteOptions],
    ) -> ExecutionHandle:
        """Run commands now: give ``actions=`` (or an ``ActionGroup``/``ExecutionCreate``).

        Each action is one device's commands, in order (one action per
        device). ``gateway_id`` picks the gateway when a device URL is found
        behind several; ``queue=True`` waits server-side for a free slot
        instead of raising :class:`~fleetyard.ExecQueueFullError`.

        Example::

            from fleetyard.sdk import action

            handle = client.executions.execute(
                actions=[action("io://1234-5678-3293/3541212", ("setClosure", 50))]
            )
            print(handle.id, handle.state)
        """
        op = _execute(group, actions, label, mode, gateway_id, queue)
        return ExecutionHandle(self, self._send(op, options))

    def get(self, execution_id: str, **options: Unpack[ReadOptions]) -> Execution:
        """One execution, with the state of every command.

        Example::

            execution = client.executions.get("exe_01…")
            print(execution.state, [t.state for t in execution.history])
        """
        return self._send(_get(execution_id), options)

    def cancel(self, execution_id: str, **options: Unpack[WriteOptions]) -> Execution:
        """Stop an execution; a finished one raises :class:`~fleetyard.ExecutionFinishedError`.

        Example::

            client.executions.cancel("exe_01…")
        """
        return self._send(_cancel(execution_id), options)

    def wait(
        self,
        execution_id: str,
        *,
        timeout: float | None = None,
        on_progress: ExecutionCallback | None = None,
        poll_interval: float = DEFAULT_POLL_INTERVAL,
        **options: Unpack[PollOptions],
    ) -> Execution:
        """Poll an execution until it finished; :class:`~fleetyard.WaitTimeoutError` after
        ``timeout`` seconds. ``on_progress`` is called with each change seen.

        Example::

            done = client.executions.wait("exe_01…", timeout=60, on_progress=print)
        """
        flow = _wait(
            self._client, execution_id, timeout, on_progress, poll_interval, read_options(options)
        )
        return self._run(flow)

    def current(
        self,
        *,
        gateway_id: str | None = None,
        limit: int | None = None,
        **options: Unpack[ReadOptions],
    ) -> SyncPager[Execution]:
        """The unfinished executions (queued included), oldest first.

        Example::

            for execution in client.executions.current(gateway_id="agt_01…"):
                print(execution.id, execution.state)
        """
        return SyncPager(
            lambda cursor: self.current_page(cursor, gateway_id=gateway_id, limit=limit, **options)
        )

    def current_page(
        self,
        cursor: str | None = None,
        *,
        gateway_id: str | None = None,
        limit: int | None = None,
        **options: Unpack[ReadOptions],
    ) -> Page[Execution]:
        """One page of the unfinished executions.

        Example::

            page = client.executions.current_page(limit=20)
        """
        return self._send(_current_page(cursor, gateway_id, limit), options)

    def history(
        self,
        *,
        gateway_id: str | None = None,
        device_url: str | None = None,
        state: ExecutionState | str | None = None,
        start: Instant | None = None,
        end: Instant | None = None,
        limit: int | None = None,
        **options: Unpack[ReadOptions],
    ) -> SyncPager[Execution]:
        """Past and present executions, newest first; ``start``/``end`` a datetime or a
        ``timedelta`` ago.

        Example::

            from datetime import timedelta

            for execution in client.executions.history(start=timedelta(hours=1), state="failed"):
                print(execution.id, execution.failure_type)
        """
        now = self._client._now()
        since, until = absolute(start, now), absolute(end, now)
        return SyncPager(
            lambda cursor: self._send(
                _history_page(cursor, gateway_id, device_url, state, since, until, limit), options
            )
        )

    def history_page(
        self,
        cursor: str | None = None,
        *,
        gateway_id: str | None = None,
        device_url: str | None = None,
        state: ExecutionState | str | None = None,
        start: Instant | None = None,
        end: Instant | None = None,
        limit: int | None = None,
        **options: Unpack[ReadOptions],
    ) -> Page[Execution]:
        """One page of the history, newest first.

        Example::

            page = client.executions.history_page(device_url="io://1234-5678-3293/3541212")
        """
        now = self._client._now()
        op = _history_page(
            cursor, gateway_id, device_url, state, absolute(start, now), absolute(end, now), limit
        )
        return self._send(op, options)


class AsyncExecutions(AsyncAPIResource):
    """Executions: action groups running (or run) on a gateway's devices.

    Example::

        handle = await client.executions.execute(
            actions=[{"device_url": "io://1234-5678-3293/3541212", "commands": ["open"]}]
        )
        execution = await handle.wait(timeout=60)
    """

    async def execute(
        self,
        group: ActionGroup | None = None,
        *,
        actions: ActionLike | Iterable[ActionLike] | None = None,
        label: str | None = None,
        mode: ExecutionMode | str | None = None,
        gateway_id: str | None = None,
        queue: bool | None = None,
        **options: Unpack[WriteOptions],
    ) -> AsyncExecutionHandle:
        """Run commands now: give ``actions=`` (or an ``ActionGroup``/``ExecutionCreate``).

        Example::

            handle = await client.executions.execute(
                actions=[{"device_url": "io://1234-5678-3293/3541212", "commands": ["open"]}]
            )
        """
        op = _execute(group, actions, label, mode, gateway_id, queue)
        return AsyncExecutionHandle(self, await self._send(op, options))

    async def get(self, execution_id: str, **options: Unpack[ReadOptions]) -> Execution:
        """One execution, with the state of every command.

        Example::

            execution = await client.executions.get("exe_01…")
        """
        return await self._send(_get(execution_id), options)

    async def cancel(self, execution_id: str, **options: Unpack[WriteOptions]) -> Execution:
        """Stop an execution; a finished one raises :class:`~fleetyard.ExecutionFinishedError`.

        Example::

            await client.executions.cancel("exe_01…")
        """
        return await self._send(_cancel(execution_id), options)

    async def wait(
        self,
        execution_id: str,
        *,
        timeout: float | None = None,  # noqa: ASYNC109 - the twin of the sync signature
        on_progress: ExecutionCallback | None = None,
        poll_interval: float = DEFAULT_POLL_INTERVAL,
        **options: Unpack[PollOptions],
    ) -> Execution:
        """Poll an execution until it finished (see :meth:`Executions.wait`).

        Example::

            done = await client.executions.wait("exe_01…", timeout=60)
        """
        flow = _wait(
            self._client, execution_id, timeout, on_progress, poll_interval, read_options(options)
        )
        return await self._run(flow)

    def current(
        self,
        *,
        gateway_id: str | None = None,
        limit: int | None = None,
        **options: Unpack[ReadOptions],
    ) -> AsyncPager[Execution]:
        """The unfinished executions (queued included), oldest first.

        Example::

            async for execution in client.executions.current():
                print(execution.id, execution.state)
        """
        return AsyncPager(
            lambda cursor: self.current_page(cursor, gateway_id=gateway_id, limit=limit, **options)
        )

    async def current_page(
        self,
        cursor: str | None = None,
        *,
        gateway_id: str | None = None,
        limit: int | None = None,
        **options: Unpack[ReadOptions],
    ) -> Page[Execution]:
        """One page of the unfinished executions.

        Example::

            page = await client.executions.current_page(limit=20)
        """
        return await self._send(_current_page(cursor, gateway_id, limit), options)

    def history(
        self,
        *,
        gateway_id: str | None = None,
        device_url: str | None = None,
        state: ExecutionState | str | None = None,
        start: Instant | None = None,
        end: Instant | None = None,
        limit: int | None = None,
        **options: Unpack[ReadOptions],
    ) -> AsyncPager[Execution]:
        """Past and present executions, newest first.

        Example::

            async for execution in client.executions.history(state="failed"):
                print(execution.id)
        """
        now = self._client._now()
        since, until = absolute(start, now), absolute(end, now)

        async def fetch(cursor: str | None) -> Page[Execution]:
            op = _history_page(cursor, gateway_id, device_url, state, since, until, limit)
            return await self._send(op, options)

        return AsyncPager(fetch)

    async def history_page(
        self,
        cursor: str | None = None,
        *,
        gateway_id: str | None = None,
        device_url: str | None = None,
        state: ExecutionState | str | None = None,
        start: Instant | None = None,
        end: Instant | None = None,
        limit: int | None = None,
        **options: Unpack[ReadOptions],
    ) -> Page[Execution]:
        """One page of the history, newest first.

        Example::

            page = await client.executions.history_page(limit=50)
        """
        now = self._client._now()
        op = _history_page(
            cursor, gateway_id, device_url, state, absolute(start, now), absolute(end, now), limit
        )
        return await self._send(op, options)


class ExecutionsWithRawResponse:
    """``client.with_raw_response.executions``: the same calls, answering :class:`RawResponse`.

    Pagers have no raw form (use the ``*_page`` methods), nor has ``execute``
    (it answers a handle); ``wait`` answers the last poll's response.

    Example::

        raw = client.with_raw_response.executions.get("exe_01…")
        print(raw.status_code, raw.parse().state)
    """

    _WITHOUT_RAW_FORM = frozenset({"execute"})

    def __init__(self, executions: Executions) -> None:
        self.get = raw_method(executions.get)
        self.cancel = raw_method(executions.cancel)
        self.wait = raw_method(executions.wait)
        self.current_page = raw_method(executions.current_page)
        self.history_page = raw_method(executions.history_page)


class AsyncExecutionsWithRawResponse:
    """``client.with_raw_response.executions`` of an :class:`~fleetyard.AsyncClient`.

    Example::

        raw = await client.with_raw_response.executions.cancel("exe_01…")
        print(raw.status_code)
    """

    _WITHOUT_RAW_FORM = frozenset({"execute"})

    def __init__(self, executions: AsyncExecutions) -> None:
        self.get = async_raw_method(executions.get)
        self.cancel = async_raw_method(executions.cancel)
        self.wait = async_raw_method(executions.wait)
        self.current_page = async_raw_method(executions.current_page)
        self.history_page = async_raw_method(executions.history_page)
