"""The push, written once as a generator of *steps* (its drivers: :mod:`.drivers`).

:func:`push_steps` holds every rule of a push (which calls, in which order,
what to retry, what to count) and does no I/O itself. It yields:

- :class:`Discover` — walk the tree (answer: :class:`TreeWalk`);
- :class:`Hash` — chunk and hash these files (answer: their chunk lists);
- :class:`Call` — drive an SDK flow (answer: what the flow returned);
- :class:`Parallel` — drive these flows concurrently (answer: per flow
  ``None`` or the exception it raised; after the first failure the ones not
  started yet are not started and answer :class:`NotRun`);
- :class:`Emit` — tell ``on_progress`` the current counters.

:func:`~.drivers.run_push` performs the steps with threads for
:class:`~fleetyard.Client`; :func:`~.drivers.arun_push` with tasks (and worker
threads for the CPU work) for :class:`~fleetyard.AsyncClient`.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Generator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from fleetyard.protocol.chunks import MAX_HASHES_PER_REQUEST
from fleetyard.protocol.software import (
    App,
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
from fleetyard.sdk._flow import Flow
from fleetyard.sdk._operation import Operation, path_param
from fleetyard.sdk._push.chunker import FileChunk, hash_files
from fleetyard.sdk._push.manifest import build_manifest, diff_manifests
from fleetyard.sdk._push.models import (
    PushOptions,
    PushPhase,
    PushProgress,
    PushResult,
    PushStats,
)
from fleetyard.sdk._push.upload import Item, named_mismatch, units_of, upload_flow
from fleetyard.sdk._push.walk import TreeEntry, TreeWalk
from fleetyard.sdk._types import WriteOptions
from fleetyard.sdk.resources.chunks import check_op, commit_op, upload_urls_op

if TYPE_CHECKING:
    from fleetyard.sdk._base_client import BaseClient

__all__ = [
    "Call",
    "Discover",
    "Emit",
    "Hash",
    "NotRun",
    "Parallel",
    "Tracker",
    "hash_files",
    "push_steps",
]

T = TypeVar("T")

PROGRESS_INTERVAL = 0.2
"""Seconds between two progress events while hashing or uploading."""
COMMIT_BYTES = 64 * 1024 * 1024
"""Chunks are committed in groups of at most this many bytes (and 1,000 chunks), each
while the next group uploads: a push cut off by a crash sends at most about two
groups again, since only committed chunks count as the site's."""


# -- steps ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Discover:
    root: Path
    ignore: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Hash:
    files: list[TreeEntry]
    workers: int


@dataclass(frozen=True, slots=True)
class Call:
    flow: Flow[Any]


@dataclass(frozen=True, slots=True)
class Parallel:
    flows: list[Flow[None]]
    concurrency: int


@dataclass(frozen=True, slots=True)
class Emit:
    pass


class NotRun(Exception):
    """A parallel flow that was not started because another one failed first."""


