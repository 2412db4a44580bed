"""Apps and their immutable versions on the wire.

An *app* lives in a site: a name, the agents it targets, where it is
extracted on a machine and (for later) how it runs. A *version* is an
immutable snapshot of the app's files, described by a :class:`Manifest`:
every file (mode, size, the chunks that make it up), every directory (empty
ones too) and every symlink that stays inside the tree.

The manifest has one canonical JSON form, and everything else is derived
from it, so the SDK and the server agree on ids without talking::

    manifest = Manifest(entries=[
        ManifestEntry(path="bin", type="dir", mode=0o755),
        ManifestEntry(path="bin/run.sh", type="file", mode=0o755, size=12,
                      chunks=[ChunkRef(hash=sha256(data).hexdigest(), size=12)]),
    ])
    sha = manifest_sha256(manifest)          # sha256 of canonical_manifest_json()
    version_id_for("app_demo1", sha)         # "ver_…", stable for that app + content

Versions are named by a *ref* anywhere the API takes one: ``3``, ``"#3"``,
``"v3"``, a ``"ver_…"`` id, ``"current"``, ``"previous"`` (the version
numbered just below the current one) or ``"first"`` (see
:func:`parse_version_ref`).
"""

from __future__ import annotations

import gc
import hashlib
import json
import re
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import ConfigDict, Field, model_validator
from pydantic_core import PydanticCustomError

from fleetyard.protocol.canonical_json import chunk_json, dir_json, file_json, symlink_json
from fleetyard.protocol.chunks import ChunkRef
from fleetyard.protocol.common import RequestModel, ResponseModel, Timestamp

APP_ID_PREFIX = "app"
VERSION_ID_PREFIX = "ver"
APP_ID_PATTERN = r"^app_[0-9a-z]{4,36}$"
"""A caller-chosen app id: ``app_`` then 4 to 36 lowercase letters or digits."""
MAX_PATH_LENGTH = 1024
"""Longest path in a manifest, in characters (it is part of a database key)."""
MAX_TARGET_LENGTH = 4096
MAX_ENTRIES = 100_000
MAX_DESCRIPTION_LENGTH = 500
MAX_VERSION_ID_LENGTH = 40
MAX_TARGETS = 10_000
RESTORE_WINDOW_DAYS = 30
"""A deleted app can be restored for this long."""
DEFAULT_FILE_MODE = 0o644
DEFAULT_DIR_MODE = 0o755
MAX_MODE = 0o7777
_SYMLINK_HOPS = 40

EntryType = Literal["file", "dir", "symlink"]


