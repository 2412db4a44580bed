"""Reusing the unchanged files of an installed version: hard links, guarded by stamps.

Assembling a version writes, verifies and fsyncs every byte of it; a version where
1 % changed would cost as much as the first. Instead, a file of the new version
whose size, mode and chunks are those of a file of an installed version becomes a
hard link to it, if that file is provably still what was installed.

The proof is the *stamp* recorded when the version was installed: each file's
``(size, mtime_ns, inode)`` in ``stamps/<version_id>.json``, written durably before
the tree got its final name. A file whose ``lstat`` no longer matches (an app
rewrote it, even with the same size; replaced it; chmod-ed it) is not linked: it is
assembled from the verified chunk cache as usual. This is rsync's quick check: a
change that keeps the size and puts the modification time back exactly is not seen.

Linked files are durable already (fsynced when first installed); the new tree's
directories are fsynced as for any assembly. Example::

    stamps = read_stamps(layout.stamps_file(version_id))   # None: installed without
    trees = [tree for tree in (installed(layout, old),) if tree is not None]
    links = reusable(install_plan(manifest), trees)         # new path → Reuse
"""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from fleetyard.agent.deployer.layout import AppLayout, write_atomic
from fleetyard.agent.deployer.plan import FileStep, InstallPlan, install_plan, match_reusable

__all__ = [
    "Installed",
    "Reuse",
    "Stamp",
    "installed",
    "intact",
    "read_stamps",
    "reusable",
    "stamp_files",
    "still_intact",
    "write_stamps",
]

STAMPS_FORMAT = 1


@dataclass(frozen=True, slots=True)
class Stamp:
    """What ``lstat`` said of an installed file."""

    size: int
    mtime_ns: int
    ino: int

    @classmethod
    def of(cls, info: os.stat_result) -> Stamp:
        return cls(info.st_size, info.st_mtime_ns, info.st_ino)


@dataclass(frozen=True, slots=True)
class Reuse:
    """A file to hard-link into the new tree, and the stamp it must still have."""

    source: Path
    stamp: Stamp


@dataclass(frozen=True, slots=True)
class Installed:
    """A version tree on disk with what was installed in it."""

    root: Path
    plan: InstallPlan
    stamps: Mapping[str, Stamp]


def read_stamps(path: Path) -> dict[str, Stamp] | None:
    """The stamps of a version, or ``None`` (installed before stamps, or unreadable)."""
    try:
        data = json.loads(path.read_bytes())
        if data.get("format") != STAMPS_FORMAT:
            return None
        return {p: Stamp(int(v[0]), int(v[1]), int(v[2])) for p, v in data["files"].items()}
    except (OSError, ValueError, TypeError, KeyError, IndexError, AttributeError):
        return None


def write_stamps(path: Path, stamps: Mapping[str, Stamp]) -> None:
    files = {p: [s.size, s.mtime_ns, s.ino] for p, s in stamps.items()}
    write_atomic(path, json.dumps({"format": STAMPS_FORMAT, "files": files}).encode())


def stamp_files(root: Path, files: Iterable[FileStep]) -> dict[str, Stamp]:
    """The stamps of a tree just written (the ``lstat`` of each file)."""
    return {f.path: Stamp.of(os.lstat(root / f.path)) for f in files}


def installed(layout: AppLayout, version_id: str | None) -> Installed | None:
    """The version's tree with its plan and stamps; ``None`` without all three."""
    if version_id is None or not layout.has_version(version_id):
        return None
    manifest = layout.load_manifest(version_id)
    stamps = read_stamps(layout.stamps_file(version_id))
    if manifest is None or stamps is None:
        return None
    return Installed(layout.version_dir(version_id), install_plan(manifest), stamps)


def still_intact(path: Path, stamp: Stamp, mode: int) -> bool:
    """Whether ``path`` is the regular file ``stamp`` describes, with ``mode``."""
    try:
        info = os.lstat(path)
    except OSError:
        return False
    return (
        stat.S_ISREG(info.st_mode)
        and stat.S_IMODE(info.st_mode) == mode
        and Stamp.of(info) == stamp
    )


def intact(tree: Installed) -> list[FileStep]:
    """The files of ``tree`` still as installed: stamp and mode match, and no parent
    directory was replaced by a symlink (which would lead the check elsewhere)."""
    real_root = os.path.realpath(tree.root)
    parents_ok: dict[str, bool] = {}
    found: list[FileStep] = []
    for step in tree.plan.files:
        stamp = tree.stamps.get(step.path)
        if stamp is None:
            continue
        parent = os.path.dirname(step.path)
        if parent not in parents_ok:
            real = os.path.realpath(tree.root / parent) if parent else real_root
            parents_ok[parent] = real == os.path.join(real_root, parent).rstrip(os.sep)
        if parents_ok[parent] and still_intact(tree.root / step.path, stamp, step.mode):
            found.append(step)
    return found


def reusable(plan: InstallPlan, trees: Sequence[Installed]) -> dict[str, Reuse]:
    """New path → the installed file to hard-link in its place (see the module
    docstring); each inode is linked once (see
    :func:`~fleetyard.agent.deployer.plan.match_reusable`)."""
    by_inode: dict[int, Reuse] = {}
    candidates: list[tuple[FileStep, int]] = []
    for tree in trees:
        for step in intact(tree):
            stamp = tree.stamps[step.path]
            by_inode.setdefault(stamp.ino, Reuse(tree.root / step.path, stamp))
            candidates.append((step, stamp.ino))
    return {path: by_inode[ino] for path, ino in match_reusable(plan.files, candidates).items()}
