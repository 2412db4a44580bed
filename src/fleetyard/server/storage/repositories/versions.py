"""Versions of apps and their file rows.

Versions are immutable except for their description. A version's files are
rows of ``version_files`` (one per manifest entry) so that listings and diffs
read an index instead of the manifest JSON. Every function takes ``org_id``.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.asyncio import AsyncConnection

from fleetyard.server.storage.dialect import DatabaseKind
from fleetyard.server.storage.software_tables import version_files as f
from fleetyard.server.storage.software_tables import versions as t

_SUMMARY = [c for c in t.c if c.name != "manifest"]


@dataclass(frozen=True, slots=True)
class VersionRecord:
    """A stored version; ``manifest`` only when asked for."""

    id: str
    org_id: str
    app_id: str
    number: int
    description: str
    manifest_sha256: str
    files: int
    bytes: int
    created_by: str | None
    created_at: int
    manifest: dict[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class FileRecord:
    """One entry of a version as stored in ``version_files``."""

    path: str
    kind: str
    size: int
    mode: int
    digest: str | None
    target: str | None


def _record(data: Mapping[Any, Any]) -> VersionRecord:
    return VersionRecord(
        id=data["id"],
        org_id=data["org_id"],
        app_id=data["app_id"],
        number=data["number"],
        description=data["description"],
        manifest_sha256=data["manifest_sha256"],
        files=data["files"],
        bytes=data["bytes"],
        created_by=data["created_by"],
        created_at=data["created_at"],
        manifest=data.get("manifest"),
    )


def _file(data: Mapping[Any, Any]) -> FileRecord:
    return FileRecord(
        path=data["path"],
        kind=data["kind"],
        size=data["size"],
        mode=data["mode"],
        digest=data["digest"],
        target=data["target"],
    )


def _bytewise(kind: DatabaseKind, column: sa.ColumnElement[str]) -> sa.ColumnElement[str]:
    """Compare paths by their UTF-8 bytes, the manifest's order, whatever the locale.

    SQLite compares text bytewise already; PostgreSQL needs the ``C`` collation.
    """
    return column.collate("C") if kind is DatabaseKind.POSTGRESQL else column


FileRow = tuple[str, str, int, int, str | None, str | None]
"""A ``version_files`` row without its keys: path, kind, size, mode, digest, target."""

_SQLITE_FILES = (
    "INSERT INTO version_files (version_id, org_id, path, kind, size, mode, digest, target)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
)
_PG_FILES = sa.text(
    "INSERT INTO version_files (version_id, org_id, path, kind, size, mode, digest, target)"
    " SELECT :version_id, :org_id, r.* FROM unnest(CAST(:paths AS text[]),"
    " CAST(:kinds AS text[]), CAST(:sizes AS bigint[]), CAST(:modes AS integer[]),"
    " CAST(:digests AS text[]), CAST(:targets AS text[]))"
    " AS r(path, kind, size, mode, digest, target)"
)


def _kind(conn: AsyncConnection) -> DatabaseKind:
    return DatabaseKind.POSTGRESQL if conn.dialect.name == "postgresql" else DatabaseKind.SQLITE


def _json_text(kind: DatabaseKind, text: str) -> sa.ColumnElement[Any]:
    """JSON already encoded, for a JSON column: text on SQLite, cast to ``jsonb`` on
    PostgreSQL (the column type would encode it a second time)."""
    value = sa.type_coerce(text, sa.Text)
    return sa.cast(value, postgresql.JSONB) if kind is DatabaseKind.POSTGRESQL else value


async def insert(
    conn: AsyncConnection,
    *,
    org_id: str,
    values: Mapping[str, Any],
    manifest_json: str,
    files: Sequence[FileRow],
) -> VersionRecord:
    """Store a version, its manifest (its JSON text) and its file rows.

    The files go in one statement on PostgreSQL (arrays through ``unnest``) and one
    executemany straight to the driver on SQLite: with tens of thousands of
    entries, SQLAlchemy's per-row parameter processing cost more than the inserts.
    """
    kind = _kind(conn)
    row = {**values, "org_id": org_id}
    await conn.execute(sa.insert(t).values(**row, manifest=_json_text(kind, manifest_json)))
    if not files:
        return _record(row)
    if kind is DatabaseKind.POSTGRESQL:
        paths, kinds, sizes, modes, digests, targets = zip(*files, strict=True)
        await conn.execute(
            _PG_FILES,
            {
                "version_id": row["id"],
                "org_id": org_id,
                "paths": list(paths),
                "kinds": list(kinds),
                "sizes": list(sizes),
                "modes": list(modes),
                "digests": list(digests),
                "targets": list(targets),
            },
        )
    else:
        version_id = row["id"]
        await conn.exec_driver_sql(_SQLITE_FILES, [(version_id, org_id, *file) for file in files])
    return _record(row)


def _one(org_id: str, app_id: str, *, manifest: bool) -> sa.Select[Any]:
    columns = list(t.c) if manifest else _SUMMARY
    return sa.select(*columns).where(t.c.org_id == org_id, t.c.app_id == app_id)


async def _first(conn: AsyncConnection, stmt: sa.Select[Any]) -> VersionRecord | None:
    row = (await conn.execute(stmt)).first()
    return None if row is None else _record(row._mapping)


async def get_by_id(
    conn: AsyncConnection, version_id: str, *, org_id: str, app_id: str, manifest: bool = False
) -> VersionRecord | None:
    """A version of the app by id."""
    return await _first(conn, _one(org_id, app_id, manifest=manifest).where(t.c.id == version_id))


async def get_many(
    conn: AsyncConnection, version_ids: Collection[str], *, org_id: str
) -> dict[str, VersionRecord]:
    """Summaries of these versions (of any app of the organisation), by id."""
    if not version_ids:
        return {}
    stmt = sa.select(*_SUMMARY).where(t.c.org_id == org_id, t.c.id.in_(list(version_ids)))
    return {r.id: _record(r._mapping) for r in (await conn.execute(stmt)).all()}


async def get_by_number(
    conn: AsyncConnection, number: int, *, org_id: str, app_id: str, manifest: bool = False
) -> VersionRecord | None:
    """A version of the app by number."""
    return await _first(conn, _one(org_id, app_id, manifest=manifest).where(t.c.number == number))


async def get_first(
    conn: AsyncConnection, *, org_id: str, app_id: str, manifest: bool = False
) -> VersionRecord | None:
    """The app's lowest-numbered version."""
    return await _first(conn, _one(org_id, app_id, manifest=manifest).order_by(t.c.number).limit(1))


