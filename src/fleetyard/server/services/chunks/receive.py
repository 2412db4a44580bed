"""The filesystem store's signed upload routes: verify the link and the bytes, stage.

No database work here: the link's signature (bound to the site, the chunk or
the list of chunks, their sizes and an expiry) is the authorisation, and the
chunk only becomes the site's at ``commit`` (:func:`.uploads.commit`), which
also enforces the quota. A multi-chunk upload carries, for each chunk of the
signed list in order, its raw 32-byte SHA-256, its size (4 bytes, big-endian)
and its bytes.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterable, AsyncIterator, Sequence
from typing import Any

from fleetyard.protocol.chunks import (
    BATCH_FRAME_BYTES,
    MAX_BATCH_BYTES,
    MAX_BATCH_CHUNKS,
    MAX_CHUNK_SIZE,
)
from fleetyard.protocol.errors import ErrorCode
from fleetyard.server.services.chunks import signing
from fleetyard.server.services.chunks.uploads import ChunkMismatch, Chunks
from fleetyard.server.services.errors import NotFound, Unprocessable
from fleetyard.server.storage.blobs import BlobMismatchError
from fleetyard.server.storage.blobs.base import PackWriter

Frame = tuple[str, int, memoryview]


def _require_staging(ctx: Chunks) -> None:
    if ctx.blobs.presigns:
        raise NotFound("This server takes uploads at presigned URLs; ask for upload URLs.")


async def _stage(ctx: Chunks, site_id: str, frames: list[Frame]) -> None:
    try:
        await ctx.blobs.stage_verified(site_id, frames)
    except BlobMismatchError as exc:
        raise ChunkMismatch(exc.detail, hash=exc.hash) from exc


async def receive_upload(
    ctx: Chunks, *, hash: str, site_id: str, size: int, exp: int, sig: str, body: bytes
) -> None:
    """One chunk to its signed link."""
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
    _require_staging(ctx)
    await _stage(ctx, site_id, [(hash, size, memoryview(body))])


def parse_batch(body: bytes) -> list[Frame]:
    """The (hash, size, bytes) frames of a multi-chunk upload body.

    >>> import hashlib
    >>> data = b"abc"
    >>> frame = hashlib.sha256(data).digest() + len(data).to_bytes(4, "big") + data
    >>> [(h[:8], n, bytes(v)) for h, n, v in parse_batch(frame)]
    [('ba7816bf', 3, b'abc')]
    """
    view = memoryview(body)
    frames: list[Frame] = []
    at = 0
    while at < len(view):
        if len(frames) >= MAX_BATCH_CHUNKS:
            raise Unprocessable(f"A multi-chunk upload carries at most {MAX_BATCH_CHUNKS} chunks.")
        if len(view) - at < BATCH_FRAME_BYTES:
            raise Unprocessable("The body ends inside a chunk header.")
        digest = view[at : at + 32].hex()
        size = int.from_bytes(view[at + 32 : at + BATCH_FRAME_BYTES], "big")
        at += BATCH_FRAME_BYTES
        if size < 1 or size > MAX_CHUNK_SIZE:
            raise Unprocessable(f"A chunk holds 1 to {MAX_CHUNK_SIZE} bytes, not {size}.")
        if at + size > len(view):
            raise ChunkMismatch(
                f"Expected {size} bytes, the body holds {len(view) - at}.", hash=digest
            )
        frames.append((digest, size, view[at : at + size]))
        at += size
    return frames


_WINDOW = 1024 * 1024
"""Body bytes handed to a worker thread at a time (parsed, hashed, written there)."""


class BatchReader:
    """A multi-chunk upload body read as it arrives (blocking: run it in a thread).

    Frames are parsed across piece boundaries, each chunk is hashed as its bytes
    come in and checked as soon as it is complete, and every byte is passed on
    to the store's :class:`~fleetyard.server.storage.blobs.base.PackWriter`
    (or, for a store without one, kept for :meth:`BlobStore.stage_verified`).
    So a request costs one pass over its bytes, and no copy of the whole body.
    """

    def __init__(self, writer: PackWriter | None) -> None:
        self.writer = writer
        self.kept: list[bytes] = []
        self.frames: list[tuple[str, int]] = []
        self.where: dict[str, tuple[int, int]] = {}
        self._header = bytearray()
        self._hash = ""
        self._size = 0
        self._left = 0
        self._hasher: Any = None
        self._at = 0

    def feed(self, pieces: Sequence[bytes]) -> None:
        for piece in pieces:
            self._parse(memoryview(piece))
        if self.writer is not None:
            self.writer.write(pieces)
        else:
            self.kept.extend(pieces)

    def _parse(self, view: memoryview) -> None:
        i, end = 0, len(view)
        while i < end:
            if self._hasher is None:
                take = view[i : i + BATCH_FRAME_BYTES - len(self._header)]
                self._header += take
                i += len(take)
                self._at += len(take)
                if len(self._header) == BATCH_FRAME_BYTES:
                    self._start()
                continue
            take = view[i : i + self._left]
            self._hasher.update(take)
            i += len(take)
            self._at += len(take)
            self._left -= len(take)
            if not self._left:
                self._end()

    def _start(self) -> None:
        if len(self.frames) >= MAX_BATCH_CHUNKS:
            raise Unprocessable(f"A multi-chunk upload carries at most {MAX_BATCH_CHUNKS} chunks.")
        self._hash = self._header[:32].hex()
        self._size = self._left = int.from_bytes(self._header[32:], "big")
        self._header.clear()
        if self._size < 1 or self._size > MAX_CHUNK_SIZE:
            raise Unprocessable(f"A chunk holds 1 to {MAX_CHUNK_SIZE} bytes, not {self._size}.")
        self.where.setdefault(self._hash, (self._at, self._size))
        self._hasher = hashlib.sha256()

    def _end(self) -> None:
        actual = self._hasher.hexdigest()
        self._hasher = None
        if actual != self._hash:
            raise ChunkMismatch(f"the bytes hash to {actual}, not {self._hash}", hash=self._hash)
        self.frames.append((self._hash, self._size))

    def finish(self, pieces: Sequence[bytes]) -> list[tuple[str, int]]:
        """Read the last pieces; the (hash, size) of every chunk, each checked."""
        self.feed(pieces)
        if self._header:
            raise Unprocessable("The body ends inside a chunk header.")
        if self._hasher is not None:
            raise ChunkMismatch(
                f"Expected {self._size} bytes, the body holds {self._size - self._left}.",
                hash=self._hash,
            )
        return self.frames


async def receive_batch(
    ctx: Chunks,
    *,
    site_id: str,
    listed: str,
    total: int,
    exp: int,
    sig: str,
    body: bytes | AsyncIterable[bytes],
) -> int:
    """Several chunks to a signed multi-chunk link, read as they arrive; how many were
    staged. Nothing is staged unless every chunk checks out and the body carries
    exactly the chunks the link was signed for."""
    signing.verify(
        ctx.settings.effective_secret_key,
        method=signing.BATCH_METHOD,
        hash=listed,
        site_id=site_id,
        size=total,
        exp=exp,
        sig=sig,
    )
    if total > MAX_BATCH_BYTES:
        raise Unprocessable(f"A multi-chunk upload carries at most {MAX_BATCH_BYTES} bytes.")
    _require_staging(ctx)
    longest = total + MAX_BATCH_CHUNKS * BATCH_FRAME_BYTES
    writer = await asyncio.to_thread(ctx.blobs.pack_writer, site_id)
    reader = BatchReader(writer)
    # One window is read in a worker thread while the next one arrives: the body is
    # taken from the server as it comes (held back, the server would copy it into
    # ever larger buffers), and at most two windows are in memory.
    feeding: asyncio.Future[None] | None = None
    try:
        window: list[bytes] = []
        pending = received = 0
        async for piece in _pieces(body):
            received += len(piece)
            if received > longest:
                raise Unprocessable("The body is longer than the chunks its link was signed for.")
            window.append(piece)
            pending += len(piece)
            if pending >= _WINDOW:
                if feeding is not None:
                    await feeding
                feeding = asyncio.ensure_future(asyncio.to_thread(reader.feed, window))
                window, pending = [], 0
        if feeding is not None:
            await feeding
        frames = await asyncio.to_thread(reader.finish, window)
        if signing.list_digest(frames) != listed:
            raise signing.LinkRejected(
                "The body does not carry the chunks this link was signed for.",
                code=ErrorCode.SIGNATURE_INVALID,
            )
        if writer is not None:
            await asyncio.to_thread(writer.keep, reader.where)
        else:
            await _stage(ctx, site_id, parse_batch(b"".join(reader.kept)))
    finally:
        _discard_when_done(feeding, writer)
    return len(frames)


def _discard_when_done(feeding: asyncio.Future[None] | None, writer: PackWriter | None) -> None:
    """Close the writer, but only once a window still being written is done: a worker
    thread cannot be stopped, and must not write to a descriptor closed (and maybe
    reused) under it."""

    def close(done: asyncio.Future[None] | None) -> None:
        if done is not None and not done.cancelled():
            done.exception()  # seen: the request has failed already, or succeeded
        if writer is not None:
            writer.discard()

    if feeding is None or feeding.done():
        close(feeding)
    else:
        feeding.add_done_callback(close)


async def _pieces(body: bytes | AsyncIterable[bytes]) -> AsyncIterator[bytes]:
    if isinstance(body, bytes):
        yield body
        return
    async for piece in body:
        if piece:
            yield piece
