"""The push, written once as a generator of *steps* (its drivers: :mod:`.drivers`).

:func:`push_steps` holds every rule of a push (which calls, in which order,
what to retry, what to count) and does no I/O itself; the steps it yields are
described in :mod:`.steps`.

A push hashes in background threads and, meanwhile, asks which of the chunks
hashed so far the site lacks and uploads them in commit groups (see
:mod:`.uploading`): the server stores one group while the client hashes the
next files. Once every file is hashed and every missing chunk uploaded, the
manifest is published. A dry run hashes everything first, then asks.

:func:`~.drivers.run_push` performs the steps with threads for
:class:`~fleetyard.Client`; :func:`~.drivers.arun_push` with tasks (and worker
threads for the CPU work) for :class:`~fleetyard.AsyncClient`.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from fleetyard.protocol.chunks import MAX_HASHES_PER_REQUEST
from fleetyard.protocol.software import (
    App,
    Manifest,
    Version,
    manifest_sha256,
    version_id_for,
)
from fleetyard.sdk._exceptions import (
    APIStatusError,
    NotFoundError,
    PreconditionFailedError,
    UnprocessableEntityError,
)
from fleetyard.sdk._operation import Operation, path_param
from fleetyard.sdk._push.chunker import FileChunk, HashingRun, hash_files
from fleetyard.sdk._push.manifest import build_manifest, diff_manifests
from fleetyard.sdk._push.models import (
    PushOptions,
    PushPhase,
    PushProgress,
    PushResult,
    PushStats,
)
from fleetyard.sdk._push.steps import (
    Call,
    Discover,
    Emit,
    Hash,
    Hashed,
    NextHashed,
    NotRun,
    Parallel,
    StartHash,
    Step,
    Steps,
)
from fleetyard.sdk._push.upload import Item
from fleetyard.sdk._push.uploading import Uploader, batch_ready, group_ready
from fleetyard.sdk._push.walk import TreeEntry, TreeWalk
from fleetyard.sdk._types import WriteOptions
from fleetyard.sdk.resources.chunks import check_op

if TYPE_CHECKING:
    from fleetyard.sdk._base_client import BaseClient

__all__ = [
    "PROGRESS_INTERVAL",
    "Call",
    "Discover",
    "Emit",
    "Hash",
    "Hashed",
    "NextHashed",
    "NotRun",
    "Parallel",
    "StartHash",
    "Step",
    "Steps",
    "Tracker",
    "hash_files",
    "push_steps",
]

T = TypeVar("T")

PROGRESS_INTERVAL = 0.2
"""Seconds between two progress events while hashing or uploading."""


# -- counters ------------------------------------------------------------------------


@dataclass
class Tracker:
    """The push's counters; workers add to them under the lock."""

    phase: PushPhase = "discover"
    files_total: int = 0
    files_done: int = 0
    bytes_total: int = 0
    bytes_hashed: int = 0
    chunks_total: int = 0
    chunks_missing: int = 0
    chunks_uploaded: int = 0
    bytes_missing: int = 0
    bytes_uploaded: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, **amounts: int) -> None:
        with self.lock:
            for name, value in amounts.items():
                setattr(self, name, getattr(self, name) + value)

    def snapshot(self) -> PushProgress:
        with self.lock:
            return PushProgress(
                phase=self.phase,
                files_total=self.files_total,
                files_done=self.files_done,
                bytes_total=self.bytes_total,
                bytes_hashed=self.bytes_hashed,
                chunks_total=self.chunks_total,
                chunks_missing=self.chunks_missing,
                chunks_uploaded=self.chunks_uploaded,
                bytes_missing=self.bytes_missing,
                bytes_uploaded=self.bytes_uploaded,
            )


# -- the push itself -------------------------------------------------------------------


def _batches(items: Sequence[T], size: int = MAX_HASHES_PER_REQUEST) -> list[Sequence[T]]:
    return [items[i : i + size] for i in range(0, len(items), size)]


def _app_path(app_id: str) -> str:
    return f"/v1/apps/{path_param(app_id, 'app_id')}"


def _problem_field(exc: APIStatusError, name: str) -> Any:
    extra = exc.problem.model_extra if exc.problem is not None else None
    return (extra or {}).get(name)


