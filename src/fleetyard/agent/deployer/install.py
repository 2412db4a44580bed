"""The disk side of a deployment: assemble a tree from the cache, run the health command.

:func:`assemble` is synchronous (run it in a worker thread): it follows an
:class:`~fleetyard.agent.deployer.plan.InstallPlan` into ``versions/<id>.tmp``,
fsyncs every file and directory, and only then renames the tree to
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
from fleetyard.agent.deployer.layout import fsync_dir, remove_tree
from fleetyard.agent.deployer.plan import InstallPlan

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
    stopped: Callable[[], bool] = lambda: False,
    checkpoint: Callable[[str], None] = lambda step: None,
) -> None:
    """Write ``plan`` into ``staging`` (removed first if a crash left it), then rename it to
    ``final``. Raises :class:`Cancelled` when ``stopped()`` turns true (staging removed)."""
    remove_tree(staging)
    staging.mkdir(mode=0o700)
    try:
        _write(plan, cache, staging, stopped, checkpoint)
    except Exception:
        with contextlib.suppress(OSError):
            remove_tree(staging)
        raise
    checkpoint("assembled")
    os.chmod(staging, 0o755)  # noqa: S103 - the tree root, like any installed directory
    fsync_dir(staging)
    os.rename(staging, final)
    fsync_dir(final.parent)


def _write(
    plan: InstallPlan,
    cache: ChunkCache,
    root: Path,
    stopped: Callable[[], bool],
    checkpoint: Callable[[str], None],
) -> None:
    for step in plan.dirs:
        os.mkdir(root / step.path, 0o700)
    for index, file in enumerate(plan.files):
        if stopped():
            raise Cancelled
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
        if index == 0:
            checkpoint("first_file")
    for link in plan.symlinks:
        os.symlink(link.target, root / link.path)
    for step in plan.dir_modes:
        path = root / step.path
        fsync_dir(path)
        os.chmod(path, step.mode)


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
