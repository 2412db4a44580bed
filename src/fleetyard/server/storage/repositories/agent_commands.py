"""Agent commands: machine commands (``ping``, ``reboot``, ``shell``…) queued for one agent.

A command is ``pending`` until its agent's session forwards it (``sent``),
then ``completed`` or ``failed`` with the agent's result. Every function
takes the caller's ``org_id``: another organisation's commands do not exist.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from fleetyard.server.storage.device_tables import agent_commands as t

PENDING = "pending"
SENT = "sent"
COMPLETED = "completed"
FAILED = "failed"
UNFINISHED = (PENDING, SENT)


@dataclass(frozen=True, slots=True)
class AgentCommandRecord:
    id: str
    org_id: str
    agent_id: str
    name: str
    args: dict[str, Any]
    state: str
    result: Any
    error: str | None
    expires_at: int
    created_at: int
    updated_at: int
    finished_at: int | None


def _record(data: Mapping[Any, Any]) -> AgentCommandRecord:
    return AgentCommandRecord(
        id=data["id"],
        org_id=data["org_id"],
        agent_id=data["agent_id"],
        name=data["name"],
        args=data["args"] or {},
        state=data["state"],
        result=data["result"],
        error=data["error"],
        expires_at=data["expires_at"],
        created_at=data["created_at"],
        updated_at=data["updated_at"],
        finished_at=data["finished_at"],
    )


async def insert(
    conn: AsyncConnection,
    *,
    org_id: str,
    command_id: str,
    agent_id: str,
    name: str,
    args: dict[str, Any],
    expires_at: int,
    now_ms: int,
) -> AgentCommandRecord:
    """A new ``pending`` command."""
    values: dict[str, Any] = {
        "id": command_id,
        "org_id": org_id,
        "agent_id": agent_id,
        "name": name,
        "args": args,
        "state": PENDING,
        "result": None,
        "error": None,
        "expires_at": expires_at,
        "created_at": now_ms,
        "updated_at": now_ms,
        "finished_at": None,
    }
    await conn.execute(sa.insert(t).values(**values))
    return _record(values)


async def get(
    conn: AsyncConnection, command_id: str, *, org_id: str, agent_id: str
) -> AgentCommandRecord | None:
    stmt = sa.select(t).where(t.c.id == command_id, t.c.org_id == org_id, t.c.agent_id == agent_id)
    row = (await conn.execute(stmt)).first()
    return None if row is None else _record(row._mapping)


async def list_page(
    conn: AsyncConnection, *, org_id: str, agent_id: str, before: str | None, limit: int
) -> list[AgentCommandRecord]:
    """The agent's commands newest first (ids sort by creation), ``limit + 1`` rows."""
    stmt = sa.select(t).where(t.c.org_id == org_id, t.c.agent_id == agent_id)
    if before is not None:
        stmt = stmt.where(t.c.id < before)
    rows = (await conn.execute(stmt.order_by(t.c.id.desc()).limit(limit + 1))).all()
    return [_record(r._mapping) for r in rows]


async def unfinished(
    conn: AsyncConnection, *, org_id: str, agent_id: str
) -> list[AgentCommandRecord]:
    """The agent's ``pending`` and ``sent`` commands, oldest first."""
    stmt = (
        sa.select(t)
        .where(t.c.org_id == org_id, t.c.agent_id == agent_id, t.c.state.in_(UNFINISHED))
        .order_by(t.c.id)
    )
    return [_record(r._mapping) for r in (await conn.execute(stmt)).all()]


async def mark_sent(
    conn: AsyncConnection, command_ids: Collection[str], *, org_id: str, now_ms: int
) -> int:
    """``pending`` → ``sent`` for these commands (others are left alone); how many moved."""
    if not command_ids:
        return 0
    stmt = (
        sa.update(t)
        .where(t.c.org_id == org_id, t.c.id.in_(list(command_ids)), t.c.state == PENDING)
        .values(state=SENT, updated_at=now_ms)
    )
    return (await conn.execute(stmt)).rowcount or 0


async def finish(
    conn: AsyncConnection,
    command_id: str,
    *,
    org_id: str,
    agent_id: str,
    state: str,
    result: Any,
    error: str | None,
    now_ms: int,
) -> bool:
    """Complete or fail an unfinished command; False when it was finished already (or absent)."""
    stmt = (
        sa.update(t)
        .where(
            t.c.id == command_id,
            t.c.org_id == org_id,
            t.c.agent_id == agent_id,
            t.c.state.in_(UNFINISHED),
        )
        .values(state=state, result=result, error=error, updated_at=now_ms, finished_at=now_ms)
    )
    return (await conn.execute(stmt)).rowcount == 1


async def expire(conn: AsyncConnection, *, org_id: str, agent_id: str, now_ms: int) -> int:
    """Fail (``error = "timeout"``) the agent's unfinished commands past ``expires_at``."""
    stmt = (
        sa.update(t)
        .where(
            t.c.org_id == org_id,
            t.c.agent_id == agent_id,
            t.c.state.in_(UNFINISHED),
            t.c.expires_at <= now_ms,
        )
        .values(state=FAILED, error="timeout", updated_at=now_ms, finished_at=now_ms)
    )
    return (await conn.execute(stmt)).rowcount or 0
