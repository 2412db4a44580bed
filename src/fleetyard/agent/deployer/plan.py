"""What a deployment has to do, decided without touching the disk or the network.

Everything here is a pure function of a :class:`~fleetyard.protocol.software.Manifest`
and of what the caller says is already on disk, so the rules are testable on their own:

- :func:`download_plan`: the distinct chunks of a manifest not in the cache, in
  manifest order (a second version that changed one file downloads that file's
  new chunks only);
- :func:`install_plan`: the directories (parents first, implicit parents
  included), the files with their chunks, the symlinks (written last, so no
  write ever goes through one) and the directory modes (applied deepest first,
  after the contents, so a read-only directory does not block its own files);
- :func:`match_reusable`: which files of the new version can be hard links to
  files of an installed one (same size, mode and chunks; each inode once);
- :func:`prune_plan` / :func:`unused_chunks`: which versions and cached chunks
  to drop once the deployment settled (the current and the previous version
  are kept).

Example::

    missing = download_plan(manifest, cached={"9f86…"})
    plan = install_plan(manifest)
    [d.path for d in plan.dirs], [f.path for f in plan.files]
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Collection, Iterable
from dataclasses import dataclass

from fleetyard.protocol.chunks import ChunkRef
from fleetyard.protocol.software import (
    DEFAULT_DIR_MODE,
    DEFAULT_FILE_MODE,
    Manifest,
    manifest_sha256,
    path_sort_key,
    version_id_for,
)

__all__ = [
    "KEEP_VERSIONS",
    "DirStep",
    "FileKey",
    "FileStep",
    "InstallPlan",
    "SymlinkStep",
    "check_name",
    "download_plan",
    "file_key",
    "install_plan",
    "manifest_matches",
    "match_reusable",
    "prune_plan",
    "unused_chunks",
]

KEEP_VERSIONS = 2
"""Versions kept on disk per app: the current one and the previous one."""

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")


def check_name(value: str, what: str) -> str:
    """An id that becomes a file name (app, version, rollout): letters, digits, ``_``, ``-``.

    >>> check_name("ver_01ab", "version id")
    'ver_01ab'
    >>> check_name("../x", "version id")
    Traceback (most recent call last):
    ...
    ValueError: version id '../x' cannot be used as a file name
    """
    if not _NAME.match(value):
        raise ValueError(f"{what} {value!r} cannot be used as a file name")
    return value


def manifest_matches(app_id: str, version_id: str, manifest: Manifest) -> bool:
    """Whether ``version_id`` is the id this manifest gets in this app (ids derive from
    the canonical manifest, so a manifest altered on the way does not match)."""
    return version_id_for(app_id, manifest_sha256(manifest)) == version_id


@dataclass(frozen=True, slots=True)
class DirStep:
    path: str
    mode: int


@dataclass(frozen=True, slots=True)
class FileStep:
    path: str
    mode: int
    size: int
    chunks: tuple[ChunkRef, ...]


@dataclass(frozen=True, slots=True)
class SymlinkStep:
    path: str
    target: str


@dataclass(frozen=True, slots=True)
class InstallPlan:
    """What to write into a fresh tree, in this order: dirs, files, symlinks, then
    ``dir_modes`` (deepest first)."""

    dirs: tuple[DirStep, ...]
    files: tuple[FileStep, ...]
    symlinks: tuple[SymlinkStep, ...]
    dir_modes: tuple[DirStep, ...]

    @property
    def total_bytes(self) -> int:
        return sum(f.size for f in self.files)


def download_plan(manifest: Manifest, cached: Collection[str]) -> list[ChunkRef]:
    """The chunks to fetch: each distinct hash of the manifest that is not ``cached``,
    in the order the files name them.

    >>> from fleetyard.protocol.software import ManifestEntry
    >>> a, b = "a" * 64, "b" * 64
    >>> m = Manifest(entries=[ManifestEntry(path="f", type="file", size=3, chunks=[
    ...     ChunkRef(hash=a, size=1), ChunkRef(hash=b, size=1), ChunkRef(hash=a, size=1)])])
    >>> [c.hash[0] for c in download_plan(m, cached={b})]
    ['a']
    """
    seen: set[str] = set()
    missing: list[ChunkRef] = []
    for entry in manifest.entries:
        for chunk in entry.chunks or ():
            if chunk.hash in seen:
                continue
            seen.add(chunk.hash)
            if chunk.hash not in cached:
                missing.append(chunk)
    return missing


def install_plan(manifest: Manifest) -> InstallPlan:
    """The steps that turn an empty directory into the manifest's tree.

    Directories a path needs but the manifest does not list get the default mode.

    >>> from fleetyard.protocol.software import ManifestEntry
    >>> plan = install_plan(Manifest(entries=[
    ...     ManifestEntry(path="a/b/f", type="file"),
    ...     ManifestEntry(path="a", type="dir", mode=0o500),
    ...     ManifestEntry(path="a/l", type="symlink", target="b/f")]))
    >>> [d.path for d in plan.dirs], [d.path for d in plan.dir_modes]
    (['a', 'a/b'], ['a/b', 'a'])
    """
    modes: dict[str, int] = {}
    files: list[FileStep] = []
    links: list[SymlinkStep] = []
    for entry in manifest.entries:
        if entry.type == "dir":
            modes[entry.path] = DEFAULT_DIR_MODE if entry.mode is None else entry.mode
        elif entry.type == "file":
            files.append(
                FileStep(
                    path=entry.path,
                    mode=DEFAULT_FILE_MODE if entry.mode is None else entry.mode,
                    size=entry.size or 0,
                    chunks=tuple(entry.chunks or ()),
                )
            )
        elif entry.target is not None:
            links.append(SymlinkStep(path=entry.path, target=entry.target))
    for path in [f.path for f in files] + [s.path for s in links] + list(modes):
        parent = posixpath.dirname(path)
        while parent and parent not in modes:
            modes[parent] = DEFAULT_DIR_MODE
            parent = posixpath.dirname(parent)
    ordered = sorted(modes, key=path_sort_key)
    dirs = tuple(DirStep(path, modes[path]) for path in ordered)
    deepest_first = sorted(dirs, key=lambda d: (-d.path.count("/"), path_sort_key(d.path)))
    return InstallPlan(
        dirs=tuple(sorted(dirs, key=lambda d: (d.path.count("/"), path_sort_key(d.path)))),
        files=tuple(files),
        symlinks=tuple(links),
        dir_modes=tuple(deepest_first),
    )


def prune_plan(on_disk: Iterable[str], keep: Iterable[str | None]) -> list[str]:
    """Versions to delete: every one on disk that is not kept (current, previous).

    >>> prune_plan(["ver_a", "ver_b", "ver_c"], keep=["ver_c", "ver_a"])
    ['ver_b']
    """
    kept = {k for k in keep if k}
    return sorted(v for v in on_disk if v not in kept)


def unused_chunks(cached: Iterable[str], manifests: Iterable[Manifest]) -> list[str]:
    """Cached chunks that none of the kept versions use.

    >>> unused_chunks(["a" * 64], [Manifest(entries=[])]) == ["a" * 64]
    True
    """
    used: set[str] = set()
    for manifest in manifests:
        used |= manifest.chunk_hashes()
    return sorted(h for h in cached if h not in used)


FileKey = tuple[int, int, tuple[tuple[str, int], ...]]
"""What makes two files interchangeable: size, mode and chunk list."""


def file_key(step: FileStep) -> FileKey:
    return (step.size, step.mode, tuple((c.hash, c.size) for c in step.chunks))


def match_reusable(
    files: Iterable[FileStep], candidates: Iterable[tuple[FileStep, int]]
) -> dict[str, int]:
    """Which new files can be hard links to files already installed: new path → the
    ``ident`` of a ``(step, ident)`` candidate with the same size, mode and chunks.

    An ``ident`` (an inode) serves one new file only, so two paths of a version never
    share an inode unless the version asks for it; a candidate at the same path is
    preferred.

    >>> from fleetyard.protocol.chunks import ChunkRef
    >>> a = (ChunkRef(hash="a" * 64, size=1),)
    >>> new = [FileStep("x", 0o644, 1, a), FileStep("y", 0o644, 1, a), FileStep("z", 0o755, 1, a)]
    >>> match_reusable(new, [(FileStep("y", 0o644, 1, a), 7)])
    {'y': 7}
    """
    by_path: dict[str, list[tuple[FileKey, int]]] = {}
    by_key: dict[FileKey, list[int]] = {}
    for step, ident in candidates:
        key = file_key(step)
        by_path.setdefault(step.path, []).append((key, ident))
        by_key.setdefault(key, []).append(ident)
    used: set[int] = set()
    found: dict[str, int] = {}
    wanted = list(files)
    for step in wanted:  # the same path first: the usual unchanged file
        key = file_key(step)
        for other_key, ident in by_path.get(step.path, ()):
            if other_key == key and ident not in used:
                found[step.path] = ident
                used.add(ident)
                break
    for step in wanted:  # then the same content elsewhere (a file moved or copied)
        if step.path in found:
            continue
        for ident in by_key.get(file_key(step), ()):
            if ident not in used:
                found[step.path] = ident
                used.add(ident)
                break
    return found
