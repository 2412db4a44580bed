"""Rollouts and their per-machine rows.

Every function takes the caller's ``org_id``: a rollout of another
organisation is simply not there. :func:`lock` takes a rollout's row for the
rest of the transaction (PostgreSQL), so that the engine, agent updates and a
cancel serialise per rollout; SQLite writers already serialise on
``BEGIN IMMEDIATE``.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from fleetyard.server.storage.software_tables import rollout_machines as m
from fleetyard.server.storage.software_tables import rollouts as t
from fleetyard.server.storage.software_tables import version_chunks as vc


@dataclass(frozen=True, slots=True)
class RolloutRecord:
    id: str
    org_id: str
    app_id: str
    version_id: str
    state: str
    options: dict[str, Any]
    schedule_at: int | None
    job_id: str | None
    created_by: str | None
    created_at: int
    updated_at: int
    finished_at: int | None


@dataclass(frozen=True, slots=True)
class MachineRecord:
    rollout_id: str
    agent_id: str
    org_id: str
    state: str
    wave: int
    error: str | None
    started_at: int | None
    updated_at: int
    finished_at: int | None


def _record(data: Mapping[Any, Any]) -> RolloutRecord:
    return RolloutRecord(
        id=data["id"],
        org_id=data["org_id"],
        app_id=data["app_id"],
        version_id=data["version_id"],
        state=data["state"],
        options=dict(data["options"] or {}),
        schedule_at=data["schedule_at"],
        job_id=data["job_id"],
        created_by=data["created_by"],
        created_at=data["created_at"],
        updated_at=data["updated_at"],
        finished_at=data["finished_at"],
    )


def _machine(data: Mapping[Any, Any]) -> MachineRecord:
    return MachineRecord(
        rollout_id=data["rollout_id"],
        agent_id=data["agent_id"],
        org_id=data["org_id"],
        state=data["state"],
        wave=data["wave"],
        error=data["error"],
        started_at=data["started_at"],
        updated_at=data["updated_at"],
        finished_at=data["finished_at"],
    )


async def insert(
    conn: AsyncConnection,
    *,
    org_id: str,
    values: Mapping[str, Any],
    machines: list[tuple[str, int]],
) -> None:
    """A rollout and its machines (``(agent_id, wave)``), all ``queued``."""
    now = values["updated_at"]
    await conn.execute(sa.insert(t).values(**values, org_id=org_id))
    if machines:
        await conn.execute(
            sa.insert(m),
            [
                {
                    "rollout_id": values["id"],
                    "agent_id": agent_id,
                    "org_id": org_id,
                    "state": "queued",
                    "wave": wave,
                    "error": None,
                    "started_at": None,
                    "updated_at": now,
                    "finished_at": None,
                }
                for agent_id, wave in machines
            ],
        )


async def get(conn: AsyncConnection, rollout_id: str, *, org_id: str) -> RolloutRecord | None:
    row = (
        await conn.execute(sa.select(t).where(t.c.id == rollout_id, t.c.org_id == org_id))
    ).first()
    return None if row is None else _record(row._mapping)


async def lock(conn: AsyncConnection, rollout_id: str, *, org_id: str) -> RolloutRecord | None:
    """Take the rollout's row for the rest of the transaction and read it (as committed)."""
    stmt = (
        sa.update(t)
        .where(t.c.id == rollout_id, t.c.org_id == org_id)
        .values(state=t.c.state)
        .returning(*t.c)
    )
    row = (await conn.execute(stmt)).first()
    return None if row is None else _record(row._mapping)


async def update(
    conn: AsyncConnection, rollout_id: str, *, org_id: str, values: Mapping[str, Any]
) -> None:
    await conn.execute(
        sa.update(t).where(t.c.id == rollout_id, t.c.org_id == org_id).values(**values)
    )


async def machines(
    conn: AsyncConnection, rollout_id: str, *, org_id: str, agent_id: str | None = None
) -> list[MachineRecord]:
    """The rollout's machines by wave then agent id (only ``agent_id``'s when given)."""
    stmt = sa.select(m).where(m.c.rollout_id == rollout_id, m.c.org_id == org_id)
    if agent_id is not None:
        stmt = stmt.where(m.c.agent_id == agent_id)
    rows = (await conn.execute(stmt.order_by(m.c.wave, m.c.agent_id))).all()
    return [_machine(r._mapping) for r in rows]