def push_steps(
    client: BaseClient,
    path: str | Path,
    app_id: str,
    options: PushOptions,
    tracker: Tracker,
    call_options: WriteOptions,
) -> Steps[PushResult]:
    """Every rule of a push; see the module docstring for the steps it yields."""
    root = Path(path)
    if options.concurrency < 1:
        raise ValueError("concurrency must be at least 1")

    def call(op: Operation[T]) -> Steps[Any]:
        return (yield Call(client._call(op, call_options)))

    def phase(name: PushPhase) -> Steps[None]:
        tracker.phase = name
        yield Emit()

    # -- discover
    yield from phase("discover")
    app = yield from _get_app(client, app_id, options, call)
    site_id = app.site_id if app is not None else options.site_id
    if site_id is None:  # _get_app raised NotFoundError already
        raise ValueError(f"app {app_id} does not exist; pass site_id to create it")
    walk: TreeWalk = yield Discover(root, tuple(options.ignore))
    files = walk.files
    tracker.files_total = len(files)
    tracker.bytes_total = sum(f.size for f in files)
    warnings = list(walk.skipped)
    if options.dry_run:
        return (yield from _dry_run(app_id, app, site_id, walk, options, tracker, call, phase))

    # -- hash, and meanwhile create the app, check-missing and upload what is hashed
    yield from phase("hash")
    run: HashingRun = yield StartHash(files, max(1, options.hash_workers))
    if app is None:
        app = yield from _create_app(app_id, site_id, options, call)
    else:
        app = yield from _update_app(app, options, call)
    uploader = Uploader(client, site_id, options, tracker, call, call_options)
    chunks_by_path, where = yield from _hash_and_upload(
        files, run, site_id, uploader, tracker, call, phase
    )
    manifest = build_manifest(walk.entries, chunks_by_path, warnings)
    sha = manifest_sha256(manifest)

    # -- publish
    yield from phase("publish")
    expected = app.current_version.id if app.current_version is not None else None
    repaired = False
    attempts = 0
    while True:
        attempts += 1
        body = {
            "manifest": manifest.canonical(),
            "description": options.description,
            "expected_current": expected,
        }
        op = Operation("POST", f"{_app_path(app_id)}/versions", Version, json=body)
        try:
            raw = yield from call(op)
        except PreconditionFailedError as exc:
            if exc.code != "version_stale" or attempts >= options.publish_attempts:
                raise
            expected = _problem_field(exc, "current_version_id")
            continue
        except UnprocessableEntityError as exc:
            lost = _problem_field(exc, "missing")
            if exc.code != "chunk_missing" or repaired or not isinstance(lost, list):
                raise
            # Collected between our check and the publish: send them and try once more.
            repaired = True
            again = [where[h] for h in lost if isinstance(h, str) and h in where]
            yield from Uploader(client, site_id, options, tracker, call, call_options).send_all(
                again
            )
            continue
        version: Version = raw.parse()
        yield Emit()
        return PushResult(
            app_id=app_id,
            version_id=version.id,
            number=version.number,
            created=raw.status_code == 201,
            manifest_sha256=sha,
            stats=_stats(manifest, tracker),
            warnings=warnings,
        )


def _stats(manifest: Manifest, tracker: Tracker) -> PushStats:
    return PushStats(
        files=manifest.file_count,
        bytes=manifest.total_bytes,
        chunks_total=tracker.chunks_total,
        chunks_missing=tracker.chunks_missing,
        chunks_uploaded=tracker.chunks_uploaded,
        chunks_reused=tracker.chunks_total - tracker.chunks_missing,
        bytes_missing=tracker.bytes_missing,
        bytes_uploaded=tracker.bytes_uploaded,
    )


def _hash_and_upload(
    files: Sequence[TreeEntry],
    run: HashingRun,
    site_id: str,
    uploader: Uploader,
    tracker: Tracker,
    call: Callable[..., Steps[Any]],
    phase: Callable[[PushPhase], Steps[None]],
) -> Steps[tuple[dict[str, list[FileChunk]], dict[str, Item]]]:
    """Take the files as they are hashed: ask about their new chunks once a request's
    worth is known, upload the missing ones once they fill a commit group.

    Answers each file's chunks (by path) and where each distinct chunk is (its
    first occurrence). Groups are uploaded in the order their chunks were hashed:
    neighbouring small files share a request and the page cache.
    """
    chunks_by_path: dict[str, list[FileChunk]] = {}
    where: dict[str, Item] = {}
    unchecked: list[Item] = []
    queued: list[Item] = []
    finished = checking = uploading = False
    try:
        while True:
            if not finished:
                news: Hashed = yield NextHashed(run)
                finished = news.finished
                for index, file_chunks in news.files:
                    entry = files[index]
                    assert entry.source is not None
                    chunks_by_path[entry.path] = file_chunks
                    for c in file_chunks:
                        if c.hash not in where:
                            item = Item(c.hash, c.size, entry.source, c.offset, entry.stamp)
                            where[c.hash] = item
                            unchecked.append(item)
                tracker.chunks_total = len(where)
            while count := batch_ready(unchecked, final=finished):
                batch, unchecked = unchecked[:count], unchecked[count:]
                if not checking:
                    checking = True
                    yield from phase("check-missing")
                raw = yield from call(check_op(site_id, [i.hash for i in batch]))
                lacking = set(raw.parse().missing)
                found = [i for i in batch if i.hash in lacking]
                tracker.add(chunks_missing=len(found), bytes_missing=sum(i.size for i in found))
                queued += found
            while count := group_ready(queued, final=finished and not unchecked):
                group, queued = queued[:count], queued[count:]
                if not uploading:
                    uploading = True
                    yield from phase("upload")
                yield from uploader.send(group)
            if finished and not unchecked and not queued:
                break
        yield from uploader.finish()
    except Exception:
        # Whatever failed (hashing, a check, an upload), what arrived is committed:
        # a push run again finds those chunks present and skips them.
        with contextlib.suppress(Exception):
            yield from uploader.finish()
        raise
    tracker.bytes_hashed = tracker.bytes_total
    tracker.files_done = len(files)
    return chunks_by_path, where


