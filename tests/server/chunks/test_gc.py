"""The ``chunks.gc`` job: after the grace period, chunks no version references leave
their site, and blobs no site holds are deleted. SQLite and PostgreSQL."""

from __future__ import annotations

import hashlib

import anyio
import httpx2
import sqlalchemy as sa

from fleetyard.server.jobs import JobContext
from fleetyard.server.services.chunks import gc
from fleetyard.server.services.chunks.uploads import Chunks
from fleetyard.server.settings import Settings
from fleetyard.server.storage.blobs import create_blob_store
from fleetyard.server.storage.database import Database
from fleetyard.server.storage.device_tables import jobs
from fleetyard.server.storage.repositories import jobs as jobs_repo
from fleetyard.server.storage.software_tables import chunk_packs, chunks, site_chunks, versions
from tests.server.chunks.helpers import (
    add_version,
    blob_files,
    collect,
    rows,
    staged_files,
    upload,
    upload_packed,
)
from tests.server.conftest import ClientFor
from tests.server.helpers import execute, make_site, ok, problem


def test_gc_deletes_unreferenced_chunks_after_the_grace_period(
    http: httpx2.Client, client_for: ClientFor, settings: Settings, database_url: str
) -> None:
    assert settings.chunk_gc_grace_seconds == 86_400
    site = make_site(http, "plant")["id"]
    other = make_site(http, "other")["id"]
    anonymous = client_for(None)
    used = upload(http, anonymous, site, b"in a version")
    loose = upload(http, anonymous, site, b"never published")
    shared = upload(http, anonymous, site, b"shared with another site")
    upload(http, anonymous, other, b"shared with another site")
    add_version(database_url, site, "app_gc1", "ver_gc1", [used])
    add_version(database_url, other, "app_gc2", "ver_gc2", [shared])
    assert len(blob_files(settings.data_dir)) == 3
    before = ok(http.get(f"/v1/sites/{site}/quota"))["used_bytes"]

    # Within the grace period nothing goes.
    result = collect(settings, hours_later=23)
    assert (result.site_chunks_removed, result.blobs_deleted) == (0, 0)
    assert len(blob_files(settings.data_dir)) == 3

    result = collect(settings, hours_later=25)
    assert (result.site_chunks_removed, result.blobs_deleted) == (2, 1)
    left = {(r.site_id, r.hash) for r in rows(database_url, sa.select(site_chunks))}
    assert left == {(site, used), (other, shared)}
    assert {r.hash for r in rows(database_url, sa.select(chunks.c.hash))} == {used, shared}
    assert sorted(p.name for p in blob_files(settings.data_dir)) == sorted([used, shared])
    after = ok(http.get(f"/v1/sites/{site}/quota"))["used_bytes"]
    assert before - after == len(b"never published") + len(b"shared with another site")
    assert ok(http.post(f"/v1/sites/{site}/chunks/check", json={"hashes": [loose, used]})) == {
        "missing": [loose]
    }

    # A deleted version's chunks get their grace period from when GC notices.
    execute(database_url, sa.delete(versions).where(versions.c.id == "ver_gc1"))
    result = collect(settings, hours_later=25)
    assert result.marked == 1
    assert result.site_chunks_removed == 0
    assert used in {p.name for p in blob_files(settings.data_dir)}
    result = collect(settings, hours_later=50)
    assert (result.site_chunks_removed, result.blobs_deleted) == (1, 1)
    assert [p.name for p in blob_files(settings.data_dir)] == [shared]
    assert ok(http.get(f"/v1/sites/{site}/quota"))["used_bytes"] == 0
    # Running it again finds nothing to do.
    assert collect(settings, hours_later=50) == gc.GcResult(0, 0, 0)


