"""Plain manifests, checked by hand: the fast way in for large manifests.

Validating 20,000 entries through the models (an after-validator per entry, a
Python validator per chunk hash) was most of the cost of publishing them, on
both sides. Entries made of plain values (dicts, str, int, lists: what
``json.loads`` gives and what the SDK builds) are checked here against the very
same rules as :class:`~fleetyard.protocol.software.Manifest`, without the models.
Anything else (another type, a value out of range, a broken rule) makes these
functions answer ``None``: the caller then validates with the models, which give
the exact errors. ``tests/server/software/test_publish_large_manifest.py`` holds
the two ways to the same results.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple, TypeVar

from pydantic import BaseModel

from fleetyard.protocol.canonical_json import chunk_json, dir_json, file_json, symlink_json
from fleetyard.protocol.chunks import MAX_CHUNK_SIZE, ChunkRef
from fleetyard.protocol.software import (
    DEFAULT_DIR_MODE,
    DEFAULT_FILE_MODE,
    MAX_DESCRIPTION_LENGTH,
    MAX_ENTRIES,
    MAX_MODE,
    MAX_PATH_LENGTH,
    MAX_TARGET_LENGTH,
    MAX_VERSION_ID_LENGTH,
    EntryType,
    Manifest,
    ManifestEntry,
    ManifestError,
    VersionPublish,
    _check_tree,
    canonical_manifest_json,
    gc_paused,
    path_sort_key,
)

__all__ = [
    "PlainEntry",
    "PlainPublish",
    "plain_entries",
    "plain_manifest",
    "plain_manifest_json",
    "plain_publish",
    "valid_paths",
]

_Model = TypeVar("_Model", bound=BaseModel)
_HEX = re.compile(r"[0-9a-f]*")
_BAD_SEGMENT = re.compile(r"(?:^|[\x00/])\.{0,2}(?:[\x00/]|\Z)")
"""An empty, ``.`` or ``..`` segment (or a leading ``/``) in NUL-separated paths."""
_HASH_LENGTH = 64
_ENTRY_MEMBERS = frozenset(ManifestEntry.model_fields)
_CHUNK_MEMBERS = frozenset(ChunkRef.model_fields)
_SET_BY_CHECK = ("size", "chunks", "mode")
"""The members :meth:`ManifestEntry._check` assigns, hence always in ``model_fields_set``."""
_setattr = object.__setattr__


class PlainEntry(NamedTuple):
    """A checked entry as plain values, as :class:`ManifestEntry` holds them: a file
    with its mode, size and chunks (``{"hash", "size"}`` dicts), a directory with its
    mode, a symlink with only its target."""

    path: str
    type: EntryType
    mode: int | None
    size: int | None
    chunks: list[dict[str, Any]] | None
    target: str | None


def valid_paths(paths: Sequence[str]) -> bool:
    """Whether :func:`check_path` accepts every one of ``paths`` (one scan of them all).

    >>> valid_paths(["a", "a/b.txt", ".hidden/..."]), valid_paths(["a", "b/./c"])
    (True, False)
    """
    if not paths:
        return True
    if any(not 0 < len(path) <= MAX_PATH_LENGTH for path in paths):
        return False
    joined = "\x00".join(paths)
    return (
        joined.count("\x00") == len(paths) - 1
        and "\\" not in joined
        and _BAD_SEGMENT.search(joined) is None
    )


def _plain_chunks(items: Any, hashes: list[str]) -> int | None:
    """The total size of plainly valid chunks (their hashes appended to ``hashes``)."""
    if type(items) is not list:
        return None
    total = 0
    for item in items:
        if type(item) is not dict or item.keys() != _CHUNK_MEMBERS:
            return None
        digest, size = item["hash"], item["size"]
        if type(digest) is not str or len(digest) != _HASH_LENGTH:
            return None
        if type(size) is not int or not 0 < size <= MAX_CHUNK_SIZE:
            return None
        hashes.append(digest)
        total += size
    return total


def _plain_entry(item: Any, hashes: list[str]) -> PlainEntry | None:
    """What ``ManifestEntry.model_validate(item)`` holds, or ``None`` when ``item`` is
    not plainly valid. The path and the chunk hashes are checked by the caller."""
    if type(item) is not dict or not item.keys() <= _ENTRY_MEMBERS:
        return None
    get = item.get
    path, kind, mode, size = get("path"), get("type"), get("mode"), get("size")
    chunks, target = get("chunks"), get("target")
    if type(path) is not str or not 0 < len(path) <= MAX_PATH_LENGTH:
        return None
    if mode is not None and (type(mode) is not int or not 0 <= mode <= MAX_MODE):
        return None
    if size is not None and (type(size) is not int or size < 0):
        return None
    total = 0
    if chunks is not None:
        found = _plain_chunks(chunks, hashes)
        if found is None:
            return None
        total = found
    if kind == "file":
        if target is not None or (size is not None and size != total):
            return None
        mode = DEFAULT_FILE_MODE if mode is None else mode
        return PlainEntry(path, kind, mode, total, chunks if chunks is not None else [], None)
    if size not in (None, 0) or chunks:
        return None
    if kind == "dir":
        if target is not None:
            return None
        return PlainEntry(path, kind, DEFAULT_DIR_MODE if mode is None else mode, None, None, None)
    if kind == "symlink" and type(target) is str and 0 < len(target) <= MAX_TARGET_LENGTH:
        return PlainEntry(path, kind, None, None, None, target)
    return None


def _plain_tree(entries: list[PlainEntry], hashes: list[str]) -> bool:
    """Whether the paths, the chunk hashes and the rules across entries hold."""
    if not valid_paths([e.path for e in entries]) or not _HEX.fullmatch("".join(hashes)):
        return False
    try:
        _check_tree((e.path, e.type, e.target) for e in entries)
    except ManifestError:
        return False
    return True


def plain_entries(entries: Iterable[Any]) -> list[PlainEntry] | None:
    """Plain entries (dicts of str, int, ``None`` and lists of chunk dicts) checked by
    hand against every rule of :class:`Manifest`, as it holds them (sorted by path);
    ``None`` when anything is not plainly valid, and then ``Manifest.model_validate``
    gives the errors.

    >>> [e.path for e in plain_entries([{"path": "b", "type": "file"},
    ...                                 {"path": "a", "type": "dir"}])]
    ['a', 'b']
    >>> plain_entries([{"path": "a/../b", "type": "dir"}]) is None
    True
    """
    with gc_paused():
        checked: list[PlainEntry] = []
        hashes: list[str] = []
        for item in entries:
            entry = _plain_entry(item, hashes)
            if entry is None or len(checked) == MAX_ENTRIES:
                return None
            checked.append(entry)
        if not _plain_tree(checked, hashes):
            return None
        try:
            checked.sort(key=lambda e: path_sort_key(e.path))
        except UnicodeError:
            return None
        return checked


def _unvalidated(cls: type[_Model], values: dict[str, Any], fields_set: set[str]) -> _Model:
    """The instance ``cls.model_construct`` makes (no extra members, no private
    attributes) for ``values`` that already hold every field in its final form."""
    instance = cls.__new__(cls)
    _setattr(instance, "__dict__", values)
    _setattr(instance, "__pydantic_fields_set__", fields_set)
    _setattr(instance, "__pydantic_extra__", None)
    _setattr(instance, "__pydantic_private__", None)
    return instance


def _entry_model(entry: PlainEntry, given: Iterable[str]) -> ManifestEntry:
    """The entry's model, given with the members ``given`` (what ``_unvalidated`` does,
    written out for the chunks: the most numerous objects of a large manifest)."""
    chunks: list[ChunkRef] | None = None
    if entry.chunks is not None:
        chunks = []
        new, setattr_ = ChunkRef.__new__, _setattr
        for c in entry.chunks:
            ref = new(ChunkRef)
            setattr_(ref, "__dict__", {"hash": c["hash"], "size": c["size"]})
            setattr_(ref, "__pydantic_fields_set__", {"hash", "size"})
            setattr_(ref, "__pydantic_extra__", None)
            setattr_(ref, "__pydantic_private__", None)
            chunks.append(ref)
    values = {
        "path": entry.path,
        "type": entry.type,
        "mode": entry.mode,
        "size": entry.size,
        "chunks": chunks,
        "target": entry.target,
    }
    return _unvalidated(ManifestEntry, values, {*given, *_SET_BY_CHECK})


def plain_manifest(entries: Iterable[Any]) -> Manifest | None:
    """``Manifest(entries=list(entries))`` for plain entries, built without the models'
    validation once :func:`plain_entries` found them plainly valid; else ``None``.

    >>> plain_manifest([{"path": "b", "type": "file"}, {"path": "a", "type": "dir"}])
    Manifest(entries=[ManifestEntry(path='a', type='dir', mode=493, ...), ...])
    """
    with gc_paused():
        checked: list[ManifestEntry] = []
        plain: list[PlainEntry] = []
        hashes: list[str] = []
        for item in entries:
            entry = _plain_entry(item, hashes)
            if entry is None or len(checked) == MAX_ENTRIES:
                return None
            plain.append(entry)
            checked.append(_entry_model(entry, item.keys()))
        if not _plain_tree(plain, hashes):
            return None
        try:
            checked.sort(key=lambda e: path_sort_key(e.path))
        except UnicodeError:
            return None
        return _unvalidated(Manifest, {"entries": checked}, {"entries"})


def plain_manifest_json(entries: Iterable[PlainEntry]) -> str:
    """:func:`canonical_manifest_json` of the manifest of :func:`plain_entries`.

    >>> plain_manifest_json(plain_entries([{"path": "d", "type": "dir"}]) or [])
    '{"entries":[{"mode":493,"path":"d","type":"dir"}]}'
    """
    texts: list[str] = []
    for e in entries:
        # (a file's mode and size and a directory's mode are never None once checked)
        if e.type == "file":
            chunks = [chunk_json(c["hash"], c["size"]) for c in e.chunks or ()]
            texts.append(file_json(e.path, e.mode or 0, e.size or 0, chunks))
        elif e.type == "dir":
            texts.append(dir_json(e.path, e.mode or 0))
        else:
            texts.append(symlink_json(e.path, e.type, e.target or ""))
    return '{"entries":[' + ",".join(texts) + "]}"


_PUBLISH_MEMBERS = frozenset(VersionPublish.model_fields)


@dataclass(frozen=True, slots=True)
class PlainPublish:
    """A publish body as plain values: what :class:`VersionPublish` holds, with the
    manifest as its :func:`plain_entries` and its canonical JSON."""

    entries: list[PlainEntry]
    canonical_json: str
    description: str = ""
    expected_current: str | None = None

    @classmethod
    def of(cls, body: VersionPublish) -> PlainPublish:
        """The plain values of a validated body."""
        entries = [
            PlainEntry(
                e.path,
                e.type,
                e.mode,
                e.size,
                None if e.chunks is None else [{"hash": c.hash, "size": c.size} for c in e.chunks],
                e.target,
            )
            for e in body.manifest.entries
        ]
        return cls(
            entries, canonical_manifest_json(body.manifest), body.description, body.expected_current
        )


def plain_publish(data: Any) -> PlainPublish | None:
    """``PlainPublish.of(VersionPublish.model_validate(data))`` for a plainly valid body
    (see :func:`plain_entries`), without the models; else ``None``: validate with the
    model for the errors.

    >>> plain_publish({"manifest": {"entries": []}, "expected_current": None}).canonical_json
    '{"entries":[]}'
    >>> plain_publish({"manifest": {"entries": []}, "description": None}) is None
    True
    """
    if type(data) is not dict or not data.keys() <= _PUBLISH_MEMBERS:
        return None
    body, description = data.get("manifest"), data.get("description", "")
    expected = data.get("expected_current")
    if type(body) is not dict or not body.keys() <= {"entries"}:
        return None
    if type(description) is not str or len(description) > MAX_DESCRIPTION_LENGTH:
        return None
    if expected is not None and (
        type(expected) is not str or len(expected) > MAX_VERSION_ID_LENGTH
    ):
        return None
    listed = body.get("entries", [])
    entries = plain_entries(listed) if type(listed) is list else None
    if entries is None:
        return None
    return PlainPublish(entries, plain_manifest_json(entries), description, expected)
