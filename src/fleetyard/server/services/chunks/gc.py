"""Garbage collection of chunks: job kind ``chunks.gc``.

1. Site chunks that no version references get a mark (``unreferenced_since``);
   fresh uploads start marked, and a version that uses a chunk clears it.
2. Site chunks marked longer ago than the grace period and still unreferenced
   are removed from their site (and from its quota).
3. A chunk no site holds any more loses its row and its blob (a chunk inside
   a pack only its row: the pack is dealt with in the next step).
4. Packs (the filesystem store's files of chunks uploaded together) whose live
   chunks fill less than half of them are rewritten with only those, and
   packs with none are deleted; so are pack files that no commit recorded (a
   crash between placing and recording).
5. Staged uploads never committed are deleted once older than an upload link's
   lifetime plus a margin (a commit comes right after its uploads).

The job re-enqueues itself for the next run; its ids are derived from the run's
time slot, so several server replicas starting at once still make one chain.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from fleetyard.protocol.chunks import UPLOAD_URL_TTL_SECONDS
from fleetyard.server import jobs
from fleetyard.server.services.chunks.uploads import Chunks
from fleetyard.server.services.clock import now_ms
from fleetyard.server.storage.blobs import BlobMismatchError, BlobNotFoundError
from fleetyard.server.storage.dialect import begin_write
from fleetyard.server.storage.repositories import chunk_packs as packs_repo
from fleetyard.server.storage.repositories import chunks as repo

log = logging.getLogger("fleetyard.server.chunks")

GC = "chunks.gc"
_BATCH = 500
STAGED_MAX_AGE_MS = (UPLOAD_URL_TTL_SECONDS + 30 * 60) * 1000
"""Staged uploads older than this (an upload link's 60 minutes and half an hour) go."""


@dataclass(frozen=True, slots=True)
class GcResult:
    marked: int
    site_chunks_removed: int
    blobs_deleted: int
    staged_purged: int = 0
    packs_deleted: int = 0
    packs_rewritten: int = 0


async def collect(ctx: Chunks, *, now: int | None = None) -> GcResult:
    """One GC pass (idempotent: running it twice, or on two replicas, is harmless)."""
    now = now_ms() if now is None else now
    cutoff = now - int(ctx.settings.chunk_gc_grace_seconds * 1000)
    database = ctx.database
    async with database.engine.connect() as conn:
        await begin_write(conn, database.kind)
        marked = await repo.mark_unreferenced(conn, now=now)
        await conn.commit()
    removed = 0
    freed: set[str] = set()
    while True:
        async with database.connect() as conn:
            batch = await repo.expired_site_chunks(conn, cutoff=cutoff, limit=_BATCH)
        if not batch:
            break
        progressed = False
        for org_id, site_id, h, size in batch:
            async with database.engine.connect() as conn:
                await begin_write(conn, database.kind)
                if await repo.delete_site_chunk_if_unreferenced(
                    conn, org_id=org_id, site_id=site_id, hash=h, cutoff=cutoff
                ):
                    await repo.add_used(
                        conn,
                        org_id=org_id,
                        site_id=site_id,
                        delta=-size,
                        default_limit=ctx.default_limit,
                        now=now,
                    )
                    removed += 1
                    freed.add(h)
                    progressed = True
                await conn.commit()
        if not progressed or len(batch) < _BATCH:
            break
    async with database.connect() as conn:
        orphans = set(await repo.orphan_chunks(conn, hashes=None, limit=10 * _BATCH))
    deleted = 0
    for h in sorted(freed | orphans):
        async with database.engine.connect() as conn:
            await begin_write(conn, database.kind)
            # Locked, then re-read: an upload of the same chunk either committed
            # first (we see its site row and keep the blob) or waits for us and
            # finds the blob gone (it answers 503, the client uploads again).
            row = await repo.lock_chunk(conn, hash=h)
            if row is not None and not await repo.chunk_in_use(conn, hash=h):
                if row.at is None:
                    await ctx.blobs.delete(h)
                await repo.delete_chunk(conn, hash=h)
                deleted += 1
            await conn.commit()
    dropped, rewritten = await _reclaim_packs(ctx, now=now)
    stale = datetime.fromtimestamp((now - STAGED_MAX_AGE_MS) / 1000, tz=UTC)
    purged = await ctx.blobs.purge_staged(stale)
    if marked or removed or deleted or purged or dropped or rewritten:
        log.info(
            "chunk GC: %d marked, %d site chunks removed, %d blobs deleted,"
            " %d packs deleted, %d packs rewritten, %d stale staged uploads deleted",
            marked,
            removed,
            deleted,
            dropped,
            rewritten,
            purged,
        )
    return GcResult(marked, removed, deleted, purged, dropped, rewritten)


async def _reclaim_packs(ctx: Chunks, *, now: int) -> tuple[int, int]:
    """Rewrite the sparse packs, delete the empty and the unrecorded ones; how many
    packs were deleted and how many rewritten.

    Only packs older than a staged upload's lifetime are looked at: by then no
    commit can still add a chunk row pointing into one.
    """
    database = ctx.database
    settled = now - STAGED_MAX_AGE_MS
    dropped = rewritten = 0
    async with database.connect() as conn:
        sparse = await packs_repo.sparse_packs(conn, created_before=settled, limit=_BATCH)
    for pack in sparse:
        # Copied first, outside any transaction (the rows may change meanwhile: only
        # rows still pointing into the old pack move).
        async with database.connect() as conn:
            live = await packs_repo.live_chunks(conn, pack=pack.id)
        if live:
            try:
                moved = await ctx.blobs.repack(pack.id, live)
            except (BlobMismatchError, BlobNotFoundError) as exc:
                log.error("chunk GC: pack %s cannot be rewritten: %s", pack.id, exc)
                continue
        async with database.engine.connect() as conn:
            await begin_write(conn, database.kind)
            if live:
                await packs_repo.add_packs(conn, packs=moved.packs, now=now)
                await packs_repo.relocate(conn, where=dict(moved.packed), from_pack=pack.id)
                rewritten += 1
            emptied = await packs_repo.delete_pack_if_empty(conn, pack=pack.id)
            await conn.commit()
        if emptied:
            # After the commit: a reader that found the old place before it reads
            # there or, once it is gone, looks the chunk up again.
            await ctx.blobs.drop_pack(pack.id)
            dropped += 1
    # Files placed by a commit that never recorded them (it crashed or was refused).
    files = await ctx.blobs.packs_older_than(datetime.fromtimestamp(settled / 1000, tz=UTC))
    for start in range(0, len(files), _BATCH):
        batch = files[start : start + _BATCH]
        async with database.connect() as conn:
            known = await packs_repo.recorded(conn, packs=batch)
        for pack_id in batch:
            if pack_id not in known:
                await ctx.blobs.drop_pack(pack_id)
                dropped += 1
    return dropped, rewritten


async def schedule_next(ctx: Chunks, *, after_ms: int | None = None) -> None:
    """Enqueue the next GC run (one per time slot: a duplicate insert is ignored)."""
    await jobs.enqueue_periodic(
        ctx.database,
        kind=GC,
        name="chunksgc",
        interval_ms=int(ctx.settings.chunk_gc_interval_seconds * 1000),
        after_ms=after_ms,
    )


def job_handlers(ctx: Chunks) -> dict[str, jobs.Handler]:
    """The ``chunks.gc`` handler for the app's :class:`~fleetyard.server.jobs.JobRunner`."""

    async def gc_job(context: jobs.JobContext, payload: dict[str, Any]) -> None:
        del payload
        try:
            await collect(ctx)
        finally:
            await schedule_next(ctx, after_ms=context.run_at_ms)

    return {GC: gc_job}
