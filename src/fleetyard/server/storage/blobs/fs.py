"""Chunks as files: ``<root>/ab/cd/<hash>``.

An upload is verified, written to ``.tmp/`` and renamed into its site's staging
directory, ``.staging/<boot>/<site>/<hash>``, without an fsync. The commit
hard-links staged files under their hash and then makes the whole batch
durable at once (``syncfs`` on Linux: one flush of the filesystem instead of
two fsyncs per chunk; elsewhere an fsync per file and directory), before the
database records a single chunk. Nothing is acknowledged as stored before it
is on disk, and a crash leaves under a chunk's name either nothing or the
whole verified chunk (a name is only ever linked to a file already verified).

``<boot>`` is the kernel's boot id: staged files are trusted without hashing
them again only within the boot that wrote them (a power cut may have left a
staged file that was never flushed with the right size and the wrong bytes;
after a reboot they are ignored and purged). Without a boot id the commit
hashes staged files again.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import ctypes.util
import errno
import os
import shutil
import sys
import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from fleetyard.server.storage.blobs.base import (
    BlobMismatchError,
    BlobNotFoundError,
    BlobStore,
    ChunkData,
    StagedCommit,
    read_verified,
    verify_bytes,
)

_ANY_BOOT = "unknown-boot"


def _boot_id() -> str | None:
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip() or None
    except OSError:
        return None


def _fsync_path(path: Path, *, directory: bool = False) -> None:
    fd = os.open(path, os.O_RDONLY | (os.O_DIRECTORY if directory else 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


_AT_FDCWD = -100
_AT_SYMLINK_FOLLOW = 0x400


def _libc_functions() -> tuple[Any, Any]:
    """libc's ``syncfs`` and ``linkat`` on Linux (None, None elsewhere)."""
    if not sys.platform.startswith("linux"):
        return None, None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
        syncfs, linkat = libc.syncfs, libc.linkat
    except (OSError, AttributeError):
        return None, None
    syncfs.argtypes = [ctypes.c_int]
    syncfs.restype = ctypes.c_int
    linkat.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
    linkat.restype = ctypes.c_int
    return syncfs, linkat


_SYNCFS, _LINKAT = _libc_functions()


def _link_new_file(directory: str, target: str, body: bytes | memoryview) -> None:
    """Write ``body`` to an unnamed file in ``directory`` (``O_TMPFILE``) and give it
    the name ``target`` once complete: one directory entry and no rename per chunk.
    A ``target`` that exists already holds the same verified bytes and is kept."""
    fd = os.open(directory, os.O_TMPFILE | os.O_WRONLY, 0o644)
    try:
        view = memoryview(body)
        while view:
            view = view[os.write(fd, view) :]
        # linkat(AT_SYMLINK_FOLLOW) on /proc/self/fd/N names an O_TMPFILE file without
        # privileges (os.link does not pass the flag on Linux).
        source = f"/proc/self/fd/{fd}".encode()
        if _LINKAT(_AT_FDCWD, source, _AT_FDCWD, os.fsencode(target), _AT_SYMLINK_FOLLOW) != 0:
            error = ctypes.get_errno()
            if error != errno.EEXIST:
                raise OSError(error, os.strerror(error), target)
    finally:
        os.close(fd)


def _holds(path: str, hash: str, size: int) -> bool:
    """Whether ``path`` holds the chunk ``hash`` of ``size`` bytes."""
    try:
        if os.stat(path).st_size != size:
            return False
        verify_bytes(hash, size, Path(path).read_bytes())
    except (FileNotFoundError, BlobMismatchError):
        return False
    return True


def _unlink_older(directory: Path, before: float) -> int:
    """Delete the files in ``directory`` last written before ``before``; how many."""
    removed = 0
    with contextlib.suppress(FileNotFoundError, NotADirectoryError):
        for path in list(directory.iterdir()):
            with contextlib.suppress(FileNotFoundError):
                if path.stat().st_mtime < before:
                    path.unlink()
                    removed += 1
    return removed


