"""Chunks, uploads and site quotas on the wire.

Files are split into content-defined chunks; each chunk is named by the
lowercase hex SHA-256 of its bytes. A push asks which chunks the site lacks,
gets signed upload URLs for those, uploads them, and publishes a manifest
that names chunks by hash::

    missing = client.post(f"/v1/sites/{site}/chunks/check",
                          json=ChunkCheck(hashes=[h1, h2]).model_dump())
    urls = UploadUrlsRequest(chunks=[ChunkRef(hash=h1, size=len(data))])

A site only ever learns about chunks it uploaded or mounted itself: "missing"
never reveals what another tenant stores. Quotas count the bytes of a site's
chunks.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import AfterValidator, Field

from fleetyard.protocol.common import RequestModel, ResponseModel, Timestamp

MAX_CHUNK_SIZE = 8 * 1024 * 1024
"""The largest chunk the server accepts (8 MiB); FastCDC's maximum stays below it."""
MAX_HASHES_PER_REQUEST = 1000
UPLOAD_URL_TTL_SECONDS = 60 * 60
MAX_BATCH_BYTES = 8 * 1024 * 1024
"""The most chunk bytes one multi-chunk upload carries (its body adds 36 bytes a chunk)."""
MAX_BATCH_CHUNKS = 512
"""The most chunks one multi-chunk upload carries."""
BATCH_FRAME_BYTES = 36
"""Each chunk of a multi-chunk upload body is preceded by its raw 32-byte SHA-256 and
its size as a 4-byte big-endian integer."""
DOWNLOAD_URL_TTL_SECONDS = 15 * 60

_HASH_RE = re.compile(r"^[0-9a-f]{64}$")


def _check_hash(value: str) -> str:
    if not _HASH_RE.match(value):
        raise ValueError("a chunk hash is 64 lowercase hexadecimal characters (SHA-256)")
    return value


ChunkHash = Annotated[str, AfterValidator(_check_hash)]
"""The bare lowercase hex SHA-256 of a chunk's bytes."""


def is_chunk_hash(value: str) -> bool:
    """Whether ``value`` is a well-formed chunk hash.

    >>> is_chunk_hash("0" * 64), is_chunk_hash("A" * 64)
    (True, False)
    """
    return bool(_HASH_RE.match(value))


class ChunkRef(RequestModel):
    """A chunk by hash and size: ``ChunkRef(hash=sha256(data).hexdigest(), size=len(data))``."""

    hash: ChunkHash
    size: int = Field(ge=1, le=MAX_CHUNK_SIZE)


class ChunkCheck(RequestModel):
    """Which of these hashes does the site lack? ``ChunkCheck(hashes=[h1, h2])``."""

    hashes: list[ChunkHash] = Field(max_length=MAX_HASHES_PER_REQUEST)


class ChunkCheckResult(ResponseModel):
    """The hashes of :class:`ChunkCheck` that the site does not have, in request order."""

    missing: list[str]


class UploadUrlsRequest(RequestModel):
    """Upload URLs for these chunks (only those the site lacks get one).

    Fails with 413 ``quota_exceeded`` before anything is signed when the
    missing bytes would push the site past its limit.
    """

    chunks: list[ChunkRef] = Field(max_length=MAX_HASHES_PER_REQUEST)
    pack: bool = False
    """Group the chunks into multi-chunk uploads when the store takes them (the
    filesystem store): those come back in ``batches`` instead of ``urls``."""


class UploadUrl(ResponseModel):
    """Where to ``PUT`` one chunk's raw bytes, with the headers to send; valid 60 minutes."""

    hash: str
    url: str
    method: Literal["PUT"] = "PUT"
    headers: dict[str, str] = Field(default_factory=dict)
    expires_at: Timestamp


class BatchChunk(ResponseModel):
    """One chunk of a multi-chunk upload."""

    hash: str
    size: int


