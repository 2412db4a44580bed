"""The ``apps.purge`` job: apps deleted more than 30 days ago lose their rows for good,
and their chunks are then the chunk GC's. SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

import anyio
import sqlalchemy as sa

from fleetyard.server.jobs import JobContext
from fleetyard.server.services.chunks import gc
from fleetyard.server.services.chunks.uploads import Chunks
from fleetyard.server.services.clock import now_ms
from fleetyard.server.services.software import purge
from fleetyard.server.settings import Settings
from fleetyard.server.storage.blobs import create_blob_store
from fleetyard.server.storage.database import Database
from fleetyard.server.storage.device_tables import jobs
from fleetyard.server.storage.software_tables import (
    apps,
    rollout_machines,
    rollouts,
    site_chunks,
    version_chunks,
    version_files,
    versions,
)
from tests.server.helpers import execute, ok, problem
from tests.server.software.conftest import Setup, chunk_of

DAY_MS = 86_400_000
HOUR_MS = 3_600_000


def _deleted_days_ago(setup: Setup, app_id: str, days: float) -> None:
    ok(setup.http.delete(f"/v1/apps/{app_id}"))
    execute(
        setup.database_url,
        sa.update(apps).where(apps.c.id == app_id).values(deleted_at=now_ms() - int(days * DAY_MS)),
    )


def _add_rollout(setup: Setup, app_id: str, version_id: str) -> None:
    org_id = ok(setup.http.get(f"/v1/sites/{setup.site_id}"))["org_id"]
    now = now_ms()
    rollout_id = f"rol_{app_id[4:]}"
    execute(
        setup.database_url,
        sa.insert(rollouts).values(
            id=rollout_id,
            org_id=org_id,
            app_id=app_id,
            version_id=version_id,
            state="succeeded",
            options={},
            created_at=now,
            updated_at=now,
            finished_at=now,
        ),
    )
    execute(
        setup.database_url,
        sa.insert(rollout_machines).values(
            rollout_id=rollout_id,
            agent_id=setup.agent_id,
            org_id=org_id,
            state="succeeded",
            wave=0,
            updated_at=now,
        ),
    )


async def _counts(database_url: str, app_id: str) -> dict[str, int]:
    database = Database(database_url)
    try:
        async with database.connect() as conn:

            async def count(stmt: Any) -> int:
                return int(await conn.scalar(sa.select(sa.func.count()).select_from(stmt)) or 0)

            ids = sa.select(versions.c.id).where(versions.c.app_id == app_id)
            return {
                "apps": await count(apps.select().where(apps.c.id == app_id).subquery()),
                "versions": await count(ids.subquery()),
                "version_files": await count(
                    version_files.select().where(version_files.c.version_id.in_(ids)).subquery()
                ),
                "version_chunks": await count(
                    version_chunks.select().where(version_chunks.c.app_id == app_id).subquery()
                ),
                "rollouts": await count(
                    rollouts.select().where(rollouts.c.app_id == app_id).subquery()
                ),
                "rollout_machines": await count(
                    rollout_machines.select()
                    .where(
                        rollout_machines.c.rollout_id.in_(
                            sa.select(rollouts.c.id).where(rollouts.c.app_id == app_id)
                        )
                    )
                    .subquery()
                ),
            }
    finally:
        await database.dispose()


def counts(database_url: str, app_id: str) -> dict[str, int]:
    return anyio.run(_counts, database_url, app_id)


def run_purge(database_url: str, *, now: int | None = None) -> list[str]:
    async def run() -> list[str]:
        database = Database(database_url)
        try:
            return await purge.purge_expired(database, now=now)
        finally:
            await database.dispose()

    return anyio.run(run)


def site_hashes(database_url: str, site_id: str) -> set[str]:
    async def run() -> set[str]:
        database = Database(database_url)
        try:
            async with database.connect() as conn:
                stmt = sa.select(site_chunks.c.hash).where(site_chunks.c.site_id == site_id)
                return set((await conn.execute(stmt)).scalars().all())
        finally:
            await database.dispose()

    return anyio.run(run)


def collect(settings: Settings, *, hours_later: float) -> gc.GcResult:
    async def run() -> gc.GcResult:
        database = Database(settings.resolved_database_url)
        try:
            ctx = Chunks(
                database, create_blob_store(settings.blob_url, settings.data_dir), settings
            )
            return await gc.collect(ctx, now=now_ms() + int(hours_later * HOUR_MS))
        finally:
            await database.dispose()

    return anyio.run(run)


def test_apps_deleted_over_30_days_ago_are_purged_with_their_versions(
    setup: Setup, settings: Settings
) -> None:
    http, url = setup.http, setup.database_url
    old, recent, live = (setup.app(name=n) for n in ("old", "recent", "live"))
    one = setup.publish(old["id"], {"a.txt": b"only in old", "s.txt": b"shared"}, expected=None)
    two = setup.publish(old["id"], {"a.txt": b"only in old v2"}, expected=one["id"])
    setup.publish(recent["id"], {"r.txt": b"only in recent"}, expected=None)
    setup.publish(live["id"], {"s.txt": b"shared"}, expected=None)
    _add_rollout(setup, old["id"], two["id"])
    _deleted_days_ago(setup, old["id"], 31)
    _deleted_days_ago(setup, recent["id"], 29)
    before = counts(url, old["id"])
    assert before == {
        "apps": 1,
        "versions": 2,
        "version_files": 3,
        "version_chunks": 3,
        "rollouts": 1,
        "rollout_machines": 1,
    }
    kept = {a: counts(url, a) for a in (recent["id"], live["id"])}

    assert run_purge(url) == [old["id"]]

    assert set(counts(url, old["id"]).values()) == {0}
    assert {a: counts(url, a) for a in kept} == kept
    problem(http.post(f"/v1/apps/{old['id']}/restore"), 404, "not_found")
    problem(http.get(f"/v1/apps/{old['id']}"), 404, "not_found")
    problem(http.get(f"/v1/apps/{old['id']}/versions"), 404, "not_found")
    assert ok(http.get(f"/v1/apps/{recent['id']}"))["deleted_at"] is not None
    assert run_purge(url) == []  # idempotent

    # The recent one goes once its own 30 days are over, not before.
    assert run_purge(url, now=now_ms() + DAY_MS // 2) == []
    assert run_purge(url, now=now_ms() + 2 * DAY_MS) == [recent["id"]]

    # Its chunks are nobody's now: the chunk GC marks them, then drops them from the
    # site after the grace period; a chunk another app uses stays.
    only_old = {chunk_of(b"only in old")["hash"], chunk_of(b"only in old v2")["hash"]}
    shared = chunk_of(b"shared")["hash"]
    assert only_old | {shared} <= site_hashes(url, setup.site_id)
    collect(settings, hours_later=0)
    collect(settings, hours_later=25)
    left = site_hashes(url, setup.site_id)
    assert shared in left
    assert not only_old & left


def test_a_restored_app_is_not_purged(setup: Setup) -> None:
    app = setup.app()
    setup.publish(app["id"], {"a.txt": b"a"}, expected=None)
    _deleted_days_ago(setup, app["id"], 10)
    ok(setup.http.post(f"/v1/apps/{app['id']}/restore"))
    assert run_purge(setup.database_url, now=now_ms() + 60 * DAY_MS) == []
    assert counts(setup.database_url, app["id"])["versions"] == 1


def test_the_purge_job_is_scheduled_once_per_slot_and_reschedules(
    setup: Setup, settings: Settings
) -> None:
    app = setup.app()
    _deleted_days_ago(setup, app["id"], 31)

    async def run() -> list[int]:
        database = Database(settings.resolved_database_url)
        try:
            await purge.schedule_next(database)
            await purge.schedule_next(database)
            handler = purge.job_handlers(database)[purge.PURGE]
            query = sa.select(jobs.c.id, jobs.c.run_at).where(jobs.c.kind == purge.PURGE)
            async with database.connect() as conn:
                # The server scheduled its own at start: the same slot, the same row.
                (job,) = (await conn.execute(query)).all()
            await handler(JobContext(job.id, purge.PURGE, None, 1, 3, job.run_at), {})
            async with database.connect() as conn:
                return sorted(r.run_at for r in (await conn.execute(query)).all())
        finally:
            await database.dispose()

    times = anyio.run(run)
    assert len(times) == 2
    assert times[1] - times[0] == purge.PURGE_INTERVAL_MS
    assert counts(setup.database_url, app["id"])["apps"] == 0
