"""The durable jobs runner: run, retry with backoff, give up, cancel, recover expired leases."""

from __future__ import annotations

from typing import Any

import anyio
import anyio.lowlevel
import pytest
import sqlalchemy as sa

from fleetyard.server import jobs
from fleetyard.server.jobs import JobContext, JobRunner, PermanentJobError
from fleetyard.server.jobs.runner import now_ms
from fleetyard.server.storage.database import Database
from fleetyard.server.storage.device_tables import jobs as jobs_table
from fleetyard.server.storage.repositories import jobs as repo

pytestmark = pytest.mark.anyio


async def enqueue(db: Database, kind: str = "test.ok", **kw: Any) -> str:
    async with db.begin() as conn:
        return await jobs.enqueue(
            conn,
            kind=kind,
            payload=kw.pop("payload", {"n": 1}),
            run_at_ms=kw.pop("run_at_ms", now_ms()),
            org_id=None,
            **kw,
        )


async def job(db: Database, job_id: str) -> repo.JobRecord:
    async with db.connect() as conn:
        record = await repo.get(conn, job_id)
    assert record is not None
    return record


async def test_a_due_job_runs_once_and_is_done(db: Database) -> None:
    seen: list[tuple[JobContext, dict[str, Any]]] = []

    async def handle(context: JobContext, payload: dict[str, Any]) -> None:
        seen.append((context, payload))

    job_id = await enqueue(db, payload={"x": 1})
    later = await enqueue(db, run_at_ms=now_ms() + 3_600_000)
    runner = JobRunner(db, {"test.ok": handle})
    assert await runner.run_once() == 1
    assert await runner.run_once() == 0
    [(context, payload)] = seen
    assert (context.job_id, context.attempt, payload) == (job_id, 1, {"x": 1})
    assert (await job(db, job_id)).state == repo.DONE
    assert (await job(db, later)).state == repo.PENDING


async def test_failures_retry_with_exponential_backoff_then_give_up(db: Database) -> None:
    attempts: list[int] = []

    async def flaky(context: JobContext, payload: dict[str, Any]) -> None:
        attempts.append(context.attempt)
        raise RuntimeError("boom")

    job_id = await enqueue(db, "test.flaky", max_attempts=3)
    runner = JobRunner(db, {"test.flaky": flaky}, backoff_base_seconds=10)
    assert [runner.backoff_ms(n) for n in (1, 2, 3)] == [10_000, 20_000, 40_000]
    for expected_delay in (10_000, 20_000):
        before = now_ms()
        assert await runner.run_once() == 1
        record = await job(db, job_id)
        assert record.state == repo.PENDING
        assert record.last_error == "RuntimeError: boom"
        assert before + expected_delay <= record.run_at <= now_ms() + expected_delay
        assert await runner.run_once() == 0  # not due yet
        async with db.begin() as conn:  # time passes
            await conn.execute(sa.update(jobs_table).values(run_at=now_ms() - 1))
    assert await runner.run_once() == 1
    assert attempts == [1, 2, 3]
    assert (await job(db, job_id)).state == repo.FAILED


async def test_a_permanent_error_is_not_retried(db: Database) -> None:
    async def broken(context: JobContext, payload: dict[str, Any]) -> None:
        raise PermanentJobError("never")

    job_id = await enqueue(db, "test.broken")
    assert await JobRunner(db, {"test.broken": broken}).run_once() == 1
    record = await job(db, job_id)
    assert (record.state, record.attempts) == (repo.FAILED, 1)


async def test_a_cancelled_job_never_runs(db: Database) -> None:
    async def handle(context: JobContext, payload: dict[str, Any]) -> None:
        raise AssertionError("cancelled jobs must not run")

    job_id = await enqueue(db)
    async with db.begin() as conn:
        assert await jobs.cancel(conn, job_id)
        assert not await jobs.cancel(conn, job_id)
    assert await JobRunner(db, {"test.ok": handle}).run_once() == 0
    assert (await job(db, job_id)).state == repo.CANCELLED


