"""The chunk repositories' bulk statements, on SQLite and PostgreSQL.

Hash lists travel as one parameter (a JSON text read by ``json_each`` on
SQLite, arrays read by ``unnest`` on PostgreSQL): these tests pin what the
statements answer for duplicates, empty lists, unknown hashes, other sites and
other organisations, and lists longer than one request.
"""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from fleetyard.server.storage.blobs.base import PackedAt
from fleetyard.server.storage.database import Database
from fleetyard.server.storage.repositories import chunk_packs as packs_repo
from fleetyard.server.storage.repositories import chunks as repo
from fleetyard.server.storage.software_tables import (
    apps,
    chunks,
    site_chunks,
    version_chunks,
    versions,
)
from fleetyard.server.storage.tables import organizations, sites

pytestmark = pytest.mark.anyio

NOW = 1_700_000_000_000
ORG, OTHER_ORG = "org_a", "org_b"
SITE, OTHER_SITE, FOREIGN_SITE = "site_a1", "site_a2", "site_b1"
APP, OTHER_APP = "app_a1", "app_a2"


def digest(name: str) -> str:
    return hashlib.sha256(name.encode()).hexdigest()


A, B, C, D = (digest(n) for n in "abcd")


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    database = Database(database_url)
    await database.migrate()
    async with database.begin() as conn:
        await conn.execute(
            sa.insert(organizations),
            [{"id": o, "name": o, "created_at": NOW} for o in (ORG, OTHER_ORG)],
        )
        await conn.execute(
            sa.insert(sites),
            [
                {"id": s, "org_id": o, "name": s, "created_at": NOW, "updated_at": NOW}
                for s, o in ((SITE, ORG), (OTHER_SITE, ORG), (FOREIGN_SITE, OTHER_ORG))
            ],
        )
        await conn.execute(
            sa.insert(apps),
            [
                {
                    "id": a,
                    "org_id": ORG,
                    "site_id": s,
                    "name": a,
                    "targets": [],
                    "run": {},
                    "created_at": NOW,
                    "updated_at": NOW,
                }
                for a, s in ((APP, SITE), (OTHER_APP, OTHER_SITE))
            ],
        )
    try:
        yield database
    finally:
        await database.dispose()


async def add_version(conn: AsyncConnection, version_id: str, app_id: str, number: int) -> None:
    await conn.execute(
        sa.insert(versions).values(
            id=version_id,
            org_id=ORG,
            app_id=app_id,
            number=number,
            description="",
            manifest={},
            manifest_sha256="0" * 64,
            files=0,
            bytes=0,
            created_at=NOW,
        )
    )


async def give(conn: AsyncConnection, site_id: str, org_id: str, sizes: dict[str, int]) -> set[str]:
    await repo.upsert_chunks(conn, sizes=sizes, now=NOW)
    return await repo.add_site_chunks(conn, org_id=org_id, site_id=site_id, sizes=sizes, now=NOW)


async def rows(conn: AsyncConnection, table: sa.Table, *order: str) -> list[tuple[Any, ...]]:
    result = await conn.execute(sa.select(table).order_by(*(table.c[c] for c in order)))
    return [tuple(r) for r in result]


async def test_site_sizes_answers_only_the_sites_own_hashes(db: Database) -> None:
    async with db.begin() as conn:
        assert await give(conn, SITE, ORG, {A: 1, B: 22}) == {A, B}
        await give(conn, OTHER_SITE, ORG, {C: 333})
        await give(conn, FOREIGN_SITE, OTHER_ORG, {D: 4444})
    for lock in (False, True):
        async with db.begin() as conn:
            wanted = [B, A, B, C, D, digest("unknown"), "not a hash", "it's"]
            found = await repo.site_sizes(conn, org_id=ORG, site_id=SITE, hashes=wanted, lock=lock)
            assert found == {A: 1, B: 22}
            assert await repo.site_sizes(conn, org_id=ORG, site_id=SITE, hashes=[], lock=lock) == {}
            # A site of another organisation is not found under this one.
            assert (
                await repo.site_sizes(conn, org_id=ORG, site_id=FOREIGN_SITE, hashes=[D], lock=lock)
                == {}
            )
            assert await repo.site_sizes(
                conn, org_id=OTHER_ORG, site_id=FOREIGN_SITE, hashes=[D], lock=lock
            ) == {D: 4444}


async def test_upsert_chunks_keeps_the_first_place_of_a_chunk(db: Database) -> None:
    async with db.begin() as conn:
        assert await repo.upsert_chunks(conn, sizes={}, now=NOW) == {}
        first = await repo.upsert_chunks(
            conn, sizes={A: 10, B: 20}, now=NOW, packed={B: PackedAt("pack_1", 64, 20)}
        )
        assert first == {A: None, B: PackedAt("pack_1", 64, 20)}
        again = await repo.upsert_chunks(
            conn,
            sizes={A: 10, B: 20, C: 30},
            now=NOW + 1,
            packed={A: PackedAt("pack_2", 0, 10), B: PackedAt("pack_2", 10, 20)},
        )
        assert again == {A: None, B: PackedAt("pack_1", 64, 20), C: None}
        assert await rows(conn, chunks, "hash") == sorted(
            [
                (A, 10, NOW, None, None),
                (B, 20, NOW, "pack_1", 64),
                (C, 30, NOW + 1, None, None),
            ]
        )
        assert await packs_repo.stored(conn, hashes=[C, B, B, D]) == {
            B: PackedAt("pack_1", 64, 20),
            C: None,
        }
        assert await packs_repo.stored(conn, hashes=[]) == {}
        assert await packs_repo.recorded(conn, packs=["pack_1", "pack_2"]) == {"pack_1"}


