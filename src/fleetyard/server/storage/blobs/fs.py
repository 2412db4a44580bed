"""Chunks as files: packs ``<root>/packs/ab/<pack>``, and ``<root>/ab/cd/<hash>``.

The chunks of a multi-chunk upload are verified and written, as they arrived,
to one *pack* file (see :mod:`.packs`); a chunk uploaded on its own to one file
named by its hash. Either is written without an fsync into its site's staging
directory, ``.staging/<boot>/<site>/``. The commit hard-links staged files into
the store and then makes the whole batch durable at once (``syncfs`` on Linux:
one flush of the filesystem instead of two fsyncs per file; elsewhere an fsync
per file and directory), before the database records a single chunk (and, for
a chunk in a pack, where it is). Nothing is acknowledged as stored before it
is on disk, and a crash leaves under a name either nothing or the whole
verified file (a name is only ever linked to a file already verified).

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
import os
import shutil
import uuid
from collections.abc import Collection, Mapping, Sequence
from datetime import datetime
from pathlib import Path

from fleetyard.server.storage.blobs.base import (
    BlobMismatchError,
    BlobNotFoundError,
    BlobStore,
    ChunkData,
    PackedAt,
    PackWriter,
    StagedCommit,
    read_verified,
    verify_bytes,
)
from fleetyard.server.storage.blobs.files import SYNCFS as _SYNCFS
from fleetyard.server.storage.blobs.files import TMPFILE_POSSIBLE, NewFile
from fleetyard.server.storage.blobs.files import fsync_path as _fsync_path
from fleetyard.server.storage.blobs.packs import (
    PACK_SUFFIX,
    StagedPack,
    StagedPacks,
    frame_parts,
    new_pack_id,
    read_frames,
)

_ANY_BOOT = "unknown-boot"


def _boot_id() -> str | None:
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip() or None
    except OSError:
        return None


def _holds(path: str, hash: str, size: int) -> bool:
    """Whether ``path`` holds the chunk ``hash`` of ``size`` bytes."""
    try:
        if os.stat(path).st_size != size:
            return False
        verify_bytes(hash, size, Path(path).read_bytes())
    except (FileNotFoundError, BlobMismatchError):
        return False
    return True


def _unlink_older(directory: Path, before: float) -> list[str]:
    """Delete the files in ``directory`` last written before ``before``; their names."""
    removed = []
    with contextlib.suppress(FileNotFoundError, NotADirectoryError):
        for path in list(directory.iterdir()):
            with contextlib.suppress(FileNotFoundError):
                if path.stat().st_mtime < before:
                    path.unlink()
                    removed.append(path.name)
    return removed


class _StagedPackWriter(PackWriter):
    """Streams an upload into an unnamed file; :meth:`keep` names it as a staged pack."""

    def __init__(self, index: StagedPacks, site_id: str, directory: str, new: NewFile) -> None:
        self._index = index
        self._site_id = site_id
        self._directory = directory
        self._file = new

    def write(self, parts: Sequence[bytes | memoryview]) -> None:
        self._file.write(parts)

    def keep(self, chunks: Mapping[str, tuple[int, int]]) -> None:
        pack_id = new_pack_id()
        path = f"{self._directory}/{pack_id}{PACK_SUFFIX}"
        self._file.name(path)
        where = {h: PackedAt(pack_id, offset, size) for h, (offset, size) in chunks.items()}
        self._index.add(self._site_id, pack_id, StagedPack(path, where))

    def discard(self) -> None:
        self._file.discard()


class FileBlobStore(BlobStore):
    """Example: ``FileBlobStore(Path("var/blobs"))``."""

    def __init__(self, root: Path, *, use_syncfs: bool = True) -> None:
        self.root = root
        self.tmp = root / ".tmp"
        self.staging = root / ".staging"
        self.packs = root / "packs"
        self._staged_packs = StagedPacks()
        boot = _boot_id()
        self.trust_staged = boot is not None
        self.boot = boot or _ANY_BOOT
        self.use_syncfs = use_syncfs and _SYNCFS is not None
        self.use_tmpfile = TMPFILE_POSSIBLE

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

    def _pack_name(self, pack: str) -> str:
        return f"{self.packs}/{pack[:2]}/{pack}"

    def pack_path(self, pack: str) -> Path:
        return Path(self._pack_name(pack))

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

    def _create(self, directory: str, target: str, parts: Sequence[bytes | memoryview]) -> None:
        """A new file ``target`` in ``directory`` holding ``parts``, named only once whole."""
        new = NewFile(directory, tmpfile=self.use_tmpfile)
        self.use_tmpfile = new.tmpfile  # False from now on when the filesystem has none
        try:
            new.write(parts)
            new.name(target)
        finally:
            new.discard()

    def _stage(self, site_id: str, chunks: Sequence[tuple[str, int, bytes | memoryview]]) -> None:
        for h, size, body in chunks:  # all of them first: a mismatch stages nothing
            verify_bytes(h, size, body)
        directory = self._staged_dir(site_id)
        os.makedirs(directory, exist_ok=True)
        if len(chunks) > 1:
            # Several chunks: one pack file, in the upload's own framing.
            pack_id = new_pack_id()
            parts, where, _ = frame_parts(pack_id, chunks)
            path = f"{directory}/{pack_id}{PACK_SUFFIX}"
            self._create(directory, path, parts)
            self._staged_packs.add(site_id, pack_id, StagedPack(path, where))
            return
        for h, _, body in chunks:
            self._create(directory, f"{directory}/{h}", [body])

    async def stage_verified(
        self, site_id: str, chunks: Sequence[tuple[str, int, bytes | memoryview]]
    ) -> None:
        await asyncio.to_thread(self._stage, site_id, chunks)

    def pack_writer(self, site_id: str) -> PackWriter:
        directory = self._staged_dir(site_id)
        os.makedirs(directory, exist_ok=True)
        new = NewFile(directory, tmpfile=self.use_tmpfile)
        self.use_tmpfile = new.tmpfile
        return _StagedPackWriter(self._staged_packs, site_id, directory, new)

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

    def _find_staged_packs(
        self, site_id: str, hashes: Collection[str]
    ) -> dict[str, tuple[str, StagedPack]]:
        found = self._staged_packs.find(site_id, hashes)
        if len(found) == len(hashes):
            return found
        # Not all known here: staged by another server process, or before a restart.
        # Their headers say what they hold.
        directory = self._staged_dir(site_id)
        known = self._staged_packs.known(site_id)
        with contextlib.suppress(FileNotFoundError):
            for name in os.listdir(directory):
                pack_id = name.removesuffix(PACK_SUFFIX)
                if name.endswith(PACK_SUFFIX) and pack_id not in known:
                    path = f"{directory}/{name}"
                    with contextlib.suppress(FileNotFoundError):
                        where = dict(read_frames(path))
                        self._staged_packs.add(site_id, pack_id, StagedPack(path, where))
        return self._staged_packs.find(site_id, hashes)

    def _place_pack(self, staged: str, pack_id: str) -> str:
        target = self._pack_name(pack_id)
        try:
            os.link(staged, target)
        except FileExistsError:
            pass  # placed by a commit of other chunks of the same upload
        except FileNotFoundError:
            if not os.path.exists(staged):
                raise
            os.makedirs(os.path.dirname(target), exist_ok=True)  # a new shard
            with contextlib.suppress(FileExistsError):
                os.link(staged, target)
        return target

    def _verify_staged(self, h: str, size: int, path: str, offset: int) -> None:
        with open(path, "rb", buffering=0) as stream:
            verify_bytes(h, size, os.pread(stream.fileno(), size, offset))

    def _commit_many(
        self, site_id: str, chunks: Mapping[str, int], skip: Collection[str]
    ) -> StagedCommit:
        outcome = StagedCommit()
        placed: list[Path] = []
        directory = self._staged_dir(site_id)
        in_packs = self._find_staged_packs(site_id, chunks.keys())
        packs_placed: set[str] = set()
        for h, size in chunks.items():
            try:
                if h in in_packs:
                    pack_id, pack = in_packs[h]
                    at = pack.chunks[h]
                    if at.size != size:
                        raise BlobMismatchError(
                            h, f"expected {size} bytes, {at.size} were uploaded"
                        )
                    if not self.trust_staged:
                        self._verify_staged(h, size, pack.path, at.offset)
                    if h not in skip:
                        if pack_id not in packs_placed:
                            placed.append(Path(self._place_pack(pack.path, pack_id)))
                            packs_placed.add(pack_id)
                            outcome.packs[pack_id] = sum(a.size for a in pack.chunks.values())
                        outcome.packed[h] = at
                    outcome.placed[h] = size
                    continue
                staged = f"{directory}/{h}"
                try:
                    actual = os.stat(staged).st_size
                except FileNotFoundError:
                    outcome.missing.append(h)
                    continue
                if actual != size:
                    raise BlobMismatchError(h, f"expected {size} bytes, {actual} were uploaded")
                if not self.trust_staged:
                    verify_bytes(h, size, Path(staged).read_bytes())
            except BlobMismatchError as exc:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(f"{directory}/{h}")
                outcome.mismatch = exc
                break
            if h not in skip:
                placed.append(Path(self._place(staged, h, size)))
            outcome.placed[h] = size
        self._sync(placed)
        return outcome

    async def commit_staged_many(
        self, site_id: str, chunks: Mapping[str, int], skip: Collection[str] = ()
    ) -> StagedCommit:
        return await asyncio.to_thread(self._commit_many, site_id, dict(chunks), set(skip))

    async def commit_staged(
        self, site_id: str, hash: str, size: int, *, place: bool = True
    ) -> None:
        outcome = await self.commit_staged_many(site_id, {hash: size}, () if place else (hash,))
        if outcome.mismatch is not None:
            raise outcome.mismatch
        if outcome.missing:
            raise BlobNotFoundError(hash)

    def _release(self, site_id: str, hashes: Sequence[str]) -> None:
        directory = self._staged_dir(site_id)
        packs = dict(self._staged_packs.find(site_id, hashes).values())
        for pack in packs.values():
            with contextlib.suppress(FileNotFoundError):
                os.unlink(pack.path)
        self._staged_packs.forget(site_id, packs)
        for h in hashes:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(f"{directory}/{h}")

    async def release_staged(self, site_id: str, hashes: Sequence[str]) -> None:
        await asyncio.to_thread(self._release, site_id, list(hashes))

    # -- reading and deleting ----------------------------------------------------------

    def _read(self, hash: str, at: PackedAt | None) -> bytes:
        if at is None:
            return Path(self._name(hash)).read_bytes()
        with open(self._pack_name(at.pack), "rb", buffering=0) as stream:
            data = os.pread(stream.fileno(), at.size, at.offset)
        if len(data) != at.size:
            raise FileNotFoundError(f"pack {at.pack} is shorter than its index says")
        return data

    async def get(self, hash: str, at: PackedAt | None = None) -> bytes:
        try:
            return await asyncio.to_thread(self._read, hash, at)
        except FileNotFoundError as exc:
            raise BlobNotFoundError(hash) from exc

    async def exists(self, hash: str) -> bool:
        return await asyncio.to_thread(self.path_of(hash).is_file)

    async def absent(
        self, hashes: Sequence[str], at: Mapping[str, PackedAt] | None = None
    ) -> list[str]:
        where = at or {}

        def scan() -> list[str]:
            packs: dict[str, bool] = {}
            missing = []
            for h in hashes:
                if h in where:
                    pack = where[h].pack
                    if pack not in packs:
                        packs[pack] = os.path.isfile(self._pack_name(pack))
                    if not packs[pack]:
                        missing.append(h)
                elif not os.path.isfile(self._name(h)):
                    missing.append(h)
            return missing

        return await asyncio.to_thread(scan)

    async def delete(self, hash: str) -> None:
        await asyncio.to_thread(self.path_of(hash).unlink, missing_ok=True)

    # -- packs ---------------------------------------------------------------------------

    async def has_pack(self, pack: str) -> bool:
        return await asyncio.to_thread(os.path.isfile, self._pack_name(pack))

    async def drop_pack(self, pack: str) -> None:
        await asyncio.to_thread(self.pack_path(pack).unlink, missing_ok=True)

    def _repack(self, live: Sequence[tuple[str, PackedAt]]) -> StagedCommit:
        chunks = []
        for h, at in live:
            body = self._read(h, at)
            verify_bytes(h, at.size, body)  # rewritten: checked once more on the way
            chunks.append((h, at.size, body))
        outcome = StagedCommit()
        if not chunks:
            return outcome
        pack_id = new_pack_id()
        parts, where, total = frame_parts(pack_id, chunks)
        target = self._pack_name(pack_id)
        os.makedirs(os.path.dirname(target), exist_ok=True)
        self._create(os.path.dirname(target), target, parts)
        self._sync([Path(target)])
        outcome.packs[pack_id] = total
        outcome.packed = where
        outcome.placed = {h: at.size for h, at in where.items()}
        return outcome

    async def repack(self, pack: str, live: Sequence[tuple[str, PackedAt]]) -> StagedCommit:
        del pack  # read through each chunk's own location
        return await asyncio.to_thread(self._repack, list(live))

    def _packs_older_than(self, before: float) -> list[str]:
        old: list[str] = []
        with contextlib.suppress(FileNotFoundError):
            for shard in os.scandir(self.packs):
                if not shard.is_dir():
                    continue
                for entry in os.scandir(shard.path):
                    with contextlib.suppress(FileNotFoundError):
                        if entry.is_file() and entry.stat().st_mtime < before:
                            old.append(entry.name)
        return sorted(old)

    async def packs_older_than(self, before: datetime) -> list[str]:
        return await asyncio.to_thread(self._packs_older_than, before.timestamp())

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
                gone = _unlink_older(site, before)
                self._staged_packs.forget(
                    site.name,
                    [n.removesuffix(PACK_SUFFIX) for n in gone if n.endswith(PACK_SUFFIX)],
                )
                removed += len(gone)
                with contextlib.suppress(OSError):
                    site.rmdir()  # only when empty
        if self.tmp.is_dir():
            removed += len(_unlink_older(self.tmp, before))
        return removed

    async def purge_staged(self, before: datetime) -> int:
        return await asyncio.to_thread(self._purge, before.timestamp())
