"""Executions: their rows, the devices they target, and the gateway's slot lock."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from fleetyard.server.storage.device_tables import devices, executions
from fleetyard.server.storage.dialect import DatabaseKind, json_array_has, lock_rows
from fleetyard.server.storage.telemetry_tables import agents

t = executions


@dataclass(frozen=True, slots=True)
class DeviceTarget:
    """What validation needs of a device: where it is and its definition as stored."""

    id: str
    org_id: str
    site_id: str
    agent_id: str
    device_url: str
    definition: dict[str, Any]


@dataclass(frozen=True, slots=True)
class ExecutionRecord:
    id: str
    org_id: str
    site_id: str
    agent_id: str
    label: str
    mode: str
    state: str
    actions: list[dict[str, Any]]
    history: list[dict[str, Any]]
    failure_type: str | None
    failed_commands: list[dict[str, Any]]
    action_group_id: str | None
    schedule_id: str | None
    created_by: str | None
    created_at: int
    updated_at: int
    finished_at: int | None


def _record(data: Mapping[Any, Any]) -> ExecutionRecord:
    return ExecutionRecord(
        id=data["id"],
        org_id=data["org_id"],
        site_id=data["site_id"],
        agent_id=data["agent_id"],
        label=data["label"],
        mode=data["mode"],
        state=data["state"],
        actions=list(data["actions"] or []),
        history=list(data["history"] or []),
        failure_type=data["failure_type"],
        failed_commands=list(data["failed_commands"] or []),
        action_group_id=data["action_group_id"],
        schedule_id=data["schedule_id"],
        created_by=data["created_by"],
        created_at=data["created_at"],
        updated_at=data["updated_at"],
        finished_at=data["finished_at"],
    )


def _visible(
    stmt: sa.Select[Any], visible_sites: Collection[str] | None, visible_agents: Collection[str]
) -> sa.Select[Any] | None:
    if visible_sites is None:
        return stmt
    if not visible_sites and not visible_agents:
        return None
    return stmt.where(
        sa.or_(t.c.site_id.in_(list(visible_sites)), t.c.agent_id.in_(list(visible_agents)))
    )


# --- devices -------------------------------------------------------------------------


async def devices_by_url(
    conn: AsyncConnection, *, org_id: str, device_urls: Collection[str]
) -> list[DeviceTarget]:
    """Every device of the organisation with one of these URLs (one URL may be behind
    several gateways)."""
    if not device_urls:
        return []
    stmt = (
        sa.select(
            devices.c.id,
            devices.c.org_id,
            devices.c.site_id,
            devices.c.agent_id,
            devices.c.device_url,
            devices.c.definition,
        )
        .where(devices.c.org_id == org_id, devices.c.device_url.in_(sorted(device_urls)))
        .order_by(devices.c.agent_id, devices.c.device_url)
    )
    return [
        DeviceTarget(
            id=r.id,
            org_id=r.org_id,
            site_id=r.site_id,
            agent_id=r.agent_id,
            device_url=r.device_url,
            definition=dict(r.definition or {}),
        )
        for r in (await conn.execute(stmt)).all()
    ]


# --- the gateway's slots ---------------------------------------------------------------


async def lock_gateway(conn: AsyncConnection, *, org_id: str, agent_id: str, now_ms: int) -> bool:
    """Take the gateway's agents row for the rest of the transaction (False: no such agent).

    Every change to a gateway's active or queued executions does this first,
    so counting slots and promoting the queue are serialised per gateway on
    both databases (and the lock order is always agent row, then executions).
    """
    result = await conn.execute(
        sa.update(agents)
        .where(agents.c.id == agent_id, agents.c.org_id == org_id)
        .values(updated_at=now_ms)
    )
    return result.rowcount == 1


async def count_in_states(
    conn: AsyncConnection, *, org_id: str, agent_id: str, states: Collection[str]
) -> int:
    stmt = sa.select(sa.func.count()).where(
        t.c.org_id == org_id, t.c.agent_id == agent_id, t.c.state.in_(list(states))
    )
    return int((await conn.execute(stmt)).scalar_one())


async def oldest_in_state(
    conn: AsyncConnection, kind: DatabaseKind, *, org_id: str, agent_id: str, state: str
) -> ExecutionRecord | None:
    """The gateway's oldest execution in ``state`` (FIFO by created_at, id), locked."""
    stmt = (
        sa.select(t)
        .where(t.c.org_id == org_id, t.c.agent_id == agent_id, t.c.state == state)
        .order_by(t.c.created_at, t.c.id)
        .limit(1)
    )
    row = (await conn.execute(lock_rows(kind, stmt))).first()
    return None if row is None else _record(row._mapping)


