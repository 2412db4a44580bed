"""The two drivers of :func:`~.engine.push_steps`: blocking and async.

:func:`run_push` performs the steps with threads for :class:`~fleetyard.Client`;
:func:`arun_push` with tasks (and worker threads for the CPU work) for
:class:`~fleetyard.AsyncClient`. Progress callbacks always run on the
caller's thread (sync) or task (async), never on a worker thread. Hashing
started by :class:`~.steps.StartHash` is stopped, and its threads waited for,
before a driver returns or raises.
"""

from __future__ import annotations

import asyncio
import inspect
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import anyio
import anyio.to_thread

from fleetyard.sdk._flow import Flow
from fleetyard.sdk._push.chunker import HashingRun, hash_files
from fleetyard.sdk._push.engine import PROGRESS_INTERVAL, Tracker, push_steps
from fleetyard.sdk._push.models import PushOptions, PushProgress, PushResult
from fleetyard.sdk._push.steps import (
    Call,
    Discover,
    Emit,
    Hash,
    Hashed,
    NextHashed,
    NotRun,
    Parallel,
    StartHash,
)
from fleetyard.sdk._push.walk import walk_tree
from fleetyard.sdk._types import WriteOptions

if TYPE_CHECKING:
    from fleetyard.sdk._client import AsyncClient, Client

__all__ = ["arun_push", "run_push"]


def _call_sync(callback: Callable[[PushProgress], object], progress: PushProgress) -> None:
    result = callback(progress)
    if inspect.iscoroutine(result):
        asyncio.run(result)
    elif inspect.isawaitable(result):
        asyncio.run(_await(result))


async def _await(value: Any) -> None:
    await value


def run_push(
    client: Client, path: str | Path, app_id: str, options: PushOptions, call_options: WriteOptions
) -> PushResult:
    """Perform :func:`push_steps` with blocking calls and threads."""
    tracker = Tracker()
    last: list[PushProgress | None] = [None]
    emitted = [0.0]

    def emit() -> None:
        emitted[0] = time.monotonic()
        if options.on_progress is None:
            return
        snap = tracker.snapshot()
        if snap != last[0]:
            last[0] = snap
            _call_sync(options.on_progress, snap)

    def next_hashed(run: HashingRun) -> Hashed:
        while (taken := run.take(PROGRESS_INTERVAL)) is None:
            emit()
        if time.monotonic() - emitted[0] >= PROGRESS_INTERVAL:
            emit()
        return Hashed(*taken)

    def wait_emitting(futures: list[Future[Any]]) -> None:
        """Until every future is done (or one failed), emitting progress meanwhile: the
        futures report to one event, so a wait costs the same however many there are."""
        left = [len(futures)]
        lock = threading.Lock()
        finished = threading.Event()

        def done(future: Future[Any]) -> None:
            with lock:
                left[0] -= 1
                if left[0] == 0 or future.exception() is not None:
                    finished.set()

        for future in futures:
            future.add_done_callback(done)
        while not finished.wait(PROGRESS_INTERVAL):
            emit()
        emit()

    steps = push_steps(client, path, app_id, options, tracker, call_options)
    runs: list[HashingRun] = []
    reply: object = None
    error: BaseException | None = None
    try:
        while True:
            try:
                step = steps.send(reply) if error is None else steps.throw(error)
            except StopIteration as stop:
                return cast(PushResult, stop.value)
            reply, error = None, None
            try:
                if isinstance(step, Emit):
                    emit()
                elif isinstance(step, Discover):
                    reply = walk_tree(step.root, step.ignore)
                elif isinstance(step, Hash):
                    with ThreadPoolExecutor(max_workers=1) as runner:
                        future = runner.submit(hash_files, step.files, step.workers, tracker)
                        wait_emitting([future])
                        reply = future.result()
                elif isinstance(step, StartHash):
                    runs.append(HashingRun(step.files, step.workers, tracker).start())
                    reply = runs[-1]
                elif isinstance(step, NextHashed):
                    reply = next_hashed(step.run)
                elif isinstance(step, Call):
                    reply = client._drive(step.flow)
                else:
                    reply = _parallel_sync(client, step, wait_emitting)
            except Exception as exc:  # handed to the steps, which decide
                error = exc
    finally:
        steps.close()
        for run in runs:
            run.close()


