"""Where packed chunks are, and which packs GC should reclaim.

A chunk row with ``pack`` set lives inside that pack of the filesystem store;
``chunk_packs`` has a row per pack that a commit recorded. A pack's *live*
bytes are the sizes of the chunk rows pointing at it; the rest of it is dead
(chunks deleted since, or stored already elsewhere when it was placed).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from fleetyard.server.storage.blobs.base import PackedAt
from fleetyard.server.storage.dialect import among_many, insert_for
from fleetyard.server.storage.repositories.chunks import kind_of
from fleetyard.server.storage.software_tables import chunk_packs, chunks


@dataclass(frozen=True, slots=True)
class SparsePack:
    """A pack whose live chunks fill less than half of it."""

    id: str
    bytes: int
    live_bytes: int


def _at(row: Any) -> PackedAt | None:
    if row.pack is None:
        return None
    return PackedAt(str(row.pack), int(row.pack_offset), int(row.size))


async def stored(conn: AsyncConnection, *, hashes: Collection[str]) -> dict[str, PackedAt | None]:
    """The hashes among ``hashes`` that the store holds, with where (None: on their own)."""
    if not hashes:
        return {}
    stmt = sa.select(chunks.c.hash, chunks.c.size, chunks.c.pack, chunks.c.pack_offset).where(
        among_many(kind_of(conn), chunks.c.hash, sorted(set(hashes)))
    )
    return {row.hash: _at(row) for row in await conn.execute(stmt)}


async def add_packs(conn: AsyncConnection, *, packs: Mapping[str, int], now: int) -> None:
    """Record placed packs (``id → chunk bytes``); one recorded already is kept."""
    if not packs:
        return
    stmt = insert_for(kind_of(conn), chunk_packs).on_conflict_do_nothing(index_elements=["id"])
    await conn.execute(
        stmt, [{"id": p, "bytes": size, "created_at": now} for p, size in sorted(packs.items())]
    )


async def relocate(
    conn: AsyncConnection, *, where: Mapping[str, PackedAt | None], from_pack: str | None = None
) -> None:
    """Point chunk rows at a new place (``None``: a file of its own); with ``from_pack``
    only rows still in that pack move."""
    if not where:
        return
    stmt = sa.update(chunks).where(chunks.c.hash == sa.bindparam("h"))
    if from_pack is not None:
        stmt = stmt.where(chunks.c.pack == from_pack)
    rows = [
        {
            "h": h,
            "pack": at.pack if at is not None else None,
            "pack_offset": at.offset if at is not None else None,
        }
        for h, at in sorted(where.items())
    ]
    await conn.execute(
        stmt.values(pack=sa.bindparam("pack"), pack_offset=sa.bindparam("pack_offset")), rows
    )


async def live_chunks(conn: AsyncConnection, *, pack: str) -> list[tuple[str, PackedAt]]:
    """The chunk rows pointing into ``pack``, in pack order."""
    stmt: sa.Select[Any] = (
        sa.select(chunks.c.hash, chunks.c.size, chunks.c.pack, chunks.c.pack_offset)
        .where(chunks.c.pack == pack)
        .order_by(chunks.c.pack_offset)
    )
    out: list[tuple[str, PackedAt]] = []
    for row in await conn.execute(stmt):
        at = _at(row)
        assert at is not None
        out.append((row.hash, at))
    return out


async def sparse_packs(
    conn: AsyncConnection, *, created_before: int, limit: int
) -> list[SparsePack]:
    """Packs recorded before ``created_before`` whose live chunks fill less than half."""
    live = (
        sa.select(chunks.c.pack, sa.func.sum(chunks.c.size).label("live"))
        .where(chunks.c.pack.is_not(None))
        .group_by(chunks.c.pack)
        .subquery()
    )
    live_bytes = sa.func.coalesce(live.c.live, 0)
    stmt = (
        sa.select(chunk_packs.c.id, chunk_packs.c.bytes, live_bytes.label("live_bytes"))
        .select_from(chunk_packs.outerjoin(live, live.c.pack == chunk_packs.c.id))
        .where(chunk_packs.c.created_at < created_before, live_bytes * 2 < chunk_packs.c.bytes)
        .order_by(chunk_packs.c.id)
        .limit(limit)
    )
    return [
        SparsePack(row.id, int(row.bytes), int(row.live_bytes)) for row in await conn.execute(stmt)
    ]


async def delete_pack_if_empty(conn: AsyncConnection, *, pack: str) -> bool:
    """Forget ``pack`` when no chunk row points at it any more; whether it did."""
    used = sa.exists().where(chunks.c.pack == pack)
    result = await conn.execute(sa.delete(chunk_packs).where(chunk_packs.c.id == pack, ~used))
    return bool(result.rowcount)


async def recorded(conn: AsyncConnection, *, packs: Collection[str]) -> set[str]:
    """The packs among ``packs`` that have a row (or that a chunk row points at)."""
    if not packs:
        return set()
    wanted = sorted(set(packs))
    kind = kind_of(conn)
    rows = await conn.execute(
        sa.select(chunk_packs.c.id).where(among_many(kind, chunk_packs.c.id, wanted))
    )
    found = {r.id for r in rows}
    rows = await conn.execute(
        sa.select(chunks.c.pack).distinct().where(among_many(kind, chunks.c.pack, wanted))
    )
    return found | {r.pack for r in rows}