async def test_add_site_chunks_answers_the_hashes_the_site_did_not_have(db: Database) -> None:
    async with db.begin() as conn:
        assert await give(conn, SITE, ORG, {}) == set()
        assert await give(conn, SITE, ORG, {A: 1, B: 2}) == {A, B}
        assert await give(conn, SITE, ORG, {B: 2, C: 3}) == {C}
        # The same chunk is new to another site, of the same or another organisation.
        assert await give(conn, OTHER_SITE, ORG, {A: 1}) == {A}
        assert await give(conn, FOREIGN_SITE, OTHER_ORG, {A: 1}) == {A}
        assert await rows(conn, site_chunks, "site_id", "hash") == sorted(
            [
                (SITE, A, ORG, 1, NOW, NOW),
                (SITE, B, ORG, 2, NOW, NOW),
                (SITE, C, ORG, 3, NOW, NOW),
                (OTHER_SITE, A, ORG, 1, NOW, NOW),
                (FOREIGN_SITE, A, OTHER_ORG, 1, NOW, NOW),
            ]
        )


async def test_add_version_chunks_references_and_clears_only_the_sites_marks(
    db: Database,
) -> None:
    async with db.begin() as conn:
        await give(conn, SITE, ORG, {A: 1, B: 2, C: 3})
        await give(conn, OTHER_SITE, ORG, {A: 1})
        await add_version(conn, "ver_1", APP, 1)
        await add_version(conn, "ver_2", APP, 2)
        await repo.add_version_chunks(
            conn, org_id=ORG, site_id=SITE, app_id=APP, version_id="ver_1", hashes=[]
        )
        await repo.add_version_chunks(
            conn, org_id=ORG, site_id=SITE, app_id=APP, version_id="ver_1", hashes=[B, A, B]
        )
        # Again, with one more: the references already there stay as they are.
        await repo.add_version_chunks(
            conn, org_id=ORG, site_id=SITE, app_id=APP, version_id="ver_1", hashes=[A, B, C]
        )
        await repo.add_version_chunks(
            conn, org_id=ORG, site_id=SITE, app_id=APP, version_id="ver_2", hashes=[A]
        )
        assert await rows(conn, version_chunks, "version_id", "hash") == sorted(
            [
                ("ver_1", A, ORG, SITE, APP),
                ("ver_1", B, ORG, SITE, APP),
                ("ver_1", C, ORG, SITE, APP),
                ("ver_2", A, ORG, SITE, APP),
            ]
        )
        marks = await conn.execute(
            sa.select(site_chunks.c.site_id, site_chunks.c.hash, site_chunks.c.unreferenced_since)
        )
        assert sorted(tuple(r) for r in marks) == sorted(
            [(SITE, A, None), (SITE, B, None), (SITE, C, None), (OTHER_SITE, A, NOW)]
        )
        assert await repo.mountable(conn, org_id=ORG, app_id=APP, hashes=[C, A, A, D]) == {
            A: 1,
            C: 3,
        }
        assert await repo.mountable(conn, org_id=ORG, app_id=OTHER_APP, hashes=[A]) == {}
        assert await repo.mountable(conn, org_id=OTHER_ORG, app_id=APP, hashes=[A]) == {}


async def test_lists_longer_than_a_request(db: Database) -> None:
    many = {digest(f"chunk {i}"): i + 1 for i in range(2_500)}
    hashes = list(many)
    async with db.begin() as conn:
        where = await repo.upsert_chunks(
            conn, sizes=many, now=NOW, packed={hashes[7]: PackedAt("pack_9", 5, 8)}
        )
        assert where == {h: (PackedAt("pack_9", 5, 8) if h == hashes[7] else None) for h in many}
        assert await repo.add_site_chunks(
            conn, org_id=ORG, site_id=SITE, sizes=many, now=NOW
        ) == set(many)
        await add_version(conn, "ver_1", APP, 1)
        await repo.add_version_chunks(
            conn, org_id=ORG, site_id=SITE, app_id=APP, version_id="ver_1", hashes=hashes[:2_000]
        )
        found = await repo.site_sizes(
            conn, org_id=ORG, site_id=SITE, hashes=[*hashes, digest("unknown")], lock=True
        )
        assert found == many
        referenced = await conn.scalar(
            sa.select(sa.func.count()).where(
                site_chunks.c.site_id == SITE, site_chunks.c.unreferenced_since.is_(None)
            )
        )
        assert referenced == 2_000
        assert await repo.orphan_chunks(conn, hashes=hashes, limit=10) == []