@contextmanager
def gc_paused() -> Iterator[None]:
    """No cyclic garbage collection while building many objects at once (a large
    manifest, or the JSON it is read from): none of them is garbage, yet the
    collector's passes over them took 40 % of the time of a 20,000-entry manifest.

    >>> with gc_paused():
    ...     gc.isenabled()
    False
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


class ManifestError(ValueError):
    """A manifest (or one of its paths) that breaks the rules; the server answers 422
    ``manifest_invalid``."""


# -- paths ---------------------------------------------------------------------------------


def check_path(path: str) -> str:
    """Return ``path`` if it is a POSIX relative path inside the tree, else raise.

    No leading ``/``, no empty, ``.`` or ``..`` segment, no backslash or NUL, at
    most :data:`MAX_PATH_LENGTH` characters.

    >>> check_path("a/b.txt")
    'a/b.txt'
    >>> check_path("../etc/passwd")
    Traceback (most recent call last):
    ...
    fleetyard.protocol.software.ManifestError: path '../etc/passwd' has a '..' segment
    >>> check_path("/abs")
    Traceback (most recent call last):
    ...
    fleetyard.protocol.software.ManifestError: path '/abs' is absolute
    """
    if not path:
        raise ManifestError("a path is empty")
    if len(path) > MAX_PATH_LENGTH:
        raise ManifestError(f"path {path[:40]!r}… is longer than {MAX_PATH_LENGTH} characters")
    if path.startswith("/"):
        raise ManifestError(f"path {path!r} is absolute")
    if "\x00" in path or "\\" in path:
        raise ManifestError(f"path {path!r} holds a NUL or a backslash")
    for segment in path.split("/"):
        if segment == "..":
            raise ManifestError(f"path {path!r} has a '..' segment")
        if segment in ("", "."):
            raise ManifestError(f"path {path!r} has an empty or '.' segment")
    return path


def path_sort_key(path: str) -> bytes:
    """The canonical order of entries: the bytes of the UTF-8 path.

    >>> sorted(["b", "a/z", "a"], key=path_sort_key)
    ['a', 'a/z', 'b']
    """
    return path.encode("utf-8")


def resolve_symlink(path: str, target: str, symlinks: Mapping[str, str]) -> str:
    """Where the symlink at ``path`` pointing at ``target`` lands, relative to the root.

    Other symlinks of the tree (``symlinks``: path → target) met on the way
    are followed, as the kernel would, so ``a -> ..`` then ``b -> a/..`` is
    caught. Raises :class:`ManifestError` when the link is absolute, leaves
    the tree or loops. A target that does not exist in the tree is allowed
    (as long as it would be inside).

    >>> resolve_symlink("a/link", "b.txt", {})
    'a/b.txt'
    >>> resolve_symlink("a/link", "../../x", {})
    Traceback (most recent call last):
    ...
    fleetyard.protocol.software.ManifestError: symlink 'a/link' -> '../../x' leaves the tree
    >>> resolve_symlink("b", "up/..", {"up": ".."})
    Traceback (most recent call last):
    ...
    fleetyard.protocol.software.ManifestError: symlink 'b' -> 'up/..' leaves the tree
    """
    if not target:
        raise ManifestError(f"symlink {path!r} has an empty target")
    if target.startswith("/"):
        raise ManifestError(f"symlink {path!r} -> {target!r} is absolute")
    if "\x00" in target:
        raise ManifestError(f"symlink {path!r} target holds a NUL")
    stack: list[str] = path.split("/")[:-1]
    pending: list[str] = list(reversed(target.split("/")))
    hops = 0
    while pending:
        part = pending.pop()
        if part in ("", "."):
            continue
        if part == "..":
            if not stack:
                raise ManifestError(f"symlink {path!r} -> {target!r} leaves the tree")
            stack.pop()
            continue
        stack.append(part)
        here = "/".join(stack)
        if here in symlinks:
            hops += 1
            if hops > _SYMLINK_HOPS:
                raise ManifestError(f"symlink {path!r} -> {target!r} loops")
            inner = symlinks[here]
            if inner.startswith("/"):
                raise ManifestError(f"symlink {path!r} -> {target!r} goes through an absolute link")
            stack.pop()
            pending.extend(reversed(inner.split("/")))
    return "/".join(stack) or "."


MANIFEST_INVALID = "manifest_invalid"
"""The pydantic error type of a broken manifest rule (the server answers 422 with this code)."""


def _invalid(exc: ManifestError) -> PydanticCustomError:
    return PydanticCustomError(MANIFEST_INVALID, "{reason}", {"reason": str(exc)})


# -- manifest ------------------------------------------------------------------------------


class ManifestEntry(RequestModel):
    """One file, directory or symlink of a version.

    - ``file``: ``mode`` (permission bits, default 0o644), ``size`` and
      ``chunks`` whose sizes add up to ``size`` (``[]`` for an empty file);
    - ``dir``: ``mode`` (default 0o755), nothing else;
    - ``symlink``: ``target``, relative, resolving inside the tree; no mode.

    >>> ManifestEntry(path="a", type="dir").mode
    493
    """

    path: str = Field(min_length=1, max_length=MAX_PATH_LENGTH)
    type: EntryType
    mode: int | None = Field(default=None, ge=0, le=MAX_MODE)
    size: int | None = Field(default=None, ge=0)
    chunks: list[ChunkRef] | None = None
    target: str | None = Field(default=None, min_length=1, max_length=MAX_TARGET_LENGTH)

    @model_validator(mode="after")
    def _shape(self) -> ManifestEntry:
        try:
            self._check()
        except ManifestError as exc:
            raise _invalid(exc) from None
        return self

    def _check(self) -> None:
        check_path(self.path)
        if self.type == "file":
            if self.target is not None:
                raise ManifestError(f"file {self.path!r} has a target")
            chunks = self.chunks if self.chunks is not None else []
            total = sum(c.size for c in chunks)
            size = self.size if self.size is not None else total
            if size != total:
                raise ManifestError(
                    f"file {self.path!r}: size {size} but its chunks add up to {total}"
                )
            self.chunks, self.size = chunks, size
            if self.mode is None:
                self.mode = DEFAULT_FILE_MODE
        elif self.type == "dir":
            if self.size not in (None, 0) or self.chunks or self.target is not None:
                raise ManifestError(f"directory {self.path!r} has a size, chunks or a target")
            self.size, self.chunks = None, None
            if self.mode is None:
                self.mode = DEFAULT_DIR_MODE
        else:
            if self.target is None:
                raise ManifestError(f"symlink {self.path!r} has no target")
            if self.size not in (None, 0) or self.chunks:
                raise ManifestError(f"symlink {self.path!r} has a size or chunks")
            self.size, self.chunks, self.mode = None, None, None

    def canonical(self) -> dict[str, Any]:
        """This entry in canonical form: only the members its type has.

        >>> ManifestEntry(path="l", type="symlink", target="x").canonical()
        {'path': 'l', 'type': 'symlink', 'target': 'x'}
        """
        out: dict[str, Any] = {"path": self.path, "type": self.type}
        if self.type == "file":
            out["mode"] = self.mode
            out["size"] = self.size
            out["chunks"] = [{"hash": c.hash, "size": c.size} for c in self.chunks or []]
        elif self.type == "dir":
            out["mode"] = self.mode
        else:
            out["target"] = self.target
        return out

    @property
    def digest(self) -> str | None:
        """For a file: the SHA-256 of its chunk hashes concatenated (equal files, equal digest).

        >>> ManifestEntry(path="e", type="file").digest == hashlib.sha256(b"").hexdigest()
        True
        """
        if self.type != "file":
            return None
        return chunk_list_digest(c.hash for c in self.chunks or [])


def chunk_list_digest(hashes: Iterable[str]) -> str:
    """SHA-256 (hex) of the concatenated hex hashes of a file's chunks.

    >>> chunk_list_digest([]) == hashlib.sha256(b"").hexdigest()
    True
    """
    return hashlib.sha256("".join(hashes).encode("ascii")).hexdigest()


class Manifest(RequestModel):
    """Every entry of a version, kept sorted by path (UTF-8 byte order).

    Validation (each failure is a :class:`ManifestError`, 422 ``manifest_invalid``
    on the server): paths per :func:`check_path`, no duplicates, nothing
    below a file or a symlink, symlinks resolving inside the tree, file sizes
    equal to the sum of their chunks. Entries given out of order are sorted.

    >>> m = Manifest(entries=[
    ...     ManifestEntry(path="b", type="file"), ManifestEntry(path="a", type="dir")])
    >>> [e.path for e in m.entries]
    ['a', 'b']
    >>> Manifest(entries=[ManifestEntry(path="a", type="dir"), ManifestEntry(path="a", type="dir")])
    Traceback (most recent call last):
    ...
    pydantic_core._pydantic_core.ValidationError: 1 validation error for Manifest
    ...
    """

    entries: list[ManifestEntry] = Field(default_factory=list, max_length=MAX_ENTRIES)

    @model_validator(mode="after")
    def _tree(self) -> Manifest:
        try:
            validate_entries(self.entries)
        except ManifestError as exc:
            raise _invalid(exc) from None
        self.entries = sorted(self.entries, key=lambda e: path_sort_key(e.path))
        return self

    def canonical(self) -> dict[str, Any]:
        """``{"entries": [...]}`` with each entry in canonical form."""
        with gc_paused():
            return {"entries": [e.canonical() for e in self.entries]}

    @property
    def file_count(self) -> int:
        """Entries of type ``file``."""
        return sum(1 for e in self.entries if e.type == "file")

    @property
    def total_bytes(self) -> int:
        """Sum of the file sizes."""
        return sum(e.size or 0 for e in self.entries if e.type == "file")

    def chunk_hashes(self) -> set[str]:
        """Every distinct chunk hash the files use."""
        return {c.hash for e in self.entries for c in e.chunks or []}


def _dirname(path: str) -> str:
    """``posixpath.dirname`` of a ``str``, without its checks of the argument's type."""
    head = path[: path.rfind("/") + 1]
    if head and head != "/" * len(head):
        head = head.rstrip("/")
    return head


