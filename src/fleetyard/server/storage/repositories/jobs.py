"""The durable jobs table: insert, claim, finish, retry, cancel.

Jobs are system work, not a tenant's resource: the runner claims across
organisations, so these functions take no ``org_id`` (a job carries the one
it works for, when it has one). Handlers re-check tenancy themselves.

States: ``pending`` (waiting for ``run_at``) → ``running`` (claimed until
``locked_until``) → ``done`` | ``failed``; ``cancelled`` from pending or
running. A running job whose lease expired is claimable again: that is the
crash recovery, and why handlers must be idempotent (at-least-once).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from fleetyard.server.storage.device_tables import jobs as t
from fleetyard.server.storage.dialect import DatabaseKind, skip_locked

PENDING = "pending"
RUNNING = "running"
DONE = "done"
FAILED = "failed"
CANCELLED = "cancelled"


@dataclass(frozen=True, slots=True)
class JobRecord:
    id: str
    kind: str
    org_id: str | None
    payload: dict[str, Any]
    state: str
    run_at: int
    attempts: int
    max_attempts: int
    locked_until: int | None
    last_error: str | None
    created_at: int
    updated_at: int


def _record(data: Mapping[Any, Any]) -> JobRecord:
    return JobRecord(
        id=data["id"],
        kind=data["kind"],
        org_id=data["org_id"],
        payload=dict(data["payload"] or {}),
        state=data["state"],
        run_at=data["run_at"],
        attempts=data["attempts"],
        max_attempts=data["max_attempts"],
        locked_until=data["locked_until"],
        last_error=data["last_error"],
        created_at=data["created_at"],
        updated_at=data["updated_at"],
    )


async def insert(
    conn: AsyncConnection,
    *,
    job_id: str,
    kind: str,
    org_id: str | None,
    payload: Mapping[str, Any],
    run_at_ms: int,
    max_attempts: int,
    now_ms: int,
) -> None:
    await conn.execute(
        sa.insert(t).values(
            id=job_id,
            kind=kind,
            org_id=org_id,
            payload=dict(payload),
            state=PENDING,
            run_at=run_at_ms,
            attempts=0,
            max_attempts=max_attempts,
            locked_until=None,
            last_error=None,
            created_at=now_ms,
            updated_at=now_ms,
        )
    )


async def get(conn: AsyncConnection, job_id: str) -> JobRecord | None:
    row = (await conn.execute(sa.select(t).where(t.c.id == job_id))).first()
    return None if row is None else _record(row._mapping)


async def cancel(conn: AsyncConnection, job_id: str, *, now_ms: int) -> bool:
    """Cancel a job that has not finished; False when it is gone or already finished."""
    result = await conn.execute(
        sa.update(t)
        .where(t.c.id == job_id, t.c.state.in_((PENDING, RUNNING)))
        .values(state=CANCELLED, locked_until=None, updated_at=now_ms)
    )
    return result.rowcount == 1


def _claimable(now_ms: int) -> sa.ColumnElement[bool]:
    # Due pending jobs, and running jobs whose lease ran out (their runner died).
    return sa.or_(
        sa.and_(t.c.state == PENDING, t.c.run_at <= now_ms),
        sa.and_(t.c.state == RUNNING, t.c.locked_until < now_ms),
    )


async def claim(
    conn: AsyncConnection,
    kind: DatabaseKind,
    *,
    kinds: list[str],
    now_ms: int,
    lease_ms: int,
    limit: int,
) -> list[JobRecord]:
    """Claim up to ``limit`` due jobs of ``kinds`` until ``now_ms + lease_ms``.

    PostgreSQL: ``SELECT … FOR UPDATE SKIP LOCKED`` then UPDATE those rows, so
    concurrent runners take disjoint jobs without waiting. SQLite: one UPDATE
    whose WHERE repeats the claim condition (writers are serialised, so a job
    another runner took in between no longer matches). Each claim counts an
    attempt. Run it in its own short transaction.
    """
    if not kinds:
        return []
    await _give_up_expired(conn, now_ms=now_ms)
    due = sa.select(t.c.id).where(_claimable(now_ms), t.c.kind.in_(kinds))
    due = due.order_by(t.c.run_at, t.c.id).limit(limit)
    values = {
        "state": RUNNING,
        "attempts": t.c.attempts + 1,
        "locked_until": now_ms + lease_ms,
        "updated_at": now_ms,
    }
    if kind is DatabaseKind.POSTGRESQL:
        ids = [r[0] for r in (await conn.execute(skip_locked(kind, due))).all()]
        if not ids:
            return []
        stmt = sa.update(t).where(t.c.id.in_(ids)).values(**values)
    else:
        stmt = sa.update(t).where(t.c.id.in_(due), _claimable(now_ms)).values(**values)
    rows = (await conn.execute(stmt.returning(*t.c))).all()
    return sorted((_record(r._mapping) for r in rows), key=lambda j: (j.run_at, j.id))


async def _give_up_expired(conn: AsyncConnection, *, now_ms: int) -> None:
    # A job that used its last attempt and whose lease expired (its runner died
    # mid-way, every time) is failed rather than retried forever.
    await conn.execute(
        sa.update(t)
        .where(
            t.c.state == RUNNING,
            t.c.locked_until < now_ms,
            t.c.attempts >= t.c.max_attempts,
        )
        .values(
            state=FAILED,
            locked_until=None,
            last_error=sa.func.coalesce(t.c.last_error, "lease expired"),
            updated_at=now_ms,
        )
    )


def _held(job_id: str, attempt: int) -> sa.ColumnElement[bool]:
    # The claim is the lease token: once the lease expired and another runner
    # claimed the job again (attempts moved on), this runner's outcome is stale.
    return sa.and_(t.c.id == job_id, t.c.state == RUNNING, t.c.attempts == attempt)


async def renew(
    conn: AsyncConnection, job_id: str, *, attempt: int, until_ms: int, now_ms: int
) -> bool:
    """Extend a claimed job's lease to ``until_ms``; False when the claim was lost."""
    result = await conn.execute(
        sa.update(t).where(_held(job_id, attempt)).values(locked_until=until_ms, updated_at=now_ms)
    )
    return result.rowcount == 1


async def finish(conn: AsyncConnection, job_id: str, *, attempt: int, now_ms: int) -> bool:
    """Mark a claimed job done; False when the claim was lost (cancelled, reclaimed)."""
    result = await conn.execute(
        sa.update(t)
        .where(_held(job_id, attempt))
        .values(state=DONE, locked_until=None, last_error=None, updated_at=now_ms)
    )
    return result.rowcount == 1


async def fail(
    conn: AsyncConnection,
    job_id: str,
    *,
    attempt: int,
    error: str,
    retry_at_ms: int | None,
    now_ms: int,
) -> bool:
    """Record a failed attempt: back to pending at ``retry_at_ms``, or failed for good (None)."""
    values: dict[str, Any] = {
        "locked_until": None,
        "last_error": error[:4000],
        "updated_at": now_ms,
    }
    if retry_at_ms is None:
        values["state"] = FAILED
    else:
        values.update(state=PENDING, run_at=retry_at_ms)
    result = await conn.execute(sa.update(t).where(_held(job_id, attempt)).values(**values))
    return result.rowcount == 1
