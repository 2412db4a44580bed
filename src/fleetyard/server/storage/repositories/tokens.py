"""Access tokens and refresh tokens, stored as SHA-256 hashes.

Refresh tokens of one login form a *family*: each refresh spends one token
and issues the next. Spending a token twice is a sign of theft, so the whole
family (and the access tokens issued from it) is revoked.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from fleetyard.server.storage.tables import access_tokens as a
from fleetyard.server.storage.tables import refresh_tokens as r


@dataclass(frozen=True, slots=True)
class AccessTokenRecord:
    """A stored access token, without its hash."""

    id: str
    org_id: str
    user_id: str | None
    client_id: str | None
    family_id: str | None
    scopes: list[str]
    created_at: int
    expires_at: int
    revoked_at: int | None


@dataclass(frozen=True, slots=True)
class RefreshTokenRecord:
    """A stored refresh token, without its hash."""

    id: str
    org_id: str
    user_id: str
    family_id: str
    created_at: int
    expires_at: int
    used_at: int | None
    revoked_at: int | None


def _access(data: Mapping[Any, Any]) -> AccessTokenRecord:
    return AccessTokenRecord(
        id=data["id"],
        org_id=data["org_id"],
        user_id=data["user_id"],
        client_id=data["client_id"],
        family_id=data["family_id"],
        scopes=list(data["scopes"]),
        created_at=data["created_at"],
        expires_at=data["expires_at"],
        revoked_at=data["revoked_at"],
    )


def _refresh(data: Mapping[Any, Any]) -> RefreshTokenRecord:
    return RefreshTokenRecord(
        id=data["id"],
        org_id=data["org_id"],
        user_id=data["user_id"],
        family_id=data["family_id"],
        created_at=data["created_at"],
        expires_at=data["expires_at"],
        used_at=data["used_at"],
        revoked_at=data["revoked_at"],
    )


async def insert_access(
    conn: AsyncConnection,
    *,
    org_id: str,
    token_id: str,
    token_hash: str,
    user_id: str | None,
    client_id: str | None,
    family_id: str | None,
    scopes: list[str],
    now_ms: int,
    expires_at: int,
) -> None:
    """Store an access token of a user (with its family) or of a service client."""
    await conn.execute(
        sa.insert(a).values(
            id=token_id,
            org_id=org_id,
            token_hash=token_hash,
            user_id=user_id,
            client_id=client_id,
            family_id=family_id,
            scopes=scopes,
            created_at=now_ms,
            expires_at=expires_at,
        )
    )


async def find_access_by_hash(conn: AsyncConnection, token_hash: str) -> AccessTokenRecord | None:
    """The token a bearer secret names. Not tenant-scoped: the token is how the org is found."""
    stmt = sa.select(*[c for c in a.c if c.name != "token_hash"]).where(
        a.c.token_hash == token_hash
    )
    row = (await conn.execute(stmt)).first()
    return None if row is None else _access(row._mapping)


async def revoke_access_of_client(
    conn: AsyncConnection, client_id: str, *, org_id: str, now_ms: int
) -> None:
    """Revoke every live access token of a service client."""
    await conn.execute(
        sa.update(a)
        .where(a.c.org_id == org_id, a.c.client_id == client_id, a.c.revoked_at.is_(None))
        .values(revoked_at=now_ms)
    )


async def insert_refresh(
    conn: AsyncConnection,
    *,
    org_id: str,
    token_id: str,
    token_hash: str,
    user_id: str,
    family_id: str,
    now_ms: int,
    expires_at: int,
) -> None:
    """Store a refresh token in its family."""
    await conn.execute(
        sa.insert(r).values(
            id=token_id,
            org_id=org_id,
            user_id=user_id,
            token_hash=token_hash,
            family_id=family_id,
            created_at=now_ms,
            expires_at=expires_at,
        )
    )


async def find_refresh_by_hash(conn: AsyncConnection, token_hash: str) -> RefreshTokenRecord | None:
    """The refresh token a secret names. Not tenant-scoped: the token is how the org is found."""
    stmt = sa.select(*[c for c in r.c if c.name != "token_hash"]).where(
        r.c.token_hash == token_hash
    )
    row = (await conn.execute(stmt)).first()
    return None if row is None else _refresh(row._mapping)


async def family_of(conn: AsyncConnection, token_hash: str, *, org_id: str) -> str | None:
    """The family of the organisation's refresh token with this hash, if any."""
    stmt = sa.select(r.c.family_id).where(r.c.token_hash == token_hash, r.c.org_id == org_id)
    family: str | None = (await conn.execute(stmt)).scalar_one_or_none()
    return family


async def spend_refresh(conn: AsyncConnection, token_id: str, *, org_id: str, now_ms: int) -> bool:
    """Mark a refresh token used. False when it was already spent or revoked.

    One conditional UPDATE, so of two concurrent refreshes with the same
    token exactly one wins and the other is treated as reuse.
    """
    result = await conn.execute(
        sa.update(r)
        .where(
            r.c.id == token_id,
            r.c.org_id == org_id,
            r.c.used_at.is_(None),
            r.c.revoked_at.is_(None),
        )
        .values(used_at=now_ms)
    )
    return result.rowcount == 1


async def revoke_family(conn: AsyncConnection, family_id: str, *, org_id: str, now_ms: int) -> None:
    """Revoke every refresh token of a family and every access token issued from it."""
    await conn.execute(
        sa.update(r)
        .where(r.c.org_id == org_id, r.c.family_id == family_id, r.c.revoked_at.is_(None))
        .values(revoked_at=now_ms)
    )
    await conn.execute(
        sa.update(a)
        .where(a.c.org_id == org_id, a.c.family_id == family_id, a.c.revoked_at.is_(None))
        .values(revoked_at=now_ms)
    )
