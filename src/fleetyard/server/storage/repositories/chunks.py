"""Chunks, the chunks each site may use, their referrers, and site quotas.

Every function that touches a site's data takes ``org_id``; the global
``chunks`` table (one row per stored blob) is only touched by the upload and
GC paths, never listed to a caller.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from fleetyard.server.storage.blobs.base import PackedAt
from fleetyard.server.storage.dialect import DatabaseKind, among_many, insert_for, json_list
from fleetyard.server.storage.software_tables import (
    apps,
    chunks,
    quota_history,
    site_chunks,
    site_quotas,
    version_chunks,
    versions,
)
from fleetyard.server.storage.tables import sites

DAY_MS = 86_400_000


def kind_of(conn: AsyncConnection) -> DatabaseKind:
    """The database under ``conn`` (for callers that only hold a connection)."""
    return DatabaseKind.POSTGRESQL if conn.dialect.name == "postgresql" else DatabaseKind.SQLITE


@dataclass(frozen=True, slots=True)
class QuotaRecord:
    site_id: str
    used_bytes: int
    limit_bytes: int | None
    exists: bool


@dataclass(frozen=True, slots=True)
class ReferrerRecord:
    app_id: str
    version_id: str
    number: int


# --- site chunks -----------------------------------------------------------------


async def site_sizes(
    conn: AsyncConnection,
    *,
    org_id: str,
    site_id: str,
    hashes: Collection[str],
    lock: bool = False,
) -> dict[str, int]:
    """The hashes among ``hashes`` that the site has, with their sizes; with ``lock``
    their rows stay locked until commit (PostgreSQL), so GC cannot take them away
    from a version being published."""
    if not hashes:
        return {}
    stmt: sa.Select[Any] = sa.select(site_chunks.c.hash, site_chunks.c.size).where(
        site_chunks.c.org_id == org_id,
        site_chunks.c.site_id == site_id,
        among_many(kind_of(conn), site_chunks.c.hash, sorted(set(hashes))),
    )
    if lock and kind_of(conn) is DatabaseKind.POSTGRESQL:
        stmt = stmt.order_by(site_chunks.c.hash).with_for_update()
    rows = await conn.execute(stmt)
    return {h: int(size) for h, size in rows}


async def site_org(conn: AsyncConnection, *, site_id: str) -> str | None:
    """The organisation of a site, for the signed routes that carry only a site id."""
    value = await conn.scalar(sa.select(sites.c.org_id).where(sites.c.id == site_id))
    return None if value is None else str(value)


async def apps_in_site(
    conn: AsyncConnection, *, org_id: str, site_id: str, app_ids: Collection[str]
) -> bool:
    """Whether one of ``app_ids`` is an app of the site."""
    if not app_ids:
        return False
    value = await conn.scalar(
        sa.select(apps.c.id)
        .where(apps.c.org_id == org_id, apps.c.site_id == site_id, apps.c.id.in_(list(app_ids)))
        .limit(1)
    )
    return value is not None


# Both are one statement for the whole batch, whatever its size: the rows go as
# one parameter per column (PostgreSQL arrays read by ``unnest``) or as one JSON
# text (SQLite, read by ``json_each``), in hash order so that concurrent batches
# lock chunk rows in the same order. With a parameter per value, binding them and
# building a dictionary per row cost more CPU than the statements themselves.
# ``WHERE true`` tells SQLite's parser that ON CONFLICT is not a join constraint.

_UPSERT_CHUNKS_PG = (
    "INSERT INTO chunks (hash, size, created_at, pack, pack_offset)"
    " SELECT r.hash, r.size, $1, r.pack, r.pack_offset"
    " FROM unnest($2::text[], $3::bigint[], $4::text[], $5::bigint[])"
    " AS r(hash, size, pack, pack_offset)"
    " ON CONFLICT (hash) DO UPDATE SET size = excluded.size"
    " RETURNING hash, size, pack, pack_offset"
)
_UPSERT_CHUNKS_SQLITE = (
    "INSERT INTO chunks (hash, size, created_at, pack, pack_offset)"
    " SELECT json_extract(value, '$[0]'), json_extract(value, '$[1]'), ?,"
    " json_extract(value, '$[2]'), json_extract(value, '$[3]')"
    " FROM json_each(?) WHERE true"
    " ON CONFLICT (hash) DO UPDATE SET size = excluded.size"
    " RETURNING hash, size, pack, pack_offset"
)


async def upsert_chunks(
    conn: AsyncConnection,
    *,
    sizes: Mapping[str, int],
    now: int,
    packed: Mapping[str, PackedAt] | None = None,
) -> dict[str, PackedAt | None]:
    """Record that these blobs are stored (``packed``: where, for those in a pack);
    locks their rows (PostgreSQL) until commit, so a concurrent GC of the same hashes
    waits for this transaction. A chunk recorded already keeps its first place:
    the answer says where each one is now (None: a blob of its own)."""
    if not sizes:
        return {}
    where = packed or {}
    rows = []
    for h, size in sorted(sizes.items()):
        at = where.get(h)
        rows.append((h, size, None, None) if at is None else (h, size, at.pack, at.offset))
    if kind_of(conn) is DatabaseKind.POSTGRESQL:
        columns = [list(column) for column in zip(*rows, strict=True)]
        result = await conn.exec_driver_sql(_UPSERT_CHUNKS_PG, (now, *columns))
    else:
        result = await conn.exec_driver_sql(_UPSERT_CHUNKS_SQLITE, (now, json_list(rows)))
    return {
        row.hash: None
        if row.pack is None
        else PackedAt(row.pack, int(row.pack_offset), int(row.size))
        for row in result.all()
    }


_ADD_SITE_CHUNKS_PG = (
    "INSERT INTO site_chunks (site_id, hash, org_id, size, created_at, unreferenced_since)"
    " SELECT $1, r.hash, $2, r.size, $3, $3"
    " FROM unnest($4::text[], $5::bigint[]) AS r(hash, size)"
    " ON CONFLICT (site_id, hash) DO NOTHING RETURNING hash"
)
_ADD_SITE_CHUNKS_SQLITE = (
    "INSERT INTO site_chunks (site_id, hash, org_id, size, created_at, unreferenced_since)"
    " SELECT ?1, json_extract(value, '$[0]'), ?2, json_extract(value, '$[1]'), ?3, ?3"
    " FROM json_each(?4) WHERE true"
    " ON CONFLICT (site_id, hash) DO NOTHING RETURNING hash"
)


async def add_site_chunks(
    conn: AsyncConnection, *, org_id: str, site_id: str, sizes: Mapping[str, int], now: int
) -> set[str]:
    """Give the site these chunks; the hashes it did not have yet. A new site chunk
    starts unreferenced (a version that uses it clears the mark)."""
    if not sizes:
        return set()
    rows = sorted(sizes.items())
    if kind_of(conn) is DatabaseKind.POSTGRESQL:
        hashes = [h for h, _ in rows]
        result = await conn.exec_driver_sql(
            _ADD_SITE_CHUNKS_PG, (site_id, org_id, now, hashes, [size for _, size in rows])
        )
    else:
        result = await conn.exec_driver_sql(
            _ADD_SITE_CHUNKS_SQLITE, (site_id, org_id, now, json_list(rows))
        )
    return set(result.scalars())


async def mountable(
    conn: AsyncConnection, *, org_id: str, app_id: str, hashes: Collection[str]
) -> dict[str, int]:
    """Hashes among ``hashes`` that a version of ``app_id`` uses, with their sizes."""
    if not hashes:
        return {}
    rows = await conn.execute(
        sa.select(site_chunks.c.hash, site_chunks.c.size)
        .select_from(
            version_chunks.join(
                site_chunks,
                sa.and_(
                    site_chunks.c.site_id == version_chunks.c.site_id,
                    site_chunks.c.hash == version_chunks.c.hash,
                ),
            )
        )
        .where(
            version_chunks.c.org_id == org_id,
            version_chunks.c.app_id == app_id,
            among_many(kind_of(conn), version_chunks.c.hash, sorted(set(hashes))),
        )
        .distinct()
    )
    return {row.hash: int(row.size) for row in rows}


async def app_site(conn: AsyncConnection, *, org_id: str, app_id: str) -> str | None:
    """The site of an app of the organisation (deleted apps included), or None."""
    value = await conn.scalar(
        sa.select(apps.c.site_id).where(apps.c.org_id == org_id, apps.c.id == app_id)
    )
    return None if value is None else str(value)


# --- references --------------------------------------------------------------------


_ADD_VERSION_CHUNKS_PG = (
    "INSERT INTO version_chunks (version_id, hash, org_id, site_id, app_id)"
    " SELECT $1, r.hash, $2, $3, $4 FROM unnest($5::text[]) AS r(hash)"
    " ON CONFLICT (version_id, hash) DO NOTHING"
)
_ADD_VERSION_CHUNKS_SQLITE = (
    "INSERT INTO version_chunks (version_id, hash, org_id, site_id, app_id)"
    " SELECT ?, value, ?, ?, ? FROM json_each(?) WHERE true"
    " ON CONFLICT (version_id, hash) DO NOTHING"
)


async def add_version_chunks(
    conn: AsyncConnection,
    *,
    org_id: str,
    site_id: str,
    app_id: str,
    version_id: str,
    hashes: Collection[str],
) -> None:
    """Record that the version uses these chunks, and clear their unreferenced marks."""
    unique = sorted(set(hashes))
    if not unique:
        return
    kind = kind_of(conn)
    if kind is DatabaseKind.POSTGRESQL:
        await conn.exec_driver_sql(
            _ADD_VERSION_CHUNKS_PG, (version_id, org_id, site_id, app_id, unique)
        )
    else:
        await conn.exec_driver_sql(
            _ADD_VERSION_CHUNKS_SQLITE, (version_id, org_id, site_id, app_id, json_list(unique))
        )
    await conn.execute(
        sa.update(site_chunks)
        .where(
            site_chunks.c.org_id == org_id,
            site_chunks.c.site_id == site_id,
            among_many(kind, site_chunks.c.hash, unique),
            site_chunks.c.unreferenced_since.is_not(None),
        )
        .values(unreferenced_since=None)
    )


async def referrers(
    conn: AsyncConnection,
    *,
    org_id: str,
    site_id: str,
    hash: str,
    after: str | None,
    limit: int,
) -> list[ReferrerRecord]:
    """Versions of apps in the site that use ``hash``, by version id; ``limit + 1`` rows."""
    stmt = (
        sa.select(version_chunks.c.app_id, version_chunks.c.version_id, versions.c.number)
        .select_from(version_chunks.join(versions, versions.c.id == version_chunks.c.version_id))
        .where(
            version_chunks.c.org_id == org_id,
            version_chunks.c.site_id == site_id,
            version_chunks.c.hash == hash,
        )
    )
    if after is not None:
        stmt = stmt.where(version_chunks.c.version_id > after)
    stmt = stmt.order_by(version_chunks.c.version_id).limit(limit + 1)
    rows = await conn.execute(stmt)
    return [ReferrerRecord(r.app_id, r.version_id, int(r.number)) for r in rows]


# --- quotas -----------------------------------------------------------------------


async def get_quota(
    conn: AsyncConnection, *, org_id: str, site_id: str, default_limit: int | None
) -> QuotaRecord:
    row = (
        await conn.execute(
            sa.select(site_quotas.c.used_bytes, site_quotas.c.limit_bytes).where(
                site_quotas.c.org_id == org_id, site_quotas.c.site_id == site_id
            )
        )
    ).first()
    if row is None:
        return QuotaRecord(site_id, 0, default_limit, exists=False)
    limit = None if row.limit_bytes is None else int(row.limit_bytes)
    return QuotaRecord(site_id, int(row.used_bytes), limit, exists=True)


async def lock_quota(
    conn: AsyncConnection, *, org_id: str, site_id: str, default_limit: int | None, now: int
) -> QuotaRecord:
    """The site's quota row, created if absent and locked (PostgreSQL) until commit:
    writers that add bytes to one site serialise here, so two uploads cannot both
    slip under the limit."""
    kind = kind_of(conn)
    await conn.execute(
        insert_for(kind, site_quotas)
        .values(
            site_id=site_id, org_id=org_id, used_bytes=0, limit_bytes=default_limit, updated_at=now
        )
        .on_conflict_do_nothing(index_elements=["site_id"])
    )
    stmt = sa.select(site_quotas.c.used_bytes, site_quotas.c.limit_bytes).where(
        site_quotas.c.org_id == org_id, site_quotas.c.site_id == site_id
    )
    if kind is DatabaseKind.POSTGRESQL:
        stmt = stmt.with_for_update()
    row = (await conn.execute(stmt)).one()
    limit = None if row.limit_bytes is None else int(row.limit_bytes)
    return QuotaRecord(site_id, int(row.used_bytes), limit, exists=True)


async def set_limit(
    conn: AsyncConnection,
    *,
    org_id: str,
    site_id: str,
    limit_bytes: int | None,
    default_limit: int | None,
    now: int,
) -> None:
    await lock_quota(conn, org_id=org_id, site_id=site_id, default_limit=default_limit, now=now)
    await conn.execute(
        sa.update(site_quotas)
        .where(site_quotas.c.org_id == org_id, site_quotas.c.site_id == site_id)
        .values(limit_bytes=limit_bytes, updated_at=now)
    )


async def add_used(
    conn: AsyncConnection,
    *,
    org_id: str,
    site_id: str,
    delta: int,
    default_limit: int | None,
    now: int,
) -> int:
    """Add ``delta`` bytes to the site's usage and write today's history; the new total."""
    kind = kind_of(conn)
    await lock_quota(conn, org_id=org_id, site_id=site_id, default_limit=default_limit, now=now)
    used = await conn.scalar(
        sa.update(site_quotas)
        .where(site_quotas.c.org_id == org_id, site_quotas.c.site_id == site_id)
        .values(used_bytes=site_quotas.c.used_bytes + delta, updated_at=now)
        .returning(site_quotas.c.used_bytes)
    )
    total = int(used or 0)
    day = now // DAY_MS
    stmt = insert_for(kind, quota_history).values(
        site_id=site_id, day=day, org_id=org_id, used_bytes=total
    )
    await conn.execute(
        stmt.on_conflict_do_update(
            index_elements=["site_id", "day"], set_={"used_bytes": stmt.excluded.used_bytes}
        )
    )
    return total


async def history(
    conn: AsyncConnection, *, org_id: str, site_id: str, since_day: int
) -> list[tuple[int, int]]:
    rows = await conn.execute(
        sa.select(quota_history.c.day, quota_history.c.used_bytes)
        .where(
            quota_history.c.org_id == org_id,
            quota_history.c.site_id == site_id,
            quota_history.c.day >= since_day,
        )
        .order_by(quota_history.c.day)
    )
    return [(int(r.day), int(r.used_bytes)) for r in rows]


# --- garbage collection -----------------------------------------------------------


async def mark_unreferenced(conn: AsyncConnection, *, now: int) -> int:
    """Stamp site chunks that no version references any more (their versions were
    deleted) so that the grace period starts; returns how many."""
    referenced = sa.exists().where(
        version_chunks.c.site_id == site_chunks.c.site_id,
        version_chunks.c.hash == site_chunks.c.hash,
    )
    result = await conn.execute(
        sa.update(site_chunks)
        .where(site_chunks.c.unreferenced_since.is_(None), ~referenced)
        .values(unreferenced_since=now)
    )
    return int(result.rowcount or 0)


async def expired_site_chunks(
    conn: AsyncConnection, *, cutoff: int, limit: int
) -> list[tuple[str, str, str, int]]:
    """(org, site, hash, size) of site chunks unreferenced since before ``cutoff`` and
    still referenced by no version of that site."""
    referenced = sa.exists().where(
        version_chunks.c.site_id == site_chunks.c.site_id,
        version_chunks.c.hash == site_chunks.c.hash,
    )
    rows = await conn.execute(
        sa.select(
            site_chunks.c.org_id, site_chunks.c.site_id, site_chunks.c.hash, site_chunks.c.size
        )
        .where(site_chunks.c.unreferenced_since < cutoff, ~referenced)
        .order_by(site_chunks.c.site_id, site_chunks.c.hash)
        .limit(limit)
    )
    return [(r.org_id, r.site_id, r.hash, int(r.size)) for r in rows]


async def delete_site_chunk_if_unreferenced(
    conn: AsyncConnection, *, org_id: str, site_id: str, hash: str, cutoff: int
) -> bool:
    """Delete the site chunk if it is still unreferenced since before ``cutoff``.

    The row is locked first and the references read by a *later* statement, so
    on PostgreSQL a publish that referenced the chunk meanwhile (it locks the same
    row, see :func:`site_sizes`) is seen; a referenced chunk loses its mark.
    """
    stmt: sa.Select[Any] = sa.select(site_chunks.c.unreferenced_since).where(
        site_chunks.c.org_id == org_id,
        site_chunks.c.site_id == site_id,
        site_chunks.c.hash == hash,
    )
    if kind_of(conn) is DatabaseKind.POSTGRESQL:
        stmt = stmt.with_for_update()
    row = (await conn.execute(stmt)).first()
    if row is None or row.unreferenced_since is None or row.unreferenced_since >= cutoff:
        return False
    where = (
        site_chunks.c.org_id == org_id,
        site_chunks.c.site_id == site_id,
        site_chunks.c.hash == hash,
    )
    referenced = await conn.scalar(
        sa.select(version_chunks.c.version_id)
        .where(version_chunks.c.site_id == site_id, version_chunks.c.hash == hash)
        .limit(1)
    )
    if referenced is not None:
        await conn.execute(sa.update(site_chunks).where(*where).values(unreferenced_since=None))
        return False
    await conn.execute(sa.delete(site_chunks).where(*where))
    return True


async def orphan_chunks(
    conn: AsyncConnection, *, hashes: Iterable[str] | None, limit: int
) -> list[str]:
    """Stored chunks that no site has any more (among ``hashes`` when given)."""
    used = sa.exists().where(site_chunks.c.hash == chunks.c.hash)
    stmt = sa.select(chunks.c.hash).where(~used)
    if hashes is not None:
        stmt = stmt.where(among_many(kind_of(conn), chunks.c.hash, sorted(set(hashes))))
    rows = await conn.execute(stmt.order_by(chunks.c.hash).limit(limit))
    return [r.hash for r in rows]


@dataclass(frozen=True, slots=True)
class StoredChunk:
    """A chunk row: its hash and, when it lives in a pack, where."""

    hash: str
    at: PackedAt | None


async def lock_chunk(conn: AsyncConnection, *, hash: str) -> StoredChunk | None:
    """Lock the chunk row (PostgreSQL; SQLite's write transaction already excludes
    others); None when it is gone."""
    stmt: sa.Select[Any] = sa.select(
        chunks.c.hash, chunks.c.size, chunks.c.pack, chunks.c.pack_offset
    ).where(chunks.c.hash == hash)
    if kind_of(conn) is DatabaseKind.POSTGRESQL:
        stmt = stmt.with_for_update()
    row = (await conn.execute(stmt)).first()
    if row is None:
        return None
    at = None if row.pack is None else PackedAt(row.pack, int(row.pack_offset), int(row.size))
    return StoredChunk(row.hash, at)


async def chunk_in_use(conn: AsyncConnection, *, hash: str) -> bool:
    value = await conn.scalar(
        sa.select(site_chunks.c.hash).where(site_chunks.c.hash == hash).limit(1)
    )
    return value is not None


async def delete_chunk(conn: AsyncConnection, *, hash: str) -> None:
    await conn.execute(sa.delete(chunks).where(chunks.c.hash == hash))
