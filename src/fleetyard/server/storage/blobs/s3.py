"""Chunks in an S3-compatible bucket through obstore.

``s3://bucket/optional/prefix?endpoint=http://127.0.0.1:9000&region=us-east-1``;
credentials come from the usual ``AWS_*`` environment variables or from the
query (``access_key_id``, ``secret_access_key``, ``session_token``). An
``http://`` endpoint is allowed (local MinIO, moto, …).

Chunks live under ``chunks/ab/cd/<hash>``. A presigned upload goes to
``staging/<site>/<hash>``, never to the chunk's final key: a client could put
any bytes there, so the commit reads the staged object back, checks hash and
size, and only then writes the chunk into place. A forged upload can thus
never overwrite a chunk that other sites use. Staged objects that were never
committed are deleted by the chunks GC job (``purge_staged``) once older than
an upload link's lifetime.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Sequence
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import obstore
from obstore.exceptions import NotFoundError
from obstore.store import S3Store

from fleetyard.protocol.chunks import MAX_CHUNK_SIZE
from fleetyard.server.storage.blobs.base import (
    BlobMismatchError,
    BlobNotFoundError,
    BlobStore,
    ChunkData,
    PackedAt,
    read_verified,
)

_QUERY_KEYS = {
    "endpoint": "endpoint",
    "region": "region",
    "access_key_id": "access_key_id",
    "secret_access_key": "secret_access_key",
    "session_token": "token",
    "virtual_hosted_style": "virtual_hosted_style_request",
}


def parse_s3_url(url: str) -> tuple[str, str | None, dict[str, Any], bool]:
    """(bucket, prefix, obstore config, allow_http) of an ``s3://`` URL."""
    parts = urlsplit(url)
    if parts.scheme != "s3" or not parts.netloc:
        raise ValueError(f"not an s3://bucket URL: {url!r}")
    prefix = parts.path.strip("/") or None
    config: dict[str, Any] = {}
    for key, value in parse_qsl(parts.query):
        if key not in _QUERY_KEYS:
            raise ValueError(f"unknown s3 URL option {key!r} (known: {sorted(_QUERY_KEYS)})")
        if key == "virtual_hosted_style":
            config[_QUERY_KEYS[key]] = value.lower() in ("1", "true", "yes")
        else:
            config[_QUERY_KEYS[key]] = value
    allow_http = str(config.get("endpoint", "")).startswith("http://")
    return parts.netloc, prefix, config, allow_http


class S3BlobStore(BlobStore):
    """Example: ``S3BlobStore("s3://chunks?endpoint=http://127.0.0.1:9000&region=us-east-1")``."""

    presigns = True

    def __init__(self, url: str) -> None:
        bucket, prefix, config, allow_http = parse_s3_url(url)
        self.store = S3Store(
            bucket,
            prefix=prefix,
            config=config,  # type: ignore[arg-type]
            client_options={"allow_http": True} if allow_http else None,
        )

    @staticmethod
    def key_of(hash: str) -> str:
        return f"chunks/{hash[:2]}/{hash[2:4]}/{hash}"

    @staticmethod
    def staging_key(site_id: str, hash: str) -> str:
        return f"staging/{site_id}/{hash}"

    async def put_verified(self, hash: str, size: int, data: ChunkData) -> None:
        body = await read_verified(hash, size, data)
        await obstore.put_async(self.store, self.key_of(hash), body)

    async def get(self, hash: str, at: PackedAt | None = None) -> bytes:
        del at  # S3 keeps every chunk as an object of its own
        try:
            result = await obstore.get_async(self.store, self.key_of(hash))
            return bytes(await result.bytes_async())
        except (NotFoundError, FileNotFoundError) as exc:
            raise BlobNotFoundError(hash) from exc

    async def open(self, hash: str, at: PackedAt | None = None) -> AsyncIterator[bytes]:
        del at
        try:
            result = await obstore.get_async(self.store, self.key_of(hash))
        except (NotFoundError, FileNotFoundError) as exc:
            raise BlobNotFoundError(hash) from exc
        async for piece in result.stream():
            yield bytes(piece)

    async def exists(self, hash: str) -> bool:
        try:
            await obstore.head_async(self.store, self.key_of(hash))
        except (NotFoundError, FileNotFoundError):
            return False
        return True

    async def delete(self, hash: str) -> None:
        with contextlib.suppress(NotFoundError, FileNotFoundError):
            await obstore.delete_async(self.store, self.key_of(hash))

    async def presigned_put_url(self, site_id: str, hash: str, expires_in: timedelta) -> str:
        return await obstore.sign_async(
            self.store, "PUT", self.staging_key(site_id, hash), expires_in
        )

    async def presigned_get_url(self, hash: str, expires_in: timedelta) -> str:
        return await obstore.sign_async(self.store, "GET", self.key_of(hash), expires_in)

    async def commit_staged(
        self, site_id: str, hash: str, size: int, *, place: bool = True
    ) -> None:
        key = self.staging_key(site_id, hash)
        try:
            meta = await obstore.head_async(self.store, key)
        except (NotFoundError, FileNotFoundError) as exc:
            raise BlobNotFoundError(hash) from exc
        try:
            if meta["size"] != size or size > MAX_CHUNK_SIZE:
                raise BlobMismatchError(
                    hash, f"expected {size} bytes, the upload holds {meta['size']}"
                )
            result = await obstore.get_async(self.store, key)
            body = await read_verified(hash, size, _stream(result))
        except BlobMismatchError:
            await obstore.delete_async(self.store, key)
            raise
        if place:
            await obstore.put_async(self.store, self.key_of(hash), body)
        await obstore.delete_async(self.store, key)

    async def release_staged(self, site_id: str, hashes: Sequence[str]) -> None:
        keys = [self.staging_key(site_id, h) for h in hashes]
        await self._delete_keys(keys)

    async def _delete_keys(self, keys: Sequence[str]) -> None:
        for start in range(0, len(keys), 1000):  # one request per 1,000 keys
            with contextlib.suppress(NotFoundError, FileNotFoundError):
                await obstore.delete_async(self.store, list(keys[start : start + 1000]))

    async def purge_staged(self, before: datetime) -> int:
        old: list[str] = []
        async for batch in obstore.list(self.store, prefix="staging/"):
            old.extend(meta["path"] for meta in batch if meta["last_modified"] < before)
        await self._delete_keys(old)
        return len(old)


async def _stream(result: Any) -> AsyncIterator[bytes]:
    async for piece in result.stream():
        yield bytes(piece)
