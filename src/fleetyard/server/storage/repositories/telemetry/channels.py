"""Channels: named streams of an agent, their settings and aggregate."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from fleetyard.server.storage.dialect import DatabaseKind, insert_for
from fleetyard.server.storage.repositories._common import keyset
from fleetyard.server.storage.telemetry_tables import agents
from fleetyard.server.storage.telemetry_tables import channels as t

UPDATABLE = ("is_private", "retention_max_age_ms", "retention_max_messages", "json_schema")


@dataclass(frozen=True, slots=True)
class ChannelRecord:
    """A channel row plus its agent's ``site_id`` (what access checks need)."""

    pk: int
    id: str
    org_id: str
    agent_id: str
    site_id: str
    name: str
    kind: str
    is_private: bool
    retention_max_age_ms: int | None
    retention_max_messages: int | None
    json_schema: dict[str, Any] | None
    last_seq: int
    aggregate_version: int
    aggregate_updated_at: int | None
    created_at: int
    updated_at: int


@dataclass(frozen=True, slots=True)
class AggregateRecord:
    data: Any
    version: int
    updated_at: int | None


@dataclass(frozen=True, slots=True)
class RetentionPolicy:
    org_id: str
    channel_pk: int
    channel_id: str
    max_age_ms: int | None
    max_messages: int | None


_COLUMNS = [
    t.c.pk,
    t.c.id,
    t.c.org_id,
    t.c.agent_id,
    agents.c.site_id,
    t.c.name,
    t.c.kind,
    t.c.is_private,
    t.c.retention_max_age_ms,
    t.c.retention_max_messages,
    t.c.json_schema,
    t.c.last_seq,
    t.c.aggregate_version,
    t.c.aggregate_updated_at,
    t.c.created_at,
    t.c.updated_at,
]


def _select(org_id: str) -> sa.Select[Any]:
    # The agent join also re-checks the tenant on the agent's side.
    return (
        sa.select(*_COLUMNS)
        .select_from(t.join(agents, agents.c.id == t.c.agent_id))
        .where(t.c.org_id == org_id, agents.c.org_id == org_id)
    )


def record(data: Mapping[Any, Any]) -> ChannelRecord:
    return ChannelRecord(
        pk=data["pk"],
        id=data["id"],
        org_id=data["org_id"],
        agent_id=data["agent_id"],
        site_id=data["site_id"],
        name=data["name"],
        kind=data["kind"],
        is_private=bool(data["is_private"]),
        retention_max_age_ms=data["retention_max_age_ms"],
        retention_max_messages=data["retention_max_messages"],
        json_schema=data["json_schema"],
        last_seq=data["last_seq"],
        aggregate_version=data["aggregate_version"],
        aggregate_updated_at=data["aggregate_updated_at"],
        created_at=data["created_at"],
        updated_at=data["updated_at"],
    )


async def insert(
    conn: AsyncConnection,
    kind: DatabaseKind,
    *,
    org_id: str,
    channel_id: str,
    agent_id: str,
    site_id: str,
    name: str,
    channel_kind: str,
    is_private: bool,
    retention_max_age_ms: int | None,
    retention_max_messages: int | None,
    json_schema: dict[str, Any] | None,
    now_ms: int,
) -> ChannelRecord | None:
    """Create a channel of an agent of this organisation (``site_id`` is the agent's).

    Returns None when the agent already has a channel of that name: the
    statement does nothing then (no error, so the transaction stays usable
    and a create-or-get race needs no savepoint).
    """
    values = {
        "id": channel_id,
        "org_id": org_id,
        "agent_id": agent_id,
        "name": name,
        "kind": channel_kind,
        "is_private": is_private,
        "retention_max_age_ms": retention_max_age_ms,
        "retention_max_messages": retention_max_messages,
        "json_schema": json_schema,
        "last_seq": 0,
        "aggregate_version": 0,
        "created_at": now_ms,
        "updated_at": now_ms,
    }
    stmt = (
        insert_for(kind, t)
        .values(**values)
        .on_conflict_do_nothing(index_elements=["agent_id", "name"])
        .returning(t.c.pk)
    )
    pk = (await conn.execute(stmt)).scalar()
    if pk is None:
        return None
    return record({**values, "pk": pk, "site_id": site_id, "aggregate_updated_at": None})


async def agent_site(conn: AsyncConnection, agent_id: str, *, org_id: str) -> str | None:
    """The site of an agent of this organisation, None when there is no such agent."""
    stmt = sa.select(agents.c.site_id).where(agents.c.id == agent_id, agents.c.org_id == org_id)
    return (await conn.execute(stmt)).scalar()


async def get(conn: AsyncConnection, channel_id: str, *, org_id: str) -> ChannelRecord | None:
    row = (await conn.execute(_select(org_id).where(t.c.id == channel_id))).first()
    return None if row is None else record(row._mapping)


async def get_by_name(
    conn: AsyncConnection, agent_id: str, name: str, *, org_id: str
) -> ChannelRecord | None:
    stmt = _select(org_id).where(t.c.agent_id == agent_id, t.c.name == name)
    row = (await conn.execute(stmt)).first()
    return None if row is None else record(row._mapping)


