"""The disk side of a deployment: assemble a tree from the cache, run the health command.

:func:`assemble` is synchronous (run it in a worker thread): it follows an
:class:`~fleetyard.agent.deployer.plan.InstallPlan` into ``versions/<id>.tmp``
(hard-linking the files :mod:`~fleetyard.agent.deployer.reuse` found unchanged,
writing the others from the chunk cache), fsyncs every written file and every
directory, records the stamps of its files, and only then renames the tree to
``versions/<id>``: a name without ``.tmp`` always holds a complete tree.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from fleetyard.agent.deployer.cache import ChunkCache
from fleetyard.agent.deployer.layout import TRASH_SUFFIX, fsync_dir, remove_tree
from fleetyard.agent.deployer.plan import FileStep, InstallPlan
from fleetyard.agent.deployer.reuse import Reuse, stamp_files, still_intact, write_stamps

__all__ = ["Cancelled", "HealthResult", "assemble", "run_health"]

OUTPUT_TAIL_CHARS = 2000


class Cancelled(Exception):
    """The deployment was cancelled while assembling."""


def assemble(
    plan: InstallPlan,
    cache: ChunkCache,
    staging: Path,
    final: Path,
    *,
    stamps: Path,
    reuse: Mapping[str, Reuse] | None = None,
    stopped: Callable[[], bool] = lambda: False,
    checkpoint: Callable[[str], None] = lambda step: None,
) -> int:
    """Write ``plan`` into ``staging`` (removed first if a crash left it), record its
    stamps in ``stamps``, then rename it to ``final`` (a ``final`` already there is
    replaced: renamed to ``.del`` first, then removed). Files in ``reuse`` are hard
    links to their source when it is still intact. Returns how many files were linked.
    Raises :class:`Cancelled` when ``stopped()`` turns true (staging removed)."""
    remove_tree(staging)
    staging.mkdir(mode=0o700)
    try:
        linked = _write(plan, cache, staging, reuse or {}, stopped, checkpoint)
        write_stamps(stamps, stamp_files(staging, plan.files))
    except Exception:
        with contextlib.suppress(OSError):
            remove_tree(staging)
        raise
    checkpoint("assembled")
    os.chmod(staging, 0o755)  # noqa: S103 - the tree root, like any installed directory
    fsync_dir(staging)
    trash = final.with_name(final.name + TRASH_SUFFIX)
    if final.exists():  # a version on disk whose files were altered: replace it whole
        remove_tree(trash)
        os.rename(final, trash)
    os.rename(staging, final)
    fsync_dir(final.parent)
    remove_tree(trash)
    return linked


def _write(
    plan: InstallPlan,
    cache: ChunkCache,
    root: Path,
    reuse: Mapping[str, Reuse],
    stopped: Callable[[], bool],
    checkpoint: Callable[[str], None],
) -> int:
    for step in plan.dirs:
        os.mkdir(root / step.path, 0o700)
    linked: list[FileStep] = []
    for index, file in enumerate(plan.files):
        if stopped():
            raise Cancelled
        if _link(reuse.get(file.path), file, root):
            linked.append(file)
        else:
            _write_file(file, cache, root)
        if index == 0:
            checkpoint("first_file")
    # Checked again once all are linked: a source rewritten between the first check
    # and its link would otherwise bring the rewrite into the new tree.
    kept = 0
    for file in linked:
        found = reuse[file.path]
        if still_intact(root / file.path, found.stamp, file.mode):
            kept += 1
        else:
            os.unlink(root / file.path)
            _write_file(file, cache, root)
    for link in plan.symlinks:
        os.symlink(link.target, root / link.path)
    for step in plan.dir_modes:
        path = root / step.path
        fsync_dir(path)
        os.chmod(path, step.mode)
    return kept


def _link(found: Reuse | None, file: FileStep, root: Path) -> bool:
    """Hard-link ``found`` at ``file``'s place if it is still intact; ``False`` when it
    is not, or the link fails (another file system, too many links)."""
    if found is None or not still_intact(found.source, found.stamp, file.mode):
        return False
    try:
        os.link(found.source, root / file.path, follow_symlinks=False)
    except OSError:
        return False
    return True


def _write_file(file: FileStep, cache: ChunkCache, root: Path) -> None:
    path = root / file.path
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
    fd = os.open(path, flags, 0o600)
    try:
        for chunk in file.chunks:
            data = cache.read(chunk.hash, chunk.size)
            view = memoryview(data)
            while view:
                written = os.write(fd, view)
                view = view[written:]
        os.fchmod(fd, file.mode)
        os.fsync(fd)
    finally:
        os.close(fd)


class HealthResult:
    def __init__(self, ok: bool, detail: str) -> None:
        self.ok, self.detail = ok, detail


async def run_health(
    command: Sequence[str],
    *,
    cwd: Path,
    timeout_seconds: float,
    env: Mapping[str, str],
) -> HealthResult:
    """Run the health command in the new tree; exit 0 in time is healthy. ``detail`` is
    the tail of its output (stdout and stderr together) or why it did not run."""
    try:
        process = await asyncio.create_subprocess_exec(
            *command,
            cwd=cwd,
            env={**os.environ, **env},
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            start_new_session=True,
        )
    except OSError as exc:
        return HealthResult(False, f"health command could not start: {exc}")
    try:
        out, _ = await asyncio.wait_for(process.communicate(), timeout_seconds)
    except TimeoutError:
        _kill(process)
        with contextlib.suppress(Exception):
            await process.wait()
        return HealthResult(False, f"health command timed out after {timeout_seconds:g}s")
    except asyncio.CancelledError:
        _kill(process)
        raise
    tail = out.decode("utf-8", "replace")[-OUTPUT_TAIL_CHARS:]
    if process.returncode != 0:
        return HealthResult(False, f"health command exited with {process.returncode}: {tail}")
    return HealthResult(True, tail)


def _kill(process: asyncio.subprocess.Process) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)
