"""Chunks as files: ``<root>/ab/cd/<hash>``, written to a temporary file, fsynced and
renamed into place (then the directory fsynced), so a crash leaves either the
whole chunk or nothing under its name."""

from __future__ import annotations

import asyncio
import os
import uuid
from pathlib import Path

from fleetyard.server.storage.blobs.base import (
    BlobNotFoundError,
    BlobStore,
    ChunkData,
    read_verified,
)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class FileBlobStore(BlobStore):
    """Example: ``FileBlobStore(Path("var/blobs"))``."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.tmp = root / ".tmp"

    def path_of(self, hash: str) -> Path:
        return self.root / hash[:2] / hash[2:4] / hash

    def _write(self, hash: str, body: bytes) -> None:
        target = self.path_of(hash)
        self.tmp.mkdir(parents=True, exist_ok=True)
        temp = self.tmp / f"{hash}.{uuid.uuid4().hex}"
        try:
            with open(temp, "wb") as handle:
                handle.write(body)
                handle.flush()
                os.fsync(handle.fileno())
            created = not target.parent.exists()
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(temp, target)
        except BaseException:
            temp.unlink(missing_ok=True)
            raise
        _fsync_dir(target.parent)
        if created:
            _fsync_dir(target.parent.parent)
            _fsync_dir(self.root)

    async def put_verified(self, hash: str, size: int, data: ChunkData) -> None:
        body = await read_verified(hash, size, data)
        await asyncio.to_thread(self._write, hash, body)

    async def get(self, hash: str) -> bytes:
        try:
            return await asyncio.to_thread(self.path_of(hash).read_bytes)
        except FileNotFoundError as exc:
            raise BlobNotFoundError(hash) from exc

    async def exists(self, hash: str) -> bool:
        return await asyncio.to_thread(self.path_of(hash).is_file)

    async def delete(self, hash: str) -> None:
        await asyncio.to_thread(self.path_of(hash).unlink, missing_ok=True)