def validate_entries(entries: Iterable[ManifestEntry]) -> None:
    """The rules across entries (each entry checked itself already); raise on the first break.

    >>> validate_entries([ManifestEntry(path="f", type="file"),
    ...                   ManifestEntry(path="f/x", type="file")])
    Traceback (most recent call last):
    ...
    fleetyard.protocol.software.ManifestError: 'f/x' is below 'f', which is not a directory
    """
    _check_tree((entry.path, entry.type, entry.target) for entry in entries)


def _check_tree(entries: Iterable[tuple[str, str, str | None]]) -> None:
    """:func:`validate_entries` on ``(path, type, target)`` triples."""
    kinds: dict[str, str] = {}
    symlinks: dict[str, str] = {}
    for path, kind, target in entries:
        if path in kinds:
            raise ManifestError(f"path {path!r} appears twice")
        kinds[path] = kind
        if kind == "symlink" and target is not None:
            symlinks[path] = target
    cleared: set[str] = set()  # parents whose every ancestor is a directory or absent
    for path in kinds:
        parent = _dirname(path)
        if not parent or parent in cleared:
            continue
        walked: list[str] = []
        while parent and parent not in cleared:
            above = kinds.get(parent)
            if above is not None and above != "dir":
                raise ManifestError(f"{path!r} is below {parent!r}, which is not a directory")
            walked.append(parent)
            parent = _dirname(parent)
        cleared.update(walked)
    for path, target in symlinks.items():
        resolve_symlink(path, target, symlinks)


