"""Service clients: identities that trade an id and a secret for access tokens."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from fleetyard.server.storage.repositories._common import keyset, translating_duplicates
from fleetyard.server.storage.tables import service_clients as t


@dataclass(frozen=True, slots=True)
class ServiceClientRecord:
    """A stored service client, without its secret's hash."""

    id: str
    org_id: str
    name: str
    scopes: list[str]
    created_at: int
    revoked_at: int | None


@dataclass(frozen=True, slots=True)
class ClientSecretRecord:
    """A client with its secret's hash: only for checking a client-credentials grant."""

    client: ServiceClientRecord
    secret_hash: str


def _record(data: Mapping[Any, Any]) -> ServiceClientRecord:
    return ServiceClientRecord(
        id=data["id"],
        org_id=data["org_id"],
        name=data["name"],
        scopes=list(data["scopes"]),
        created_at=data["created_at"],
        revoked_at=data["revoked_at"],
    )


_PUBLIC = [c for c in t.c if c.name != "secret_hash"]


async def insert(
    conn: AsyncConnection,
    *,
    org_id: str,
    client_id: str,
    name: str,
    secret_hash: str,
    scopes: list[str],
    now_ms: int,
) -> ServiceClientRecord:
    """Store a new client; a hash already stored raises ``DuplicateError``."""
    values: dict[str, Any] = {
        "id": client_id,
        "org_id": org_id,
        "name": name,
        "scopes": scopes,
        "created_at": now_ms,
        "revoked_at": None,
    }
    await translating_duplicates(
        conn.execute(sa.insert(t).values(**values, secret_hash=secret_hash))
    )
    return _record(values)


async def find_for_grant(conn: AsyncConnection, client_id: str) -> ClientSecretRecord | None:
    """The client a grant names. Not tenant-scoped: the client is how the org is found."""
    row = (await conn.execute(sa.select(t).where(t.c.id == client_id))).first()
    if row is None:
        return None
    return ClientSecretRecord(_record(row._mapping), row.secret_hash)


async def get(conn: AsyncConnection, client_id: str, *, org_id: str) -> ServiceClientRecord | None:
    """One client of the organisation."""
    stmt = sa.select(*_PUBLIC).where(t.c.id == client_id, t.c.org_id == org_id)
    row = (await conn.execute(stmt)).first()
    return None if row is None else _record(row._mapping)


async def list_page(
    conn: AsyncConnection, *, org_id: str, after: str | None, limit: int
) -> list[ServiceClientRecord]:
    """The organisation's clients ordered by id."""
    stmt = keyset(sa.select(*_PUBLIC).where(t.c.org_id == org_id), t.c.id, after=after, limit=limit)
    return [_record(r._mapping) for r in (await conn.execute(stmt)).all()]


async def revoke(conn: AsyncConnection, client_id: str, *, org_id: str, now_ms: int) -> None:
    """Set ``revoked_at`` once; revoking again keeps the first instant."""
    await conn.execute(
        sa.update(t)
        .where(t.c.id == client_id, t.c.org_id == org_id, t.c.revoked_at.is_(None))
        .values(revoked_at=now_ms)
    )
