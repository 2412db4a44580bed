"""Schedules: a scene to run once at an instant, with the job that fires it."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from fleetyard.server.storage.device_tables import scenes
from fleetyard.server.storage.device_tables import schedules as t
from fleetyard.server.storage.dialect import DatabaseKind


@dataclass(frozen=True, slots=True)
class ScheduleRecord:
    id: str
    org_id: str
    scene_id: str
    at: int
    state: str
    queue: bool
    job_id: str | None
    execution_id: str | None
    error: str | None
    created_by: str | None
    created_at: int
    updated_at: int
    # The scene's placement, for access checks (joined in every read).
    site_id: str
    agent_id: str


_COLUMNS = (*t.c, scenes.c.site_id, scenes.c.agent_id)


def _record(data: Mapping[Any, Any]) -> ScheduleRecord:
    return ScheduleRecord(
        id=data["id"],
        org_id=data["org_id"],
        scene_id=data["scene_id"],
        at=data["at"],
        state=data["state"],
        queue=bool(data["queue"]),
        job_id=data["job_id"],
        execution_id=data["execution_id"],
        error=data["error"],
        created_by=data["created_by"],
        created_at=data["created_at"],
        updated_at=data["updated_at"],
        site_id=data["site_id"],
        agent_id=data["agent_id"],
    )


def _select() -> sa.Select[Any]:
    return sa.select(*_COLUMNS).select_from(t.join(scenes, scenes.c.id == t.c.scene_id))


async def insert(conn: AsyncConnection, *, org_id: str, values: Mapping[str, Any]) -> None:
    await conn.execute(sa.insert(t).values(**{**values, "org_id": org_id}))


async def get(
    conn: AsyncConnection, schedule_id: str, *, org_id: str, kind: DatabaseKind | None = None
) -> ScheduleRecord | None:
    """One schedule with its scene's site and gateway; locked when ``kind`` is given."""
    stmt = _select().where(t.c.id == schedule_id, t.c.org_id == org_id)
    if kind is DatabaseKind.POSTGRESQL:
        # Only the schedule row (SQLite relies on its serialised writers).
        stmt = stmt.with_for_update(of=t)
    row = (await conn.execute(stmt)).first()
    return None if row is None else _record(row._mapping)


async def set_fields(
    conn: AsyncConnection, schedule_id: str, *, org_id: str, values: Mapping[str, Any]
) -> None:
    await conn.execute(
        sa.update(t).where(t.c.id == schedule_id, t.c.org_id == org_id).values(**values)
    )


async def list_page(
    conn: AsyncConnection,
    *,
    org_id: str,
    visible_sites: Collection[str] | None,
    visible_agents: Collection[str] = (),
    scene_id: str | None = None,
    state: str | None = None,
    after: str | None,
    limit: int,
) -> list[ScheduleRecord]:
    """Schedules by id, narrowed to scenes the caller may see and the filters."""
    stmt = _select().where(t.c.org_id == org_id)
    if visible_sites is not None:
        if not visible_sites and not visible_agents:
            return []
        stmt = stmt.where(
            sa.or_(
                scenes.c.site_id.in_(list(visible_sites)),
                scenes.c.agent_id.in_(list(visible_agents)),
            )
        )
    if scene_id is not None:
        stmt = stmt.where(t.c.scene_id == scene_id)
    if state is not None:
        stmt = stmt.where(t.c.state == state)
    if after is not None:
        stmt = stmt.where(t.c.id > after)
    rows = (await conn.execute(stmt.order_by(t.c.id).limit(limit + 1))).all()
    return [_record(r._mapping) for r in rows]
