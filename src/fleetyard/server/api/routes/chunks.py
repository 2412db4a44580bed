"""Chunks of a site (check, upload, commit, download, mount, referrers), the signed
chunk routes of the filesystem blob store, and site quotas."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request
from starlette.responses import Response

from fleetyard.protocol.chunks import (
    ChunkCheck,
    ChunkCheckResult,
    DownloadUrls,
    DownloadUrlsRequest,
    MountRequest,
    MountResult,
    Quota,
    QuotaHistory,
    QuotaUpdate,
    Referrer,
    UploadCommit,
    UploadCommitResult,
    UploadUrls,
    UploadUrlsRequest,
)
from fleetyard.protocol.common import Page
from fleetyard.protocol.errors import PROBLEM_CONTENT_TYPE, Problem
from fleetyard.server.api.auth import Authenticated
from fleetyard.server.api.deps import State
from fleetyard.server.api.pagination import Pagination, to_page
from fleetyard.server.api.routes._shared import SCOPED_ONE, ResourceId, problems
from fleetyard.server.services.auth import Principal
from fleetyard.server.services.chunks import _access, quotas, receive, uploads
from fleetyard.server.state import AppState

router = APIRouter(tags=["chunks"])


def _somewhere(permission: str) -> Any:
    async def dependency(principal: Authenticated) -> Principal:
        _access.require_somewhere(principal, permission)
        return principal

    dependency.__name__ = f"require_chunks_{permission}"
    return dependency


# 403 before any lookup for a credential that holds the permission on no site or app.
ChunkRead = Annotated[Principal, Depends(_somewhere(_access.READ))]
ChunkWrite = Annotated[Principal, Depends(_somewhere(_access.WRITE))]
ChunkAdmin = Annotated[Principal, Depends(_somewhere(_access.ADMIN))]

HashPath = Annotated[
    str,
    Path(pattern=r"^[0-9a-f]{64}$", description="A chunk's lowercase hex SHA-256."),
]
SiteQuery = Annotated[str, Query(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_\-]+$")]
ExpQuery = Annotated[int, Query(ge=0, le=2**40, description="Expiry, seconds since the epoch.")]
SigQuery = Annotated[str, Query(min_length=1, max_length=128)]


def _problem(status: int, description: str) -> dict[int | str, dict[str, Any]]:
    return {
        status: {
            "model": Problem,
            "description": description,
            "content": {PROBLEM_CONTENT_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}},
        }
    }


QUOTA = _problem(
    413,
    "The chunks would push the site past its limit (`quota_exceeded`, with `used_bytes`,"
    " `limit_bytes`, `needed_bytes`).",
)
LINK = _problem(403, "The link is tampered with (`signature_invalid`) or expired (`url_expired`).")


def _ctx(state: AppState) -> uploads.Chunks:
    return uploads.Chunks(database=state.database, blobs=state.blobs, settings=state.settings)


def _base_url(request: Request) -> str:
    return str(request.base_url)


@router.post(
    "/v1/sites/{site_id}/chunks/check",
    response_model=ChunkCheckResult,
    summary="Which chunks the site lacks",
    responses=problems(*SCOPED_ONE),
)
async def check(
    principal: ChunkWrite, state: State, site_id: ResourceId, body: ChunkCheck
) -> ChunkCheckResult:
    """Of up to 1,000 hashes, those the site has not uploaded or mounted (request order).
    Scope `write` on the site (or on one of its apps)."""
    return await uploads.check(_ctx(state), principal, site_id, body)


@router.post(
    "/v1/sites/{site_id}/chunks/upload-urls",
    response_model=UploadUrls,
    summary="Signed upload URLs for missing chunks",
    responses={**problems(*SCOPED_ONE), **QUOTA},
)
async def upload_urls(
    principal: ChunkWrite,
    state: State,
    request: Request,
    site_id: ResourceId,
    body: UploadUrlsRequest,
) -> UploadUrls:
    """A `PUT` URL (60 minutes) for each chunk the site lacks; chunks it has get none.
    413 `quota_exceeded` before anything when the missing bytes would not fit."""
    return await uploads.upload_urls(
        _ctx(state), principal, site_id, body, base_url=_base_url(request)
    )


@router.post(
    "/v1/sites/{site_id}/chunks/commit",
    response_model=UploadCommitResult,
    summary="Record uploaded chunks",
    responses={**problems(*SCOPED_ONE), **QUOTA},
)
async def commit(
    principal: ChunkWrite, state: State, site_id: ResourceId, body: UploadCommit
) -> UploadCommitResult:
    """After the uploads: the chunks become the site's and count against its quota,
    checked again here (413 drops the staged uploads). S3 objects are read back and
    checked (422 `chunk_hash_mismatch`); 422 `chunk_missing` for chunks never
    uploaded. Durable before it answers."""
    return await uploads.commit(_ctx(state), principal, site_id, body)


@router.post(
    "/v1/sites/{site_id}/chunks/download-urls",
    response_model=DownloadUrls,
    summary="Signed download URLs",
    responses=problems(*SCOPED_ONE),
)
async def download_urls(
    principal: ChunkRead,
    state: State,
    request: Request,
    site_id: ResourceId,
    body: DownloadUrlsRequest,
) -> DownloadUrls:
    """A `GET` URL (15 minutes) per chunk; 422 `chunk_missing` for chunks the site lacks.
    Scope `read` on the site."""
    return await uploads.download_urls(
        _ctx(state), principal, site_id, body, base_url=_base_url(request)
    )


@router.post(
    "/v1/sites/{site_id}/chunks/mount",
    response_model=MountResult,
    summary="Reuse another app's chunks",
    responses={**problems(*SCOPED_ONE), **QUOTA},
)
async def mount(
    principal: ChunkWrite, state: State, site_id: ResourceId, body: MountRequest
) -> MountResult:
    """Chunks a version of `from_app_id` (any site of the organisation the caller can
    read) uses become this site's without an upload; they count against its quota."""
    return await uploads.mount(_ctx(state), principal, site_id, body)


