"""Sites: named groups of machines inside an organisation."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from fleetyard.server.storage.repositories._common import keyset, translating_duplicates
from fleetyard.server.storage.tables import sites as t


@dataclass(frozen=True, slots=True)
class SiteRecord:
    """A stored site."""

    id: str
    org_id: str
    name: str
    description: str | None
    created_at: int
    updated_at: int


def _record(data: Mapping[Any, Any]) -> SiteRecord:
    return SiteRecord(
        id=data["id"],
        org_id=data["org_id"],
        name=data["name"],
        description=data["description"],
        created_at=data["created_at"],
        updated_at=data["updated_at"],
    )


async def insert(
    conn: AsyncConnection,
    *,
    org_id: str,
    site_id: str,
    name: str,
    description: str | None,
    now_ms: int,
) -> SiteRecord:
    """Create a site; a name already used in the organisation raises ``DuplicateError``."""
    values = {
        "id": site_id,
        "org_id": org_id,
        "name": name,
        "description": description,
        "created_at": now_ms,
        "updated_at": now_ms,
    }
    await translating_duplicates(conn.execute(sa.insert(t).values(**values)))
    return _record(values)


async def get(conn: AsyncConnection, site_id: str, *, org_id: str) -> SiteRecord | None:
    """One site of the organisation."""
    row = (await conn.execute(sa.select(t).where(t.c.id == site_id, t.c.org_id == org_id))).first()
    return None if row is None else _record(row._mapping)


async def existing_ids(
    conn: AsyncConnection, site_ids: Collection[str], *, org_id: str
) -> set[str]:
    """Which of ``site_ids`` are sites of this organisation."""
    if not site_ids:
        return set()
    stmt = sa.select(t.c.id).where(t.c.org_id == org_id, t.c.id.in_(list(site_ids)))
    return set((await conn.execute(stmt)).scalars().all())


async def list_page(
    conn: AsyncConnection,
    *,
    org_id: str,
    only_ids: Collection[str] | None,
    after: str | None,
    limit: int,
) -> list[SiteRecord]:
    """Sites ordered by id; ``only_ids`` narrows to the sites a caller may see."""
    stmt = sa.select(t).where(t.c.org_id == org_id)
    if only_ids is not None:
        if not only_ids:
            return []
        stmt = stmt.where(t.c.id.in_(list(only_ids)))
    rows = (await conn.execute(keyset(stmt, t.c.id, after=after, limit=limit))).all()
    return [_record(r._mapping) for r in rows]


async def update(
    conn: AsyncConnection,
    site_id: str,
    *,
    org_id: str,
    changes: Mapping[str, Any],
    now_ms: int,
) -> SiteRecord | None:
    """Apply ``changes`` (name, description) and bump ``updated_at``; None when absent."""
    allowed = {k: v for k, v in changes.items() if k in ("name", "description")}
    stmt = (
        sa.update(t)
        .where(t.c.id == site_id, t.c.org_id == org_id)
        .values(**allowed, updated_at=now_ms)
    )
    result = await translating_duplicates(conn.execute(stmt))
    if result.rowcount != 1:
        return None
    return await get(conn, site_id, org_id=org_id)