async def machines_of(
    conn: AsyncConnection, rollout_ids: Collection[str], *, org_id: str
) -> dict[str, list[MachineRecord]]:
    """Machines of many rollouts, by rollout id."""
    out: dict[str, list[MachineRecord]] = {r: [] for r in rollout_ids}
    if not rollout_ids:
        return out
    stmt = (
        sa.select(m)
        .where(m.c.org_id == org_id, m.c.rollout_id.in_(list(rollout_ids)))
        .order_by(m.c.rollout_id, m.c.wave, m.c.agent_id)
    )
    for row in (await conn.execute(stmt)).all():
        record = _machine(row._mapping)
        out[record.rollout_id].append(record)
    return out


async def update_machines(
    conn: AsyncConnection,
    rollout_id: str,
    agent_ids: Collection[str],
    *,
    org_id: str,
    values: Mapping[str, Any],
) -> None:
    if not agent_ids:
        return
    await conn.execute(
        sa.update(m)
        .where(
            m.c.rollout_id == rollout_id,
            m.c.org_id == org_id,
            m.c.agent_id.in_(list(agent_ids)),
        )
        .values(**values)
    )


async def active_for_app(conn: AsyncConnection, app_id: str, *, org_id: str) -> str | None:
    """The id of the app's scheduled or running rollout, if any."""
    stmt = (
        sa.select(t.c.id)
        .where(
            t.c.org_id == org_id,
            t.c.app_id == app_id,
            t.c.state.in_(["scheduled", "running"]),
        )
        .limit(1)
    )
    return (await conn.execute(stmt)).scalar_one_or_none()


async def list_for_app(
    conn: AsyncConnection, app_id: str, *, org_id: str, before: str | None, limit: int
) -> list[RolloutRecord]:
    """The app's rollouts newest first (ids sort by creation), ``limit + 1`` rows."""
    stmt = sa.select(t).where(t.c.org_id == org_id, t.c.app_id == app_id)
    if before is not None:
        stmt = stmt.where(t.c.id < before)
    rows = (await conn.execute(stmt.order_by(t.c.id.desc()).limit(limit + 1))).all()
    return [_record(r._mapping) for r in rows]


async def list_for_agent(
    conn: AsyncConnection,
    agent_id: str,
    *,
    org_id: str,
    apps: Collection[str] | None,
    before: str | None,
    limit: int,
) -> list[RolloutRecord]:
    """Rollouts with a row for this machine, newest first; only of ``apps`` unless None."""
    stmt = (
        sa.select(t)
        .join(m, m.c.rollout_id == t.c.id)
        .where(t.c.org_id == org_id, m.c.org_id == org_id, m.c.agent_id == agent_id)
    )
    if apps is not None:
        if not apps:
            return []
        stmt = stmt.where(t.c.app_id.in_(list(apps)))
    if before is not None:
        stmt = stmt.where(t.c.id < before)
    rows = (await conn.execute(stmt.order_by(t.c.id.desc()).limit(limit + 1))).all()
    return [_record(r._mapping) for r in rows]


async def unfinished_for_agent(
    conn: AsyncConnection, agent_id: str, *, org_id: str
) -> list[tuple[RolloutRecord, MachineRecord]]:
    """This machine's started, unfinished rows of running rollouts, oldest rollout first."""
    stmt = (
        sa.select(t, *[c.label(f"m_{c.name}") for c in m.c])
        .join(m, m.c.rollout_id == t.c.id)
        .where(
            t.c.org_id == org_id,
            t.c.state == "running",
            m.c.org_id == org_id,
            m.c.agent_id == agent_id,
            m.c.started_at.is_not(None),
            m.c.state.in_(["queued", "downloading", "installing"]),
        )
        .order_by(t.c.id)
    )
    out = []
    for row in (await conn.execute(stmt)).all():
        data = row._mapping
        machine = _machine({c.name: data[f"m_{c.name}"] for c in m.c})
        out.append((_record(data), machine))
    return out


async def machine(
    conn: AsyncConnection, rollout_id: str, agent_id: str, *, org_id: str
) -> MachineRecord | None:
    found = await machines(conn, rollout_id, org_id=org_id, agent_id=agent_id)
    return found[0] if found else None


async def version_hashes(
    conn: AsyncConnection, version_id: str, hashes: Collection[str], *, org_id: str
) -> set[str]:
    """Which of ``hashes`` the version's files use."""
    if not hashes:
        return set()
    stmt = sa.select(vc.c.hash).where(
        vc.c.version_id == version_id, vc.c.org_id == org_id, vc.c.hash.in_(list(hashes))
    )
    return set((await conn.execute(stmt)).scalars().all())
