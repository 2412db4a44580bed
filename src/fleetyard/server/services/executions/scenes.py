"""Scenes: action groups stored under an id, to run now or on a schedule.

A scene belongs to the one gateway its devices are behind (resolved and
checked like an execution when created or when its actions change). Reading
needs ``read`` on that gateway's site or the gateway; changing, deleting and
executing need ``write``.

Example::

    scene = await create_scene(database, principal, SceneCreate(label="Night", actions=[...]))
    started = await execute_scene(database, bus, principal, scene.id, SceneExecute(), limit=10)
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncConnection

from fleetyard.protocol.executions import (
    ACTION_GROUP_ID_PREFIX,
    Action,
    ExecutionMode,
    ExecutionStarted,
    Scene,
    SceneCreate,
    SceneExecute,
    SceneUpdate,
)
from fleetyard.protocol.ids import new_id
from fleetyard.server.bus import Bus
from fleetyard.server.jobs import cancel as cancel_job
from fleetyard.server.services.auth import Principal
from fleetyard.server.services.clock import now_ms, to_datetime
from fleetyard.server.services.errors import NotFound
from fleetyard.server.services.executions import validate
from fleetyard.server.services.executions._common import Effects, actor, deliver, writing
from fleetyard.server.services.executions.lifecycle import create_in, readable_device
from fleetyard.server.services.pagination import PageRequest, PageResult, cut
from fleetyard.server.services.telemetry import access
from fleetyard.server.storage.database import Database
from fleetyard.server.storage.repositories import scenes as repo
from fleetyard.server.storage.repositories.scenes import SceneRecord


def scene_model(record: SceneRecord) -> Scene:
    return Scene(
        id=record.id,
        site_id=record.site_id,
        gateway_id=record.agent_id,
        label=record.label,
        mode=ExecutionMode(record.mode),
        actions=[Action.model_validate(a) for a in record.actions],
        created_at=to_datetime(record.created_at),
        updated_at=to_datetime(record.updated_at),
    )


def _not_found(scene_id: str) -> NotFound:
    return NotFound(f"Scene {scene_id!r} was not found.")


async def load_scene(
    conn: AsyncConnection, principal: Principal, scene_id: str, permission: str
) -> SceneRecord:
    """The caller's scene checked for ``permission``; 404 when it may not even read it."""
    record = await repo.get(conn, scene_id, org_id=principal.org_id)
    if record is None or not access.can(
        principal, site_id=record.site_id, agent_id=record.agent_id, permission=access.READ
    ):
        raise _not_found(scene_id)
    access.require(
        principal, site_id=record.site_id, agent_id=record.agent_id, permission=permission
    )
    return record


def _actions_json(actions: list[Action]) -> list[dict[str, object]]:
    return [a.model_dump(mode="json") for a in actions]


async def create_scene(database: Database, principal: Principal, body: SceneCreate) -> Scene:
    """Store an action group after validating it like an execution (``write``)."""
    async with writing(database) as conn:
        resolved = await validate.resolve(
            conn,
            org_id=principal.org_id,
            actions=body.actions,
            gateway_id=body.gateway_id,
            readable=readable_device(principal),
        )
        access.require(
            principal, site_id=resolved.site_id, agent_id=resolved.agent_id, permission=access.WRITE
        )
        now = now_ms()
        record = await repo.insert(
            conn,
            org_id=principal.org_id,
            values={
                "id": new_id(ACTION_GROUP_ID_PREFIX, now_ms=now),
                "site_id": resolved.site_id,
                "agent_id": resolved.agent_id,
                "label": body.label,
                "mode": body.mode.value,
                "actions": _actions_json(body.actions),
                "created_at": now,
                "updated_at": now,
            },
        )
    return scene_model(record)


async def get_scene(database: Database, principal: Principal, scene_id: str) -> Scene:
    async with database.connect() as conn:
        return scene_model(await load_scene(conn, principal, scene_id, access.READ))


async def list_scenes(
    database: Database,
    principal: Principal,
    page: PageRequest,
    *,
    gateway_id: str | None = None,
    site_id: str | None = None,
) -> PageResult[Scene]:
    sites, agent_ids = access.visible(principal)
    async with database.connect() as conn:
        rows = await repo.list_page(
            conn,
            org_id=principal.org_id,
            visible_sites=sites,
            visible_agents=agent_ids,
            agent_id=gateway_id,
            site_id=site_id,
            after=page.after,
            limit=page.limit,
        )
    return cut(rows, page, lambda r: r.id, scene_model)


async def update_scene(
    database: Database, principal: Principal, scene_id: str, body: SceneUpdate
) -> Scene:
    """Change label, mode or actions (``write``); new actions must stay on the scene's gateway."""
    changes = body.model_dump(exclude_unset=True, exclude_none=True, mode="json")
    async with writing(database) as conn:
        record = await load_scene(conn, principal, scene_id, access.WRITE)
        if body.actions is not None:
            await validate.resolve(
                conn,
                org_id=principal.org_id,
                actions=body.actions,
                gateway_id=record.agent_id,
                readable=readable_device(principal),
            )
            changes["actions"] = _actions_json(body.actions)
        updated = await repo.update(
            conn, scene_id, org_id=principal.org_id, changes=changes, now_ms=now_ms()
        )
    if updated is None:
        raise _not_found(scene_id)
    return scene_model(updated)


async def delete_scene(database: Database, principal: Principal, scene_id: str) -> None:
    """Delete a scene with its schedules; their pending jobs are cancelled (``write``)."""
    async with writing(database) as conn:
        await load_scene(conn, principal, scene_id, access.WRITE)
        for job_id in await repo.delete(conn, scene_id, org_id=principal.org_id):
            await cancel_job(conn, job_id)


async def execute_scene(
    database: Database,
    bus: Bus,
    principal: Principal,
    scene_id: str,
    body: SceneExecute,
    *,
    limit: int,
) -> ExecutionStarted:
    """Run a scene now (``write``). Its devices are checked again: they may have changed."""
    effects = Effects()
    async with writing(database) as conn:
        record = await load_scene(conn, principal, scene_id, access.WRITE)
        started = await run_scene(
            conn,
            database,
            effects,
            record,
            queue=body.queue,
            limit=limit,
            created_by=actor(principal),
        )
    await deliver(bus, principal.org_id, effects)
    return started


async def run_scene(
    conn: AsyncConnection,
    database: Database,
    effects: Effects,
    record: SceneRecord,
    *,
    queue: bool,
    limit: int,
    created_by: str | None,
    schedule_id: str | None = None,
) -> ExecutionStarted:
    """Validate a stored scene against today's devices and create its execution."""
    actions = [Action.model_validate(a) for a in record.actions]
    resolved = await validate.resolve(
        conn,
        org_id=record.org_id,
        actions=actions,
        gateway_id=record.agent_id,
        readable=None,
        loc=("scene", "actions"),
    )
    return await create_in(
        conn,
        database.kind,
        effects,
        org_id=record.org_id,
        resolved=resolved,
        actions=actions,
        label=record.label,
        mode=record.mode,
        queue=queue,
        limit=limit,
        created_by=created_by,
        action_group_id=record.id,
        schedule_id=schedule_id,
    )
