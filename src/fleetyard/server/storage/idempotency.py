"""Stored first responses of POST requests that carried an ``Idempotency-Key``."""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from fleetyard.server.storage.dialect import DatabaseKind, insert_for
from fleetyard.server.storage.tables import idempotency_keys as t


@dataclass(frozen=True, slots=True)
class StoredRequest:
    request_hash: str
    status_code: int | None
    headers: list[list[str]] | None
    body: bytes | None

    @property
    def completed(self) -> bool:
        return self.status_code is not None


async def claim(
    conn: AsyncConnection,
    kind: DatabaseKind,
    *,
    owner: str,
    key: str,
    method: str,
    path: str,
    request_hash: str,
    now_ms: int,
    expires_ms: int,
) -> StoredRequest | None:
    """Reserve ``key`` for this request. Returns None when the claim is ours,
    else what an earlier request with the same key left (finished or not)."""
    await conn.execute(
        sa.delete(t).where(t.c.owner == owner, t.c.key == key, t.c.expires_at < now_ms)
    )
    stmt = (
        insert_for(kind, t)
        .values(
            owner=owner,
            key=key,
            method=method,
            path=path,
            request_hash=request_hash,
            created_at=now_ms,
            expires_at=expires_ms,
        )
        .on_conflict_do_nothing(index_elements=["owner", "key"])
    )
    result = await conn.execute(stmt)
    if result.rowcount == 1:
        return None
    row = (
        await conn.execute(
            sa.select(
                t.c.request_hash, t.c.status_code, t.c.response_headers, t.c.response_body
            ).where(t.c.owner == owner, t.c.key == key)
        )
    ).one()
    return StoredRequest(row.request_hash, row.status_code, row.response_headers, row.response_body)


async def complete(
    conn: AsyncConnection,
    *,
    owner: str,
    key: str,
    status_code: int,
    headers: list[list[str]],
    body: bytes,
) -> None:
    await conn.execute(
        sa.update(t)
        .where(t.c.owner == owner, t.c.key == key)
        .values(status_code=status_code, response_headers=headers, response_body=body)
    )


async def release(conn: AsyncConnection, *, owner: str, key: str) -> None:
    """Forget an unfinished claim so that a retry can run the request again."""
    await conn.execute(
        sa.delete(t).where(t.c.owner == owner, t.c.key == key, t.c.status_code.is_(None))
    )


async def purge_expired(conn: AsyncConnection, *, now_ms: int) -> int:
    result = await conn.execute(sa.delete(t).where(t.c.expires_at < now_ms))
    return int(result.rowcount or 0)
