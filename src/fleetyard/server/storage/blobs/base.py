"""The blob store interface: chunk bytes by SHA-256, written only once verified.

A chunk becomes visible under its hash only after its bytes were checked
against that hash and size, so a reader never sees a partial or forged chunk.
Uploads first land in a per-site *staging* area (the filesystem store's signed
routes, an S3 presigned URL); ``commit_staged_many`` moves them under their
hash and makes them durable, and only then does the database record them.
Implementations hold at most one request body (≤ 8 MiB) in memory at a time.
"""

from __future__ import annotations

import hashlib
from abc import ABC, abstractmethod
from collections.abc import AsyncIterable, AsyncIterator, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from fleetyard.protocol.chunks import MAX_CHUNK_SIZE


class BlobMismatchError(Exception):
    """The bytes do not have the hash or the size they were announced with."""

    def __init__(self, hash: str, detail: str) -> None:
        super().__init__(detail)
        self.hash = hash
        self.detail = detail


class BlobNotFoundError(Exception):
    """No blob (or no staged upload) under that name."""


ChunkData = bytes | AsyncIterable[bytes]


@dataclass(frozen=True, slots=True)
class PackedAt:
    """Where a chunk lives inside a pack: ``size`` bytes at ``offset`` of ``pack``."""

    pack: str
    offset: int
    size: int


@dataclass(slots=True)
class StagedCommit:
    """What ``commit_staged_many`` did: chunks now stored (durably), chunks with
    nothing staged, and the first mismatch (which stopped it).

    ``placed`` lists every chunk the commit confirmed; ``packed`` says where the
    ones placed inside a pack are (the others are stored on their own), and
    ``packs`` the chunk bytes of each pack it placed.
    """

    placed: dict[str, int] = field(default_factory=dict)
    missing: list[str] = field(default_factory=list)
    mismatch: BlobMismatchError | None = None
    packed: dict[str, PackedAt] = field(default_factory=dict)
    packs: dict[str, int] = field(default_factory=dict)


def verify_bytes(hash: str, size: int, body: bytes | memoryview) -> None:
    """:class:`BlobMismatchError` unless ``body`` is ``size`` bytes hashing to ``hash``."""
    if len(body) != size:
        raise BlobMismatchError(hash, f"expected {size} bytes, got {len(body)}")
    actual = hashlib.sha256(body).hexdigest()
    if actual != hash:
        raise BlobMismatchError(hash, f"the bytes hash to {actual}, not {hash}")


async def read_verified(hash: str, size: int, data: ChunkData) -> bytes:
    """Collect ``data`` (refusing more than ``size`` bytes as soon as they arrive) and
    check it against ``hash`` and ``size``; the bytes, or :class:`BlobMismatchError`."""
    if size > MAX_CHUNK_SIZE:
        raise BlobMismatchError(hash, f"a chunk holds at most {MAX_CHUNK_SIZE} bytes")
    if isinstance(data, bytes):
        body = data
        if len(body) != size:
            raise BlobMismatchError(hash, f"expected {size} bytes, got {len(body)}")
    else:
        buffer = bytearray()
        async for piece in data:
            buffer += piece
            if len(buffer) > size:
                raise BlobMismatchError(hash, f"expected {size} bytes, got more")
        if len(buffer) != size:
            raise BlobMismatchError(hash, f"expected {size} bytes, got {len(buffer)}")
        body = bytes(buffer)
    verify_bytes(hash, size, body)
    return body


class PackWriter(ABC):
    """A multi-chunk upload streamed into a site's staging area as it arrives.

    Blocking calls (run them in a worker thread). Nothing is staged until
    :meth:`keep`, which the caller calls only after checking every chunk.
    """

    @abstractmethod
    def write(self, parts: Sequence[bytes | memoryview]) -> None:
        """Append the next bytes of the upload body (frames as they arrived)."""

    @abstractmethod
    def keep(self, chunks: Mapping[str, tuple[int, int]]) -> None:
        """Stage what was written; ``chunks`` maps each hash to (offset, size) of its
        bytes in the body."""

    @abstractmethod
    def discard(self) -> None:
        """Drop what was written (idempotent; also after :meth:`keep`)."""


