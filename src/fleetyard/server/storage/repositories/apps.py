"""Apps: their rows, soft deletion, and the row lock that serialises publishers.

Every function takes the caller's ``org_id``: an app of another organisation
is simply not there.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from fleetyard.server.storage.repositories._common import keyset, translating_duplicates
from fleetyard.server.storage.software_tables import apps as t
from fleetyard.server.storage.telemetry_tables import agents


@dataclass(frozen=True, slots=True)
class AppRecord:
    """A stored app."""

    id: str
    org_id: str
    site_id: str
    name: str
    targets: list[str]
    extract_path: str | None
    run: dict[str, Any]
    current_version_id: str | None
    last_number: int
    deleted_at: int | None
    created_at: int
    updated_at: int


def _record(data: Mapping[Any, Any]) -> AppRecord:
    return AppRecord(
        id=data["id"],
        org_id=data["org_id"],
        site_id=data["site_id"],
        name=data["name"],
        targets=list(data["targets"] or []),
        extract_path=data["extract_path"],
        run=dict(data["run"] or {}),
        current_version_id=data["current_version_id"],
        last_number=data["last_number"],
        deleted_at=data["deleted_at"],
        created_at=data["created_at"],
        updated_at=data["updated_at"],
    )


async def insert(conn: AsyncConnection, *, org_id: str, values: Mapping[str, Any]) -> AppRecord:
    """Create an app; a taken id raises ``DuplicateError``."""
    row = {
        **values,
        "org_id": org_id,
        "current_version_id": None,
        "last_number": 0,
        "deleted_at": None,
    }
    await translating_duplicates(conn.execute(sa.insert(t).values(**row)))
    return _record(row)


async def get(conn: AsyncConnection, app_id: str, *, org_id: str) -> AppRecord | None:
    """One app of the organisation, deleted or not."""
    row = (await conn.execute(sa.select(t).where(t.c.id == app_id, t.c.org_id == org_id))).first()
    return None if row is None else _record(row._mapping)


async def lock(conn: AsyncConnection, app_id: str, *, org_id: str) -> AppRecord | None:
    """Take the app's row for the rest of the transaction and read it.

    A no-op ``UPDATE … RETURNING``: on PostgreSQL a second publisher waits here
    until the first commits, then reads the row as committed (its new current
    version). On SQLite the caller's ``BEGIN IMMEDIATE`` already serialises writers.
    """
    stmt = (
        sa.update(t)
        .where(t.c.id == app_id, t.c.org_id == org_id)
        .values(last_number=t.c.last_number)
        .returning(*t.c)
    )
    row = (await conn.execute(stmt)).first()
    return None if row is None else _record(row._mapping)


async def list_page(
    conn: AsyncConnection,
    *,
    org_id: str,
    visible_sites: Collection[str] | None,
    visible_apps: Collection[str],
    site_id: str | None,
    deleted_after: int | None,
    after: str | None,
    limit: int,
) -> list[AppRecord]:
    """Apps ordered by id: those of ``visible_sites`` (None: every site) or ``visible_apps``.

    Deleted apps only when ``deleted_after`` is given, and then only those
    deleted after that instant (still restorable).
    """
    stmt = sa.select(t).where(t.c.org_id == org_id)
    if visible_sites is not None:
        allowed: list[sa.ColumnElement[bool]] = []
        if visible_sites:
            allowed.append(t.c.site_id.in_(list(visible_sites)))
        if visible_apps:
            allowed.append(t.c.id.in_(list(visible_apps)))
        if not allowed:
            return []
        stmt = stmt.where(sa.or_(*allowed))
    if site_id is not None:
        stmt = stmt.where(t.c.site_id == site_id)
    if deleted_after is None:
        stmt = stmt.where(t.c.deleted_at.is_(None))
    else:
        stmt = stmt.where(sa.or_(t.c.deleted_at.is_(None), t.c.deleted_at > deleted_after))
    rows = (await conn.execute(keyset(stmt, t.c.id, after=after, limit=limit))).all()
    return [_record(r._mapping) for r in rows]


async def update(
    conn: AsyncConnection, app_id: str, *, org_id: str, values: Mapping[str, Any]
) -> AppRecord | None:
    """Change columns of one app and return it as stored."""
    stmt = (
        sa.update(t).where(t.c.id == app_id, t.c.org_id == org_id).values(**values).returning(*t.c)
    )
    row = (await conn.execute(stmt)).first()
    return None if row is None else _record(row._mapping)


async def agents_in_site(
    conn: AsyncConnection, agent_ids: Collection[str], *, org_id: str, site_id: str
) -> set[str]:
    """Which of ``agent_ids`` are agents of this organisation in ``site_id``."""
    if not agent_ids:
        return set()
    stmt = sa.select(agents.c.id).where(
        agents.c.org_id == org_id,
        agents.c.site_id == site_id,
        agents.c.id.in_(list(agent_ids)),
    )
    return set((await conn.execute(stmt)).scalars().all())


async def deleted_before(
    conn: AsyncConnection, cutoff: int, *, limit: int
) -> list[tuple[str, str]]:
    """``(org_id, app_id)`` of apps soft-deleted at or before ``cutoff``, oldest first.

    Across organisations on purpose: only the purge job (no caller, no tenant)
    reads this; every deletion then names the app's own organisation.
    """
    stmt = (
        sa.select(t.c.org_id, t.c.id)
        .where(t.c.deleted_at.is_not(None), t.c.deleted_at <= cutoff)
        .order_by(t.c.deleted_at, t.c.id)
        .limit(limit)
    )
    return [(r.org_id, r.id) for r in (await conn.execute(stmt)).all()]


async def delete_if_deleted_before(
    conn: AsyncConnection, app_id: str, *, org_id: str, cutoff: int
) -> bool:
    """Remove the app's row if it is still soft-deleted at or before ``cutoff`` (a restore
    in between keeps it). Its versions and rollouts go with it (``ON DELETE CASCADE``)."""
    stmt = sa.delete(t).where(
        t.c.id == app_id,
        t.c.org_id == org_id,
        t.c.deleted_at.is_not(None),
        t.c.deleted_at <= cutoff,
    )
    return bool((await conn.execute(stmt)).rowcount)
