"""Agents: the machines of an organisation, and their presence."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from fleetyard.server.storage.dialect import json_text
from fleetyard.server.storage.repositories._common import keyset, translating_duplicates
from fleetyard.server.storage.tables import sites
from fleetyard.server.storage.telemetry_tables import agents as t

UPDATABLE = ("site_id", "name", "kind", "labels", "metadata")


@dataclass(frozen=True, slots=True)
class AgentRecord:
    id: str
    org_id: str
    site_id: str
    name: str
    kind: str
    labels: dict[str, str]
    metadata: dict[str, Any]
    online: bool
    last_seen: int | None
    created_at: int
    updated_at: int


def _record(data: Mapping[Any, Any]) -> AgentRecord:
    return AgentRecord(
        id=data["id"],
        org_id=data["org_id"],
        site_id=data["site_id"],
        name=data["name"],
        kind=data["kind"],
        labels=data["labels"] or {},
        metadata=data["metadata"] or {},
        online=bool(data["online"]),
        last_seen=data["last_seen"],
        created_at=data["created_at"],
        updated_at=data["updated_at"],
    )


async def site_exists(conn: AsyncConnection, site_id: str, *, org_id: str) -> bool:
    """Whether ``site_id`` is a site of this organisation."""
    stmt = sa.select(sites.c.id).where(sites.c.id == site_id, sites.c.org_id == org_id)
    return (await conn.execute(stmt)).first() is not None


async def insert(
    conn: AsyncConnection,
    *,
    org_id: str,
    agent_id: str,
    site_id: str,
    name: str,
    kind: str,
    labels: dict[str, str],
    metadata: dict[str, Any],
    now_ms: int,
) -> AgentRecord:
    """Create an agent; a name already used in the organisation raises ``DuplicateError``."""
    values: dict[str, Any] = {
        "id": agent_id,
        "org_id": org_id,
        "site_id": site_id,
        "name": name,
        "kind": kind,
        "labels": labels,
        "metadata": metadata,
        "online": False,
        "last_seen": None,
        "created_at": now_ms,
        "updated_at": now_ms,
    }
    await translating_duplicates(conn.execute(sa.insert(t).values(**values)))
    return _record(values)


async def get(conn: AsyncConnection, agent_id: str, *, org_id: str) -> AgentRecord | None:
    row = (await conn.execute(sa.select(t).where(t.c.id == agent_id, t.c.org_id == org_id))).first()
    return None if row is None else _record(row._mapping)


async def list_page(
    conn: AsyncConnection,
    *,
    org_id: str,
    visible_sites: Collection[str] | None,
    visible_agents: Collection[str] = (),
    site_id: str | None = None,
    kind: str | None = None,
    labels: Mapping[str, str | None] | None = None,
    online: bool | None = None,
    after: str | None,
    limit: int,
) -> list[AgentRecord]:
    """Agents ordered by id, narrowed by filters.

    ``visible_sites`` (None: all) and ``visible_agents`` say what the caller
    may see: agents in one of those sites, or named one by one. ``labels``
    maps a key to the wanted value, or to None for "has the label".
    """
    stmt = sa.select(t).where(t.c.org_id == org_id)
    if visible_sites is not None:
        if not visible_sites and not visible_agents:
            return []
        stmt = stmt.where(
            sa.or_(t.c.site_id.in_(list(visible_sites)), t.c.id.in_(list(visible_agents)))
        )
    if site_id is not None:
        stmt = stmt.where(t.c.site_id == site_id)
    if kind is not None:
        stmt = stmt.where(t.c.kind == kind)
    if online is not None:
        stmt = stmt.where(t.c.online == online)
    for key, value in (labels or {}).items():
        label = json_text(t.c.labels, key)
        stmt = stmt.where(label.is_not(None) if value is None else label == value)
    rows = (await conn.execute(keyset(stmt, t.c.id, after=after, limit=limit))).all()
    return [_record(r._mapping) for r in rows]


async def update(
    conn: AsyncConnection,
    agent_id: str,
    *,
    org_id: str,
    changes: Mapping[str, Any],
    now_ms: int,
) -> AgentRecord | None:
    """Apply ``changes`` (site_id, name, kind, labels, metadata); None when absent."""
    allowed = {k: v for k, v in changes.items() if k in UPDATABLE}
    stmt = (
        sa.update(t)
        .where(t.c.id == agent_id, t.c.org_id == org_id)
        .values(**allowed, updated_at=now_ms)
    )
    result = await translating_duplicates(conn.execute(stmt))
    if result.rowcount != 1:
        return None
    return await get(conn, agent_id, org_id=org_id)


async def delete(conn: AsyncConnection, agent_id: str, *, org_id: str) -> bool:
    """Delete an agent with its channels and their messages (cascade)."""
    result = await conn.execute(sa.delete(t).where(t.c.id == agent_id, t.c.org_id == org_id))
    return result.rowcount == 1


async def set_presence(
    conn: AsyncConnection, agent_id: str, *, org_id: str, online: bool, now_ms: int
) -> tuple[AgentRecord | None, bool]:
    """Record a connection, heartbeat or disconnect; returns the agent and whether
    ``online`` flipped (which is when presence events are due)."""
    before = await get(conn, agent_id, org_id=org_id)
    if before is None:
        return None, False
    await conn.execute(
        sa.update(t)
        .where(t.c.id == agent_id, t.c.org_id == org_id)
        .values(online=online, last_seen=now_ms)
    )
    after = await get(conn, agent_id, org_id=org_id)
    return after, before.online != online


async def count_in_site(conn: AsyncConnection, site_id: str, *, org_id: str) -> int:
    """How many agents a site holds (a site with agents cannot be deleted)."""
    stmt = sa.select(sa.func.count()).where(t.c.site_id == site_id, t.c.org_id == org_id)
    return int((await conn.execute(stmt)).scalar_one())
