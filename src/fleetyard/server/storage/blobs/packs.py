"""Packs: the chunks of one multi-chunk upload kept together in one file.

A pack is written exactly in the framing of a multi-chunk upload: for each
chunk its raw 32-byte SHA-256, its size (4 bytes, big-endian) and its bytes.
One file per upload (up to 8 MiB or 512 chunks) instead of one per chunk
spares the filesystem an inode, a directory entry and a link per chunk, which
is most of what storing many small chunks costs. A pack is self-describing, so
its list of chunks can always be read back from the file itself.

:class:`StagedPacks` remembers which staged pack holds which chunk, so that a
commit finds them without reading the staging directory; a commit that misses
(another server process staged it, or this one restarted) reads the headers of
the site's staged packs instead.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from fleetyard.server.storage.blobs.base import PackedAt

__all__ = [
    "FRAME_HEADER",
    "PACK_SUFFIX",
    "StagedPack",
    "StagedPacks",
    "frame_parts",
    "new_pack_id",
    "read_frames",
    "write_all",
]

FRAME_HEADER = 36
"""Bytes before each chunk in a pack: its raw SHA-256 and its size."""
PACK_SUFFIX = ".pack"
"""Staged packs end with this; a staged chunk of its own is named by its hash."""
_IOV_MAX = 1024


def new_pack_id() -> str:
    """A fresh pack name: 32 random hex digits (never reused, so never overwritten)."""
    return os.urandom(16).hex()


def frame_parts(
    pack_id: str, chunks: Iterable[tuple[str, int, bytes | memoryview]]
) -> tuple[list[bytes | memoryview], dict[str, PackedAt], int]:
    """The pieces of pack ``pack_id`` holding ``chunks`` (headers and bytes, not
    joined: no copy), where each chunk will be in it, and the chunk bytes in all."""
    parts: list[bytes | memoryview] = []
    where: dict[str, PackedAt] = {}
    offset = total = 0
    for h, size, body in chunks:
        parts.append(bytes.fromhex(h) + size.to_bytes(4, "big"))
        parts.append(body)
        offset += FRAME_HEADER
        where.setdefault(h, PackedAt(pack_id, offset, size))
        offset += size
        total += size
    return parts, where, total


def write_all(fd: int, parts: Sequence[bytes | memoryview]) -> None:
    """Write every piece, in order (``writev`` in groups, resuming short writes)."""
    pending = [memoryview(p) for p in parts if len(p)]
    while pending:
        written = os.writev(fd, pending[:_IOV_MAX])
        while written:
            head = pending[0]
            if written >= len(head):
                written -= len(head)
                pending.pop(0)
            else:
                pending[0] = head[written:]
                written = 0


def read_frames(path: str) -> list[tuple[str, PackedAt]]:
    """Each chunk of the pack at ``path`` with where it is (headers only are read).

    A pack cut short (it cannot be, once named, but a disk may lie) lists the
    chunks that are whole.
    """
    frames: list[tuple[str, PackedAt]] = []
    name = os.path.basename(path).removesuffix(PACK_SUFFIX)
    with open(path, "rb", buffering=0) as stream:
        end = os.fstat(stream.fileno()).st_size
        at = 0
        while at + FRAME_HEADER <= end:
            header = os.pread(stream.fileno(), FRAME_HEADER, at)
            if len(header) < FRAME_HEADER:
                break
            size = int.from_bytes(header[32:], "big")
            if at + FRAME_HEADER + size > end:
                break
            frames.append((header[:32].hex(), PackedAt(name, at + FRAME_HEADER, size)))
            at += FRAME_HEADER + size
    return frames


@dataclass(frozen=True, slots=True)
class StagedPack:
    """A staged pack's file and the chunks in it."""

    path: str
    chunks: dict[str, PackedAt]


class StagedPacks:
    """Which staged pack of a site holds which chunk (thread-safe; process-local)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._packs: dict[str, dict[str, StagedPack]] = {}  # site → pack id → pack
        self._holder: dict[str, dict[str, str]] = {}  # site → hash → pack id

    def add(self, site_id: str, pack_id: str, staged: StagedPack) -> None:
        with self._lock:
            self._packs.setdefault(site_id, {})[pack_id] = staged
            holders = self._holder.setdefault(site_id, {})
            for h in staged.chunks:
                holders[h] = pack_id

    def known(self, site_id: str) -> set[str]:
        with self._lock:
            return set(self._packs.get(site_id, {}))

    def find(self, site_id: str, hashes: Iterable[str]) -> dict[str, tuple[str, StagedPack]]:
        """The staged pack (id and pack) of each hash among ``hashes`` that one holds."""
        found: dict[str, tuple[str, StagedPack]] = {}
        with self._lock:
            packs = self._packs.get(site_id, {})
            holders = self._holder.get(site_id, {})
            for h in hashes:
                pack_id = holders.get(h)
                if pack_id is not None and pack_id in packs:
                    found[h] = (pack_id, packs[pack_id])
                    continue
                # Staged twice and the newer pack forgotten: an older one may hold it.
                for other_id, other in packs.items():
                    if h in other.chunks:
                        found[h] = (other_id, other)
                        break
        return found

    def forget(self, site_id: str, pack_ids: Iterable[str]) -> None:
        with self._lock:
            packs = self._packs.get(site_id, {})
            holders = self._holder.get(site_id, {})
            for pack_id in pack_ids:
                staged = packs.pop(pack_id, None)
                if staged is None:
                    continue
                for h in staged.chunks:
                    if holders.get(h) == pack_id:
                        del holders[h]
            if not packs:
                self._packs.pop(site_id, None)
                self._holder.pop(site_id, None)
