"""A site's chunk store: ``client.chunks``.

Pushes use these calls for you (:meth:`Apps.push <fleetyard.sdk.resources.apps.Apps.push>`);
they are public for tools that move chunks themselves (mirrors, agents).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Unpack

from fleetyard.protocol.chunks import (
    ChunkCheckResult,
    ChunkRef,
    DownloadUrls,
    MountResult,
    Referrer,
    UploadCommitResult,
    UploadUrls,
)
from fleetyard.protocol.common import Page
from fleetyard.sdk._operation import Operation, path_param, str_list
from fleetyard.sdk._pagination import AsyncPager, SyncPager
from fleetyard.sdk._types import ReadOptions, WriteOptions
from fleetyard.sdk.resources._base import (
    AsyncAPIResource,
    SyncAPIResource,
    async_raw_method,
    raw_method,
)

__all__ = ["AsyncChunks", "AsyncChunksWithRawResponse", "Chunks", "ChunksWithRawResponse"]

ChunkLike = ChunkRef | tuple[str, int]
"""A chunk to upload or commit: a :class:`ChunkRef` or a ``(hash, size)`` pair."""


def chunks_path(site_id: str, action: str) -> str:
    """``/v1/sites/{site_id}/chunks/{action}``, the id quoted."""
    return f"/v1/sites/{path_param(site_id, 'site_id')}/chunks/{action}"


def _refs(chunks: Iterable[ChunkLike]) -> list[dict[str, object]]:
    out: list[dict[str, object]] = []
    for chunk in chunks:
        if isinstance(chunk, ChunkRef):
            out.append({"hash": chunk.hash, "size": chunk.size})
        else:
            digest, size = chunk
            out.append({"hash": digest, "size": size})
    return out


def check_op(site_id: str, hashes: Iterable[str]) -> Operation[ChunkCheckResult]:
    body = {"hashes": str_list(hashes, "hashes")}
    return Operation("POST", chunks_path(site_id, "check"), ChunkCheckResult, json=body)


def upload_urls_op(
    site_id: str, chunks: Iterable[ChunkLike], *, pack: bool = False
) -> Operation[UploadUrls]:
    body: dict[str, object] = {"chunks": _refs(chunks)}
    if pack:
        body["pack"] = True
    return Operation("POST", chunks_path(site_id, "upload-urls"), UploadUrls, json=body)


def commit_op(site_id: str, chunks: Iterable[ChunkLike]) -> Operation[UploadCommitResult]:
    body = {"chunks": _refs(chunks)}
    return Operation("POST", chunks_path(site_id, "commit"), UploadCommitResult, json=body)


def _download_urls(site_id: str, hashes: Iterable[str]) -> Operation[DownloadUrls]:
    body = {"hashes": str_list(hashes, "hashes")}
    return Operation("POST", chunks_path(site_id, "download-urls"), DownloadUrls, json=body)


def _mount(site_id: str, hashes: Iterable[str], from_app_id: str) -> Operation[MountResult]:
    body = {"hashes": str_list(hashes, "hashes"), "from_app_id": from_app_id}
    return Operation("POST", chunks_path(site_id, "mount"), MountResult, json=body)


def _referrers_page(
    site_id: str, chunk_hash: str, cursor: str | None, limit: int | None
) -> Operation[Page[Referrer]]:
    path = chunks_path(site_id, f"{path_param(chunk_hash, 'chunk_hash')}/referrers")
    return Operation("GET", path, Page[Referrer], params={"cursor": cursor, "limit": limit})


class Chunks(SyncAPIResource):
    """A site's content-addressed chunks (at most 1,000 per call).

    Example::

        missing = client.chunks.check("site_01…", [h1, h2]).missing
    """

    def check(
        self, site_id: str, hashes: Iterable[str], **options: Unpack[WriteOptions]
    ) -> ChunkCheckResult:
        """Which of these hashes the site lacks (read-only).

        Example::

            result = client.chunks.check("site_01…", ["9f86d0…"])
        """
        return self._send(check_op(site_id, hashes), options)

    def upload_urls(
        self,
        site_id: str,
        chunks: Iterable[ChunkLike],
        *,
        pack: bool = False,
        **options: Unpack[WriteOptions],
    ) -> UploadUrls:
        """Signed ``PUT`` URLs for the chunks the site lacks (413 ``quota_exceeded`` first).
        With ``pack`` a server that takes multi-chunk uploads answers ``batches``
        instead (see :class:`~fleetyard.protocol.chunks.UploadBatch` for the body).

        Example::

            urls = client.chunks.upload_urls("site_01…", [("9f86d0…", 1024)]).urls
        """
        return self._send(upload_urls_op(site_id, chunks, pack=pack), options)

    def commit(
        self, site_id: str, chunks: Iterable[ChunkLike], **options: Unpack[WriteOptions]
    ) -> UploadCommitResult:
        """Record uploaded chunks: they become the site's and count against its quota
        (the server checks hash, size and quota; durable when it answers).

        Example::

            client.chunks.commit("site_01…", [("9f86d0…", 1024)])
        """
        return self._send(commit_op(site_id, chunks), options)

    def download_urls(
        self, site_id: str, hashes: Iterable[str], **options: Unpack[WriteOptions]
    ) -> DownloadUrls:
        """Signed ``GET`` URLs for chunks the site has (valid 15 minutes).

        Example::

            urls = client.chunks.download_urls("site_01…", ["9f86d0…"]).urls
        """
        return self._send(_download_urls(site_id, hashes), options)

    def mount(
        self,
        site_id: str,
        hashes: Iterable[str],
        *,
        from_app_id: str,
        **options: Unpack[WriteOptions],
    ) -> MountResult:
        """Make another app's chunks available to this site without uploading them.

        Example::

            client.chunks.mount("site_02…", ["9f86d0…"], from_app_id="app_web")
        """
        return self._send(_mount(site_id, hashes, from_app_id), options)

    def referrers(
        self,
        site_id: str,
        chunk_hash: str,
        *,
        limit: int | None = None,
        **options: Unpack[ReadOptions],
    ) -> SyncPager[Referrer]:
        """The app versions that use a chunk.

        Example::

            for ref in client.chunks.referrers("site_01…", "9f86d0…"):
                print(ref.app_id, ref.number)
        """
        return SyncPager(
            lambda cursor: self._send(_referrers_page(site_id, chunk_hash, cursor, limit), options)
        )


class AsyncChunks(AsyncAPIResource):
    """A site's content-addressed chunks (at most 1,000 per call).

    Example::

        missing = (await client.chunks.check("site_01…", [h1, h2])).missing
    """

    async def check(
        self, site_id: str, hashes: Iterable[str], **options: Unpack[WriteOptions]
    ) -> ChunkCheckResult:
        """Which of these hashes the site lacks (read-only).

        Example::

            result = await client.chunks.check("site_01…", ["9f86d0…"])
        """
        return await self._send(check_op(site_id, hashes), options)

    async def upload_urls(
        self,
        site_id: str,
        chunks: Iterable[ChunkLike],
        *,
        pack: bool = False,
        **options: Unpack[WriteOptions],
    ) -> UploadUrls:
        """Signed ``PUT`` URLs for the chunks the site lacks (``pack``: multi-chunk
        ``batches`` where the server takes them).

        Example::

            urls = (await client.chunks.upload_urls("site_01…", [("9f86d0…", 1024)])).urls
        """
        return await self._send(upload_urls_op(site_id, chunks, pack=pack), options)

    async def commit(
        self, site_id: str, chunks: Iterable[ChunkLike], **options: Unpack[WriteOptions]
    ) -> UploadCommitResult:
        """Record uploaded chunks (the server checks hash and size).

        Example::

            await client.chunks.commit("site_01…", [("9f86d0…", 1024)])
        """
        return await self._send(commit_op(site_id, chunks), options)

    async def download_urls(
        self, site_id: str, hashes: Iterable[str], **options: Unpack[WriteOptions]
    ) -> DownloadUrls:
        """Signed ``GET`` URLs for chunks the site has.

        Example::

            urls = (await client.chunks.download_urls("site_01…", ["9f86d0…"])).urls
        """
        return await self._send(_download_urls(site_id, hashes), options)

    async def mount(
        self,
        site_id: str,
        hashes: Iterable[str],
        *,
        from_app_id: str,
        **options: Unpack[WriteOptions],
    ) -> MountResult:
        """Make another app's chunks available to this site without uploading them.

        Example::

            await client.chunks.mount("site_02…", ["9f86d0…"], from_app_id="app_web")
        """
        return await self._send(_mount(site_id, hashes, from_app_id), options)

    def referrers(
        self,
        site_id: str,
        chunk_hash: str,
        *,
        limit: int | None = None,
        **options: Unpack[ReadOptions],
    ) -> AsyncPager[Referrer]:
        """The app versions that use a chunk.

        Example::

            async for ref in client.chunks.referrers("site_01…", "9f86d0…"):
                print(ref.app_id)
        """

        async def fetch(cursor: str | None) -> Page[Referrer]:
            return await self._send(_referrers_page(site_id, chunk_hash, cursor, limit), options)

        return AsyncPager(fetch)


class ChunksWithRawResponse:
    """``client.with_raw_response.chunks``.

    Example::

        raw = client.with_raw_response.chunks.check("site_01…", ["9f86d0…"])
    """

    def __init__(self, chunks: Chunks) -> None:
        self.check = raw_method(chunks.check)
        self.upload_urls = raw_method(chunks.upload_urls)
        self.commit = raw_method(chunks.commit)
        self.download_urls = raw_method(chunks.download_urls)
        self.mount = raw_method(chunks.mount)


class AsyncChunksWithRawResponse:
    """``client.with_raw_response.chunks`` of an :class:`~fleetyard.AsyncClient`.

    Example::

        raw = await client.with_raw_response.chunks.check("site_01…", ["9f86d0…"])
    """

    def __init__(self, chunks: AsyncChunks) -> None:
        self.check = async_raw_method(chunks.check)
        self.upload_urls = async_raw_method(chunks.upload_urls)
        self.commit = async_raw_method(chunks.commit)
        self.download_urls = async_raw_method(chunks.download_urls)
        self.mount = async_raw_method(chunks.mount)
