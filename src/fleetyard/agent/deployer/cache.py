"""The per-app chunk cache: ``chunks/ab/<hash>``, every file verified before it lands.

A chunk is written to a temporary name, fsynced and renamed, only after its
SHA-256 matched its name; a chunk read back for assembly is checked again
(disks rot), and a bad one is removed so the next attempt fetches it afresh.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import secrets
from collections.abc import Iterable
from pathlib import Path

from fleetyard.agent.deployer.layout import TMP_SUFFIX, fsync_dir

__all__ = ["ChunkCache", "ChunkMismatch"]


class ChunkMismatch(ValueError):
    """Bytes whose SHA-256 (or size) is not the chunk's."""

    def __init__(self, chunk_hash: str, detail: str) -> None:
        super().__init__(f"chunk {chunk_hash[:12]}…: {detail}")
        self.chunk_hash = chunk_hash


def check_chunk(chunk_hash: str, data: bytes, size: int | None = None) -> None:
    """Raise :class:`ChunkMismatch` unless ``data`` is the chunk ``chunk_hash``."""
    if size is not None and len(data) != size:
        raise ChunkMismatch(chunk_hash, f"{len(data)} bytes, expected {size}")
    actual = hashlib.sha256(data).hexdigest()
    if actual != chunk_hash:
        raise ChunkMismatch(chunk_hash, f"sha256 is {actual[:12]}…")


class ChunkCache:
    def __init__(self, root: Path) -> None:
        self.root = root

    def path(self, chunk_hash: str) -> Path:
        return self.root / chunk_hash[:2] / chunk_hash

    def has(self, chunk_hash: str, size: int) -> bool:
        try:
            return self.path(chunk_hash).stat().st_size == size
        except OSError:
            return False

    def present(self, chunks: Iterable[tuple[str, int]]) -> set[str]:
        """The hashes of ``(hash, size)`` pairs that are cached with the right size."""
        return {h for h, size in chunks if self.has(h, size)}

    def all(self) -> list[str]:
        if not self.root.is_dir():
            return []
        return sorted(
            p.name
            for d in self.root.iterdir()
            if d.is_dir()
            for p in d.iterdir()
            if not p.name.startswith(".")
        )

    def put(self, chunk_hash: str, data: bytes, size: int | None = None) -> None:
        """Verify, then store durably (tmp + fsync + rename + fsync of the directory)."""
        check_chunk(chunk_hash, data, size)
        target = self.path(chunk_hash)
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f".{chunk_hash}.{secrets.token_hex(4)}{TMP_SUFFIX}")
        with open(tmp, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, target)
        fsync_dir(target.parent)

    def read(self, chunk_hash: str, size: int) -> bytes:
        """The chunk's bytes, checked; a corrupt copy is removed and raises."""
        data = self.path(chunk_hash).read_bytes()
        try:
            check_chunk(chunk_hash, data, size)
        except ChunkMismatch:
            self.drop([chunk_hash])
            raise
        return data

    def drop(self, hashes: Iterable[str]) -> None:
        for chunk_hash in hashes:
            with contextlib.suppress(FileNotFoundError):
                self.path(chunk_hash).unlink()

    def clean(self) -> None:
        """Remove temporary files a crash left behind."""
        if not self.root.is_dir():
            return
        for sub in self.root.iterdir():
            if sub.is_dir():
                for stray in sub.glob(f".*{TMP_SUFFIX}"):
                    with contextlib.suppress(FileNotFoundError):
                        stray.unlink()
