"""From a walked and hashed tree to a :class:`~fleetyard.protocol.software.Manifest`,
and a local diff of two manifests (dry runs)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from fleetyard.protocol.chunks import ChunkRef
from fleetyard.protocol.manifest_plain import (
    plain_manifest,
    valid_paths,
)
from fleetyard.protocol.software import (
    FileChange,
    FileEntry,
    Manifest,
    ManifestEntry,
    ManifestError,
    VersionDiff,
    check_path,
    resolve_symlink,
)
from fleetyard.sdk._push.chunker import FileChunk
from fleetyard.sdk._push.walk import TreeEntry

__all__ = ["build_manifest", "diff_manifests", "file_entry"]


def build_manifest(
    entries: Sequence[TreeEntry],
    chunks: dict[str, list[FileChunk]],
    warnings: list[str],
) -> Manifest:
    """The manifest of a tree; ``chunks`` maps each file's path to its chunks.

    Paths the server would refuse (a backslash, too long) and symlinks that
    leave the tree through other links are dropped with a warning.
    """
    usable = _with_valid_paths(entries, warnings)
    links = {e.path: e.target for e in usable if e.type == "symlink" and e.target}
    kept: list[TreeEntry] = []
    for entry in usable:
        if entry.type == "symlink":
            try:
                resolve_symlink(entry.path, entry.target or "", links)
            except ManifestError as exc:
                warnings.append(f"{entry.path}: {exc}")
                continue
        kept.append(entry)
    # Checked by hand and built without a second validation (20,000 entries through
    # the models cost a second); the models only see a tree that breaks a rule,
    # and raise what they always did.
    plain = plain_manifest(_plain(entry, chunks) for entry in kept)
    if plain is not None:
        return plain
    return Manifest(entries=[_validated(entry, chunks) for entry in kept])


def _with_valid_paths(entries: Sequence[TreeEntry], warnings: list[str]) -> list[TreeEntry]:
    """The entries without those whose path the server would refuse (and what is below)."""
    if valid_paths([entry.path for entry in entries]):  # one scan for the usual tree
        return list(entries)
    usable: list[TreeEntry] = []
    dropped: set[str] = set()
    for entry in entries:
        parent = entry.path.rpartition("/")[0]
        if parent and parent in dropped:
            dropped.add(entry.path)
            continue
        try:
            check_path(entry.path)
        except ManifestError as exc:
            warnings.append(f"{entry.path}: {exc}")
            dropped.add(entry.path)
            continue
        usable.append(entry)
    return usable


def _plain(entry: TreeEntry, chunks: dict[str, list[FileChunk]]) -> dict[str, Any]:
    if entry.type == "file":
        # No "size": it is the sum of the chunks, as the validated entry's would be.
        refs = [{"hash": c.hash, "size": c.size} for c in chunks.get(entry.path, ())]
        return {"path": entry.path, "type": "file", "mode": entry.mode, "chunks": refs}
    if entry.type == "dir":
        return {"path": entry.path, "type": "dir", "mode": entry.mode}
    return {"path": entry.path, "type": "symlink", "target": entry.target or ""}


def _validated(entry: TreeEntry, chunks: dict[str, list[FileChunk]]) -> ManifestEntry:
    if entry.type == "file":
        refs = [ChunkRef(hash=c.hash, size=c.size) for c in chunks.get(entry.path, [])]
        return ManifestEntry(
            path=entry.path,
            type="file",
            mode=entry.mode,
            size=sum(r.size for r in refs),
            chunks=refs,
        )
    if entry.type == "dir":
        return ManifestEntry(path=entry.path, type="dir", mode=entry.mode)
    return ManifestEntry(path=entry.path, type="symlink", target=entry.target or "")


def file_entry(entry: ManifestEntry) -> FileEntry:
    """A manifest entry as the files listing shows it."""
    return FileEntry(
        path=entry.path,
        type=entry.type,
        size=entry.size or 0,
        mode=entry.mode,
        digest=entry.digest,
        target=entry.target,
    )


def _same(a: ManifestEntry, b: ManifestEntry) -> bool:
    return a.canonical() == b.canonical()


def diff_manifests(
    old: Manifest | None, new: Manifest, *, from_version: str, to_version: str
) -> VersionDiff:
    """What changes from ``old`` (``None``: nothing yet) to ``new``, lists sorted by path."""
    before = {e.path: e for e in (old.entries if old is not None else [])}
    after = {e.path: e for e in new.entries}
    added = [file_entry(e) for p, e in after.items() if p not in before]
    removed = [file_entry(e) for p, e in before.items() if p not in after]
    changed = [
        FileChange(
            path=p,
            old_size=before[p].size or 0,
            new_size=e.size or 0,
            type=e.type,
        )
        for p, e in after.items()
        if p in before and not _same(before[p], e)
    ]

    def key(item: FileEntry | FileChange) -> bytes:
        return item.path.encode("utf-8")

    return VersionDiff(
        from_version=from_version,
        to_version=to_version,
        added=sorted(added, key=key),
        removed=sorted(removed, key=key),
        changed=sorted(changed, key=key),
    )
