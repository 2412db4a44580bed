"""Check, upload, commit, download and mount chunks of a site.

The flow of a push: ``check`` the hashes, ask ``upload_urls`` for the missing
ones (413 ``quota_exceeded`` before anything is signed when they would not
fit), PUT each chunk, ``commit`` (S3: the server reads each object back and
verifies it), then publish a version (which only names chunks the site has).

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
    MAX_CHUNK_SIZE,
    UPLOAD_URL_TTL_SECONDS,
    ChunkCheck,
    ChunkCheckResult,
    ChunkRef,
    DownloadUrl,
    DownloadUrls,
    DownloadUrlsRequest,
    MountRequest,
    MountResult,
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
from fleetyard.server.services.errors import (
    NotFound,
    ServiceError,
    Unavailable,
    Unprocessable,
)
from fleetyard.server.settings import Settings
from fleetyard.server.storage.blobs import BlobMismatchError, BlobNotFoundError, BlobStore
from fleetyard.server.storage.database import Database
from fleetyard.server.storage.dialect import begin_write
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
    urls = []
    for h, size in missing.items():
        url = await ctx.blobs.presigned_put_url(
            site_id, h, timedelta(seconds=UPLOAD_URL_TTL_SECONDS)
        )
        if url is None:
            url = signing.upload_url(base_url, secret, hash=h, site_id=site_id, size=size, exp=exp)
        urls.append(UploadUrl(hash=h, url=url, expires_at=expires_at))
    return UploadUrls(urls=urls)


async def _record(
    ctx: Chunks, conn: AsyncConnection, *, org_id: str, site_id: str, chunks: dict[str, int]
) -> None:
    """Give the site these verified, stored chunks and count them in its quota.

    Runs in a write transaction. A chunk whose blob vanished meanwhile (a GC run
    that deleted it between our write and this transaction) is 503: upload again.
    """
    now = now_ms()
    added = 0
    for h, size in sorted(chunks.items()):
        await repo.upsert_chunk(conn, hash=h, size=size, now=now)
        if await repo.add_site_chunk(
            conn, org_id=org_id, site_id=site_id, hash=h, size=size, now=now
        ):
            added += size
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
    for h in chunks:
        if not await ctx.blobs.exists(h):
            raise Unavailable(
                f"Chunk {h} was removed while it was being stored; upload it again.",
                headers={"Retry-After": "1"},
            )


async def receive_upload(
    ctx: Chunks, *, hash: str, site_id: str, size: int, exp: int, sig: str, body: bytes
) -> None:
    """The filesystem store's signed upload route: verify the link, the bytes, store."""
    signing.verify(
        ctx.settings.effective_secret_key,
        method="PUT",
        hash=hash,
        site_id=site_id,
        size=size,
        exp=exp,
        sig=sig,
    )
    if size < 1 or size > MAX_CHUNK_SIZE:
        raise Unprocessable(f"A chunk holds 1 to {MAX_CHUNK_SIZE} bytes.")
    async with ctx.database.connect() as conn:
        org_id = await repo.site_org(conn, site_id=site_id)
        if org_id is None:
            raise NotFound(f"Site {site_id!r} was not found.")
        present = await repo.site_sizes(conn, org_id=org_id, site_id=site_id, hashes=[hash])
        quota = await repo.get_quota(
            conn, org_id=org_id, site_id=site_id, default_limit=ctx.default_limit
        )
    if hash in present:
        return
    _quota_check(quota.used_bytes, quota.limit_bytes, size, site_id)
    try:
        await ctx.blobs.put_verified(hash, size, body)
    except BlobMismatchError as exc:
        raise ChunkMismatch(exc.detail, hash=hash) from exc
    async with ctx.database.engine.connect() as conn:
        await begin_write(conn, ctx.database.kind)
        await _record(ctx, conn, org_id=org_id, site_id=site_id, chunks={hash: size})
        await conn.commit()


async def commit(
    ctx: Chunks, principal: Principal, site_id: str, body: UploadCommit
) -> UploadCommitResult:
    """Record uploaded chunks. S3: each staged object is read back and verified first.

    Chunks verified before a mismatch was found stay recorded (they are good
    uploads); the mismatch is 422 ``chunk_hash_mismatch`` naming the bad hash.
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
    for h, size in sizes.items():
        if h in present and present[h] != size:
            raise ChunkMismatch(f"Chunk {h} has {present[h]} bytes, not {size}.", hash=h)
    todo = {h: s for h, s in sizes.items() if h not in present}
    if todo and not ctx.blobs.presigns:
        raise _missing(sorted(todo))
    _quota_check(quota.used_bytes, quota.limit_bytes, sum(todo.values()), site_id)
    verified: dict[str, int] = {}
    missing: list[str] = []
    failure: ChunkMismatch | None = None
    for h, size in todo.items():
        try:
            await ctx.blobs.commit_staged(site_id, h, size)
        except BlobNotFoundError:
            missing.append(h)
            continue
        except BlobMismatchError as exc:
            failure = ChunkMismatch(exc.detail, hash=h)
            break
        verified[h] = size
    if verified:
        async with ctx.database.engine.connect() as conn:
            await begin_write(conn, ctx.database.kind)
            await _record(ctx, conn, org_id=principal.org_id, site_id=site_id, chunks=verified)
            await conn.commit()
    if failure is not None:
        raise failure
    if missing:
        raise _missing(sorted(missing))
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
    async with ctx.database.connect() as conn:
        org_id = await repo.site_org(conn, site_id=site_id)
        present = (
            {}
            if org_id is None
            else await repo.site_sizes(conn, org_id=org_id, site_id=site_id, hashes=[hash])
        )
    if hash not in present:
        raise NotFound(f"Chunk {hash} was not found.")
    try:
        return await ctx.blobs.get(hash)
    except BlobNotFoundError as exc:
        raise NotFound(f"Chunk {hash} was not found.") from exc


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
