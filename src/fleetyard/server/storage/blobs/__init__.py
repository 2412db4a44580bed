"""Blob storage for chunk bytes: a local directory by default, S3 by URL.

Example::

    store = create_blob_store(None, Path("var"))            # var/blobs/ab/cd/<hash>
    store = create_blob_store("s3://bucket?region=eu-west-1", Path("var"))
"""

from __future__ import annotations

from pathlib import Path

from fleetyard.server.storage.blobs.base import (
    BlobMismatchError,
    BlobNotFoundError,
    BlobStore,
    ChunkData,
)
from fleetyard.server.storage.blobs.fs import FileBlobStore

__all__ = [
    "BlobMismatchError",
    "BlobNotFoundError",
    "BlobStore",
    "ChunkData",
    "FileBlobStore",
    "create_blob_store",
]


def create_blob_store(url: str | None, data_dir: Path) -> BlobStore:
    """The store for ``url``: None → ``<data_dir>/blobs``; ``file:///path``; ``s3://bucket…``."""
    if url is None or url == "":
        return FileBlobStore(data_dir / "blobs")
    if url.startswith("file://"):
        path = url.removeprefix("file://")
        if not path:
            raise ValueError("file:// blob URL needs a path: file:///var/lib/fleetyard/blobs")
        return FileBlobStore(Path(path))
    if url.startswith("s3://"):
        # obstore is the server's optional S3 dependency: imported only when used.
        from fleetyard.server.storage.blobs.s3 import S3BlobStore

        return S3BlobStore(url)
    raise ValueError(f"unsupported blob store URL {url!r}: use file:///path or s3://bucket")