class FileBlobStore(BlobStore):
    """Example: ``FileBlobStore(Path("var/blobs"))``."""

    def __init__(self, root: Path, *, use_syncfs: bool = True) -> None:
        self.root = root
        self.tmp = root / ".tmp"
        self.staging = root / ".staging"
        boot = _boot_id()
        self.trust_staged = boot is not None
        self.boot = boot or _ANY_BOOT
        self.use_syncfs = use_syncfs and _SYNCFS is not None
        self.use_tmpfile = (
            _LINKAT is not None and hasattr(os, "O_TMPFILE") and Path("/proc/self/fd").is_dir()
        )

    # The hot paths below work on ``str`` paths and ``os`` calls: thousands of small
    # chunks a second make pathlib's object building a visible cost.

    def _name(self, hash: str) -> str:
        return f"{self.root}/{hash[:2]}/{hash[2:4]}/{hash}"

    def _staged_dir(self, site_id: str) -> str:
        return f"{self.staging}/{self.boot}/{site_id}"

    def path_of(self, hash: str) -> Path:
        return Path(self._name(hash))

    def staged_path(self, site_id: str, hash: str) -> Path:
        return Path(self._staged_dir(site_id), hash)

    # -- writing -------------------------------------------------------------------

    def _write_temp(self, hash: str, body: bytes | memoryview) -> Path:
        self.tmp.mkdir(parents=True, exist_ok=True)
        temp = self.tmp / f"{hash}.{uuid.uuid4().hex}"
        try:
            with open(temp, "wb") as handle:
                handle.write(body)
        except BaseException:
            temp.unlink(missing_ok=True)
            raise
        return temp

    def _stage(self, site_id: str, chunks: Sequence[tuple[str, int, bytes | memoryview]]) -> None:
        for h, size, body in chunks:  # all of them first: a mismatch stages nothing
            verify_bytes(h, size, body)
        directory = self._staged_dir(site_id)
        os.makedirs(directory, exist_ok=True)
        for h, _, body in chunks:
            if self.use_tmpfile:
                try:
                    _link_new_file(directory, f"{directory}/{h}", body)
                    continue
                except OSError as exc:
                    if exc.errno not in (errno.EOPNOTSUPP, errno.EISDIR, errno.EINVAL):
                        raise
                    self.use_tmpfile = False  # this filesystem has no O_TMPFILE
            # Written under a temporary name, then renamed: a staged name always holds
            # the whole verified chunk.
            temp = f"{directory}/.{h}.{os.urandom(8).hex()}"
            try:
                with open(temp, "wb") as handle:
                    handle.write(body)
                os.rename(temp, f"{directory}/{h}")
            except BaseException:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(temp)
                raise

    async def stage_verified(
        self, site_id: str, chunks: Sequence[tuple[str, int, bytes | memoryview]]
    ) -> None:
        await asyncio.to_thread(self._stage, site_id, chunks)

    def _sync(self, files: Sequence[Path]) -> None:
        """Make ``files`` (new names in the store) durable: data, inodes, directories."""
        if not files:
            return
        if self.use_syncfs and _SYNCFS is not None:
            fd = os.open(self.root, os.O_RDONLY | os.O_DIRECTORY)
            try:
                if _SYNCFS(fd) != 0:
                    error = ctypes.get_errno()
                    raise OSError(error, os.strerror(error), str(self.root))
            finally:
                os.close(fd)
            return
        directories: set[Path] = set()
        for path in files:
            _fsync_path(path)
            directories.update((path.parent, path.parent.parent))
        for directory in sorted(directories, key=lambda p: len(p.parts), reverse=True):
            _fsync_path(directory, directory=True)
        _fsync_path(self.root, directory=True)

    def _place(self, source: str, hash: str, size: int) -> str:
        target = self._name(hash)
        try:
            os.link(source, target)
        except FileExistsError:
            # Normally the same verified bytes, from this or another site. But a crash
            # between linking and syncing, on a filesystem that does not order data
            # before names, can leave the name with bytes that never reached the disk
            # (and no database row, so the chunk is uploaded again): check, replace.
            if not _holds(target, hash, size):
                temp = f"{target}.{os.urandom(8).hex()}"
                os.link(source, temp)
                os.replace(temp, target)
        except FileNotFoundError:
            if not os.path.exists(source):
                raise
            os.makedirs(os.path.dirname(target), exist_ok=True)  # a new shard
            with contextlib.suppress(FileExistsError):
                os.link(source, target)
        return target

    def _write(self, hash: str, body: bytes) -> None:
        temp = self._write_temp(hash, body)
        try:
            target = self.path_of(hash)
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(temp, target)
        except BaseException:
            temp.unlink(missing_ok=True)
            raise
        self._sync([target])

    async def put_verified(self, hash: str, size: int, data: ChunkData) -> None:
        body = await read_verified(hash, size, data)
        await asyncio.to_thread(self._write, hash, body)

    def _commit_many(self, site_id: str, chunks: Mapping[str, int]) -> StagedCommit:
        outcome = StagedCommit()
        placed: list[Path] = []
        directory = self._staged_dir(site_id)
        for h, size in chunks.items():
            staged = f"{directory}/{h}"
            try:
                actual = os.stat(staged).st_size
            except FileNotFoundError:
                outcome.missing.append(h)
                continue
            try:
                if actual != size:
                    raise BlobMismatchError(h, f"expected {size} bytes, {actual} were uploaded")
                if not self.trust_staged:
                    verify_bytes(h, size, Path(staged).read_bytes())
            except BlobMismatchError as exc:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(staged)
                outcome.mismatch = exc
                break
            placed.append(Path(self._place(staged, h, size)))
            outcome.placed[h] = size
        self._sync(placed)
        return outcome

    async def commit_staged_many(self, site_id: str, chunks: Mapping[str, int]) -> StagedCommit:
        return await asyncio.to_thread(self._commit_many, site_id, dict(chunks))

    async def commit_staged(self, site_id: str, hash: str, size: int) -> None:
        outcome = await self.commit_staged_many(site_id, {hash: size})
        if outcome.mismatch is not None:
            raise outcome.mismatch
        if outcome.missing:
            raise BlobNotFoundError(hash)

    def _release(self, site_id: str, hashes: Sequence[str]) -> None:
        directory = self._staged_dir(site_id)
        for h in hashes:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(f"{directory}/{h}")

    async def release_staged(self, site_id: str, hashes: Sequence[str]) -> None:
        await asyncio.to_thread(self._release, site_id, list(hashes))

    # -- reading and deleting ----------------------------------------------------------

    async def get(self, hash: str) -> bytes:
        try:
            return await asyncio.to_thread(self.path_of(hash).read_bytes)
        except FileNotFoundError as exc:
            raise BlobNotFoundError(hash) from exc

    async def exists(self, hash: str) -> bool:
        return await asyncio.to_thread(self.path_of(hash).is_file)

    async def absent(self, hashes: Sequence[str]) -> list[str]:
        def scan() -> list[str]:
            return [h for h in hashes if not os.path.isfile(self._name(h))]

        return await asyncio.to_thread(scan)

    async def delete(self, hash: str) -> None:
        await asyncio.to_thread(self.path_of(hash).unlink, missing_ok=True)

    def _purge(self, before: float) -> int:
        removed = 0
        boots = list(self.staging.iterdir()) if self.staging.is_dir() else []
        for boot in boots:
            if boot.name != self.boot:
                # Another boot's staged files are never trusted again: all of them go.
                removed += sum(1 for p in boot.rglob("*") if p.is_file())
                shutil.rmtree(boot, ignore_errors=True)
                continue
            for site in list(boot.iterdir()):
                removed += _unlink_older(site, before)
                with contextlib.suppress(OSError):
                    site.rmdir()  # only when empty
        if self.tmp.is_dir():
            removed += _unlink_older(self.tmp, before)
        return removed

    async def purge_staged(self, before: datetime) -> int:
        return await asyncio.to_thread(self._purge, before.timestamp())