async def resolve(
    conn: AsyncConnection,
    *,
    org_id: str,
    ids: Collection[str] = (),
    names: Collection[tuple[str, str]] = (),
) -> list[ChannelRecord]:
    """The channels among ``ids`` and ``(agent_id, name)`` pairs that exist in this org."""
    found: list[ChannelRecord] = []
    if ids:
        rows = await conn.execute(_select(org_id).where(t.c.id.in_(list(ids))))
        found.extend(record(r._mapping) for r in rows)
    if names:
        pairs = list(names)
        # Chunked: two bound parameters per pair, and drivers cap parameters per statement.
        for start in range(0, len(pairs), 1000):
            chunk = pairs[start : start + 1000]
            where = sa.tuple_(t.c.agent_id, t.c.name).in_(chunk)
            rows = await conn.execute(_select(org_id).where(where))
            found.extend(record(r._mapping) for r in rows)
    return found


async def list_page(
    conn: AsyncConnection,
    *,
    org_id: str,
    agent_id: str,
    kind: str | None = None,
    include_private: bool = True,
    after: str | None,
    limit: int,
) -> list[ChannelRecord]:
    """An agent's channels ordered by id."""
    stmt = _select(org_id).where(t.c.agent_id == agent_id)
    if kind is not None:
        stmt = stmt.where(t.c.kind == kind)
    if not include_private:
        stmt = stmt.where(t.c.is_private == sa.false())
    rows = (await conn.execute(keyset(stmt, t.c.id, after=after, limit=limit))).all()
    return [record(r._mapping) for r in rows]


async def update(
    conn: AsyncConnection,
    channel_id: str,
    *,
    org_id: str,
    changes: Mapping[str, Any],
    now_ms: int,
) -> ChannelRecord | None:
    """Apply settings ``changes`` (privacy, retention, json_schema); None when absent.

    Never touches ``last_seq`` or the aggregate: those belong to the ingest writer.
    """
    allowed = {k: v for k, v in changes.items() if k in UPDATABLE}
    stmt = (
        sa.update(t)
        .where(t.c.id == channel_id, t.c.org_id == org_id)
        .values(**allowed, updated_at=now_ms)
    )
    result = await conn.execute(stmt)
    if result.rowcount != 1:
        return None
    return await get(conn, channel_id, org_id=org_id)


async def delete(conn: AsyncConnection, channel_id: str, *, org_id: str) -> bool:
    """Delete a channel and (cascade) its messages."""
    result = await conn.execute(sa.delete(t).where(t.c.id == channel_id, t.c.org_id == org_id))
    return result.rowcount == 1


async def get_aggregate(
    conn: AsyncConnection, channel_pk: int, *, org_id: str
) -> AggregateRecord | None:
    stmt = sa.select(t.c.aggregate, t.c.aggregate_version, t.c.aggregate_updated_at).where(
        t.c.pk == channel_pk, t.c.org_id == org_id
    )
    row = (await conn.execute(stmt)).first()
    return None if row is None else AggregateRecord(row[0], row[1], row[2])


async def same_name(
    conn: AsyncConnection,
    *,
    org_id: str,
    name: str,
    visible_sites: Collection[str] | None,
    visible_agents: Collection[str] = (),
    agent_ids: Collection[str] | None = None,
    site_id: str | None = None,
    include_private: bool = True,
    after_agent: str | None,
    limit: int,
) -> list[tuple[ChannelRecord, AggregateRecord]]:
    """The channel ``name`` of many agents with its aggregate, ordered by agent id."""
    stmt = (
        sa.select(*_COLUMNS, t.c.aggregate)
        .select_from(t.join(agents, agents.c.id == t.c.agent_id))
        .where(t.c.org_id == org_id, agents.c.org_id == org_id, t.c.name == name)
    )
    if visible_sites is not None:
        if not visible_sites and not visible_agents:
            return []
        stmt = stmt.where(
            sa.or_(agents.c.site_id.in_(list(visible_sites)), agents.c.id.in_(list(visible_agents)))
        )
    if agent_ids is not None:
        stmt = stmt.where(t.c.agent_id.in_(list(agent_ids)))
    if site_id is not None:
        stmt = stmt.where(agents.c.site_id == site_id)
    if not include_private:
        stmt = stmt.where(t.c.is_private == sa.false())
    if after_agent is not None:
        stmt = stmt.where(t.c.agent_id > after_agent)
    stmt = stmt.order_by(t.c.agent_id).limit(limit + 1)
    rows = (await conn.execute(stmt)).all()
    return [
        (
            record(r._mapping),
            AggregateRecord(r.aggregate, r.aggregate_version, r.aggregate_updated_at),
        )
        for r in rows
    ]


async def retention_policies(conn: AsyncConnection) -> list[RetentionPolicy]:
    """Every channel with a retention limit, across organisations (the retention job only)."""
    stmt = sa.select(
        t.c.org_id, t.c.pk, t.c.id, t.c.retention_max_age_ms, t.c.retention_max_messages
    ).where(sa.or_(t.c.retention_max_age_ms.is_not(None), t.c.retention_max_messages.is_not(None)))
    return [RetentionPolicy(*row) for row in (await conn.execute(stmt)).all()]