# --- rows ------------------------------------------------------------------------------


async def insert(conn: AsyncConnection, *, org_id: str, values: Mapping[str, Any]) -> None:
    await conn.execute(sa.insert(t).values(**{**values, "org_id": org_id}))


async def get(
    conn: AsyncConnection,
    execution_id: str,
    *,
    org_id: str,
    kind: DatabaseKind | None = None,
) -> ExecutionRecord | None:
    """One execution; locked (FOR UPDATE on PostgreSQL) when ``kind`` is given."""
    stmt = sa.select(t).where(t.c.id == execution_id, t.c.org_id == org_id)
    if kind is not None:
        stmt = lock_rows(kind, stmt)
    row = (await conn.execute(stmt)).first()
    return None if row is None else _record(row._mapping)


async def update(
    conn: AsyncConnection, execution_id: str, *, org_id: str, values: Mapping[str, Any]
) -> None:
    await conn.execute(
        sa.update(t).where(t.c.id == execution_id, t.c.org_id == org_id).values(**values)
    )


async def list_current(
    conn: AsyncConnection,
    *,
    org_id: str,
    states: Collection[str],
    visible_sites: Collection[str] | None,
    visible_agents: Collection[str] = (),
    agent_id: str | None = None,
    after: str | None,
    limit: int,
) -> list[ExecutionRecord]:
    """Executions in ``states``, oldest first (by id, which sorts by creation time)."""
    stmt = _visible(
        sa.select(t).where(t.c.org_id == org_id, t.c.state.in_(list(states))),
        visible_sites,
        visible_agents,
    )
    if stmt is None:
        return []
    if agent_id is not None:
        stmt = stmt.where(t.c.agent_id == agent_id)
    if after is not None:
        stmt = stmt.where(t.c.id > after)
    rows = (await conn.execute(stmt.order_by(t.c.id).limit(limit + 1))).all()
    return [_record(r._mapping) for r in rows]


async def list_history(
    conn: AsyncConnection,
    kind: DatabaseKind,
    *,
    org_id: str,
    visible_sites: Collection[str] | None,
    visible_agents: Collection[str] = (),
    agent_id: str | None = None,
    device_url: str | None = None,
    state: str | None = None,
    start_ms: int | None = None,
    end_ms: int | None = None,
    before: str | None,
    limit: int,
) -> list[ExecutionRecord]:
    """Executions newest first (id descending), narrowed by the filters.

    ``start_ms``/``end_ms`` bound ``created_at`` (start inclusive, end
    exclusive); ``device_url`` matches any of the execution's actions.
    """
    stmt = _visible(sa.select(t).where(t.c.org_id == org_id), visible_sites, visible_agents)
    if stmt is None:
        return []
    if agent_id is not None:
        stmt = stmt.where(t.c.agent_id == agent_id)
    if state is not None:
        stmt = stmt.where(t.c.state == state)
    if start_ms is not None:
        stmt = stmt.where(t.c.created_at >= start_ms)
    if end_ms is not None:
        stmt = stmt.where(t.c.created_at < end_ms)
    if device_url is not None:
        stmt = stmt.where(json_array_has(kind, t.c.actions, "device_url", device_url))
    if before is not None:
        stmt = stmt.where(t.c.id < before)
    rows = (await conn.execute(stmt.order_by(t.c.id.desc()).limit(limit + 1))).all()
    return [_record(r._mapping) for r in rows]


async def pending_for_gateway(
    conn: AsyncConnection, *, org_id: str, agent_id: str, states: Sequence[str]
) -> list[ExecutionRecord]:
    """The gateway's executions in ``states``, oldest first."""
    stmt = (
        sa.select(t)
        .where(t.c.org_id == org_id, t.c.agent_id == agent_id, t.c.state.in_(list(states)))
        .order_by(t.c.created_at, t.c.id)
    )
    return [_record(r._mapping) for r in (await conn.execute(stmt)).all()]


async def stale(
    conn: AsyncConnection, *, state: str, updated_before_ms: int, limit: int
) -> list[tuple[str, str]]:
    """(org_id, id) of executions sitting in ``state`` since before ``updated_before_ms``.

    A system sweep across organisations (the caller then works per org).
    """
    stmt = (
        sa.select(t.c.org_id, t.c.id)
        .where(t.c.state == state, t.c.updated_at < updated_before_ms)
        .order_by(t.c.updated_at)
        .limit(limit)
    )
    return [(r.org_id, r.id) for r in (await conn.execute(stmt)).all()]
