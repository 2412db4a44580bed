"""The filesystem store's signed upload routes: verify the link and the bytes, stage.

No database work here: the link's signature (bound to the site, the chunk or
the list of chunks, their sizes and an expiry) is the authorisation, and the
chunk only becomes the site's at ``commit`` (:func:`.uploads.commit`), which
also enforces the quota. A multi-chunk upload carries, for each chunk of the
signed list in order, its raw 32-byte SHA-256, its size (4 bytes, big-endian)
and its bytes.
"""

from __future__ import annotations

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


async def receive_batch(
    ctx: Chunks, *, site_id: str, listed: str, total: int, exp: int, sig: str, body: bytes
) -> int:
    """Several chunks to a signed multi-chunk link; how many were staged."""
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
    frames = parse_batch(body)
    if signing.list_digest((h, n) for h, n, _ in frames) != listed:
        raise signing.LinkRejected(
            "The body does not carry the chunks this link was signed for.",
            code=ErrorCode.SIGNATURE_INVALID,
        )
    await _stage(ctx, site_id, frames)
    return len(frames)