Step = Discover | Hash | Call | Parallel | Emit
Steps = Generator[Step, Any, T]


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

    # -- hash
    yield from phase("hash")
    hashed: list[list[FileChunk]] = yield Hash(files, max(1, options.hash_workers))
    chunks_by_path = {f.path: c for f, c in zip(files, hashed, strict=True)}
    warnings = list(walk.skipped)
    manifest = build_manifest(walk.entries, chunks_by_path, warnings)
    where: dict[str, Item] = {}
    for entry, file_chunks in zip(files, hashed, strict=True):
        assert entry.source is not None
        for c in file_chunks:
            if c.hash not in where:
                where[c.hash] = Item(c.hash, c.size, entry.source, c.offset, entry.stamp)
    all_hashes = sorted(where)
    tracker.chunks_total = len(all_hashes)
    tracker.bytes_hashed = tracker.bytes_total
    tracker.files_done = len(files)
    sha = manifest_sha256(manifest)
    version_id = version_id_for(app_id, sha)

    # -- check-missing
    yield from phase("check-missing")
    missing: list[str] = []
    for batch in _batches(all_hashes):
        raw = yield from call(check_op(site_id, batch))
        missing.extend(raw.parse().missing)
    tracker.chunks_missing = len(missing)
    tracker.bytes_missing = sum(where[h].size for h in missing)

    def stats() -> PushStats:
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

    if options.dry_run:
        current: Version | None = None
        if app is not None and app.current_version is not None:
            raw = yield from call(
                Operation("GET", f"{_app_path(app_id)}/versions/current", Version)
            )
            current = raw.parse()
        old = current.manifest if current is not None else None
        diff = diff_manifests(
            old,
            manifest,
            from_version=current.id if current is not None else "",
            to_version=version_id,
        )
        yield Emit()
        return PushResult(
            app_id=app_id,
            version_id=version_id,
            dry_run=True,
            manifest_sha256=sha,
            stats=stats(),
            diff=diff,
            warnings=warnings,
        )

    if app is None:
        app = yield from _create_app(app_id, site_id, options, call)
    else:
        app = yield from _update_app(app, options, call)

    # -- upload, in the order of the files (neighbours share a request and the page cache)
    yield from phase("upload")
    lacking = set(missing)
    todo = [item for h, item in where.items() if h in lacking]
    yield from _upload(client, site_id, todo, options, tracker, call, call_options)

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
            yield from _upload(client, site_id, again, options, tracker, call, call_options)
            continue
        version: Version = raw.parse()
        yield Emit()
        return PushResult(
            app_id=app_id,
            version_id=version.id,
            number=version.number,
            created=raw.status_code == 201,
            manifest_sha256=sha,
            stats=stats(),
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


def _commit_groups(items: Sequence[Item]) -> list[list[Item]]:
    groups: list[list[Item]] = []
    current: list[Item] = []
    size = 0
    for item in items:
        if current and (len(current) >= MAX_HASHES_PER_REQUEST or size + item.size > COMMIT_BYTES):
            groups.append(current)
            current, size = [], 0
        current.append(item)
        size += item.size
    if current:
        groups.append(current)
    return groups


def _commit_flow(
    client: BaseClient, site_id: str, items: Sequence[Item], call_options: WriteOptions
) -> Flow[None]:
    """Commit ``items``; a chunk the server finds not matching its hash (its file was
    written to after it was hashed) fails naming its file, as a read of it would."""
    try:
        yield from client._call(commit_op(site_id, [(i.hash, i.size) for i in items]), call_options)
    except APIStatusError as exc:
        named = named_mismatch(exc, items)
        if named is exc:
            raise
        raise named from exc


def _upload(
    client: BaseClient,
    site_id: str,
    items: Sequence[Item],
    options: PushOptions,
    tracker: Tracker,
    call: Callable[..., Steps[Any]],
    call_options: WriteOptions,
) -> Steps[None]:
    """Upload in groups: links for a group (small chunks packed into multi-chunk
    uploads where the server takes them), its requests in parallel together with
    the commit of the group before, then the next group.

    What was uploaded before a failure is committed all the same, so a
    push run again (resume) finds those chunks present and skips them.
    """
    uncommitted: list[Item] = []
    pack = True
    for group in _commit_groups(items):
        refs = [(i.hash, i.size) for i in group]
        try:
            raw = yield from call(upload_urls_op(site_id, refs, pack=pack))
        except UnprocessableEntityError as exc:
            if not pack or exc.code != "validation_failed":
                raise
            # A server from before multi-chunk uploads refuses the field: one per chunk.
            pack = False
            raw = yield from call(upload_urls_op(site_id, refs))
        units = units_of(raw.parse(), group)
        flows = [upload_flow(client, site_id, unit, tracker) for unit in units]
        committing = list(uncommitted)
        if committing:  # first, so that it starts at once, in a slot of its own
            flows.insert(0, _commit_flow(client, site_id, committing, call_options))
        outcomes: list[BaseException | None] = yield Parallel(
            flows, options.concurrency + (1 if committing else 0)
        )
        if committing:
            committed, outcomes = outcomes[0], outcomes[1:]
            if committed is None:
                uncommitted = []
            elif not isinstance(committed, NotRun):
                raise committed
        uncommitted += [
            item
            for unit, out in zip(units, outcomes, strict=True)
            if out is None
            for item in unit.items
        ]
        failures = [out for out in outcomes if out is not None and not isinstance(out, NotRun)]
        if failures:
            if uncommitted:
                yield Call(_commit_flow(client, site_id, uncommitted, call_options))
            raise failures[0]
    if uncommitted:
        yield Call(_commit_flow(client, site_id, uncommitted, call_options))


# -- sync driver -----------------------------------------------------------------------