async def test_a_job_whose_lease_expired_is_claimed_again(db: Database) -> None:
    ran: list[int] = []

    async def handle(context: JobContext, payload: dict[str, Any]) -> None:
        ran.append(context.attempt)

    job_id = await enqueue(db)
    # A runner claimed it, then died: the job sits "running" with a lease.
    async with db.begin() as conn:
        [claimed] = await repo.claim(
            conn, db.kind, kinds=["test.ok"], now_ms=now_ms(), lease_ms=60_000, limit=5
        )
    assert claimed.id == job_id
    runner = JobRunner(db, {"test.ok": handle})
    assert await runner.run_once() == 0  # the lease still holds
    async with db.begin() as conn:
        await conn.execute(sa.update(jobs_table).values(locked_until=now_ms() - 1))
    assert await runner.run_once() == 1
    assert ran == [2]
    assert (await job(db, job_id)).state == repo.DONE
    # The dead runner's late outcome is discarded: the claim moved on.
    async with db.begin() as conn:
        assert not await repo.finish(conn, job_id, attempt=1, now_ms=now_ms())


async def test_an_expired_lease_on_the_last_attempt_fails_the_job(db: Database) -> None:
    job_id = await enqueue(db, max_attempts=1)
    async with db.begin() as conn:
        await repo.claim(conn, db.kind, kinds=["test.ok"], now_ms=now_ms(), lease_ms=1, limit=1)
        await conn.execute(sa.update(jobs_table).values(locked_until=now_ms() - 1))

    async def handle(context: JobContext, payload: dict[str, Any]) -> None:
        raise AssertionError("out of attempts")

    assert await JobRunner(db, {"test.ok": handle}).run_once() == 0
    assert (await job(db, job_id)).state == repo.FAILED


async def test_concurrent_runners_take_each_job_once(db: Database) -> None:
    ran: list[str] = []

    async def handle(context: JobContext, payload: dict[str, Any]) -> None:
        ran.append(context.job_id)
        await anyio.lowlevel.checkpoint()

    ids = {await enqueue(db) for _ in range(20)}
    runners = [JobRunner(db, {"test.ok": handle}, batch_size=3) for _ in range(4)]

    async def drain(runner: JobRunner) -> None:
        while await runner.run_once():
            pass

    async with anyio.create_task_group() as group:
        for runner in runners:
            group.start_soon(drain, runner)
    assert sorted(ran) == sorted(ids)


async def test_the_loop_runs_jobs_until_stopped(db: Database) -> None:
    done = anyio.Event()

    async def handle(context: JobContext, payload: dict[str, Any]) -> None:
        done.set()

    runner = JobRunner(db, {"test.ok": handle}, poll_seconds=0.05)
    await runner.start()
    try:
        await enqueue(db)
        with anyio.fail_after(10):
            await done.wait()
    finally:
        await runner.stop()


async def test_a_long_job_keeps_its_lease_so_no_other_runner_takes_it(db: Database) -> None:
    release, started = anyio.Event(), anyio.Event()
    runs: list[int] = []

    async def slow(context: JobContext, payload: dict[str, Any]) -> None:
        runs.append(context.attempt)
        started.set()
        await release.wait()

    job_id = await enqueue(db, "test.slow")
    # A lease of 0.3 s, renewed every 0.1 s while the handler runs.
    first = JobRunner(db, {"test.slow": slow}, lease_seconds=0.3)
    stolen: list[int] = []

    async def steal(context: JobContext, payload: dict[str, Any]) -> None:
        stolen.append(context.attempt)

    other = JobRunner(db, {"test.slow": steal}, lease_seconds=0.3)
    async with anyio.create_task_group() as tg:
        tg.start_soon(first.run_once)
        with anyio.fail_after(10):
            await started.wait()
        for _ in range(6):  # three leases long
            await anyio.sleep(0.15)
            assert await other.run_once() == 0
            record = await job(db, job_id)
            assert record.state == repo.RUNNING
            assert record.locked_until is not None
            assert record.locked_until > now_ms()
        release.set()
    assert (runs, stolen) == ([1], [])
    assert (await job(db, job_id)).state == repo.DONE
