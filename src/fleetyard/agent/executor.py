"""Running executions: actions of different devices at once, the commands of one in order.

Every step is reported as an ``execution.update`` frame written to the outbox
(so it survives a network cut or a restart and is resent until acknowledged):

- ``transmitted`` on receipt, ``in_progress`` when it starts;
- per command ``command_state`` ``in_progress`` then ``completed`` or
  ``failed`` (with ``failure_type``: ``no_handler``, ``invalid_parameters``,
  ``handler_error``, ``timeout``…); after a failure the rest of that action
  is ``cancelled`` (other devices carry on);
- at the end ``completed``, or ``failed`` with the first failure's type;
- on ``execution.cancel`` the running commands stop, the rest are
  ``cancelled`` and so is the execution.

The ``work`` table of the outbox remembers each execution: a ``execution.start``
sent again after a reconnect is ignored, and one cut short by a crash is reported
``failed`` (``failure_type="agent_restarted"``) when the agent starts again.

Example::

    executor = Executor(dispatcher, emit=lambda frame, work: outbox.add_frame(frame, work=work))
    executor.start(order)          # from an execution.start frame
    executor.cancel("exe_…")       # from an execution.cancel frame
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from fleetyard.agent.handlers import CommandFailed, Dispatcher
from fleetyard.protocol.agent_session import ExecutionOrder, OrderAction
from fleetyard.protocol.common import format_timestamp
from fleetyard.protocol.executions import CommandState, ExecutionState, FailureType

__all__ = ["AGENT_RESTARTED", "Emit", "Executor", "WorkLog"]

AGENT_RESTARTED = "agent_restarted"
WORK_KIND = "execution"

Emit = Callable[[dict[str, Any], tuple[str, str, str] | None], None]
"""``emit(frame, work)``: store a frame durably (and record ``work=(kind, id, state)``)."""


class WorkLog:
    """What the executor needs of the outbox's ``work`` table (an in-memory one for tests)."""

    def __init__(self) -> None:
        self._states: dict[tuple[str, str], str] = {}

    def work_state(self, kind: str, work_id: str) -> str | None:
        return self._states.get((kind, work_id))

    def set_work(self, kind: str, work_id: str, state: str) -> None:
        self._states[(kind, work_id)] = state

    def unfinished_work(self, kind: str) -> list[str]:
        return [i for (k, i), s in self._states.items() if k == kind and s == "running"]


def _now() -> str:
    return format_timestamp(datetime.now(UTC))


class _Run:
    def __init__(self, order: ExecutionOrder) -> None:
        self.order = order
        self.task: asyncio.Task[None] | None = None
        self.cancelled = False
        self.failure: tuple[str, str | None] | None = None