class UploadBatch(ResponseModel):
    """Where to ``PUT`` several chunks in one request; valid 60 minutes.

    The body is, for each chunk of ``chunks`` in that order, its raw 32-byte
    SHA-256, its size as a 4-byte big-endian integer, then its bytes. The link's
    signature covers exactly that list; each chunk is checked like a single
    upload (422 ``chunk_hash_mismatch`` names the first bad one, and nothing of
    the request is kept).
    """

    url: str
    method: Literal["PUT"] = "PUT"
    headers: dict[str, str] = Field(default_factory=dict)
    chunks: list[BatchChunk]
    expires_at: Timestamp


class UploadUrls(ResponseModel):
    urls: list[UploadUrl]
    batches: list[UploadBatch] = Field(default_factory=list)
    """Multi-chunk uploads, when ``pack`` was asked for and the store takes them."""


class UploadCommit(RequestModel):
    """Record uploaded chunks: they become the site's (``check`` stops listing them)
    and count against its quota, which is checked again here (413). Uploads are
    staged until then; S3 objects are read back and checked (422
    ``chunk_hash_mismatch``); chunks never uploaded are 422 ``chunk_missing``."""

    chunks: list[ChunkRef] = Field(max_length=MAX_HASHES_PER_REQUEST)


class UploadCommitResult(ResponseModel):
    committed: list[str]


class DownloadUrlsRequest(RequestModel):
    """Download URLs for chunks the site has (``chunk_missing`` for any it lacks)."""

    hashes: list[ChunkHash] = Field(max_length=MAX_HASHES_PER_REQUEST)


class DownloadUrl(ResponseModel):
    """Where to ``GET`` one chunk; valid 15 minutes."""

    hash: str
    url: str
    expires_at: Timestamp


class DownloadUrls(ResponseModel):
    urls: list[DownloadUrl]


class MountRequest(RequestModel):
    """Make chunks that a version of ``from_app_id`` uses available to this site,
    without uploading them again. Mounted bytes count against the site's quota."""

    hashes: list[ChunkHash] = Field(max_length=MAX_HASHES_PER_REQUEST)
    from_app_id: str = Field(min_length=1, max_length=40)


class MountResult(ResponseModel):
    mounted: list[str]


class Referrer(ResponseModel):
    """One app version that uses a chunk."""

    app_id: str
    version_id: str
    number: int


class Quota(ResponseModel):
    """A site's chunk storage: bytes used and the limit (``None``: unlimited)."""

    site_id: str
    used_bytes: int
    limit_bytes: int | None = None


class QuotaUpdate(RequestModel):
    """Set a site's limit in bytes; ``None`` lifts it. ``QuotaUpdate(limit_bytes=10**9)``."""

    limit_bytes: int | None = Field(ge=0)


class QuotaDay(ResponseModel):
    day: str
    """``YYYY-MM-DD`` (UTC)."""
    used_bytes: int


class QuotaHistory(ResponseModel):
    """Bytes used at the end of each day that saw a change, oldest first."""

    items: list[QuotaDay]


__all__ = [
    "BATCH_FRAME_BYTES",
    "DOWNLOAD_URL_TTL_SECONDS",
    "MAX_BATCH_BYTES",
    "MAX_BATCH_CHUNKS",
    "MAX_CHUNK_SIZE",
    "MAX_HASHES_PER_REQUEST",
    "UPLOAD_URL_TTL_SECONDS",
    "BatchChunk",
    "ChunkCheck",
    "ChunkCheckResult",
    "ChunkHash",
    "ChunkRef",
    "DownloadUrl",
    "DownloadUrls",
    "DownloadUrlsRequest",
    "MountRequest",
    "MountResult",
    "Quota",
    "QuotaDay",
    "QuotaHistory",
    "QuotaUpdate",
    "Referrer",
    "UploadBatch",
    "UploadCommit",
    "UploadCommitResult",
    "UploadUrl",
    "UploadUrls",
    "UploadUrlsRequest",
    "is_chunk_hash",
]
