"""Files that appear whole or not at all, and one flush for many of them.

:class:`NewFile` is written under no name (``O_TMPFILE`` on Linux: no
directory entry until it is complete, and nothing to clean up after a crash)
or, where the filesystem cannot do that, under a hidden temporary name; it is
given its real name only once every byte is written. ``SYNCFS`` flushes a
whole filesystem at once, which is how a commit makes a batch durable.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import errno
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from fleetyard.server.storage.blobs.packs import write_all

__all__ = ["LINKAT", "SYNCFS", "NewFile", "fsync_path"]

_AT_FDCWD = -100
_AT_SYMLINK_FOLLOW = 0x400
_NO_TMPFILE = (errno.EOPNOTSUPP, errno.EISDIR, errno.EINVAL)


def fsync_path(path: Path, *, directory: bool = False) -> None:
    fd = os.open(path, os.O_RDONLY | (os.O_DIRECTORY if directory else 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


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


SYNCFS, LINKAT = _libc_functions()
TMPFILE_POSSIBLE = (
    LINKAT is not None and hasattr(os, "O_TMPFILE") and Path("/proc/self/fd").is_dir()
)


class NewFile:
    """A file being written in ``directory``, named by :meth:`name` once complete.

    Example::

        new = NewFile("/var/blobs/.staging", tmpfile=True)
        new.write([b"header", body])
        new.name("/var/blobs/.staging/abc.pack")  # or new.discard()

    ``tmpfile`` asks for ``O_TMPFILE``; when the filesystem has none, the file
    gets a hidden temporary name instead and ``tmpfile`` reads False after.
    """

    def __init__(self, directory: str, *, tmpfile: bool) -> None:
        self.directory = directory
        self.tmpfile = tmpfile and TMPFILE_POSSIBLE
        self.temp: str | None = None
        if self.tmpfile:
            try:
                self.fd = os.open(directory, os.O_TMPFILE | os.O_WRONLY, 0o644)
                return
            except OSError as exc:
                if exc.errno not in _NO_TMPFILE:
                    raise
                self.tmpfile = False
        self.temp = f"{directory}/.new.{os.urandom(8).hex()}"
        self.fd = os.open(self.temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)

    def write(self, parts: Sequence[bytes | memoryview]) -> None:
        write_all(self.fd, parts)

    def name(self, target: str) -> None:
        """Give the complete file the name ``target``. A ``target`` that exists already
        is kept as it is (it holds the same verified bytes)."""
        try:
            if self.temp is not None:
                os.rename(self.temp, target)
                self.temp = None
                return
            # linkat(AT_SYMLINK_FOLLOW) on /proc/self/fd/N names an O_TMPFILE file
            # without privileges (os.link does not pass the flag on Linux).
            source = f"/proc/self/fd/{self.fd}".encode()
            if LINKAT(_AT_FDCWD, source, _AT_FDCWD, os.fsencode(target), _AT_SYMLINK_FOLLOW) != 0:
                error = ctypes.get_errno()
                if error != errno.EEXIST:
                    raise OSError(error, os.strerror(error), target)
        finally:
            self.discard()

    def discard(self) -> None:
        """Close it; an unnamed file disappears, a temporary name is removed."""
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1
        if self.temp is not None:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.temp)
            self.temp = None
