"""Client-side batching of executions: many small ``add``s become one action group.

Opt-in. Code that reacts to many triggers at once ("close every blind")
would otherwise start one execution per device and hit the gateway's limit
of concurrent executions (``exec_queue_full``). A queue collects what is
added within ``delay`` seconds into one execution:

- commands for a device already in the batch are appended to its action
  (the server refuses two actions on one device);
- a different ``label`` or ``mode`` sends the pending batch first, then
  starts a new one;
- a batch that reaches ``max_actions`` devices is sent at once;
- every caller merged into a batch gets the same execution id, or the same
  error.

:class:`ActionQueue` (for :class:`~fleetyard.Client`) sends from a worker
thread and answers :class:`concurrent.futures.Future`\\ s;
:class:`AsyncActionQueue` (for :class:`~fleetyard.AsyncClient`) is awaited.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from types import TracebackType
from typing import TYPE_CHECKING, Self

import anyio

from fleetyard.protocol.executions import Action, Command, ExecutionCreate, ExecutionMode
from fleetyard.sdk.resources._actions import ActionLike, to_actions

if TYPE_CHECKING:
    from fleetyard.sdk._client import AsyncClient, Client

__all__ = ["DEFAULT_DELAY", "DEFAULT_MAX_ACTIONS", "ActionQueue", "AsyncActionQueue"]

DEFAULT_DELAY = 0.1
"""Seconds a batch stays open for more actions after its first one."""
DEFAULT_MAX_ACTIONS = 20
"""Devices in one batch before it is sent without waiting."""


class _Batch:
    """Actions merged per device, in the order devices first appeared."""

    def __init__(self, label: str, mode: ExecutionMode) -> None:
        self.label = label
        self.mode = mode
        self.commands: dict[str, list[Command]] = {}

    @property
    def size(self) -> int:
        return len(self.commands)

    def accepts(self, label: str, mode: ExecutionMode) -> bool:
        return self.label == label and self.mode == mode

    def size_with(self, actions: Iterable[Action]) -> int:
        return len(self.commands.keys() | {a.device_url for a in actions})

    def add(self, actions: Iterable[Action]) -> None:
        for action in actions:
            self.commands.setdefault(action.device_url, []).extend(action.commands)

    def body(self, gateway_id: str | None, queue: bool) -> ExecutionCreate:
        actions = [Action(device_url=url, commands=cmds) for url, cmds in self.commands.items()]
        return ExecutionCreate(
            label=self.label, mode=self.mode, actions=actions, gateway_id=gateway_id, queue=queue
        )


def _checked(delay: float, max_actions: int) -> None:
    if delay < 0:
        raise ValueError(f"delay must not be negative, got {delay!r}")
    if max_actions < 1:
        raise ValueError(f"max_actions must be at least 1, got {max_actions!r}")


class _SyncBatch(_Batch):
    def __init__(self, label: str, mode: ExecutionMode) -> None:
        super().__init__(label, mode)
        self.futures: list[Future[str]] = []


class ActionQueue:
    """Batch actions added within ``delay`` seconds into one execution (blocking client).

    ``add`` returns at once with a :class:`~concurrent.futures.Future` of the
    execution id; the batch is sent from a worker thread. Close the queue
    (or use it in a ``with`` block) to send what is pending and stop the worker.
    ``gateway_id`` and ``queue`` are passed to every execute.

    Example::

        from fleetyard import ActionQueue
        from fleetyard.sdk import action

        with ActionQueue(client, delay=0.1, max_actions=20) as queue:
            first = queue.add(action("io://1234-5678-3293/3541212", ("setClosure", 0)))
            second = queue.add(action("io://1234-5678-3293/5770898", ("setClosure", 0)))
        assert first.result() == second.result()  # one execution for both
    """

    def __init__(
        self,
        client: Client,
        *,
        delay: float = DEFAULT_DELAY,
        max_actions: int = DEFAULT_MAX_ACTIONS,
        gateway_id: str | None = None,
        queue: bool = False,
    ) -> None:
        _checked(delay, max_actions)
        self._client = client
        self._delay = delay
        self._max_actions = max_actions
        self._gateway_id = gateway_id
        self._queue = queue
        self._lock = threading.Lock()
        self._pending: _SyncBatch | None = None
        self._timer: threading.Timer | None = None
        # One worker: batches are sent in the order they were closed.
        self._sender = ThreadPoolExecutor(max_workers=1, thread_name_prefix="fleetyard-actions")
        self._closed = False

    def add(
        self,
        actions: ActionLike | Iterable[ActionLike],
        *,
        label: str = "",
        mode: ExecutionMode | str = ExecutionMode.DEFAULT,
    ) -> Future[str]:
        """Add one device's action (or several); the future resolves to the execution id.

        Bad input (not an action) raises here, in the caller, and joins no batch.

        Example::

            future = queue.add({"device_url": "io://1234-5678-3293/3541212", "commands": ["open"]})
            execution_id = future.result(timeout=10)
        """
        new = to_actions(actions)
        wanted_mode = ExecutionMode(mode)
        future: Future[str] = Future()
        with self._lock:
            if self._closed:
                raise RuntimeError("this ActionQueue is closed")
            pending = self._pending
            if pending is not None and (
                not pending.accepts(label, wanted_mode)
                or pending.size_with(new) > self._max_actions
            ):
                self._flush_locked()
            if self._pending is None:
                self._pending = _SyncBatch(label, wanted_mode)
                self._start_timer(self._pending)
            batch = self._pending
            batch.add(new)
            batch.futures.append(future)
            if batch.size >= self._max_actions:
                self._flush_locked()
        return future

    def flush(self) -> None:
        """Send the pending batch now (without waiting for its delay).

        Example::

            queue.flush()
        """
        with self._lock:
            self._flush_locked()

    def close(self) -> None:
        """Send what is pending, wait until every batch is sent, and stop the worker.

        Example::

            queue.close()
        """
        with self._lock:
            self._flush_locked()
            self._closed = True
        self._sender.shutdown(wait=True)

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _start_timer(self, batch: _SyncBatch) -> None:
        timer = threading.Timer(self._delay, self._on_timer, args=(batch,))
        timer.daemon = True
        self._timer = timer
        timer.start()

    def _on_timer(self, batch: _SyncBatch) -> None:
        with self._lock:
            # The batch may have been sent already (flush, max_actions, label change).
            if self._pending is batch:
                self._flush_locked()

    def _flush_locked(self) -> None:
        batch, self._pending = self._pending, None
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if batch is not None:
            self._sender.submit(self._send, batch)

    def _send(self, batch: _SyncBatch) -> None:
        try:
            handle = self._client.executions.execute(batch.body(self._gateway_id, self._queue))
        except Exception as exc:
            for future in batch.futures:
                future.set_exception(exc)
            return
        for future in batch.futures:
            future.set_result(handle.id)


class _AsyncBatch(_Batch):
    def __init__(self, label: str, mode: ExecutionMode) -> None:
        super().__init__(label, mode)
        self.closed = anyio.Event()
        self.done = anyio.Event()
        self.execution_id: str | None = None
        self.error: BaseException | None = None


class AsyncActionQueue:
    """Batch actions added within ``delay`` seconds into one execution (async client).

    ``await queue.add(...)`` returns the execution id once the batch it
    joined was sent. No background task is needed: the first caller of a
    batch waits out the delay and sends it for everyone (even if that caller
    is cancelled meanwhile).

    Example::

        from fleetyard import AsyncActionQueue

        queue = AsyncActionQueue(client)
        async with anyio.create_task_group() as tg:
            for url in ("io://1234-5678-3293/3541212", "io://1234-5678-3293/5770898"):
                tg.start_soon(queue.add, {"device_url": url, "commands": ["close"]})
    """

    def __init__(
        self,
        client: AsyncClient,
        *,
        delay: float = DEFAULT_DELAY,
        max_actions: int = DEFAULT_MAX_ACTIONS,
        gateway_id: str | None = None,
        queue: bool = False,
    ) -> None:
        _checked(delay, max_actions)
        self._client = client
        self._delay = delay
        self._max_actions = max_actions
        self._gateway_id = gateway_id
        self._queue = queue
        self._pending: _AsyncBatch | None = None

    async def add(
        self,
        actions: ActionLike | Iterable[ActionLike],
        *,
        label: str = "",
        mode: ExecutionMode | str = ExecutionMode.DEFAULT,
    ) -> str:
        """Add one device's action (or several); answers the id of the execution it joined.

        Example::

            execution_id = await queue.add(
                {"device_url": "io://1234-5678-3293/3541212", "commands": ["open"]}
            )
        """
        new = to_actions(actions)
        wanted_mode = ExecutionMode(mode)
        # No await until the batch is chosen: on one event loop this block is atomic.
        pending = self._pending
        if pending is not None and (
            not pending.accepts(label, wanted_mode) or pending.size_with(new) > self._max_actions
        ):
            self._close_batch(pending)
        leader = self._pending is None
        if self._pending is None:
            self._pending = _AsyncBatch(label, wanted_mode)
        batch = self._pending
        batch.add(new)
        if batch.size >= self._max_actions:
            self._close_batch(batch)
        if leader:
            await self._lead(batch)
        else:
            await batch.done.wait()
        if batch.error is not None:
            raise batch.error
        assert batch.execution_id is not None
        return batch.execution_id

    async def flush(self) -> None:
        """Send the pending batch now and wait until it is sent.

        Example::

            await queue.flush()
        """
        batch = self._pending
        if batch is not None:
            self._close_batch(batch)
            await batch.done.wait()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.flush()

    def _close_batch(self, batch: _AsyncBatch) -> None:
        if self._pending is batch:
            self._pending = None
        batch.closed.set()

    async def _lead(self, batch: _AsyncBatch) -> None:
        try:
            with anyio.move_on_after(self._delay):
                await batch.closed.wait()
        finally:
            # The batch's other callers wait on this one: send even when cancelled.
            with anyio.CancelScope(shield=True):
                self._close_batch(batch)
                await self._send(batch)

    async def _send(self, batch: _AsyncBatch) -> None:
        try:
            body = batch.body(self._gateway_id, self._queue)
            handle = await self._client.executions.execute(body)
            batch.execution_id = handle.id
        except Exception as exc:
            batch.error = exc
        finally:
            batch.done.set()