def _dry_run(
    app_id: str,
    app: App | None,
    site_id: str,
    walk: TreeWalk,
    options: PushOptions,
    tracker: Tracker,
    call: Callable[..., Steps[Any]],
    phase: Callable[[PushPhase], Steps[None]],
) -> Steps[PushResult]:
    """Hash everything, ask which chunks are missing, diff against the current version."""
    yield from phase("hash")
    files = walk.files
    hashed: list[list[FileChunk]] = yield Hash(files, max(1, options.hash_workers))
    chunks_by_path = {f.path: c for f, c in zip(files, hashed, strict=True)}
    warnings = list(walk.skipped)
    manifest = build_manifest(walk.entries, chunks_by_path, warnings)
    sizes: dict[str, int] = {}
    for file_chunks in hashed:
        for c in file_chunks:
            sizes.setdefault(c.hash, c.size)
    all_hashes = sorted(sizes)
    tracker.chunks_total = len(all_hashes)
    tracker.bytes_hashed = tracker.bytes_total
    tracker.files_done = len(files)
    sha = manifest_sha256(manifest)

    yield from phase("check-missing")
    missing: list[str] = []
    for batch in _batches(all_hashes):
        raw = yield from call(check_op(site_id, batch))
        missing.extend(raw.parse().missing)
    tracker.chunks_missing = len(missing)
    tracker.bytes_missing = sum(sizes[h] for h in missing)

    current: Version | None = None
    if app is not None and app.current_version is not None:
        raw = yield from call(Operation("GET", f"{_app_path(app_id)}/versions/current", Version))
        current = raw.parse()
    diff = diff_manifests(
        current.manifest if current is not None else None,
        manifest,
        from_version=current.id if current is not None else "",
        to_version=version_id_for(app_id, sha),
    )
    yield Emit()
    return PushResult(
        app_id=app_id,
        version_id=version_id_for(app_id, sha),
        dry_run=True,
        manifest_sha256=sha,
        stats=_stats(manifest, tracker),
        diff=diff,
        warnings=warnings,
    )


def _get_app(
    client: BaseClient, app_id: str, options: PushOptions, call: Callable[..., Steps[Any]]
) -> Steps[App | None]:
    try:
        raw = yield from call(Operation("GET", _app_path(app_id), App))
    except NotFoundError:
        if options.site_id is None:
            raise
        return None
    app: App = raw.parse()
    return app


def _create_app(
    app_id: str, site_id: str, options: PushOptions, call: Callable[..., Steps[Any]]
) -> Steps[App]:
    body: dict[str, Any] = {"site_id": site_id, "name": options.name or app_id, "id": app_id}
    if options.targets is not None:
        body["targets"] = list(options.targets)
    if options.extract_path is not None:
        body["extract_path"] = options.extract_path
    raw = yield from call(Operation("POST", "/v1/apps", App, json=body))
    app: App = raw.parse()
    return app


def _update_app(app: App, options: PushOptions, call: Callable[..., Steps[Any]]) -> Steps[App]:
    body: dict[str, Any] = {}
    if options.name is not None and options.name != app.name:
        body["name"] = options.name
    if options.targets is not None and list(options.targets) != app.targets:
        body["targets"] = list(options.targets)
    if options.extract_path is not None and options.extract_path != app.extract_path:
        body["extract_path"] = options.extract_path
    if not body:
        return app
    raw = yield from call(Operation("PATCH", _app_path(app.id), App, json=body))
    updated: App = raw.parse()
    return updated