async def get_below(
    conn: AsyncConnection, number: int, *, org_id: str, app_id: str, manifest: bool = False
) -> VersionRecord | None:
    """The app's version numbered just below ``number``."""
    stmt = (
        _one(org_id, app_id, manifest=manifest)
        .where(t.c.number < number)
        .order_by(t.c.number.desc())
        .limit(1)
    )
    return await _first(conn, stmt)


async def list_page(
    conn: AsyncConnection, *, org_id: str, app_id: str, below: int | None, limit: int
) -> list[VersionRecord]:
    """The app's versions newest first, numbered below ``below`` when given; ``limit + 1`` rows."""
    stmt = _one(org_id, app_id, manifest=False)
    if below is not None:
        stmt = stmt.where(t.c.number < below)
    rows = (await conn.execute(stmt.order_by(t.c.number.desc()).limit(limit + 1))).all()
    return [_record(r._mapping) for r in rows]


async def set_description(
    conn: AsyncConnection, version_id: str, *, org_id: str, app_id: str, description: str
) -> bool:
    """Change a version's description; False when there is no such version."""
    stmt = (
        sa.update(t)
        .where(t.c.id == version_id, t.c.org_id == org_id, t.c.app_id == app_id)
        .values(description=description)
    )
    result = await conn.execute(stmt)
    return bool(result.rowcount)


async def files_page(
    conn: AsyncConnection,
    kind: DatabaseKind,
    version_id: str,
    *,
    org_id: str,
    after: str | None,
    limit: int,
) -> list[FileRecord]:
    """A version's entries by path (UTF-8 byte order) after ``after``; ``limit + 1`` rows."""
    path = _bytewise(kind, f.c.path)
    stmt = sa.select(f).where(f.c.version_id == version_id, f.c.org_id == org_id)
    if after is not None:
        stmt = stmt.where(path > after)
    rows = (await conn.execute(stmt.order_by(path).limit(limit + 1))).all()
    return [_file(r._mapping) for r in rows]


async def all_files(conn: AsyncConnection, version_id: str, *, org_id: str) -> list[FileRecord]:
    """Every entry of a version (for a diff)."""
    stmt = sa.select(f).where(f.c.version_id == version_id, f.c.org_id == org_id)
    return [_file(r._mapping) for r in (await conn.execute(stmt)).all()]


async def ids_of_app(conn: AsyncConnection, *, org_id: str, app_id: str, limit: int) -> list[str]:
    """Ids of the app's versions, lowest number first (at most ``limit``)."""
    stmt = (
        sa.select(t.c.id)
        .where(t.c.org_id == org_id, t.c.app_id == app_id)
        .order_by(t.c.number)
        .limit(limit)
    )
    return list((await conn.execute(stmt)).scalars().all())


async def delete(conn: AsyncConnection, version_id: str, *, org_id: str, app_id: str) -> bool:
    """Remove a version; its file rows and chunk references go with it
    (``ON DELETE CASCADE``). Only the purge of expired apps calls this."""
    stmt = sa.delete(t).where(t.c.id == version_id, t.c.org_id == org_id, t.c.app_id == app_id)
    return bool((await conn.execute(stmt)).rowcount)
