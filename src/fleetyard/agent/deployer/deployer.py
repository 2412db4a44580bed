"""Applying deployments: download, assemble, switch, check health, keep or switch back.

One :class:`Deployer` per agent. ``deploy.start`` → :meth:`Deployer.start` runs the
deployment as a task and reports ``deploy.update`` frames through the outbox
(durable, resent until acknowledged), like the executor does for executions:

``downloading`` → ``installing`` → ``succeeded`` | ``failed`` (``error`` says why) |
``cancelled``.

Steps (see :mod:`fleetyard.agent.deployer.layout` for the files):

1. fetch the chunks the cache lacks (verified, tmp + fsync + rename);
2. assemble ``versions/<id>.tmp``, fsync, record its stamps, rename to
   ``versions/<id>``; files unchanged since the current version (same size, mode,
   chunks, and stamps proving them untouched) are hard links to it, not rewritten
   (:mod:`~fleetyard.agent.deployer.reuse`). Skipped when that version is on disk
   already (a rollback to ``previous`` downloads nothing) and its stamps show every
   file intact; otherwise it is assembled again and replaces the altered tree;
3. write ``switch.json`` (the version switched from), then point ``current`` at the
   new tree with one ``os.replace`` of a fresh symlink;
4. run the health command in the new tree; on failure (or timeout) point ``current``
   back and report ``failed`` with the output's tail;
5. on success ``previous`` → the old version, remove ``switch.json``, prune versions
   beyond the two kept and cached chunks neither uses, report ``succeeded``.

``deploy.cancel`` stops a deployment that has not begun switching. The ``work``
table remembers each rollout's final state (and error): a ``deploy.start`` sent
again after a reconnect is answered with that state instead of running again.
A deployment cut short by a crash or a stop stays ``running`` there and runs
again when the server re-sends it; :meth:`Deployer.recover` (at start) removes
half-written trees and switches back a switch whose health was never confirmed.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol

from fleetyard.agent.deployer.cache import ChunkCache
from fleetyard.agent.deployer.install import Cancelled, assemble, run_health
from fleetyard.agent.deployer.layout import (
    TMP_SUFFIX,
    TRASH_SUFFIX,
    AppLayout,
    fsync_dir,
    remove_tree,
)
from fleetyard.agent.deployer.plan import (
    download_plan,
    install_plan,
    manifest_matches,
    prune_plan,
    unused_chunks,
)
from fleetyard.agent.deployer.recovery import recover_app
from fleetyard.agent.deployer.reuse import Installed, installed, intact, reusable
from fleetyard.agent.deployer.source import ChunkSource, SourceFactory
from fleetyard.protocol.agent_session import Deployment
from fleetyard.protocol.chunks import ChunkRef

__all__ = ["FINAL_STATES", "WORK_KIND", "DeployFailed", "DeployStore", "Deployer", "recover_app"]

WORK_KIND = "deployment"
FINAL_STATES = frozenset({"succeeded", "failed", "cancelled"})
ERROR_MAX_CHARS = 4000

Phase = Literal["queued", "downloading", "installing", "switching"]


class DeployStore(Protocol):
    """What the deployer needs of the outbox."""

    def add_frame(
        self,
        frame: dict[str, Any],
        *,
        work: tuple[str, str, str] | None = None,
        detail: str | None = None,
    ) -> int: ...

    def work_record(self, kind: str, work_id: str) -> tuple[str, str | None] | None: ...


class DeployFailed(Exception):
    """The deployment failed for a reason worth reporting as is."""


@dataclass
class _Run:
    deployment: Deployment
    phase: Phase = "queued"
    cancel_requested: bool = False
    quiet: bool = False
    """Stopping the agent: report nothing, the deployment runs again next time."""
    task: asyncio.Task[None] | None = None
    done: asyncio.Event = field(default_factory=asyncio.Event)


class Deployer:
    """See the module docstring.

    ``checkpoint(step)`` is called between steps (tests raise there to simulate a crash).
    """

    def __init__(
        self,
        apps_dir: Path,
        store: DeployStore,
        sources: SourceFactory,
        *,
        health_timeout_seconds: float = 60.0,
        download_concurrency: int = 4,
        on_stored: Callable[[], None] | None = None,
        checkpoint: Callable[[str], None] | None = None,
    ) -> None:
        self.apps_dir = apps_dir.expanduser()
        self._store = store
        self._sources = sources
        self._health_timeout = health_timeout_seconds
        self._concurrency = max(download_concurrency, 1)
        self._on_stored = on_stored or (lambda: None)
        self._checkpoint = checkpoint or (lambda step: None)
        self._runs: dict[str, _Run] = {}
        self._app_locks: dict[str, asyncio.Lock] = {}

    @property
    def running(self) -> list[str]:
        return list(self._runs)

    # -- control --------------------------------------------------------------------------

    def start(self, deployment: Deployment) -> bool:
        """Begin a deployment as a task; ``False`` when it runs already or has finished here
        (then its recorded final state is reported again)."""
        rollout_id = deployment.rollout_id
        if rollout_id in self._runs:
            return False
        record = self._store.work_record(WORK_KIND, rollout_id)
        if record is not None and record[0] in FINAL_STATES:
            self._report(rollout_id, record[0], record[1])
            return False
        run = _Run(deployment)
        self._runs[rollout_id] = run
        run.task = asyncio.get_running_loop().create_task(self._execute(run))
        return True

    def cancel(self, rollout_id: str) -> bool:
        """Stop a deployment that has not begun switching; ``False`` otherwise.

        A rollout this agent never saw is recorded (and reported) ``cancelled``, so a
        late ``deploy.start`` for it does nothing."""
        run = self._runs.get(rollout_id)
        if run is None:
            if self._store.work_record(WORK_KIND, rollout_id) is None:
                self._report(rollout_id, "cancelled", None, final=True)
                return True
            return False
        if run.phase == "switching":
            return False
        run.cancel_requested = True
        if run.phase != "installing" and run.task is not None:
            run.task.cancel()  # assembly runs in a thread: it stops at the next file
        return True

    async def wait(self, rollout_id: str) -> None:
        """Until the deployment is over (tests, shutdown)."""
        run = self._runs.get(rollout_id)
        if run is not None:
            await run.done.wait()

    async def stop(self) -> None:
        """The agent is stopping: end every deployment without reporting it (it stays
        ``running`` in the work table and runs again when the server re-sends it)."""
        for run in list(self._runs.values()):
            run.quiet = True
            if run.phase != "switching":
                run.cancel_requested = True
            if run.phase != "installing" and run.task is not None:
                run.task.cancel()
        for rollout_id in list(self._runs):
            await self.wait(rollout_id)

    # -- one deployment ---------------------------------------------------------------

    async def apply(self, deployment: Deployment) -> tuple[str, str | None]:
        """Run one deployment to its end here and now (no task); returns
        ``(state, error)``. :meth:`start` is the way in from the session."""
        run = _Run(deployment)
        self._runs[deployment.rollout_id] = run
        run.task = asyncio.current_task()
        return await self._run(run)

    async def _execute(self, run: _Run) -> None:
        with contextlib.suppress(asyncio.CancelledError):
            await self._run(run)

    async def _run(self, run: _Run) -> tuple[str, str | None]:
        rollout_id = run.deployment.rollout_id
        outcome: tuple[str, str | None] = ("cancelled", None)
        try:
            self._report(rollout_id, "downloading", None, work="running")
            lock = self._app_locks.setdefault(run.deployment.app_id, asyncio.Lock())
            async with lock:
                outcome = await self._guarded(run)
        except asyncio.CancelledError:
            if run.quiet or not run.cancel_requested:
                raise
            outcome = ("cancelled", None)
        finally:
            self._runs.pop(rollout_id, None)
            run.done.set()
        if not run.quiet:
            self._report(rollout_id, outcome[0], outcome[1], final=True)
        return outcome

    async def _guarded(self, run: _Run) -> tuple[str, str | None]:
        try:
            await self._deploy(run)
        except Cancelled:
            return ("cancelled", None)
        except asyncio.CancelledError:
            if run.quiet or not run.cancel_requested:
                raise
            return ("cancelled", None)
        except DeployFailed as exc:
            return ("failed", str(exc))
        except Exception as exc:  # a source, the disk, a bad manifest: report, never crash
            return ("failed", f"{type(exc).__name__}: {exc}")
        return ("succeeded", None)

    async def _deploy(self, run: _Run) -> None:
        d = run.deployment
        if not manifest_matches(d.app_id, d.version_id, d.manifest):
            raise DeployFailed(f"the manifest does not match version {d.version_id}")
        layout = AppLayout(self.apps_dir, d.app_id)
        extract = _extract_link(d.extract_path)
        await asyncio.to_thread(layout.ensure)
        self._checkpoint("start")
        old = layout.target(layout.current)
        if old == d.version_id and layout.has_version(d.version_id):
            if extract is not None:
                await asyncio.to_thread(_point_extract, extract, layout.current)
            return  # already the current version (a resend after a crash, or a no-op)
        cache = ChunkCache(layout.chunks)
        plan = install_plan(d.manifest)
        trees = await asyncio.to_thread(_link_sources, layout, old, d.version_id)
        if await asyncio.to_thread(_needs_assembly, layout, d.version_id, trees):
            run.phase = "downloading"
            refs = _chunk_refs(d)
            present = await asyncio.to_thread(cache.present, [(c.hash, c.size) for c in refs])
            missing = download_plan(d.manifest, present)
            if missing:
                source = self._sources(d, [c.hash for c in missing])
                await self._download(run, missing, source, cache)
            self._checkpoint("downloaded")
            if run.cancel_requested:
                raise Cancelled
            run.phase = "installing"
            self._report(d.rollout_id, "installing", None)
            await asyncio.to_thread(layout.save_manifest, d.version_id, d.manifest)
            reuse = await asyncio.to_thread(reusable, plan, trees)
            job = functools.partial(
                assemble,
                plan,
                cache,
                layout.staging_dir(d.version_id),
                layout.version_dir(d.version_id),
                stamps=layout.stamps_file(d.version_id),
                reuse=reuse,
                stopped=lambda: run.cancel_requested,
                checkpoint=self._checkpoint,
            )
            await asyncio.get_running_loop().run_in_executor(None, job)
            self._checkpoint("installed")
        else:
            run.phase = "installing"
            self._report(d.rollout_id, "installing", None)
            if layout.load_manifest(d.version_id) is None:
                await asyncio.to_thread(layout.save_manifest, d.version_id, d.manifest)
        if run.cancel_requested:
            raise Cancelled
        run.phase = "switching"  # from here on a cancel is refused
        if extract is not None:
            await asyncio.to_thread(_point_extract, extract, layout.current)
        await self._switch(run, layout, old)
        await asyncio.to_thread(self._prune, layout)
        self._checkpoint("pruned")

    async def _switch(self, run: _Run, layout: AppLayout, old: str | None) -> None:
        d = run.deployment
        layout.write_journal({"rollout_id": d.rollout_id, "version_id": d.version_id, "from": old})
        self._checkpoint("journal")
        layout.point(layout.current, d.version_id)
        self._checkpoint("switched")
        try:
            if d.health_command:
                result = await run_health(
                    d.health_command,
                    cwd=layout.version_dir(d.version_id),
                    timeout_seconds=min(self._health_timeout, d.timeout_seconds),
                    env={
                        "FLEETYARD_APP_ID": d.app_id,
                        "FLEETYARD_VERSION_ID": d.version_id,
                        "FLEETYARD_VERSION_NUMBER": str(d.version_number),
                        "FLEETYARD_ROLLOUT_ID": d.rollout_id,
                        "FLEETYARD_APP_DIR": str(layout.version_dir(d.version_id)),
                    },
                )
                self._checkpoint("health")
                if not result.ok:
                    raise DeployFailed(result.detail)
        except BaseException as exc:
            if isinstance(exc, Exception | asyncio.CancelledError):
                # Unhealthy (or stopped before the verdict): back to what ran before.
                layout.point(layout.current, old)
                self._checkpoint("switched_back")
                layout.clear_journal()
            raise
        if old is not None and old != d.version_id:
            layout.point(layout.previous, old)
        self._checkpoint("previous")
        layout.clear_journal()
        self._checkpoint("confirmed")

    async def _download(
        self, run: _Run, missing: Sequence[ChunkRef], source: ChunkSource, cache: ChunkCache
    ) -> None:
        queue: Iterator[ChunkRef] = iter(missing)
        loop = asyncio.get_running_loop()
        writes: set[asyncio.Future[None]] = set()

        async def worker() -> None:
            for ref in queue:
                if run.cancel_requested:
                    raise Cancelled
                data = await source(ref.hash)
                write = loop.run_in_executor(None, cache.put, ref.hash, data, ref.size)
                writes.add(write)
                await asyncio.shield(write)  # cancelled or not, the write ends cleanly
                writes.discard(write)
                self._checkpoint("chunk")

        workers = [
            asyncio.create_task(worker()) for _ in range(min(self._concurrency, len(missing)))
        ]
        try:
            await asyncio.gather(*workers)
        finally:
            for task in workers:
                task.cancel()
            await asyncio.gather(*workers, return_exceptions=True)
            if writes:  # a thread cannot be cancelled: let its write end (tmp renamed)
                await asyncio.wait(writes)

    def _prune(self, layout: AppLayout) -> None:
        keep = [layout.target(layout.current), layout.target(layout.previous)]
        for version_id in prune_plan(layout.versions_on_disk(), keep):
            trash = layout.versions / f"{version_id}{TRASH_SUFFIX}"
            # Renamed first: a tree cut short while being deleted never looks complete.
            os.rename(layout.version_dir(version_id), trash)
            fsync_dir(layout.versions)
            remove_tree(trash)
            layout.drop_manifest(version_id)
        kept = [k for k in keep if k]
        manifests = [layout.load_manifest(k) for k in kept]
        if all(m is not None for m in manifests):  # else keep the cache: cannot tell
            cache = ChunkCache(layout.chunks)
            cache.drop(unused_chunks(cache.all(), [m for m in manifests if m is not None]))

    # -- recovery -------------------------------------------------------------------------

    def recover(self) -> list[str]:
        """At start: clean what a crash left in every app directory; returns what was done."""
        done: list[str] = []
        if not self.apps_dir.is_dir():
            return done
        for app_dir in sorted(self.apps_dir.iterdir()):
            try:
                layout = AppLayout(self.apps_dir, app_dir.name)
            except ValueError:
                continue
            done.extend(recover_app(layout))
        return done

    # -- reporting --------------------------------------------------------------------------

    def _report(
        self,
        rollout_id: str,
        state: str,
        error: str | None,
        *,
        work: str | None = None,
        final: bool = False,
    ) -> None:
        if error is not None:
            error = error[-ERROR_MAX_CHARS:] if len(error) > ERROR_MAX_CHARS else error
        frame = {"type": "deploy.update", "rollout_id": rollout_id, "state": state, "error": error}
        record = state if final else work
        self._store.add_frame(
            frame,
            work=None if record is None else (WORK_KIND, rollout_id, record),
            detail=error if final else None,
        )
        self._on_stored()


def _link_sources(layout: AppLayout, current: str | None, version_id: str) -> list[Installed]:
    """The trees whose intact files the new one may link: the current version, and the
    version itself when it is on disk already (a rollback)."""
    found = [installed(layout, v) for v in dict.fromkeys((current, version_id))]
    return [tree for tree in found if tree is not None]


def _needs_assembly(layout: AppLayout, version_id: str, trees: list[Installed]) -> bool:
    """A version not on disk is assembled; one on disk (a rollback) only when its stamps
    show a file changed since it was installed (a file shared with the version that ran
    since, rewritten in place by the app). Without stamps it is taken as it is."""
    if not layout.has_version(version_id):
        return True
    own = layout.version_dir(version_id)
    tree = next((t for t in trees if t.root == own), None)
    return tree is not None and len(intact(tree)) < len(tree.plan.files)


def _chunk_refs(d: Deployment) -> list[ChunkRef]:
    return [c for e in d.manifest.entries for c in e.chunks or ()]


def _extract_link(extract_path: str | None) -> Path | None:
    if not extract_path:
        return None
    path = Path(extract_path).expanduser()
    if not path.is_absolute():
        raise DeployFailed(f"extract_path {extract_path!r} is not an absolute path")
    if os.path.lexists(path) and not path.is_symlink():
        raise DeployFailed(
            f"extract_path {extract_path} exists and is not a symlink: "
            "the agent does not replace it (move it away, then deploy again)"
        )
    return path


def _point_extract(link: Path, current: Path) -> None:
    """``extract_path`` → ``<apps_dir>/<app_id>/current`` (atomically replaced if it pointed
    elsewhere)."""
    if link.is_symlink() and os.readlink(link) == str(current):
        return
    link.parent.mkdir(parents=True, exist_ok=True)
    tmp = link.with_name(link.name + TMP_SUFFIX)
    with contextlib.suppress(FileNotFoundError):
        tmp.unlink()
    os.symlink(current, tmp)
    os.replace(tmp, link)
    fsync_dir(link.parent)
