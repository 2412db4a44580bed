"""Content-defined chunking (FastCDC) and hashing of files, with bounded memory.

A file is read through ``pyfastcdc``'s stream chunker, which holds one
buffer of twice the largest chunk (8 MiB) whatever the file's size; each
chunk is hashed with SHA-256 as it is cut and then dropped. Both the cutting
and the hashing release the GIL, so hashing several files in threads uses
every core.

Because the cut points depend only on the bytes around them, inserting a byte
near the start of a large file changes the chunk(s) around the insertion and
none after them: a re-push uploads a megabyte or two, not the whole file.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from dataclasses import dataclass

from pyfastcdc import FastCDC

__all__ = [
    "AVG_CHUNK_SIZE",
    "MAX_CHUNK_SIZE",
    "MIN_CHUNK_SIZE",
    "FileChunk",
    "chunk_file",
    "new_chunker",
]

MIN_CHUNK_SIZE = 256 * 1024
AVG_CHUNK_SIZE = 1024 * 1024
MAX_CHUNK_SIZE = 4 * 1024 * 1024
READ_BLOCK = 1024 * 1024


@dataclass(frozen=True, slots=True)
class FileChunk:
    """One chunk of a file: where it starts, its size, its bare lowercase SHA-256 hex."""

    offset: int
    size: int
    hash: str


def new_chunker() -> FastCDC:
    """A FastCDC chunker with Fleetyard's sizes (not thread-safe: one per thread)."""
    # pyfastcdc's average is avg_size + min_size (cut-point skipping), so ask for
    # avg - min to average about 1 MiB.
    return FastCDC(
        AVG_CHUNK_SIZE - MIN_CHUNK_SIZE,
        min_size=MIN_CHUNK_SIZE,
        max_size=MAX_CHUNK_SIZE,
    )


def chunk_file(
    path: str | os.PathLike[str],
    *,
    chunker: FastCDC | None = None,
    on_bytes: Callable[[int], object] | None = None,
) -> list[FileChunk]:
    """The chunks of one file, read in blocks (never the whole file in memory).

    ``on_bytes`` hears the size of each chunk once it is hashed (for progress).
    An empty file has no chunks.
    """
    chunks: list[FileChunk] = []
    small = os.stat(path).st_size <= MIN_CHUNK_SIZE
    with open(path, "rb", buffering=0) as stream:
        if small:
            # FastCDC never cuts below the minimum: such a file is one chunk (or none).
            # Read and hash it directly, without the chunker's buffer and stream setup.
            data = stream.read(MIN_CHUNK_SIZE + 1)
            if len(data) <= MIN_CHUNK_SIZE:
                if data:
                    chunks.append(FileChunk(0, len(data), hashlib.sha256(data).hexdigest()))
                    if on_bytes is not None:
                        on_bytes(len(data))
                return chunks
            stream.seek(0)  # it grew meanwhile: chunk it like any file
        cdc = chunker if chunker is not None else new_chunker()
        for piece in cdc.cut_stream(stream):
            digest = hashlib.sha256(piece.data).hexdigest()
            chunks.append(FileChunk(piece.offset, piece.length, digest))
            if on_bytes is not None:
                on_bytes(piece.length)
    return chunks


def read_chunk(
    path: str | os.PathLike[str], offset: int, size: int, expected_hash: str | None = None
) -> bytes:
    """The bytes of one chunk, read again for its upload.

    With ``expected_hash`` the bytes are hashed again: a file written to while
    it is pushed fails here, with its name, instead of as the server's
    ``chunk_hash_mismatch``.
    """
    with open(path, "rb", buffering=0) as stream:
        stream.seek(offset)
        data = stream.read(size)
    if len(data) != size or (
        expected_hash is not None and hashlib.sha256(data).hexdigest() != expected_hash
    ):
        raise OSError(f"{path} changed while pushing (the chunk at byte {offset} differs)")
    return data
