"""The loop that claims due jobs and runs their handlers."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from fleetyard.server.storage.database import Database
from fleetyard.server.storage.repositories import jobs as repo

log = logging.getLogger("fleetyard.server.jobs")


def now_ms() -> int:
    """Milliseconds since the epoch (the jobs layer sits below the services' clock)."""
    return time.time_ns() // 1_000_000


@dataclass(frozen=True, slots=True)
class JobContext:
    """What a handler learns about the job it runs.

    ``attempt`` counts from 1; ``attempt == max_attempts`` is the last try.
    """

    job_id: str
    kind: str
    org_id: str | None
    attempt: int
    max_attempts: int
    run_at_ms: int


Handler = Callable[[JobContext, dict[str, Any]], Awaitable[None]]
"""``async def handle(ctx, payload) -> None``; raising retries (with backoff)."""


class PermanentJobError(Exception):
    """Raised by a handler: this job can never succeed, fail it without retrying."""


class JobRunner:
    """Claims due jobs of the kinds it has handlers for and runs them.

    At-least-once: a job is claimed with a lease (``lease_seconds``), renewed
    every third of it while the handler runs, so a long job is not claimed
    again by another runner while this one is still at it; success
    marks it done, an exception schedules a retry after
    ``min(backoff_cap, backoff_base * 2 ** (attempt - 1))`` seconds until
    ``max_attempts``, and a runner that dies mid-job leaves a lease that
    expires, after which any runner claims the job again. Several runners
    (replicas) may share one database: PostgreSQL claims with ``SKIP LOCKED``,
    SQLite with one conditional UPDATE.

    Example::

        runner = JobRunner(database, {"schedule.fire": fire}, poll_seconds=1.0)
        await runner.start()
        ...
        await runner.stop()
    """

    def __init__(
        self,
        database: Database,
        handlers: Mapping[str, Handler],
        poll_seconds: float = 1.0,
        *,
        lease_seconds: float = 300.0,
        batch_size: int = 16,
        backoff_base_seconds: float = 1.0,
        backoff_cap_seconds: float = 600.0,
    ) -> None:
        self.database = database
        self.handlers = dict(handlers)
        self.poll_seconds = poll_seconds
        self.lease_ms = int(lease_seconds * 1000)
        self.batch_size = batch_size
        self.backoff_base_seconds = backoff_base_seconds
        self.backoff_cap_seconds = backoff_cap_seconds
        self._task: asyncio.Task[None] | None = None
        self._wakeup = asyncio.Event()

    def backoff_ms(self, attempt: int) -> int:
        """How long after failed attempt ``attempt`` (1-based) the next one runs."""
        delay = self.backoff_base_seconds * 2 ** max(0, attempt - 1)
        return int(min(self.backoff_cap_seconds, delay) * 1000)

    async def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._loop(), name="fleetyard-jobs")

    async def stop(self) -> None:
        """Stop polling and wait for the handlers in flight to end (or be cancelled)."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    def wake(self) -> None:
        """Poll now instead of at the next interval (after enqueueing a due job)."""
        self._wakeup.set()

    async def run_once(self) -> int:
        """Claim one batch of due jobs and run them; how many ran."""
        async with self.database.begin() as conn:
            claimed = await repo.claim(
                conn,
                self.database.kind,
                kinds=sorted(self.handlers),
                now_ms=now_ms(),
                lease_ms=self.lease_ms,
                limit=self.batch_size,
            )
        if claimed:
            await asyncio.gather(*(self._run(job) for job in claimed))
        return len(claimed)

    async def _loop(self) -> None:
        while True:
            try:
                ran = await self.run_once()
            except asyncio.CancelledError:
                raise
            except Exception:
                # The database may be briefly away: keep polling rather than die.
                log.exception("claiming jobs failed")
                ran = 0
            if ran:
                continue
            self._wakeup.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wakeup.wait(), timeout=self.poll_seconds)

    async def _run(self, job: repo.JobRecord) -> None:
        context = JobContext(
            job_id=job.id,
            kind=job.kind,
            org_id=job.org_id,
            attempt=job.attempts,
            max_attempts=job.max_attempts,
            run_at_ms=job.run_at,
        )
        renewing = asyncio.create_task(self._renew(job), name=f"fleetyard-job-lease-{job.id}")
        try:
            await self.handlers[job.kind](context, dict(job.payload))
        except asyncio.CancelledError:
            # Stopping: the lease expires and another run picks the job up again.
            raise
        except Exception as exc:
            error = f"{type(exc).__name__}: {exc}"
            final = isinstance(exc, PermanentJobError) or job.attempts >= job.max_attempts
            log.warning("job %s (%s) attempt %d failed: %s", job.id, job.kind, job.attempts, error)
            retry_at = None if final else now_ms() + self.backoff_ms(job.attempts)
            await self._settle(job, error=error, retry_at=retry_at)
            return
        finally:
            renewing.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await renewing
        await self._settle(job, error=None, retry_at=None)

    async def _renew(self, job: repo.JobRecord) -> None:
        """Keep extending ``job``'s lease while its handler runs (cancelled when it ends)."""
        while True:
            await asyncio.sleep(self.lease_ms / 3000)
            try:
                async with self.database.begin() as conn:
                    held = await repo.renew(
                        conn,
                        job.id,
                        attempt=job.attempts,
                        until_ms=now_ms() + self.lease_ms,
                        now_ms=now_ms(),
                    )
            except Exception:
                # Try again at the next turn; the lease has two thirds of it left.
                log.warning("renewing the lease of job %s failed", job.id, exc_info=True)
                continue
            if not held:
                return  # cancelled or claimed again meanwhile: the outcome will be stale too

    async def _settle(
        self, job: repo.JobRecord, *, error: str | None, retry_at: int | None
    ) -> None:
        try:
            async with self.database.begin() as conn:
                if error is None:
                    await repo.finish(conn, job.id, attempt=job.attempts, now_ms=now_ms())
                else:
                    await repo.fail(
                        conn,
                        job.id,
                        attempt=job.attempts,
                        error=error,
                        retry_at_ms=retry_at,
                        now_ms=now_ms(),
                    )
        except Exception:
            # The lease expires and the job runs again: at-least-once holds.
            log.exception("recording the outcome of job %s failed", job.id)
