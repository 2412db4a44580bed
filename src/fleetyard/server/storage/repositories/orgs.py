"""Organisations: the tenants themselves."""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from fleetyard.server.storage.repositories._common import translating_duplicates
from fleetyard.server.storage.tables import organizations as t


@dataclass(frozen=True, slots=True)
class OrgRecord:
    """A stored organisation."""

    id: str
    name: str
    created_at: int


async def any_exists(conn: AsyncConnection) -> bool:
    """Whether the database holds at least one organisation (first start or not)."""
    row = (await conn.execute(sa.select(t.c.id).limit(1))).first()
    return row is not None


async def insert(conn: AsyncConnection, *, org_id: str, name: str, now_ms: int) -> OrgRecord:
    """Create an organisation; a taken name raises ``DuplicateError``."""
    await translating_duplicates(
        conn.execute(sa.insert(t).values(id=org_id, name=name, created_at=now_ms))
    )
    return OrgRecord(org_id, name, now_ms)


async def get(conn: AsyncConnection, *, org_id: str) -> OrgRecord | None:
    """The caller's own organisation."""
    row = (await conn.execute(sa.select(t).where(t.c.id == org_id))).first()
    return None if row is None else OrgRecord(row.id, row.name, row.created_at)
