"""Site memberships: which users work in which sites, with which role."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from fleetyard.server.storage.dialect import DatabaseKind, insert_for
from fleetyard.server.storage.repositories._common import keyset, translating_duplicates
from fleetyard.server.storage.tables import site_members as t
from fleetyard.server.storage.tables import users as u


@dataclass(frozen=True, slots=True)
class MemberRecord:
    """A membership with the member's email."""

    site_id: str
    user_id: str
    email: str
    role: str
    added_at: int


def _record(data: Mapping[Any, Any]) -> MemberRecord:
    return MemberRecord(
        site_id=data["site_id"],
        user_id=data["user_id"],
        email=data["email"],
        role=data["role"],
        added_at=data["added_at"],
    )


_COLUMNS = (t.c.site_id, t.c.user_id, u.c.email, t.c.role, t.c.added_at)


def _joined(org_id: str) -> sa.Select[Any]:
    return (
        sa.select(*_COLUMNS)
        .select_from(t.join(u, u.c.id == t.c.user_id))
        .where(t.c.org_id == org_id, u.c.org_id == org_id)
    )


async def insert(
    conn: AsyncConnection,
    *,
    org_id: str,
    site_id: str,
    user_id: str,
    role: str,
    now_ms: int,
) -> None:
    """Add one membership; an existing one raises ``DuplicateError``."""
    stmt = sa.insert(t).values(
        site_id=site_id, user_id=user_id, org_id=org_id, role=role, added_at=now_ms
    )
    await translating_duplicates(conn.execute(stmt))


async def insert_missing(
    conn: AsyncConnection,
    kind: DatabaseKind,
    *,
    org_id: str,
    user_id: str,
    site_ids: Collection[str],
    role: str,
    now_ms: int,
) -> None:
    """Add the user to each site they are not yet in; existing memberships keep their role."""
    if not site_ids:
        return
    stmt = insert_for(kind, t).on_conflict_do_nothing(index_elements=["site_id", "user_id"])
    rows = [
        {"site_id": s, "user_id": user_id, "org_id": org_id, "role": role, "added_at": now_ms}
        for s in sorted(set(site_ids))
    ]
    await conn.execute(stmt, rows)


async def delete(conn: AsyncConnection, *, org_id: str, site_id: str, user_id: str) -> bool:
    """Remove one membership; False when there was none."""
    result = await conn.execute(
        sa.delete(t).where(t.c.org_id == org_id, t.c.site_id == site_id, t.c.user_id == user_id)
    )
    return result.rowcount == 1


async def delete_many(
    conn: AsyncConnection, *, org_id: str, user_id: str, site_ids: Collection[str]
) -> None:
    """Remove the user from each of ``site_ids`` they are in."""
    await conn.execute(
        sa.delete(t).where(
            t.c.org_id == org_id, t.c.user_id == user_id, t.c.site_id.in_(list(site_ids))
        )
    )


async def get(
    conn: AsyncConnection, *, org_id: str, site_id: str, user_id: str
) -> MemberRecord | None:
    """One membership with the member's email."""
    stmt = _joined(org_id).where(t.c.site_id == site_id, t.c.user_id == user_id)
    row = (await conn.execute(stmt)).first()
    return None if row is None else _record(row._mapping)


async def list_page(
    conn: AsyncConnection, *, org_id: str, site_id: str, after: str | None, limit: int
) -> list[MemberRecord]:
    """Members of a site ordered by user id (the list's cursor)."""
    stmt = _joined(org_id).where(t.c.site_id == site_id)
    rows = (await conn.execute(keyset(stmt, t.c.user_id, after=after, limit=limit))).all()
    return [_record(r._mapping) for r in rows]


async def roles_of_users(
    conn: AsyncConnection, user_ids: Collection[str], *, org_id: str
) -> dict[str, dict[str, str]]:
    """``{user_id: {site_id: role}}`` for the given users (absent users map to ``{}``)."""
    found: dict[str, dict[str, str]] = {uid: {} for uid in user_ids}
    if not found:
        return found
    stmt = (
        sa.select(t.c.user_id, t.c.site_id, t.c.role)
        .where(t.c.org_id == org_id, t.c.user_id.in_(list(found)))
        .order_by(t.c.user_id, t.c.site_id)
    )
    for row in (await conn.execute(stmt)).all():
        found[row.user_id][row.site_id] = row.role
    return found
