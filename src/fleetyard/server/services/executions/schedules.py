"""Schedules: run a scene once at an instant, durably.

A schedule is a row plus a ``schedule.fire`` job enqueued in the same
transaction (so both exist or neither), which is why schedules survive a
server restart. The job handler executes the scene (queued when the gateway
is full, unless the schedule says ``queue=false``) and marks the schedule
``fired`` with the execution id in one transaction, or ``failed`` with the
error. A retried job for a schedule that is no longer ``pending`` does
nothing: it fires once.

Example::

    schedule = await schedule_scene(database, principal, scene_id, ScheduleCreate(at=when))
    runner = JobRunner(database, job_handlers(database, bus, limit=10))
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from fleetyard.protocol.errors import ErrorCode
from fleetyard.protocol.executions import (
    SCHEDULE_ID_PREFIX,
    Schedule,
    ScheduleCreate,
    ScheduleState,
)
from fleetyard.protocol.ids import new_id
from fleetyard.server import jobs
from fleetyard.server.bus import Bus
from fleetyard.server.services.auth import Principal
from fleetyard.server.services.clock import now_ms, to_datetime, to_ms
from fleetyard.server.services.errors import Conflict, NotFound, ServiceError
from fleetyard.server.services.executions._common import Effects, actor, deliver, writing
from fleetyard.server.services.executions.scenes import load_scene, run_scene
from fleetyard.server.services.pagination import PageRequest, PageResult, cut
from fleetyard.server.services.telemetry import access
from fleetyard.server.storage.database import Database
from fleetyard.server.storage.repositories import scenes as scenes_repo
from fleetyard.server.storage.repositories import schedules as repo
from fleetyard.server.storage.repositories.schedules import ScheduleRecord

FIRE = "schedule.fire"
"""The job kind that fires a schedule; payload ``{"schedule_id": …}``."""


def schedule_model(record: ScheduleRecord) -> Schedule:
    return Schedule(
        id=record.id,
        scene_id=record.scene_id,
        at=to_datetime(record.at),
        state=ScheduleState(record.state),
        execution_id=record.execution_id,
        error=record.error,
        created_at=to_datetime(record.created_at),
        updated_at=to_datetime(record.updated_at),
        queue=record.queue,
    )


def _not_found(schedule_id: str) -> NotFound:
    return NotFound(f"Schedule {schedule_id!r} was not found.")


async def _load(
    conn: AsyncConnection, principal: Principal, schedule_id: str, permission: str
) -> ScheduleRecord:
    record = await repo.get(conn, schedule_id, org_id=principal.org_id)
    if record is None or not access.can(
        principal, site_id=record.site_id, agent_id=record.agent_id, permission=access.READ
    ):
        raise _not_found(schedule_id)
    access.require(
        principal, site_id=record.site_id, agent_id=record.agent_id, permission=permission
    )
    return record


async def schedule_scene(
    database: Database, principal: Principal, scene_id: str, body: ScheduleCreate
) -> Schedule:
    """Schedule a scene to run once at ``body.at`` (``write``; a past instant fires at once)."""
    async with writing(database) as conn:
        scene = await load_scene(conn, principal, scene_id, access.WRITE)
        now = now_ms()
        schedule_id = new_id(SCHEDULE_ID_PREFIX, now_ms=now)
        at = to_ms(body.at)
        await repo.insert(
            conn,
            org_id=principal.org_id,
            values={
                "id": schedule_id,
                "scene_id": scene.id,
                "at": at,
                "state": ScheduleState.PENDING.value,
                "queue": body.queue,
                "job_id": None,
                "execution_id": None,
                "error": None,
                "created_by": actor(principal),
                "created_at": now,
                "updated_at": now,
            },
        )
        job_id = await jobs.enqueue(
            conn,
            kind=FIRE,
            payload={"schedule_id": schedule_id},
            run_at_ms=at,
            org_id=principal.org_id,
        )
        await repo.set_fields(conn, schedule_id, org_id=principal.org_id, values={"job_id": job_id})
        record = await repo.get(conn, schedule_id, org_id=principal.org_id)
    assert record is not None
    return schedule_model(record)


async def get_schedule(database: Database, principal: Principal, schedule_id: str) -> Schedule:
    async with database.connect() as conn:
        return schedule_model(await _load(conn, principal, schedule_id, access.READ))


async def list_schedules(
    database: Database,
    principal: Principal,
    page: PageRequest,
    *,
    scene_id: str | None = None,
    state: ScheduleState | None = None,
) -> PageResult[Schedule]:
    sites, agent_ids = access.visible(principal)
    async with database.connect() as conn:
        rows = await repo.list_page(
            conn,
            org_id=principal.org_id,
            visible_sites=sites,
            visible_agents=agent_ids,
            scene_id=scene_id,
            state=None if state is None else state.value,
            after=page.after,
            limit=page.limit,
        )
    return cut(rows, page, lambda r: r.id, schedule_model)


async def cancel_schedule(database: Database, principal: Principal, schedule_id: str) -> Schedule:
    """Cancel a pending schedule and its job (``write``); 409 ``conflict`` once it fired."""
    async with writing(database) as conn:
        await _load(conn, principal, schedule_id, access.WRITE)
        record = await repo.get(conn, schedule_id, org_id=principal.org_id, kind=database.kind)
        assert record is not None
        if record.state != ScheduleState.PENDING:
            raise Conflict(
                f"Schedule {schedule_id!r} is {record.state}; only a pending one can be cancelled.",
                code=ErrorCode.CONFLICT,
                state=record.state,
            )
        await repo.set_fields(
            conn,
            schedule_id,
            org_id=principal.org_id,
            values={"state": ScheduleState.CANCELLED.value, "updated_at": now_ms()},
        )
        if record.job_id is not None:
            await jobs.cancel(conn, record.job_id)
        record = await repo.get(conn, schedule_id, org_id=principal.org_id)
    assert record is not None
    return schedule_model(record)


async def fire(database: Database, bus: Bus, *, org_id: str, schedule_id: str, limit: int) -> None:
    """Execute a pending schedule's scene and mark it fired (or failed). Idempotent."""
    effects = Effects()
    try:
        async with writing(database) as conn:
            record = await repo.get(conn, schedule_id, org_id=org_id, kind=database.kind)
            if record is None or record.state != ScheduleState.PENDING:
                return  # cancelled, deleted, or fired by an earlier attempt
            scene = await scenes_repo.get(conn, record.scene_id, org_id=org_id)
            if scene is None:
                return
            started = await run_scene(
                conn,
                database,
                effects,
                scene,
                queue=record.queue,
                limit=limit,
                created_by=record.created_by,
                schedule_id=record.id,
            )
            await repo.set_fields(
                conn,
                schedule_id,
                org_id=org_id,
                values={
                    "state": ScheduleState.FIRED.value,
                    "execution_id": started.id,
                    "updated_at": now_ms(),
                },
            )
    except ServiceError as exc:
        # The scene cannot run as it is (a device gone, the gateway full): that is the
        # schedule's outcome, not a reason to retry the job.
        await _mark_failed(database, org_id=org_id, schedule_id=schedule_id, error=exc)
        return
    await deliver(bus, org_id, effects)


async def _mark_failed(
    database: Database, *, org_id: str, schedule_id: str, error: ServiceError
) -> None:
    async with writing(database) as conn:
        record = await repo.get(conn, schedule_id, org_id=org_id, kind=database.kind)
        if record is None or record.state != ScheduleState.PENDING:
            return
        await repo.set_fields(
            conn,
            schedule_id,
            org_id=org_id,
            values={
                "state": ScheduleState.FAILED.value,
                "error": f"{error.code}: {error.detail or error.title}"[:2000],
                "updated_at": now_ms(),
            },
        )


def job_handlers(database: Database, bus: Bus, *, limit: int) -> dict[str, jobs.Handler]:
    """The job handlers of this package, for the app's :class:`~fleetyard.server.jobs.JobRunner`."""

    async def fire_job(context: jobs.JobContext, payload: dict[str, Any]) -> None:
        schedule_id = payload.get("schedule_id")
        if not isinstance(schedule_id, str) or context.org_id is None:
            raise jobs.PermanentJobError(f"bad schedule.fire payload: {payload!r}")
        await fire(database, bus, org_id=context.org_id, schedule_id=schedule_id, limit=limit)

    return {FIRE: fire_job}