class BlobStore(ABC):
    """Where chunk bytes live. ``create_blob_store(url, data_dir)`` picks one.

    ``presigns`` says whether clients upload and download directly with
    presigned URLs (S3) or through the server's own signed routes (filesystem).
    """

    presigns: bool = False

    @abstractmethod
    async def put_verified(self, hash: str, size: int, data: ChunkData) -> None:
        """Store a chunk after checking it; :class:`BlobMismatchError` leaves nothing behind."""

    @abstractmethod
    async def get(self, hash: str, at: PackedAt | None = None) -> bytes:
        """A chunk's bytes (``at``: where its pack holds it); :class:`BlobNotFoundError`
        when absent."""

    async def open(self, hash: str, at: PackedAt | None = None) -> AsyncIterator[bytes]:
        """A chunk's bytes in pieces (one piece by default: a chunk is at most 8 MiB)."""
        yield await self.get(hash, at)

    @abstractmethod
    async def exists(self, hash: str) -> bool: ...

    @abstractmethod
    async def delete(self, hash: str) -> None:
        """Remove a chunk stored on its own; absent is fine. (A chunk inside a pack
        goes with its pack: :meth:`drop_pack`, :meth:`repack`.)"""

    async def presigned_put_url(self, site_id: str, hash: str, expires_in: timedelta) -> str | None:
        """A URL that accepts a PUT of the chunk into the site's staging area, or None
        when the store cannot presign (the server then signs its own upload route)."""
        del site_id, hash, expires_in
        return None

    async def presigned_get_url(self, hash: str, expires_in: timedelta) -> str | None:
        """A URL that serves the chunk, or None (the server's own download route)."""
        del hash, expires_in
        return None

    async def stage_verified(
        self, site_id: str, chunks: Sequence[tuple[str, int, bytes | memoryview]]
    ) -> None:
        """Check chunks that arrived through the server's own upload route and keep them
        in the site's staging area (not durable yet, not visible under their hash).
        The first :class:`BlobMismatchError` leaves nothing of the request staged."""
        del site_id, chunks
        raise NotImplementedError("this store takes uploads at presigned URLs")

    def pack_writer(self, site_id: str) -> PackWriter | None:
        """A writer that stages a multi-chunk upload as it streams in, or None when
        this store takes whole request bodies only (:meth:`stage_verified`). Blocking."""
        del site_id
        return None

    async def commit_staged(
        self, site_id: str, hash: str, size: int, *, place: bool = True
    ) -> None:
        """Verify one staged chunk and move it into place (only verify: ``place=False``).

        :class:`BlobNotFoundError` when nothing was uploaded, :class:`BlobMismatchError`
        (the staged object is deleted) when the bytes are not ``hash``/``size``.
        """
        del site_id, hash, size, place
        raise BlobNotFoundError("this store has no staging area")

    async def commit_staged_many(
        self, site_id: str, chunks: Mapping[str, int], skip: Collection[str] = ()
    ) -> StagedCommit:
        """Move staged chunks into place, durably, in order; stops at the first mismatch.
        Staged copies may be kept until :meth:`release_staged` (so that a chunk can be
        placed again if a GC run removed it meanwhile).

        The chunks in ``skip`` are stored already: their upload is only checked (a
        site proves it holds a chunk by uploading it), not placed again.
        """
        outcome = StagedCommit()
        for h, size in chunks.items():
            try:
                await self.commit_staged(site_id, h, size, place=h not in skip)
            except BlobNotFoundError:
                outcome.missing.append(h)
                continue
            except BlobMismatchError as exc:
                outcome.mismatch = exc
                break
            outcome.placed[h] = size
        return outcome

    async def release_staged(self, site_id: str, hashes: Sequence[str]) -> None:
        """Forget the staged copies of chunks that are recorded now (or refused)."""
        del site_id, hashes

    async def absent(
        self, hashes: Sequence[str], at: Mapping[str, PackedAt] | None = None
    ) -> list[str]:
        """The hashes among ``hashes`` with no stored blob (``at``: those in packs)."""
        where = at or {}
        missing = []
        for h in hashes:
            if h in where:
                if not await self.has_pack(where[h].pack):
                    missing.append(h)
            elif not await self.exists(h):
                missing.append(h)
        return missing

    # -- packs (stores that keep chunks of one upload together; none by default) -------

    async def has_pack(self, pack: str) -> bool:
        del pack
        return False

    async def drop_pack(self, pack: str) -> None:
        """Delete a pack none of whose chunks is recorded any more; absent is fine."""
        del pack

    async def repack(self, pack: str, live: Sequence[tuple[str, PackedAt]]) -> StagedCommit:
        """Copy the ``live`` chunks of ``pack`` into a new pack, durably; the old
        pack stays until :meth:`drop_pack` (readers may still be using it)."""
        del pack, live
        raise NotImplementedError("this store keeps no packs")

    async def packs_older_than(self, before: datetime) -> list[str]:
        """The packs last written before ``before`` (to find ones never recorded)."""
        del before
        return []

    async def purge_staged(self, before: datetime) -> int:
        """Delete staged uploads last written before ``before`` (never committed);
        how many."""
        del before
        return 0

    async def close(self) -> None:  # noqa: B027  (optional hook)
        """Release connections (nothing by default)."""
