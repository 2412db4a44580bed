"""Check, upload, commit, download and mount chunks of a site.

The flow of a push: ``check`` the hashes, ask ``upload_urls`` for the missing
ones (413 ``quota_exceeded`` before anything is signed when they would not
fit), PUT each chunk (or several in one multi-chunk upload), ``commit``, then
publish a version (which only names chunks the site has).

An upload only stages the chunk (see :mod:`.receive`): no database work per
chunk. ``commit`` moves a batch of staged chunks under their hash, makes them
durable, and records them in one transaction that also re-checks the quota;
until then the site does not have them (``check`` lists them as missing), so
a staged upload that is never committed costs nothing and is purged by GC.

Every chunk's bytes are checked against its hash and size before it becomes
visible, whichever way it arrives; a mismatch is 422 ``chunk_hash_mismatch``
and leaves nothing stored.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncConnection

from fleetyard.protocol.chunks import (
    DOWNLOAD_URL_TTL_SECONDS,
    MAX_BATCH_BYTES,
    MAX_BATCH_CHUNKS,
    UPLOAD_URL_TTL_SECONDS,
    BatchChunk,
    ChunkCheck,
    ChunkCheckResult,
    ChunkRef,
    DownloadUrl,
    DownloadUrls,
    DownloadUrlsRequest,
    MountRequest,
    MountResult,
    UploadBatch,
    UploadCommit,
    UploadCommitResult,
    UploadUrl,
    UploadUrls,
    UploadUrlsRequest,
)
from fleetyard.protocol.errors import ErrorCode
from fleetyard.server.services.auth import Principal
from fleetyard.server.services.chunks import _access, signing
from fleetyard.server.services.clock import now_ms
from fleetyard.server.services.errors import NotFound, ServiceError, Unavailable, Unprocessable
from fleetyard.server.settings import Settings
from fleetyard.server.storage.blobs import BlobNotFoundError, BlobStore
from fleetyard.server.storage.blobs.base import StagedCommit
from fleetyard.server.storage.database import Database
from fleetyard.server.storage.dialect import begin_write
from fleetyard.server.storage.repositories import chunk_packs as packs_repo
from fleetyard.server.storage.repositories import chunks as repo


class QuotaExceeded(ServiceError):
    status, code, title = 413, ErrorCode.QUOTA_EXCEEDED, "Quota exceeded"


class ChunkMismatch(ServiceError):
    status, code, title = 422, ErrorCode.CHUNK_HASH_MISMATCH, "Chunk hash mismatch"


class ChunkMissing(ServiceError):
    status, code, title = 422, ErrorCode.CHUNK_MISSING, "Chunk missing"


@dataclass(frozen=True, slots=True)
class Chunks:
    """What the chunk services need from the running server."""

    database: Database
    blobs: BlobStore
    settings: Settings

    @property
    def default_limit(self) -> int | None:
        return self.settings.default_site_quota_bytes


def _quota_check(used: int, limit: int | None, needed: int, site_id: str) -> None:
    if limit is not None and needed > 0 and used + needed > limit:
        raise QuotaExceeded(
            f"Site {site_id!r} would use {used + needed} bytes; its limit is {limit}.",
            used_bytes=used,
            limit_bytes=limit,
            needed_bytes=needed,
        )


def _unique(refs: list[ChunkRef]) -> dict[str, int]:
    sizes: dict[str, int] = {}
    for index, ref in enumerate(refs):
        if sizes.setdefault(ref.hash, ref.size) != ref.size:
            raise Unprocessable(
                f"Chunk {ref.hash} is listed with two sizes.",
                errors=[
                    {
                        "loc": ["body", "chunks", index, "size"],
                        "message": "differs from an earlier entry with the same hash",
                        "type": "value_error",
                    }
                ],
            )
    return sizes


def _missing(hashes: list[str]) -> ChunkMissing:
    return ChunkMissing(
        f"The site does not have {len(hashes)} of these chunks; upload them first.",
        missing=hashes,
    )


def _expires(seconds: int) -> tuple[int, datetime]:
    exp = int(time.time()) + seconds
    return exp, datetime.fromtimestamp(exp, tz=UTC)


async def check(
    ctx: Chunks, principal: Principal, site_id: str, body: ChunkCheck
) -> ChunkCheckResult:
    async with ctx.database.connect() as conn:
        await _access.require_site(conn, principal, site_id, _access.WRITE)
        present = await repo.site_sizes(
            conn, org_id=principal.org_id, site_id=site_id, hashes=body.hashes
        )
    seen: set[str] = set()
    missing = []
    for h in body.hashes:
        if h not in present and h not in seen:
            seen.add(h)
            missing.append(h)
    return ChunkCheckResult(missing=missing)


async def upload_urls(
    ctx: Chunks, principal: Principal, site_id: str, body: UploadUrlsRequest, *, base_url: str
) -> UploadUrls:
    """Signed upload URLs for the chunks the site lacks; 413 when they would not fit."""
    sizes = _unique(body.chunks)
    async with ctx.database.connect() as conn:
        await _access.require_site(conn, principal, site_id, _access.WRITE)
        present = await repo.site_sizes(
            conn, org_id=principal.org_id, site_id=site_id, hashes=sizes.keys()
        )
        quota = await repo.get_quota(
            conn, org_id=principal.org_id, site_id=site_id, default_limit=ctx.default_limit
        )
    missing = {h: s for h, s in sizes.items() if h not in present}
    _quota_check(quota.used_bytes, quota.limit_bytes, sum(missing.values()), site_id)
    exp, expires_at = _expires(UPLOAD_URL_TTL_SECONDS)
    secret = ctx.settings.effective_secret_key
    if body.pack and not ctx.blobs.presigns:
        batches = [
            UploadBatch(
                url=signing.batch_url(base_url, secret, chunks=group, site_id=site_id, exp=exp),
                chunks=[BatchChunk(hash=h, size=size) for h, size in group],
                expires_at=expires_at,
            )
            for group in _groups(missing)
        ]
        return UploadUrls(urls=[], batches=batches)
    urls = []
    for h, size in missing.items():
        url = await ctx.blobs.presigned_put_url(
            site_id, h, timedelta(seconds=UPLOAD_URL_TTL_SECONDS)
        )
        if url is None:
            url = signing.upload_url(base_url, secret, hash=h, site_id=site_id, size=size, exp=exp)
        urls.append(UploadUrl(hash=h, url=url, expires_at=expires_at))
    return UploadUrls(urls=urls)


def _groups(sizes: dict[str, int]) -> list[list[tuple[str, int]]]:
    """Chunks in request order, cut into multi-chunk uploads of bounded size."""
    groups: list[list[tuple[str, int]]] = []
    current: list[tuple[str, int]] = []
    total = 0
    for h, size in sizes.items():
        if current and (len(current) >= MAX_BATCH_CHUNKS or total + size > MAX_BATCH_BYTES):
            groups.append(current)
            current, total = [], 0
        current.append((h, size))
        total += size
    if current:
        groups.append(current)
    return groups


async def _record(
    ctx: Chunks,
    conn: AsyncConnection,
    *,
    org_id: str,
    site_id: str,
    chunks: dict[str, int],
    stored: StagedCommit | None = None,
) -> None:
    """Give the site these verified, stored chunks and count them in its quota.

    Runs in a write transaction: a few statements for the whole batch, the quota
    row locked once. ``stored`` is what the commit placed (and where, for chunks
    in a pack). A chunk whose blob vanished meanwhile (a GC run deleted it
    between the commit's check and this transaction, which now holds the chunk
    rows) is placed again from the site's staging area when the chunks were
    staged; otherwise 503: upload again.
    """
    now = now_ms()
    packed = stored.packed if stored is not None else None
    where = await repo.upsert_chunks(conn, sizes=chunks, now=now, packed=packed)
    if stored is not None:
        await packs_repo.add_packs(conn, packs=stored.packs, now=now)
    new = await repo.add_site_chunks(conn, org_id=org_id, site_id=site_id, sizes=chunks, now=now)
    added = sum(chunks[h] for h in new)
    if added:
        quota = await repo.lock_quota(
            conn, org_id=org_id, site_id=site_id, default_limit=ctx.default_limit, now=now
        )
        _quota_check(quota.used_bytes, quota.limit_bytes, added, site_id)
        await repo.add_used(
            conn,
            org_id=org_id,
            site_id=site_id,
            delta=added,
            default_limit=ctx.default_limit,
            now=now,
        )
    in_packs = {h: at for h, at in where.items() if at is not None}
    gone = await ctx.blobs.absent(sorted(chunks), at=in_packs)
    if gone and stored is not None:
        again = await ctx.blobs.commit_staged_many(site_id, {h: chunks[h] for h in gone})
        await packs_repo.add_packs(conn, packs=again.packs, now=now)
        await packs_repo.relocate(
            conn, where={h: again.packed.get(h) for h in gone if h in again.placed}
        )
        gone = [h for h in gone if h not in again.placed]
    if gone:
        raise Unavailable(
            f"Chunk {gone[0]} was removed while it was being stored; upload it again.",
            headers={"Retry-After": "1"},
        )


async def _discard_unrecorded(ctx: Chunks, stored: StagedCommit) -> None:
    """Delete what a commit that was then refused placed and no chunk row vouches
    for (files of their own, packs), under the same lock as GC."""
    async with ctx.database.engine.connect() as conn:
        await begin_write(conn, ctx.database.kind)
        for h in sorted(stored.placed):
            if h not in stored.packed and not await repo.lock_chunk(conn, hash=h):
                await ctx.blobs.delete(h)
        kept = await packs_repo.recorded(conn, packs=stored.packs)
        for pack in sorted(set(stored.packs) - kept):
            await ctx.blobs.drop_pack(pack)
        await conn.commit()


async def commit(
    ctx: Chunks, principal: Principal, site_id: str, body: UploadCommit
) -> UploadCommitResult:
    """Record uploaded chunks: staged uploads are placed under their hash and made
    durable (S3: each staged object is read back and verified first), then recorded,
    with the quota, in one transaction.

    Chunks verified before a mismatch was found stay recorded (they are good
    uploads); the mismatch is 422 ``chunk_hash_mismatch`` naming the bad hash.
    A commit past the quota is 413 and drops the staged uploads: nothing is kept.
    """
    sizes = _unique(body.chunks)
    async with ctx.database.connect() as conn:
        await _access.require_site(conn, principal, site_id, _access.WRITE)
        present = await repo.site_sizes(
            conn, org_id=principal.org_id, site_id=site_id, hashes=sizes.keys()
        )
        quota = await repo.get_quota(
            conn, org_id=principal.org_id, site_id=site_id, default_limit=ctx.default_limit
        )
        todo = {h: s for h, s in sizes.items() if h not in present}
        # Stored already (for another site): the upload is checked, not stored again.
        elsewhere = await packs_repo.stored(conn, hashes=todo.keys()) if todo else {}
    for h, size in sizes.items():
        if h in present and present[h] != size:
            raise ChunkMismatch(f"Chunk {h} has {present[h]} bytes, not {size}.", hash=h)
    if not todo:
        return UploadCommitResult(committed=list(sizes))
    try:
        _quota_check(quota.used_bytes, quota.limit_bytes, sum(todo.values()), site_id)
    except QuotaExceeded:
        await ctx.blobs.release_staged(site_id, list(todo))
        raise
    outcome = await ctx.blobs.commit_staged_many(site_id, todo, skip=elsewhere.keys())
    if outcome.placed:
        placed = dict(outcome.placed)
        try:
            async with ctx.database.engine.connect() as conn:
                await begin_write(conn, ctx.database.kind)
                await _record(
                    ctx,
                    conn,
                    org_id=principal.org_id,
                    site_id=site_id,
                    chunks=placed,
                    stored=outcome,
                )
                await conn.commit()
        except QuotaExceeded:
            await ctx.blobs.release_staged(site_id, list(placed))
            await _discard_unrecorded(ctx, outcome)
            raise
        await ctx.blobs.release_staged(site_id, list(placed))
    if outcome.mismatch is not None:
        raise ChunkMismatch(outcome.mismatch.detail, hash=outcome.mismatch.hash)
    if outcome.missing:
        raise _missing(sorted(outcome.missing))
    return UploadCommitResult(committed=list(sizes))


async def download_urls(
    ctx: Chunks, principal: Principal, site_id: str, body: DownloadUrlsRequest, *, base_url: str
) -> DownloadUrls:
    async with ctx.database.connect() as conn:
        await _access.require_site(conn, principal, site_id, _access.READ)
        present = await repo.site_sizes(
            conn, org_id=principal.org_id, site_id=site_id, hashes=body.hashes
        )
    wanted = list(dict.fromkeys(body.hashes))
    missing = [h for h in wanted if h not in present]
    if missing:
        raise _missing(missing)
    exp, expires_at = _expires(DOWNLOAD_URL_TTL_SECONDS)
    secret = ctx.settings.effective_secret_key
    urls = []
    for h in wanted:
        url = await ctx.blobs.presigned_get_url(h, timedelta(seconds=DOWNLOAD_URL_TTL_SECONDS))
        if url is None:
            url = signing.download_url(base_url, secret, hash=h, site_id=site_id, exp=exp)
        urls.append(DownloadUrl(hash=h, url=url, expires_at=expires_at))
    return DownloadUrls(urls=urls)


async def serve_download(ctx: Chunks, *, hash: str, site_id: str, exp: int, sig: str) -> bytes:
    """The filesystem store's signed download route: the chunk's bytes."""
    signing.verify(
        ctx.settings.effective_secret_key,
        method="GET",
        hash=hash,
        site_id=site_id,
        size=None,
        exp=exp,
        sig=sig,
    )
    for attempt in range(2):
        async with ctx.database.connect() as conn:
            org_id = await repo.site_org(conn, site_id=site_id)
            present = (
                {}
                if org_id is None
                else await repo.site_sizes(conn, org_id=org_id, site_id=site_id, hashes=[hash])
            )
            where = await packs_repo.stored(conn, hashes=[hash]) if hash in present else {}
        if hash not in where:
            raise NotFound(f"Chunk {hash} was not found.")
        try:
            return await ctx.blobs.get(hash, where[hash])
        except BlobNotFoundError as exc:
            if attempt or where[hash] is None:
                raise NotFound(f"Chunk {hash} was not found.") from exc
            # GC rewrote its pack between the lookup and the read: look it up again.
    raise AssertionError("unreachable")


async def mount(ctx: Chunks, principal: Principal, site_id: str, body: MountRequest) -> MountResult:
    """Chunks a version of ``from_app_id`` uses become this site's, without an upload."""
    wanted = list(dict.fromkeys(body.hashes))
    async with ctx.database.engine.connect() as conn:
        await begin_write(conn, ctx.database.kind)
        await _access.require_site(conn, principal, site_id, _access.WRITE)
        await _access.require_app_readable(conn, principal, body.from_app_id)
        available = await repo.mountable(
            conn, org_id=principal.org_id, app_id=body.from_app_id, hashes=wanted
        )
        missing = [h for h in wanted if h not in available]
        if missing:
            raise _missing(missing)
        present = await repo.site_sizes(
            conn, org_id=principal.org_id, site_id=site_id, hashes=wanted
        )
        todo = {h: available[h] for h in wanted if h not in present}
        if todo:
            now = now_ms()
            quota = await repo.lock_quota(
                conn,
                org_id=principal.org_id,
                site_id=site_id,
                default_limit=ctx.default_limit,
                now=now,
            )
            _quota_check(quota.used_bytes, quota.limit_bytes, sum(todo.values()), site_id)
            await _record(ctx, conn, org_id=principal.org_id, site_id=site_id, chunks=todo)
        await conn.commit()
    return MountResult(mounted=wanted)
