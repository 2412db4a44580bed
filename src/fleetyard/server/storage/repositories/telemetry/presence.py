"""Agent presence: heartbeats, the offline sweep, and presence snapshots.

Each change is one conditional ``UPDATE``, so whoever flips ``online`` is
known exactly once, even with several server replicas sweeping the same
table: that caller emits the presence event.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from fleetyard.server.storage.telemetry_tables import agents as t


@dataclass(frozen=True, slots=True)
class PresenceRecord:
    agent_id: str
    org_id: str
    site_id: str
    online: bool
    last_seen: int | None


async def mark_online(
    conn: AsyncConnection, agent_id: str, *, org_id: str, now_ms: int
) -> bool | None:
    """Record a heartbeat: ``True`` when the agent was offline (it flipped),
    ``False`` when it was online already, ``None`` when there is no such agent."""
    where = sa.and_(t.c.id == agent_id, t.c.org_id == org_id)
    flipped = await conn.execute(
        sa.update(t).where(where, t.c.online == sa.false()).values(online=True, last_seen=now_ms)
    )
    if flipped.rowcount == 1:
        return True
    # Never move last_seen backwards (a delayed heartbeat after a newer one).
    touched = await conn.execute(
        sa.update(t)
        .where(where, sa.or_(t.c.last_seen.is_(None), t.c.last_seen < now_ms))
        .values(last_seen=now_ms)
    )
    if touched.rowcount == 1:
        return False
    exists = await conn.execute(sa.select(t.c.id).where(where))
    return False if exists.first() is not None else None


async def expire_stale_in_all_orgs(
    conn: AsyncConnection, *, cutoff_ms: int
) -> list[PresenceRecord]:
    """Mark offline every online agent not seen since ``cutoff_ms``, in EVERY organisation.

    The one repository function without an ``org_id``: the offline sweep is a
    system job, and it returns each agent's ``org_id`` so events stay scoped.
    """
    stmt = (
        sa.update(t)
        .where(
            t.c.online == sa.true(),
            sa.or_(t.c.last_seen.is_(None), t.c.last_seen < cutoff_ms),
        )
        .values(online=False)
        .returning(t.c.id, t.c.org_id, t.c.site_id, t.c.last_seen)
    )
    rows = (await conn.execute(stmt)).all()
    return [PresenceRecord(r[0], r[1], r[2], False, r[3]) for r in rows]


async def states(
    conn: AsyncConnection,
    *,
    org_id: str,
    site_id: str | None = None,
    agent_ids: Collection[str] | None = None,
) -> list[PresenceRecord]:
    """Current presence of a site's agents, or of the agents named (in this org)."""
    stmt = sa.select(t.c.id, t.c.org_id, t.c.site_id, t.c.online, t.c.last_seen).where(
        t.c.org_id == org_id
    )
    if site_id is not None:
        stmt = stmt.where(t.c.site_id == site_id)
    if agent_ids is not None:
        stmt = stmt.where(t.c.id.in_(list(agent_ids)))
    rows = (await conn.execute(stmt.order_by(t.c.id))).all()
    return [PresenceRecord(r[0], r[1], r[2], bool(r[3]), r[4]) for r in rows]