class Executor:
    """Runs :class:`ExecutionOrder` s with a :class:`Dispatcher`; see the module docstring."""

    def __init__(self, dispatcher: Dispatcher, emit: Emit, work: WorkLog | Any) -> None:
        self._dispatcher = dispatcher
        self._emit = emit
        self._work = work
        self._runs: dict[str, _Run] = {}

    @property
    def running(self) -> list[str]:
        return list(self._runs)

    def recover(self) -> list[str]:
        """Report executions a previous run of the agent left unfinished as failed."""
        ids = self._work.unfinished_work(WORK_KIND)
        for execution_id in ids:
            self._update(
                execution_id,
                state=ExecutionState.FAILED,
                failure_type=AGENT_RESTARTED,
                detail="the agent stopped while this execution ran",
                work="failed",
            )
        return ids

    def start(self, order: ExecutionOrder) -> bool:
        """Begin an execution; ``False`` when this agent has seen it already."""
        if order.id in self._runs or self._work.work_state(WORK_KIND, order.id) is not None:
            return False
        run = _Run(order)
        self._runs[order.id] = run
        self._update(order.id, state=ExecutionState.TRANSMITTED, work="running")
        run.task = asyncio.get_running_loop().create_task(self._execute(run))
        return True

    def cancel(self, execution_id: str) -> bool:
        """Stop a running execution; ``False`` when it is not running here."""
        run = self._runs.get(execution_id)
        if run is None or run.task is None:
            return False
        run.cancelled = True
        run.task.cancel()
        return True

    async def wait(self, execution_id: str) -> None:
        """Until the execution is over (tests, shutdown)."""
        run = self._runs.get(execution_id)
        if run is not None and run.task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.shield(run.task)

    async def stop(self) -> None:
        """Cancel everything running (the agent is stopping); each is reported cancelled."""
        for execution_id in list(self._runs):
            self.cancel(execution_id)
        for execution_id in list(self._runs):
            await self.wait(execution_id)

    # -- running ------------------------------------------------------------------------

    async def _execute(self, run: _Run) -> None:
        order = run.order
        try:
            self._update(order.id, state=ExecutionState.IN_PROGRESS)
            tasks = [
                asyncio.create_task(self._action(run, index, action))
                for index, action in enumerate(order.actions)
            ]
            try:
                await asyncio.gather(*tasks)
            except asyncio.CancelledError:
                run.cancelled = True
                for task in tasks:
                    task.cancel()
                # Each action reports its own cancelled commands before the execution ends.
                await asyncio.gather(*tasks, return_exceptions=True)
            if run.cancelled:
                self._update(order.id, state=ExecutionState.CANCELLED, work="cancelled")
            elif run.failure is not None:
                failure_type, detail = run.failure
                self._update(
                    order.id,
                    state=ExecutionState.FAILED,
                    failure_type=failure_type,
                    detail=detail,
                    work="failed",
                )
            else:
                self._update(order.id, state=ExecutionState.COMPLETED, work="completed")
        finally:
            self._runs.pop(order.id, None)

    async def _action(self, run: _Run, action_index: int, action: OrderAction) -> None:
        index = 0
        try:
            for index, command in enumerate(action.commands):
                self._command(run, action_index, index, CommandState.IN_PROGRESS)
                try:
                    await self._dispatcher.run(
                        action.device_url,
                        command.name,
                        list(command.parameters),
                        execution_id=run.order.id,
                    )
                except CommandFailed as exc:
                    if run.failure is None:
                        run.failure = (exc.failure_type, exc.detail)
                    self._command(
                        run, action_index, index, CommandState.FAILED, exc.failure_type, exc.detail
                    )
                    self._skip(run, action_index, action, index + 1, "an earlier command failed")
                    return
                self._command(run, action_index, index, CommandState.COMPLETED)
        except asyncio.CancelledError:
            self._command(
                run, action_index, index, CommandState.CANCELLED, FailureType.CANCELLED, None
            )
            self._skip(run, action_index, action, index + 1, "the execution was cancelled")
            raise

    def _skip(
        self, run: _Run, action_index: int, action: OrderAction, start: int, detail: str
    ) -> None:
        for index in range(start, len(action.commands)):
            self._command(
                run, action_index, index, CommandState.CANCELLED, FailureType.CANCELLED, detail
            )

    def _command(
        self,
        run: _Run,
        action_index: int,
        command_index: int,
        state: CommandState,
        failure_type: str | None = None,
        detail: str | None = None,
    ) -> None:
        frame: dict[str, Any] = {
            "type": "execution.update",
            "execution_id": run.order.id,
            "action_index": action_index,
            "command_index": command_index,
            "command_state": str(state),
            "at": _now(),
        }
        if failure_type is not None:
            frame["failure_type"] = str(failure_type)
        if detail:
            frame["detail"] = detail[:2000]
        self._emit(frame, None)

    def _update(
        self,
        execution_id: str,
        *,
        state: ExecutionState,
        failure_type: str | None = None,
        detail: str | None = None,
        work: str | None = None,
    ) -> None:
        frame: dict[str, Any] = {
            "type": "execution.update",
            "execution_id": execution_id,
            "state": str(state),
            "at": _now(),
        }
        if failure_type is not None:
            frame["failure_type"] = str(failure_type)[:64]
        if detail:
            frame["detail"] = detail[:2000]
        self._emit(frame, None if work is None else (WORK_KIND, execution_id, work))