def canonical_manifest_json(manifest: Manifest) -> str:
    """The one JSON text of a manifest that ids are derived from.

    ``json.dumps(canonical, sort_keys=True, separators=(",", ":"), ensure_ascii=False)``
    with entries sorted by path and each entry holding only its type's members.

    >>> canonical_manifest_json(Manifest(entries=[ManifestEntry(path="d", type="dir")]))
    '{"entries":[{"mode":493,"path":"d","type":"dir"}]}'
    """
    return '{"entries":[' + ",".join(map(_entry_json, manifest.entries)) + "]}"


_json_str = json.encoder.encode_basestring
"""The string encoder of ``json.dumps(..., ensure_ascii=False)``."""


def _entry_json(entry: ManifestEntry) -> str:
    """``json.dumps(entry.canonical(), sort_keys=True, separators=(",", ":"),
    ensure_ascii=False)``, written out directly for the plain values of a checked entry
    (5x faster than building a dict and dumping it); anything else goes through
    ``json.dumps`` itself."""
    path, kind, mode = entry.path, entry.type, entry.mode
    if type(path) is str:
        if kind == "file" and type(mode) is int and type(entry.size) is int:
            listed: list[str] = []
            for c in entry.chunks or ():
                if type(c.hash) is not str or type(c.size) is not int:
                    break
                listed.append(chunk_json(c.hash, c.size))
            else:
                return file_json(path, mode, entry.size, listed)
        elif kind == "dir" and type(mode) is int:
            return dir_json(path, mode)
        elif kind not in ("file", "dir") and type(kind) is str and type(entry.target) is str:
            return symlink_json(path, kind, entry.target)
    return json.dumps(entry.canonical(), sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def manifest_sha256(manifest: Manifest) -> str:
    """Lowercase hex SHA-256 of :func:`canonical_manifest_json` (UTF-8).

    >>> manifest_sha256(Manifest(entries=[])) == hashlib.sha256(b'{"entries":[]}').hexdigest()
    True
    """
    return canonical_json_sha256(canonical_manifest_json(manifest))


def canonical_json_sha256(canonical_json: str) -> str:
    """:func:`manifest_sha256` from the manifest's :func:`canonical_manifest_json` text.

    >>> canonical_json_sha256('{"entries":[]}') == manifest_sha256(Manifest(entries=[]))
    True
    """
    return hashlib.sha256(canonical_json.encode("utf-8")).hexdigest()


def version_id_for(app_id: str, manifest_sha: str) -> str:
    """A version's id: ``"ver_"`` + the first 32 hex digits of sha256(``app_id:manifest_sha``).

    The same content in the same app always gets the same id.

    >>> version_id_for("app_demo", "0" * 64)
    'ver_...'
    >>> len(version_id_for("app_demo", "0" * 64))
    36
    """
    digest = hashlib.sha256(f"{app_id}:{manifest_sha}".encode()).hexdigest()
    return f"{VERSION_ID_PREFIX}_{digest[:32]}"


# -- refs ----------------------------------------------------------------------------------

RefKind = Literal["number", "id", "current", "previous", "first"]
_NUMBER_REF = re.compile(r"^(?:#|v)?([1-9][0-9]{0,9})$")
_ID_REF = re.compile(r"^ver_[0-9a-z]{1,36}$")


class VersionRefError(ValueError):
    """Text that names no version in any form; the server answers 404 ``version_not_found``."""


@dataclass(frozen=True, slots=True)
class VersionRef:
    """A parsed ref: ``kind`` and, for ``number`` / ``id``, the number or the id."""

    kind: RefKind
    number: int | None = None
    id: str | None = None


def parse_version_ref(ref: int | str) -> VersionRef:
    """Parse a version ref in any of its forms.

    >>> parse_version_ref(3) == parse_version_ref("#3") == parse_version_ref("v3")
    True
    >>> parse_version_ref("3").number
    3
    >>> parse_version_ref("ver_0123abcd").id
    'ver_0123abcd'
    >>> parse_version_ref("previous").kind
    'previous'
    >>> parse_version_ref("v0")
    Traceback (most recent call last):
    ...
    fleetyard.protocol.software.VersionRefError: 'v0' is not a version ref
    """
    if isinstance(ref, bool):
        raise VersionRefError(f"{ref!r} is not a version ref")
    if isinstance(ref, int):
        if ref < 1:
            raise VersionRefError(f"{ref!r} is not a version ref")
        return VersionRef("number", number=ref)
    text = ref.strip()
    if text in ("current", "previous", "first"):
        return VersionRef(text)  # type: ignore[arg-type]
    match = _NUMBER_REF.match(text)
    if match:
        return VersionRef("number", number=int(match.group(1)))
    if _ID_REF.match(text):
        return VersionRef("id", id=text)
    raise VersionRefError(f"{ref!r} is not a version ref")


# -- apps and versions ---------------------------------------------------------------------


class AppRun(RequestModel):
    """How the app runs on a machine (kept for later: nothing runs it yet)."""

    command: list[str] | None = Field(default=None, max_length=200)
    env: dict[str, str] = Field(default_factory=dict)
    health_command: list[str] | None = Field(default=None, max_length=200)


# -- the same shapes, read leniently from a server ------------------------------------------
#
# Manifests and run settings are request models (a publish or a patch with a member
# the server does not know is refused). Inside responses they are read with the
# subclasses below, which keep unknown members like every ResponseModel, so an
# older SDK (or agent) keeps working against a newer server that adds one. The
# rules of the request models (paths, sizes, symlinks) still hold.


class ServerChunkRef(ChunkRef):
    """A :class:`~fleetyard.protocol.chunks.ChunkRef` as a server sends it (unknown
    members kept)."""

    model_config = ConfigDict(extra="allow")


class ServerManifestEntry(ManifestEntry):
    """A :class:`ManifestEntry` as a server sends it (unknown members kept)."""

    model_config = ConfigDict(extra="allow")

    chunks: list[ServerChunkRef] | None = None  # type: ignore[assignment]


class ServerManifest(Manifest):
    """A :class:`Manifest` as a server sends it: unknown members of the manifest, of
    its entries and of their chunks are kept, the manifest's rules still checked.

    >>> m = ServerManifest.model_validate(
    ...     {"entries": [{"path": "d", "type": "dir", "owner": "root"}], "signed": True})
    >>> m.entries[0].model_extra, canonical_manifest_json(m)
    ({'owner': 'root'}, '{"entries":[{"mode":493,"path":"d","type":"dir"}]}')
    """

    model_config = ConfigDict(extra="allow")

    entries: list[ServerManifestEntry] = Field(  # type: ignore[assignment]
        default_factory=list, max_length=MAX_ENTRIES
    )


class ServerAppRun(AppRun):
    """:class:`AppRun` as a server sends it (unknown members kept; sent back with a patch,
    they reach the server that knows them)."""

    model_config = ConfigDict(extra="allow")


class Version(ResponseModel):
    """One immutable version. ``manifest`` only comes with a single version's GET."""

    id: str
    app_id: str
    number: int
    description: str = ""
    manifest_sha256: str
    files: int
    bytes: int
    created_at: Timestamp
    created_by: str | None = None
    current: bool = False
    manifest: ServerManifest | None = None


class App(ResponseModel):
    """An app of a site with a summary of its current version (``None`` before any publish)."""

    id: str
    site_id: str
    name: str
    targets: list[str] = Field(default_factory=list)
    extract_path: str | None = None
    run: ServerAppRun = Field(default_factory=ServerAppRun)
    current_version: Version | None = None
    deleted_at: Timestamp | None = None
    created_at: Timestamp
    updated_at: Timestamp


class AppCreate(RequestModel):
    """A new app: ``AppCreate(site_id=site, name="kiosk", targets=[agent_id])``.

    ``id`` lets the caller choose the id (``app_`` + 4..36 of ``[0-9a-z]``); 409
    ``already_exists`` when taken.
    """

    site_id: str = Field(min_length=1, max_length=40)
    name: str = Field(min_length=1, max_length=200)
    id: str | None = Field(default=None, pattern=APP_ID_PATTERN)
    targets: list[str] = Field(default_factory=list, max_length=MAX_TARGETS)
    extract_path: str | None = Field(default=None, min_length=1, max_length=1000)
    run: AppRun = Field(default_factory=AppRun)


class AppUpdate(RequestModel):
    """Rename, retarget or move an app: only the members sent change."""

    name: str | None = Field(default=None, min_length=1, max_length=200)
    targets: list[str] | None = Field(default=None, max_length=MAX_TARGETS)
    extract_path: str | None = Field(default=None, min_length=1, max_length=1000)
    run: AppRun | None = None


class VersionPublish(RequestModel):
    """Publish a manifest as the app's next version.

    ``expected_current`` names the version the caller believes is current
    (``None``: the app has none yet). Another writer got there first → 412
    ``version_stale`` with ``current_version_id`` in the problem.
    """

    manifest: Manifest
    description: str = Field(default="", max_length=MAX_DESCRIPTION_LENGTH)
    expected_current: str | None = Field(default=None, max_length=MAX_VERSION_ID_LENGTH)


class VersionUpdate(RequestModel):
    """The only thing of a version that changes: its description."""

    description: str = Field(max_length=MAX_DESCRIPTION_LENGTH)


class FileEntry(ResponseModel):
    """One entry of a version as listed: ``digest`` for files, ``target`` for symlinks."""

    path: str
    type: EntryType
    size: int = 0
    mode: int | None = None
    digest: str | None = None
    target: str | None = None


class FileChange(ResponseModel):
    """A path in both versions whose content, type, mode or target differs."""

    path: str
    old_size: int
    new_size: int
    type: EntryType


class VersionDiff(ResponseModel):
    """What changed from ``from_version`` to ``to_version``, each list sorted by path."""

    from_version: str
    to_version: str
    added: list[FileEntry] = Field(default_factory=list)
    removed: list[FileEntry] = Field(default_factory=list)
    changed: list[FileChange] = Field(default_factory=list)


class Rollback(RequestModel):
    """Make an earlier version current again, without making a new one."""

    to: int | str = "previous"