def _parallel_sync(
    client: Client, step: Parallel, wait_emitting: Callable[[list[Future[Any]]], None]
) -> list[BaseException | None]:
    failed = threading.Event()

    def run(flow: Flow[None]) -> BaseException | None:
        if failed.is_set():
            flow.close()
            return NotRun()
        try:
            client._drive(flow)
        except Exception as exc:
            failed.set()
            return exc
        return None

    with ThreadPoolExecutor(
        max_workers=step.concurrency, thread_name_prefix="fleetyard-upload"
    ) as pool:
        futures = [pool.submit(run, flow) for flow in step.flows]
        wait_emitting(futures)
        return [f.result() for f in futures]


# -- async driver ----------------------------------------------------------------------


async def arun_push(
    client: AsyncClient,
    path: str | Path,
    app_id: str,
    options: PushOptions,
    call_options: WriteOptions,
) -> PushResult:
    """Perform :func:`push_steps` with awaited calls, tasks and worker threads."""
    tracker = Tracker()
    last: list[PushProgress | None] = [None]
    emitted = [0.0]

    async def emit() -> None:
        emitted[0] = time.monotonic()
        if options.on_progress is None:
            return
        snap = tracker.snapshot()
        if snap != last[0]:
            last[0] = snap
            result = options.on_progress(snap)
            if inspect.isawaitable(result):
                await result

    async def while_emitting(work: Callable[[], Any]) -> Any:
        box: list[Any] = []
        done = anyio.Event()

        async def runner() -> None:
            try:
                box.append(await work())
            finally:
                done.set()

        async with anyio.create_task_group() as tg:
            tg.start_soon(runner)
            while not done.is_set():
                with anyio.move_on_after(PROGRESS_INTERVAL):
                    await done.wait()
                await emit()
        return box[0]

    async def next_hashed(run: HashingRun) -> Hashed:
        while (taken := await anyio.to_thread.run_sync(run.take, PROGRESS_INTERVAL)) is None:
            await emit()
        if time.monotonic() - emitted[0] >= PROGRESS_INTERVAL:
            await emit()
        return Hashed(*taken)

    steps = push_steps(client, path, app_id, options, tracker, call_options)
    runs: list[HashingRun] = []
    reply: object = None
    error: BaseException | None = None
    try:
        while True:
            try:
                step = steps.send(reply) if error is None else steps.throw(error)
            except StopIteration as stop:
                return cast(PushResult, stop.value)
            reply, error = None, None
            try:
                if isinstance(step, Emit):
                    await emit()
                elif isinstance(step, Discover):
                    reply = await anyio.to_thread.run_sync(walk_tree, step.root, step.ignore)
                elif isinstance(step, Hash):
                    reply = await while_emitting(
                        partial(
                            anyio.to_thread.run_sync, hash_files, step.files, step.workers, tracker
                        )
                    )
                elif isinstance(step, StartHash):
                    runs.append(HashingRun(step.files, step.workers, tracker).start())
                    reply = runs[-1]
                elif isinstance(step, NextHashed):
                    reply = await next_hashed(step.run)
                elif isinstance(step, Call):
                    reply = await client._drive(step.flow)
                else:
                    reply = await while_emitting(partial(_parallel_async, client, step))
            except Exception as exc:  # handed to the steps, which decide
                error = exc
    finally:
        steps.close()
        with anyio.CancelScope(shield=True):
            for run in runs:
                await anyio.to_thread.run_sync(run.close)


async def _parallel_async(client: AsyncClient, step: Parallel) -> list[BaseException | None]:
    outcomes: list[BaseException | None] = [NotRun() for _ in step.flows]
    limiter = anyio.CapacityLimiter(step.concurrency)
    failed = False

    async def run(index: int, flow: Flow[None]) -> None:
        nonlocal failed
        async with limiter:
            if failed:
                flow.close()
                return
            try:
                await client._drive(flow)
            except Exception as exc:
                failed = True
                outcomes[index] = exc
                return
            outcomes[index] = None

    async with anyio.create_task_group() as tg:
        for index, flow in enumerate(step.flows):
            tg.start_soon(run, index, flow)
    return outcomes
