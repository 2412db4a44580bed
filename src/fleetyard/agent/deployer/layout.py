"""Where an app lives on the machine, and the few file operations that must be atomic.

``<apps_dir>/<app_id>/``::

    chunks/ab/<hash>          verified chunk cache (sha256 checked before it lands here)
    manifests/<ver_id>.json   the manifest of every version on disk
    stamps/<ver_id>.json      (size, mtime_ns, inode) of each file as installed
    versions/<ver_id>/        complete trees only (assembled in <ver_id>.tmp, then renamed)
    current -> versions/<ver_id>
    previous -> versions/<ver_id>
    switch.json               present only between a switch and its health verdict

Every change that others may observe is a ``rename``/``os.replace`` followed by
an ``fsync`` of the directory: after a power cut a name points at the old thing
or at the new one, never at half of either.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import stat
from pathlib import Path
from typing import Any

from fleetyard.agent.deployer.plan import check_name
from fleetyard.protocol.software import Manifest, ServerManifest

__all__ = ["TMP_SUFFIX", "TRASH_SUFFIX", "AppLayout", "fsync_dir", "remove_tree", "write_atomic"]

TMP_SUFFIX = ".tmp"
TRASH_SUFFIX = ".del"
VERSIONS_PREFIX = "versions/"


def fsync_dir(path: Path) -> None:
    """Make the directory's entries (a rename, a new name) durable."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_atomic(path: Path, data: bytes) -> None:
    """``path`` holds ``data`` entirely or keeps what it held: tmp + fsync + rename."""
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}{TMP_SUFFIX}")
    with open(tmp, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)
    fsync_dir(path.parent)


def remove_tree(path: Path) -> None:
    """Delete a file, a link or a whole tree, read-only directories included (a manifest
    may make them 0o555)."""
    if path.is_symlink() or path.is_file():
        path.unlink()
        return
    if not path.exists():
        return
    os.chmod(path, stat.S_IRWXU)
    for top, dirs, _files in os.walk(path):
        for name in dirs:
            child = os.path.join(top, name)
            if not os.path.islink(child):
                os.chmod(child, stat.S_IRWXU)
    shutil.rmtree(path)


class AppLayout:
    """The paths of one app, and its ``current``/``previous`` links."""

    def __init__(self, apps_dir: Path, app_id: str) -> None:
        self.app_id = check_name(app_id, "app id")
        self.root = apps_dir / app_id
        self.chunks = self.root / "chunks"
        self.manifests = self.root / "manifests"
        self.stamps = self.root / "stamps"
        self.versions = self.root / "versions"
        self.current = self.root / "current"
        self.previous = self.root / "previous"
        self.journal = self.root / "switch.json"

    def ensure(self) -> None:
        for path in (self.root, self.chunks, self.manifests, self.stamps, self.versions):
            path.mkdir(parents=True, exist_ok=True)

    def version_dir(self, version_id: str) -> Path:
        return self.versions / check_name(version_id, "version id")

    def staging_dir(self, version_id: str) -> Path:
        return self.versions / f"{check_name(version_id, 'version id')}{TMP_SUFFIX}"

    def has_version(self, version_id: str) -> bool:
        path = self.version_dir(version_id)
        return path.is_dir() and not path.is_symlink()

    def versions_on_disk(self) -> list[str]:
        if not self.versions.is_dir():
            return []
        return sorted(
            p.name
            for p in self.versions.iterdir()
            if not p.name.endswith((TMP_SUFFIX, TRASH_SUFFIX)) and p.is_dir()
        )

    # -- links ----------------------------------------------------------------------------

    def target(self, link: Path) -> str | None:
        """The version a link (``current``, ``previous``) points at, or ``None``."""
        try:
            value = os.readlink(link)
        except (FileNotFoundError, OSError):
            return None
        return value.removeprefix(VERSIONS_PREFIX) if value.startswith(VERSIONS_PREFIX) else None

    def point(self, link: Path, version_id: str | None) -> None:
        """Atomically make ``link`` point at ``versions/<version_id>`` (``None``: remove it):
        a new symlink ``<link>.tmp`` is ``os.replace``-d onto it, then the directory is
        fsynced."""
        if version_id is None:
            with contextlib.suppress(FileNotFoundError):
                link.unlink()
        else:
            tmp = link.with_name(link.name + TMP_SUFFIX)
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
            os.symlink(VERSIONS_PREFIX + check_name(version_id, "version id"), tmp)
            os.replace(tmp, link)
        fsync_dir(self.root)

    # -- manifests and journal ------------------------------------------------------------

    def save_manifest(self, version_id: str, manifest: Manifest) -> None:
        path = self.manifests / f"{check_name(version_id, 'version id')}.json"
        write_atomic(path, manifest.model_dump_json(exclude_none=True).encode())

    def load_manifest(self, version_id: str) -> Manifest | None:
        """Read leniently, as it came from the server: it may hold members this agent
        does not know (saved as received)."""
        path = self.manifests / f"{version_id}.json"
        try:
            return ServerManifest.model_validate_json(path.read_bytes())
        except (OSError, ValueError):
            return None

    def drop_manifest(self, version_id: str) -> None:
        """Forget a version: its manifest and its stamps."""
        for path in (self.manifests / f"{version_id}.json", self.stamps_file(version_id)):
            with contextlib.suppress(FileNotFoundError):
                path.unlink()

    def stamps_file(self, version_id: str) -> Path:
        """Where :mod:`~fleetyard.agent.deployer.reuse` records what was installed."""
        return self.stamps / f"{check_name(version_id, 'version id')}.json"

    def write_journal(self, data: dict[str, Any]) -> None:
        write_atomic(self.journal, json.dumps(data).encode())

    def read_journal(self) -> dict[str, Any] | None:
        try:
            found = json.loads(self.journal.read_text())
        except (OSError, ValueError):
            return None
        return found if isinstance(found, dict) else None

    def clear_journal(self) -> None:
        if self.journal.exists():
            self.journal.unlink()
            fsync_dir(self.root)
