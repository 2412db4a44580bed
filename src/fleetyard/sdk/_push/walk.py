"""Discover what a push sends: a sorted walk of a directory tree.

The walk never follows a symbolic link. A link whose target stays inside the
tree is kept as a ``symlink`` entry (the agent recreates it); one that points
outside, or is absolute, is skipped with a warning, as is anything that is
neither a file, a directory nor a link (sockets, fifos, devices). ``.git``
directories are never sent; ``ignore`` adds shell-style globs, matched
against the POSIX path relative to the root (``"*.pyc"``, ``"build/*"``) and
against the bare name, so ``"__pycache__"`` drops that directory everywhere.
"""

from __future__ import annotations

import fnmatch
import os
import posixpath
import stat
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

__all__ = ["EntryType", "FileStamp", "TreeEntry", "TreeWalk", "stamp_of", "walk_tree"]

EntryType = Literal["file", "dir", "symlink"]

ALWAYS_IGNORED = (".git",)

FileStamp = tuple[int, int, int, int]
"""What tells a file's bytes unchanged without reading them: its size, mtime and
ctime (nanoseconds) and inode. Writing to a file or replacing it changes it."""


def stamp_of(st: os.stat_result) -> FileStamp:
    """The :data:`FileStamp` of a file from its ``stat``."""
    return (st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino)


@dataclass(frozen=True, slots=True)
class TreeEntry:
    """One thing found in the tree: its path relative to the root (POSIX), type and mode."""

    path: str
    type: EntryType
    mode: int
    size: int = 0
    target: str | None = None
    source: str | None = None
    """Where a file's bytes are read from (``None`` for directories and links); a
    plain path, as a :class:`~pathlib.Path` per file costs a walk of many small
    files more than its system calls."""
    stamp: FileStamp | None = field(default=None, compare=False, repr=False)
    """A file's :func:`stamp_of` as walked (to tell it unchanged at upload)."""


@dataclass(slots=True)
class TreeWalk:
    """The entries of a tree in byte order of their UTF-8 paths, and what was skipped."""

    entries: list[TreeEntry] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    """One warning per skipped thing: ``"<path>: <reason>"``."""

    @property
    def files(self) -> list[TreeEntry]:
        return [e for e in self.entries if e.type == "file"]

    @property
    def total_bytes(self) -> int:
        return sum(e.size for e in self.entries if e.type == "file")


def _sort_key(path: str) -> bytes:
    return path.encode("utf-8", "surrogateescape")


def _ignored(rel: str, name: str, globs: tuple[str, ...]) -> bool:
    if name in ALWAYS_IGNORED:
        return True
    return bool(globs) and any(
        fnmatch.fnmatchcase(rel, g) or fnmatch.fnmatchcase(name, g) for g in globs
    )


def _link_inside(rel: str, target: str) -> bool:
    """Whether a relative link at ``rel`` pointing to ``target`` stays inside the tree."""
    if not target or target.startswith("/"):
        return False
    resolved = posixpath.normpath(posixpath.join(posixpath.dirname(rel), target))
    return resolved != ".." and not resolved.startswith("../") and resolved != "."


def walk_tree(root: str | os.PathLike[str], ignore: Iterable[str] = ()) -> TreeWalk:
    """Every file, directory and inner symlink under ``root``, sorted by path.

    >>> import tempfile, pathlib
    >>> with tempfile.TemporaryDirectory() as d:
    ...     _ = (pathlib.Path(d) / "b.txt").write_text("hi")
    ...     (pathlib.Path(d) / "a").mkdir()
    ...     [(e.path, e.type) for e in walk_tree(d).entries]
    [('a', 'dir'), ('b.txt', 'file')]
    """
    base = Path(root)
    if not base.is_dir():
        raise NotADirectoryError(f"{base} is not a directory")
    if isinstance(ignore, str):
        raise TypeError("ignore must be a list of globs, not a single string")
    globs = tuple(ignore)
    result = TreeWalk()
    pending = [""]
    while pending:
        rel_dir = pending.pop()
        directory = base / rel_dir if rel_dir else base
        try:
            scanned = list(os.scandir(directory))
        except OSError as exc:
            result.skipped.append(f"{rel_dir or '.'}: {exc.strerror or exc}")
            continue
        for item in scanned:
            rel = f"{rel_dir}/{item.name}" if rel_dir else item.name
            if _ignored(rel, item.name, globs):
                continue
            try:
                st = item.stat(follow_symlinks=False)
            except OSError as exc:
                result.skipped.append(f"{rel}: {exc.strerror or exc}")
                continue
            mode = stat.S_IMODE(st.st_mode)
            if stat.S_ISLNK(st.st_mode):
                target = os.readlink(item.path)
                if _link_inside(rel, target):
                    result.entries.append(TreeEntry(rel, "symlink", mode, target=target))
                else:
                    result.skipped.append(f"{rel}: symbolic link to {target!r} leaves the tree")
            elif stat.S_ISDIR(st.st_mode):
                result.entries.append(TreeEntry(rel, "dir", mode))
                pending.append(rel)
            elif stat.S_ISREG(st.st_mode):
                result.entries.append(
                    TreeEntry(
                        rel,
                        "file",
                        mode,
                        size=st.st_size,
                        source=item.path,
                        stamp=stamp_of(st),
                    )
                )
            else:
                result.skipped.append(f"{rel}: not a regular file, directory or link")
    result.entries.sort(key=lambda e: _sort_key(e.path))
    result.skipped.sort()
    return result
