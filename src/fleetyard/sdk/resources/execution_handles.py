"""Handles of started executions: follow one (``wait``) or stop it (``cancel``).

Returned by ``client.executions.execute`` and ``client.action_groups.execute``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Unpack

from fleetyard.protocol.executions import Execution, ExecutionStarted, ExecutionState
from fleetyard.sdk._types import ReadOptions, WriteOptions
from fleetyard.sdk.resources._polling import DEFAULT_POLL_INTERVAL, PollOptions

if TYPE_CHECKING:
    from fleetyard.sdk.resources.executions import AsyncExecutions, Executions

__all__ = ["AsyncExecutionHandle", "ExecutionCallback", "ExecutionHandle"]

ExecutionCallback = Callable[[Execution], object]
"""``on_progress`` of a wait: called with each new version of the execution."""


class ExecutionHandle:
    """A started execution: its ``id`` and last known ``state``; follow it or stop it.

    Returned by ``client.executions.execute`` and ``client.action_groups.execute``.

    Example::

        handle = client.executions.execute(actions=[...])
        execution = handle.wait(timeout=60, on_progress=lambda e: print(e.state))
        if execution.state != "completed":
            print(execution.failed_commands)
    """

    def __init__(self, executions: Executions, started: ExecutionStarted) -> None:
        self._executions = executions
        self.started = started
        """The server's answer to the execute."""
        self.id = started.id
        self.gateway_id = started.gateway_id
        self.state: ExecutionState = started.state
        """The last state seen (by the execute, :meth:`get`, :meth:`wait` or :meth:`cancel`)."""

    def __repr__(self) -> str:
        return f"<ExecutionHandle {self.id} {self.state.value}>"

    def get(self, **options: Unpack[ReadOptions]) -> Execution:
        """The execution as it is now.

        Example::

            print(handle.get().actions[0].commands[0].state)
        """
        return self._seen(self._executions.get(self.id, **options))

    def wait(
        self,
        *,
        timeout: float | None = None,
        on_progress: ExecutionCallback | None = None,
        poll_interval: float = DEFAULT_POLL_INTERVAL,
        **options: Unpack[PollOptions],
    ) -> Execution:
        """Poll until the execution finished (completed, failed, not transmitted, cancelled).

        ``on_progress(execution)`` hears each change; after ``timeout`` seconds
        :class:`~fleetyard.WaitTimeoutError` is raised (the execution goes on).

        Example::

            execution = handle.wait(timeout=60)
        """
        return self._seen(
            self._executions.wait(
                self.id,
                timeout=timeout,
                on_progress=on_progress,
                poll_interval=poll_interval,
                **options,
            )
        )

    def cancel(self, **options: Unpack[WriteOptions]) -> Execution:
        """Stop the execution (:class:`~fleetyard.ExecutionFinishedError` if it finished).

        Example::

            handle.cancel()
        """
        return self._seen(self._executions.cancel(self.id, **options))

    def _seen(self, execution: Execution) -> Execution:
        self.state = execution.state
        return execution


class AsyncExecutionHandle:
    """A started execution of an :class:`~fleetyard.AsyncClient`.

    Example::

        handle = await client.executions.execute(actions=[...])
        execution = await handle.wait(timeout=60)
    """

    def __init__(self, executions: AsyncExecutions, started: ExecutionStarted) -> None:
        self._executions = executions
        self.started = started
        """The server's answer to the execute."""
        self.id = started.id
        self.gateway_id = started.gateway_id
        self.state: ExecutionState = started.state
        """The last state seen."""

    def __repr__(self) -> str:
        return f"<AsyncExecutionHandle {self.id} {self.state.value}>"

    async def get(self, **options: Unpack[ReadOptions]) -> Execution:
        """The execution as it is now.

        Example::

            execution = await handle.get()
        """
        return self._seen(await self._executions.get(self.id, **options))

    async def wait(
        self,
        *,
        timeout: float | None = None,  # noqa: ASYNC109 - the twin of the sync signature
        on_progress: ExecutionCallback | None = None,
        poll_interval: float = DEFAULT_POLL_INTERVAL,
        **options: Unpack[PollOptions],
    ) -> Execution:
        """Poll until the execution finished (see :meth:`ExecutionHandle.wait`).

        Example::

            execution = await handle.wait(timeout=60)
        """
        return self._seen(
            await self._executions.wait(
                self.id,
                timeout=timeout,
                on_progress=on_progress,
                poll_interval=poll_interval,
                **options,
            )
        )

    async def cancel(self, **options: Unpack[WriteOptions]) -> Execution:
        """Stop the execution.

        Example::

            await handle.cancel()
        """
        return self._seen(await self._executions.cancel(self.id, **options))

    def _seen(self, execution: Execution) -> Execution:
        self.state = execution.state
        return execution
