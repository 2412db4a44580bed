"""API keys: stored as the SHA-256 of their secret, never the secret itself."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from fleetyard.server.storage.repositories._common import keyset, translating_duplicates
from fleetyard.server.storage.tables import api_keys as t


@dataclass(frozen=True, slots=True)
class ApiKeyRecord:
    """A stored API key, without its secret's hash."""

    id: str
    org_id: str
    user_id: str | None
    name: str
    prefix: str
    environment: str
    scopes: list[str]
    created_at: int
    expires_at: int | None
    last_used_at: int | None
    revoked_at: int | None
    rotated_to: str | None


def _record(data: Mapping[Any, Any]) -> ApiKeyRecord:
    return ApiKeyRecord(
        id=data["id"],
        org_id=data["org_id"],
        user_id=data["user_id"],
        name=data["name"],
        prefix=data["prefix"],
        environment=data["environment"],
        scopes=list(data["scopes"]),
        created_at=data["created_at"],
        expires_at=data["expires_at"],
        last_used_at=data["last_used_at"],
        revoked_at=data["revoked_at"],
        rotated_to=data["rotated_to"],
    )


_PUBLIC = [c for c in t.c if c.name != "secret_hash"]


async def insert(
    conn: AsyncConnection,
    *,
    org_id: str,
    key_id: str,
    user_id: str | None,
    name: str,
    prefix: str,
    secret_hash: str,
    environment: str,
    scopes: list[str],
    expires_at: int | None,
    now_ms: int,
) -> ApiKeyRecord:
    """Store a new key; a hash already stored raises ``DuplicateError``."""
    values: dict[str, Any] = {
        "id": key_id,
        "org_id": org_id,
        "user_id": user_id,
        "name": name,
        "prefix": prefix,
        "environment": environment,
        "scopes": scopes,
        "created_at": now_ms,
        "expires_at": expires_at,
        "last_used_at": None,
        "revoked_at": None,
        "rotated_to": None,
    }
    await translating_duplicates(
        conn.execute(sa.insert(t).values(**values, secret_hash=secret_hash))
    )
    return _record(values)


async def find_by_hash(conn: AsyncConnection, secret_hash: str) -> ApiKeyRecord | None:
    """The key a bearer secret names. Not tenant-scoped: the key is how the org is found."""
    row = (await conn.execute(sa.select(*_PUBLIC).where(t.c.secret_hash == secret_hash))).first()
    return None if row is None else _record(row._mapping)


def _scoped(org_id: str, user_id: str | None, every_user: bool) -> sa.Select[Any]:
    stmt = sa.select(*_PUBLIC).where(t.c.org_id == org_id)
    # Without key admin rights a caller sees only its own user's keys; a caller
    # with no user (an unprivileged key) sees none.
    if not every_user:
        stmt = stmt.where(t.c.user_id == user_id) if user_id else stmt.where(sa.false())
    return stmt


async def get(
    conn: AsyncConnection,
    key_id: str,
    *,
    org_id: str,
    user_id: str | None = None,
    every_user: bool,
) -> ApiKeyRecord | None:
    """One key of the organisation, limited to ``user_id``'s keys unless ``every_user``."""
    stmt = _scoped(org_id, user_id, every_user).where(t.c.id == key_id)
    row = (await conn.execute(stmt)).first()
    return None if row is None else _record(row._mapping)


async def list_page(
    conn: AsyncConnection,
    *,
    org_id: str,
    user_id: str | None = None,
    every_user: bool,
    after: str | None,
    limit: int,
) -> list[ApiKeyRecord]:
    """Keys ordered by id, limited like :func:`get`."""
    stmt = keyset(_scoped(org_id, user_id, every_user), t.c.id, after=after, limit=limit)
    return [_record(r._mapping) for r in (await conn.execute(stmt)).all()]


async def revoke(conn: AsyncConnection, key_id: str, *, org_id: str, now_ms: int) -> None:
    """Set ``revoked_at`` once; revoking again keeps the first instant."""
    await conn.execute(
        sa.update(t)
        .where(t.c.id == key_id, t.c.org_id == org_id, t.c.revoked_at.is_(None))
        .values(revoked_at=now_ms)
    )


async def mark_rotated(
    conn: AsyncConnection, key_id: str, *, org_id: str, rotated_to: str, expires_at: int
) -> bool:
    """Point an unrotated, unrevoked key at its successor and let it expire.

    Returns False when the key was rotated or revoked meanwhile, so two
    concurrent rotations cannot both succeed.
    """
    result = await conn.execute(
        sa.update(t)
        .where(
            t.c.id == key_id,
            t.c.org_id == org_id,
            t.c.rotated_to.is_(None),
            t.c.revoked_at.is_(None),
        )
        .values(rotated_to=rotated_to, expires_at=expires_at)
    )
    return result.rowcount == 1


async def touch(
    conn: AsyncConnection, key_id: str, *, org_id: str, now_ms: int, min_interval_ms: int
) -> None:
    """Record a use, at most once per ``min_interval_ms`` (the WHERE makes replicas agree)."""
    await conn.execute(
        sa.update(t)
        .where(
            t.c.id == key_id,
            t.c.org_id == org_id,
            sa.or_(t.c.last_used_at.is_(None), t.c.last_used_at <= now_ms - min_interval_ms),
        )
        .values(last_used_at=now_ms)
    )
