"""What a push takes and answers: options, progress events, result."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Literal

from pydantic import BaseModel

from fleetyard.protocol.software import VersionDiff

__all__ = [
    "PushOptions",
    "PushPhase",
    "PushProgress",
    "PushProgressCallback",
    "PushResult",
    "PushStats",
]

PushPhase = Literal["discover", "hash", "check-missing", "upload", "publish"]


class PushProgress(BaseModel):
    """A snapshot of a push's counters, handed to ``on_progress``.

    ``chunks_total`` counts distinct chunks; ``chunks_missing`` those the site
    lacks (known after ``check-missing``).
    """

    phase: PushPhase
    files_total: int = 0
    files_done: int = 0
    bytes_total: int = 0
    bytes_hashed: int = 0
    chunks_total: int = 0
    chunks_missing: int = 0
    chunks_uploaded: int = 0
    bytes_missing: int = 0
    bytes_uploaded: int = 0


PushProgressCallback = Callable[[PushProgress], "Awaitable[object] | object"]
"""Called with each :class:`PushProgress`; may be a plain function or a coroutine function."""


@dataclass(frozen=True)
class PushOptions:
    """How to push: the app's settings if it must be created, and what to leave out.

    - ``site_id``, ``name``, ``targets``, ``extract_path``: used to create the
      app when ``app_id`` does not exist yet (``site_id`` is then required),
      and to update it when given and different;
    - ``description``: the new version's description;
    - ``ignore``: shell-style globs left out (``.git`` always is);
    - ``on_progress``: called with :class:`PushProgress` (sync or async);
    - ``dry_run``: hash, ask which chunks are missing, diff against the
      current version, and change nothing;
    - ``concurrency``: parallel uploads; ``hash_workers``: hashing threads.

    Example::

        PushOptions(description="fix login", ignore=["*.map"], on_progress=print)
    """

    site_id: str | None = None
    description: str = ""
    name: str | None = None
    targets: Sequence[str] | None = None
    extract_path: str | None = None
    ignore: Sequence[str] = ()
    on_progress: PushProgressCallback | None = None
    dry_run: bool = False
    concurrency: int = 4
    hash_workers: int = 2
    publish_attempts: int = field(default=5)


class PushStats(BaseModel):
    """What a push found and moved.

    ``chunks_total`` distinct chunks in the tree, ``chunks_missing`` the ones
    the site lacked, ``chunks_uploaded`` the ones this run sent,
    ``chunks_reused`` the ones the site already had.
    """

    files: int = 0
    bytes: int = 0
    chunks_total: int = 0
    chunks_missing: int = 0
    chunks_uploaded: int = 0
    chunks_reused: int = 0
    bytes_missing: int = 0
    bytes_uploaded: int = 0


class PushResult(BaseModel):
    """The outcome of a push.

    ``created`` is false when the tree equals the current version (nothing
    new was published) and on a dry run. A dry run's ``number`` is ``None``
    and ``diff`` tells what would change; ``warnings`` lists what was skipped.
    """

    app_id: str
    version_id: str
    number: int | None = None
    created: bool = False
    dry_run: bool = False
    manifest_sha256: str
    stats: PushStats
    diff: VersionDiff | None = None
    warnings: list[str] = []