@router.get(
    "/v1/sites/{site_id}/chunks/{hash}/referrers",
    response_model=Page[Referrer],
    summary="App versions that use a chunk",
    responses=problems(400, *SCOPED_ONE),
)
async def referrers(
    principal: ChunkRead,
    state: State,
    site_id: ResourceId,
    hash: HashPath,
    page: Pagination,
) -> Page[Referrer]:
    return to_page(await quotas.referrers(_ctx(state), principal, site_id, hash, page))


@router.put(
    "/v1/chunk-uploads/{hash}",
    status_code=204,
    summary="Upload a chunk (signed link)",
    responses={**problems(422), **LINK},
)
async def put_chunk(
    state: State,
    request: Request,
    hash: HashPath,
    site: SiteQuery,
    size: Annotated[int, Query(ge=1)],
    exp: ExpQuery,
    sig: SigQuery,
) -> Response:
    """The raw bytes of one chunk, to a link from `upload-urls` (no bearer token: the
    signature is the authorisation). Staged until `commit`. 422 `chunk_hash_mismatch`
    stores nothing."""
    body = await request.body()
    await receive.receive_upload(
        _ctx(state), hash=hash, site_id=site, size=size, exp=exp, sig=sig, body=body
    )
    return Response(status_code=204)


@router.put(
    "/v1/chunk-uploads",
    status_code=204,
    summary="Upload several chunks (signed link)",
    responses={**problems(422), **LINK},
)
async def put_chunks(
    state: State,
    request: Request,
    site: SiteQuery,
    list_: Annotated[str, Query(alias="list", pattern=r"^[0-9a-f]{64}$")],
    bytes_: Annotated[int, Query(alias="bytes", ge=1)],
    exp: ExpQuery,
    sig: SigQuery,
) -> Response:
    """The chunks of a batch from `upload-urls` (`pack: true`): for each, its raw
    32-byte SHA-256, its size as 4 bytes big-endian, its bytes. Staged until `commit`.
    422 `chunk_hash_mismatch` (with `hash`) keeps nothing of the request."""
    await receive.receive_batch(
        _ctx(state),
        site_id=site,
        listed=list_,
        total=bytes_,
        exp=exp,
        sig=sig,
        body=request.stream(),
    )
    return Response(status_code=204)


@router.get(
    "/v1/chunk-downloads/{hash}",
    summary="Download a chunk (signed link)",
    response_class=Response,
    responses={
        200: {"content": {"application/octet-stream": {}}, "description": "The chunk."},
        **problems(404, 422),
        **LINK,
    },
)
async def get_chunk(
    state: State, hash: HashPath, site: SiteQuery, exp: ExpQuery, sig: SigQuery
) -> Response:
    data = await uploads.serve_download(_ctx(state), hash=hash, site_id=site, exp=exp, sig=sig)
    return Response(
        data,
        media_type="application/octet-stream",
        headers={"Cache-Control": "private, max-age=900, immutable", "ETag": f'"{hash}"'},
    )


@router.get(
    "/v1/sites/{site_id}/quota",
    response_model=Quota,
    summary="A site's chunk storage",
    responses=problems(*SCOPED_ONE),
)
async def get_quota(principal: ChunkRead, state: State, site_id: ResourceId) -> Quota:
    return await quotas.get_quota(_ctx(state), principal, site_id)


@router.patch(
    "/v1/sites/{site_id}/quota",
    response_model=Quota,
    summary="Set a site's storage limit",
    responses=problems(*SCOPED_ONE),
)
async def set_quota(
    principal: ChunkAdmin, state: State, site_id: ResourceId, body: QuotaUpdate
) -> Quota:
    """`limit_bytes: null` lifts the limit. Scope `admin` on the site."""
    return await quotas.set_quota(_ctx(state), principal, site_id, body)


@router.get(
    "/v1/sites/{site_id}/quota/history",
    response_model=QuotaHistory,
    summary="A site's storage by day",
    responses=problems(*SCOPED_ONE),
)
async def quota_history(
    principal: ChunkRead,
    state: State,
    site_id: ResourceId,
    days: Annotated[int, Query(ge=1, le=3660, description="How many days back.")] = 90,
) -> QuotaHistory:
    """Bytes used at the end of each day that saw a change, oldest first."""
    return await quotas.quota_history(_ctx(state), principal, site_id, days=days)
