"""Scenes: action groups stored under an id, behind one gateway."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from fleetyard.server.storage.device_tables import scenes as t
from fleetyard.server.storage.device_tables import schedules

UPDATABLE = ("label", "mode", "actions")


@dataclass(frozen=True, slots=True)
class SceneRecord:
    id: str
    org_id: str
    site_id: str
    agent_id: str
    label: str
    mode: str
    actions: list[dict[str, Any]]
    created_at: int
    updated_at: int


def _record(data: Mapping[Any, Any]) -> SceneRecord:
    return SceneRecord(
        id=data["id"],
        org_id=data["org_id"],
        site_id=data["site_id"],
        agent_id=data["agent_id"],
        label=data["label"],
        mode=data["mode"],
        actions=list(data["actions"] or []),
        created_at=data["created_at"],
        updated_at=data["updated_at"],
    )


async def insert(conn: AsyncConnection, *, org_id: str, values: Mapping[str, Any]) -> SceneRecord:
    row = {**values, "org_id": org_id}
    await conn.execute(sa.insert(t).values(**row))
    return _record(row)


async def get(conn: AsyncConnection, scene_id: str, *, org_id: str) -> SceneRecord | None:
    row = (await conn.execute(sa.select(t).where(t.c.id == scene_id, t.c.org_id == org_id))).first()
    return None if row is None else _record(row._mapping)


async def list_page(
    conn: AsyncConnection,
    *,
    org_id: str,
    visible_sites: Collection[str] | None,
    visible_agents: Collection[str] = (),
    agent_id: str | None = None,
    site_id: str | None = None,
    after: str | None,
    limit: int,
) -> list[SceneRecord]:
    """Scenes by id, narrowed to what the caller may see and the filters."""
    stmt = sa.select(t).where(t.c.org_id == org_id)
    if visible_sites is not None:
        if not visible_sites and not visible_agents:
            return []
        stmt = stmt.where(
            sa.or_(t.c.site_id.in_(list(visible_sites)), t.c.agent_id.in_(list(visible_agents)))
        )
    if agent_id is not None:
        stmt = stmt.where(t.c.agent_id == agent_id)
    if site_id is not None:
        stmt = stmt.where(t.c.site_id == site_id)
    if after is not None:
        stmt = stmt.where(t.c.id > after)
    rows = (await conn.execute(stmt.order_by(t.c.id).limit(limit + 1))).all()
    return [_record(r._mapping) for r in rows]


async def update(
    conn: AsyncConnection, scene_id: str, *, org_id: str, changes: Mapping[str, Any], now_ms: int
) -> SceneRecord | None:
    allowed = {k: v for k, v in changes.items() if k in UPDATABLE}
    await conn.execute(
        sa.update(t)
        .where(t.c.id == scene_id, t.c.org_id == org_id)
        .values(**allowed, updated_at=now_ms)
    )
    return await get(conn, scene_id, org_id=org_id)


async def delete(conn: AsyncConnection, scene_id: str, *, org_id: str) -> list[str]:
    """Delete a scene and its schedules (cascade); the job ids of its pending schedules."""
    jobs = (
        await conn.execute(
            sa.select(schedules.c.job_id).where(
                schedules.c.scene_id == scene_id,
                schedules.c.org_id == org_id,
                schedules.c.state == "pending",
                schedules.c.job_id.is_not(None),
            )
        )
    ).all()
    # Explicitly, not only by cascade: SQLite enforces the foreign key only per connection.
    await conn.execute(
        sa.delete(schedules).where(schedules.c.scene_id == scene_id, schedules.c.org_id == org_id)
    )
    await conn.execute(sa.delete(t).where(t.c.id == scene_id, t.c.org_id == org_id))
    return [r[0] for r in jobs]
