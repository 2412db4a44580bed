"""Users of an organisation, their roles, passwords and TOTP state."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from fleetyard.server.storage.dialect import DatabaseKind, lock_rows
from fleetyard.server.storage.repositories._common import keyset, translating_duplicates
from fleetyard.server.storage.tables import site_members as m
from fleetyard.server.storage.tables import users as t

ADMIN = "admin"
MEMBER = "member"


@dataclass(frozen=True, slots=True)
class UserRecord:
    """A stored user, with the secrets only services may see."""

    id: str
    org_id: str
    email: str
    name: str | None
    role: str
    password_hash: str | None
    totp_secret: str | None
    totp_enabled: bool
    created_at: int


def _record(data: Mapping[Any, Any]) -> UserRecord:
    return UserRecord(
        id=data["id"],
        org_id=data["org_id"],
        email=data["email"],
        name=data["name"],
        role=data["role"],
        password_hash=data["password_hash"],
        totp_secret=data["totp_secret"],
        totp_enabled=bool(data["totp_enabled"]),
        created_at=data["created_at"],
    )


async def insert(
    conn: AsyncConnection,
    *,
    org_id: str,
    user_id: str,
    email: str,
    name: str | None,
    role: str,
    password_hash: str | None,
    now_ms: int,
) -> UserRecord:
    """Create a user; an email taken in any organisation raises ``DuplicateError``.

    Emails are unique across organisations because a login names only an email.
    """
    values = {
        "id": user_id,
        "org_id": org_id,
        "email": email,
        "name": name,
        "role": role,
        "password_hash": password_hash,
        "totp_secret": None,
        "totp_enabled": False,
        "created_at": now_ms,
    }
    await translating_duplicates(conn.execute(sa.insert(t).values(**values)))
    return _record(values)


async def get(conn: AsyncConnection, user_id: str, *, org_id: str) -> UserRecord | None:
    """One user of the organisation."""
    row = (await conn.execute(sa.select(t).where(t.c.id == user_id, t.c.org_id == org_id))).first()
    return None if row is None else _record(row._mapping)


async def find_by_email_for_login(conn: AsyncConnection, email: str) -> UserRecord | None:
    """The user a login names. Not tenant-scoped: the email is how the org is found."""
    row = (await conn.execute(sa.select(t).where(t.c.email == email))).first()
    return None if row is None else _record(row._mapping)


async def list_page(
    conn: AsyncConnection,
    *,
    org_id: str,
    site_id: str | None,
    after: str | None,
    limit: int,
) -> list[UserRecord]:
    """Users ordered by id, optionally only the members of one site."""
    stmt = sa.select(t).where(t.c.org_id == org_id)
    if site_id is not None:
        stmt = stmt.where(
            sa.exists().where(m.c.user_id == t.c.id, m.c.site_id == site_id, m.c.org_id == org_id)
        )
    rows = (await conn.execute(keyset(stmt, t.c.id, after=after, limit=limit))).all()
    return [_record(r._mapping) for r in rows]


async def set_password_hash(
    conn: AsyncConnection, user_id: str, *, org_id: str, password_hash: str
) -> None:
    """Replace a user's password hash (after a rehash with newer parameters)."""
    await conn.execute(
        sa.update(t)
        .where(t.c.id == user_id, t.c.org_id == org_id)
        .values(password_hash=password_hash)
    )


async def set_totp(
    conn: AsyncConnection, user_id: str, *, org_id: str, secret: str | None, enabled: bool
) -> None:
    """Store a user's TOTP secret and whether it is confirmed."""
    await conn.execute(
        sa.update(t)
        .where(t.c.id == user_id, t.c.org_id == org_id)
        .values(totp_secret=secret, totp_enabled=enabled)
    )


async def promote(conn: AsyncConnection, user_id: str, *, org_id: str) -> None:
    """Make a user an admin."""
    await conn.execute(
        sa.update(t).where(t.c.id == user_id, t.c.org_id == org_id).values(role=ADMIN)
    )


async def _lock_admins(conn: AsyncConnection, kind: DatabaseKind, *, org_id: str) -> None:
    # On PostgreSQL two transactions demoting two different admins would each
    # still count two admins; locking the admin rows first serialises them.
    # SQLite needs no lock: its writers are serialised and the count below
    # runs inside the single writing statement.
    stmt = sa.select(t.c.id).where(t.c.org_id == org_id, t.c.role == ADMIN)
    await conn.execute(lock_rows(kind, stmt))


def _other_admins_exist(user_id: str, org_id: str) -> sa.ColumnElement[bool]:
    others = t.alias("other_admins")
    return (
        sa.select(sa.func.count())
        .select_from(others)
        .where(others.c.org_id == org_id, others.c.role == ADMIN, others.c.id != user_id)
        .scalar_subquery()
        > 0
    )


async def demote_unless_last_admin(
    conn: AsyncConnection, kind: DatabaseKind, user_id: str, *, org_id: str
) -> bool:
    """Make an admin a member unless they are the organisation's last admin.

    Returns False (and changes nothing) for the last admin. The check and the
    write are one statement so that concurrent demotions cannot both pass.
    """
    await _lock_admins(conn, kind, org_id=org_id)
    result = await conn.execute(
        sa.update(t)
        .where(
            t.c.id == user_id,
            t.c.org_id == org_id,
            t.c.role == ADMIN,
            _other_admins_exist(user_id, org_id),
        )
        .values(role=MEMBER)
    )
    return result.rowcount == 1


async def delete_unless_last_admin(
    conn: AsyncConnection, kind: DatabaseKind, user_id: str, *, org_id: str
) -> bool:
    """Delete a user unless they are the organisation's last admin (see ``demote``)."""
    await _lock_admins(conn, kind, org_id=org_id)
    result = await conn.execute(
        sa.delete(t).where(
            t.c.id == user_id,
            t.c.org_id == org_id,
            sa.or_(t.c.role != ADMIN, _other_admins_exist(user_id, org_id)),
        )
    )
    return result.rowcount == 1
