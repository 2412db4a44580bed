"""The purge of expired apps: job kind ``apps.purge``.

An app soft-deleted more than
:data:`~fleetyard.protocol.software.RESTORE_WINDOW_DAYS` days ago can no longer
be restored (it answers 404 everywhere); this job removes its rows for good:
its versions (each with its file rows and chunk references, one version per
transaction so a big app never makes one huge transaction), then the app with
its rollouts and their machines. The chunks those versions used are then
referenced by nothing of that app: the ``chunks.gc`` job marks them, and drops
them after its grace period unless another version uses them.

Like ``chunks.gc``, the job re-enqueues itself for the next run, with ids
derived from the run's time slot, so several server replicas starting at once
still make one chain. A run is idempotent: a purge cut short goes on at the
next run (the app, still expired, is found again).
"""

from __future__ import annotations

import logging
from typing import Any

from fleetyard.server import jobs
from fleetyard.server.services.clock import now_ms
from fleetyard.server.services.software._common import RESTORE_WINDOW_MS, writing
from fleetyard.server.storage.database import Database
from fleetyard.server.storage.repositories import apps as repo
from fleetyard.server.storage.repositories import versions as versions_repo

log = logging.getLogger("fleetyard.server.software")

PURGE = "apps.purge"
"""Job kind: hard-delete apps deleted longer ago than the restore window."""
PURGE_INTERVAL_MS = 3_600_000
"""One run an hour: the window is 30 days, an hour more before the rows go is nothing."""
_APPS_PER_RUN = 100
_VERSIONS_PER_BATCH = 50


async def purge_expired(database: Database, *, now: int | None = None) -> list[str]:
    """Remove apps soft-deleted more than the restore window before ``now``; their ids.

    At most a hundred apps a run (the next run takes the rest).
    """
    now = now_ms() if now is None else now
    cutoff = now - RESTORE_WINDOW_MS
    async with database.connect() as conn:
        expired = await repo.deleted_before(conn, cutoff, limit=_APPS_PER_RUN)
    purged: list[str] = []
    for org_id, app_id in expired:
        if await _purge_app(database, org_id, app_id, cutoff=cutoff):
            purged.append(app_id)
    if purged:
        log.info("purged %d expired apps: %s", len(purged), ", ".join(purged))
    return purged


async def _purge_app(database: Database, org_id: str, app_id: str, *, cutoff: int) -> bool:
    while True:
        async with writing(database) as conn:
            # Re-read under the row lock: the app is still the expired one found above.
            record = await repo.lock(conn, app_id, org_id=org_id)
            if record is None or record.deleted_at is None or record.deleted_at > cutoff:
                return False
            batch = await versions_repo.ids_of_app(
                conn, org_id=org_id, app_id=app_id, limit=_VERSIONS_PER_BATCH
            )
            for version_id in batch:
                await versions_repo.delete(conn, version_id, org_id=org_id, app_id=app_id)
            if not batch:
                return await repo.delete_if_deleted_before(
                    conn, app_id, org_id=org_id, cutoff=cutoff
                )


async def schedule_next(database: Database, *, after_ms: int | None = None) -> None:
    """Enqueue the next purge (one per time slot: a duplicate insert is ignored)."""
    await jobs.enqueue_periodic(
        database, kind=PURGE, name="appspurge", interval_ms=PURGE_INTERVAL_MS, after_ms=after_ms
    )


def job_handlers(database: Database) -> dict[str, jobs.Handler]:
    """The ``apps.purge`` handler for the app's :class:`~fleetyard.server.jobs.JobRunner`."""

    async def purge_job(context: jobs.JobContext, payload: dict[str, Any]) -> None:
        del payload
        try:
            await purge_expired(database)
        finally:
            await schedule_next(database, after_ms=context.run_at_ms)

    return {PURGE: purge_job}
