"""Durable jobs: work that must happen later, or again until it succeeds.

A job is a row in the ``jobs`` table, enqueued *inside the caller's
transaction* (so it exists exactly when the change that wants it commits) and
run by a :class:`JobRunner` inside ``yard serve``. Delivery is at-least-once:
a handler can run again after a crash or a lost lease, so it must be
idempotent. A failed attempt is retried with exponential backoff until
``max_attempts``; raise :class:`PermanentJobError` to give up at once.

Example::

    async with database.begin() as conn:
        await schedules_repo.insert(conn, ...)
        job_id = await jobs.enqueue(
            conn, kind="schedule.fire", payload={"schedule_id": sid},
            run_at_ms=at, org_id=org_id,
        )

    runner = JobRunner(database, {"schedule.fire": fire}, poll_seconds=1.0)
    await runner.start()
    ...
    await runner.stop()
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from fleetyard.protocol.ids import new_id
from fleetyard.server.jobs.runner import (
    Handler,
    JobContext,
    JobRunner,
    PermanentJobError,
    now_ms,
)
from fleetyard.server.storage.database import Database
from fleetyard.server.storage.repositories import jobs as repo

__all__ = [
    "JOB_ID_PREFIX",
    "Handler",
    "JobContext",
    "JobRunner",
    "PermanentJobError",
    "cancel",
    "enqueue",
    "enqueue_periodic",
]

JOB_ID_PREFIX = "job"


async def enqueue(
    conn: AsyncConnection,
    *,
    kind: str,
    payload: Mapping[str, Any],
    run_at_ms: int,
    org_id: str | None,
    max_attempts: int = 5,
) -> str:
    """Add a job due at ``run_at_ms`` (a past instant: as soon as a runner polls); its id.

    Runs in the caller's transaction: a rollback takes the job with it.
    """
    if max_attempts < 1:
        raise ValueError("max_attempts must be at least 1")
    now = now_ms()
    job_id = new_id(JOB_ID_PREFIX, now_ms=now)
    await repo.insert(
        conn,
        job_id=job_id,
        kind=kind,
        org_id=org_id,
        payload=payload,
        run_at_ms=run_at_ms,
        max_attempts=max_attempts,
        now_ms=now,
    )
    return job_id


async def cancel(conn: AsyncConnection, job_id: str) -> bool:
    """Cancel a job that has not finished (in the caller's transaction).

    True when it was pending or running. A running handler is not interrupted,
    but its outcome is then discarded and it is never retried.
    """
    return await repo.cancel(conn, job_id, now_ms=now_ms())


async def enqueue_periodic(
    database: Database, *, kind: str, name: str, interval_ms: int, after_ms: int | None = None
) -> None:
    """Enqueue the next run of a periodic job, at the start of the interval after
    ``after_ms`` (default: now). Its id is derived from that time slot
    (``job_<name><slot>``), so several replicas (or a handler and a start-up)
    scheduling the same run make one job: the duplicate insert is ignored.

    Example: ``await jobs.enqueue_periodic(db, kind="chunks.gc", name="chunksgc",
    interval_ms=3_600_000)``.
    """
    interval = max(1, interval_ms)
    now = now_ms()
    run_at = (now if after_ms is None else after_ms) + interval
    run_at -= run_at % interval
    try:
        async with database.begin() as conn:
            await repo.insert(
                conn,
                job_id=f"{JOB_ID_PREFIX}_{name}{run_at // interval}",
                kind=kind,
                org_id=None,
                payload={},
                run_at_ms=run_at,
                max_attempts=3,
                now_ms=now,
            )
    except IntegrityError:
        pass