def test_gc_rewrites_a_pack_mostly_dead_and_deletes_an_empty_one(
    http: httpx2.Client, client_for: ClientFor, settings: Settings, database_url: str
) -> None:
    site = make_site(http, "plant")["id"]
    anonymous = client_for(None)
    kept = b"kept: a version uses it"
    dropped = [b"dropped %d " % i + b"x" * 200 for i in range(3)]
    used, *_ = upload_packed(http, anonymous, site, kept, *dropped)
    add_version(database_url, site, "app_pk1", "ver_pk1", [used])
    (old_pack,) = blob_files(settings.data_dir)

    # The three unused chunks go after the grace period; what is left of their pack
    # (one small chunk) is copied into a new pack and the old one deleted.
    result = collect(settings, hours_later=25)
    assert (result.blobs_deleted, result.packs_rewritten, result.packs_deleted) == (3, 1, 1)
    (new_pack,) = blob_files(settings.data_dir)
    assert new_pack.name != old_pack.name
    ((h, pack, offset),) = rows(
        database_url, sa.select(chunks.c.hash, chunks.c.pack, chunks.c.pack_offset)
    )
    assert (h, pack) == (used, new_pack.name)
    assert new_pack.read_bytes()[offset : offset + len(kept)] == kept
    assert rows(database_url, sa.select(chunk_packs.c.id, chunk_packs.c.bytes)) == [
        (new_pack.name, len(kept))
    ]
    (link,) = ok(http.post(f"/v1/sites/{site}/chunks/download-urls", json={"hashes": [used]}))[
        "urls"
    ]
    assert anonymous.get(link["url"]).content == kept

    # Once no version uses the last chunk either, the pack goes as a whole.
    execute(database_url, sa.delete(versions).where(versions.c.id == "ver_pk1"))
    collect(settings, hours_later=26)
    result = collect(settings, hours_later=52)
    assert (result.blobs_deleted, result.packs_deleted) == (1, 1)
    assert blob_files(settings.data_dir) == []
    assert rows(database_url, sa.select(chunk_packs.c.id)) == []


def test_gc_deletes_pack_files_no_commit_recorded(
    http: httpx2.Client, client_for: ClientFor, settings: Settings, database_url: str
) -> None:
    site = make_site(http, "plant")["id"]
    anonymous = client_for(None)
    upload_packed(http, anonymous, site, b"one", b"two")
    (recorded,) = blob_files(settings.data_dir)
    # As left by a crash between placing a pack and recording it.
    stray = recorded.parent.parent / "ff" / ("f" * 32)
    stray.parent.mkdir(exist_ok=True)
    stray.write_bytes(b"never recorded")
    assert collect(settings, hours_later=1).packs_deleted == 0  # too recent to tell
    assert collect(settings, hours_later=2).packs_deleted == 1
    assert blob_files(settings.data_dir) == [recorded]


def test_gc_purges_staged_uploads_never_committed(
    http: httpx2.Client, client_for: ClientFor, settings: Settings
) -> None:
    site = make_site(http, "plant")["id"]
    anonymous = client_for(None)
    data = b"uploaded, never committed"
    h = hashlib.sha256(data).hexdigest()
    ref = {"hash": h, "size": len(data)}
    (entry,) = ok(http.post(f"/v1/sites/{site}/chunks/upload-urls", json={"chunks": [ref]}))["urls"]
    assert anonymous.put(entry["url"], content=data).status_code == 204
    (staged,) = staged_files(settings.data_dir)
    # A staging directory of an earlier boot is never trusted: it goes on the first run.
    earlier = settings.data_dir / "blobs" / ".staging" / "an-earlier-boot" / site / h
    earlier.parent.mkdir(parents=True)
    earlier.write_bytes(b"maybe never flushed")
    assert collect(settings, hours_later=1).staged_purged == 1
    assert staged_files(settings.data_dir) == [staged]
    # Past the link's lifetime and the margin, the upload goes too.
    assert collect(settings, hours_later=2).staged_purged == 1
    assert staged_files(settings.data_dir) == []
    assert blob_files(settings.data_dir) == []
    problem(
        http.post(f"/v1/sites/{site}/chunks/commit", json={"chunks": [ref]}), 422, "chunk_missing"
    )


def test_the_gc_job_is_scheduled_once_per_slot(settings: Settings, database_url: str) -> None:
    async def run() -> list[str]:
        database = Database(settings.resolved_database_url)
        try:
            await database.migrate()
            ctx = Chunks(database, create_blob_store(None, settings.data_dir), settings)
            await gc.schedule_next(ctx)
            await gc.schedule_next(ctx)
            handler = gc.job_handlers(ctx)[gc.GC]
            async with database.connect() as conn:
                (job,) = list(
                    (await conn.execute(sa.select(jobs).where(jobs.c.kind == gc.GC))).all()
                )
                record = await jobs_repo.get(conn, job.id)
            assert record is not None
            await handler(JobContext(record.id, gc.GC, None, 1, 3, record.run_at), {})
            async with database.connect() as conn:
                found = (
                    await conn.execute(
                        sa.select(jobs.c.id, jobs.c.run_at).where(jobs.c.kind == gc.GC)
                    )
                ).all()
            return [f"{r.id}:{r.run_at}" for r in found]
        finally:
            await database.dispose()

    found = anyio.run(run)
    # The first run and the one it enqueued, one interval later.
    assert len(found) == 2
    times = sorted(int(f.split(":")[1]) for f in found)
    assert times[1] - times[0] == int(settings.chunk_gc_interval_seconds * 1000)
