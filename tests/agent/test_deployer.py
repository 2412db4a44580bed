"""The agent deployer: planning, assembly, verification, switch, health, prune, crashes."""

from __future__ import annotations

import asyncio
import hashlib
import os
import stat
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from fleetyard.agent.deployer import AppLayout, Deployer
from fleetyard.agent.deployer.cache import ChunkCache
from fleetyard.agent.deployer.layout import remove_tree
from fleetyard.agent.deployer.plan import download_plan, install_plan
from fleetyard.agent.outbox import Outbox
from fleetyard.protocol.agent_session import Deployment, DeployUpdate
from fleetyard.protocol.chunks import ChunkRef
from fleetyard.protocol.software import (
    Manifest,
    ManifestEntry,
    manifest_sha256,
    version_id_for,
)

pytestmark = pytest.mark.anyio

APP = "app_demo1"
CHUNK = 5
"""Files are cut into chunks of this many bytes (the real chunker is content-defined)."""

Files = dict[str, Any]
"""path → bytes (mode 0o644) | (mode, bytes) | ("dir", mode) | ("link", target)."""


class Crash(BaseException):
    """A simulated power cut: nothing catches it (``except Exception`` does not)."""


class Source:
    """A chunk store in memory that counts what it serves."""

    def __init__(self) -> None:
        self.chunks: dict[str, bytes] = {}
        self.fetched: list[str] = []
        self.corrupt: set[str] = set()
        self.gate: asyncio.Event | None = None
        self.waiting = asyncio.Event()

    async def __call__(self, chunk_hash: str) -> bytes:
        self.fetched.append(chunk_hash)
        if self.gate is not None:
            self.waiting.set()
            await self.gate.wait()
        data = self.chunks[chunk_hash]
        return data + b"!" if chunk_hash in self.corrupt else data


def version(
    source: Source,
    files: Files,
    *,
    rollout: str = "rol_1",
    health: list[str] | None = None,
    extract_path: str | None = None,
) -> Deployment:
    entries: list[ManifestEntry] = []
    for path, spec in files.items():
        if isinstance(spec, tuple) and spec[0] == "dir":
            entries.append(ManifestEntry(path=path, type="dir", mode=spec[1]))
        elif isinstance(spec, tuple) and spec[0] == "link":
            entries.append(ManifestEntry(path=path, type="symlink", target=spec[1]))
        else:
            mode, data = spec if isinstance(spec, tuple) else (0o644, spec)
            refs = []
            for offset in range(0, len(data), CHUNK):
                piece = data[offset : offset + CHUNK]
                digest = hashlib.sha256(piece).hexdigest()
                source.chunks[digest] = piece
                refs.append(ChunkRef(hash=digest, size=len(piece)))
            entries.append(
                ManifestEntry(path=path, type="file", mode=mode, size=len(data), chunks=refs)
            )
    manifest = Manifest(entries=entries)
    return Deployment(
        rollout_id=rollout,
        app_id=APP,
        version_id=version_id_for(APP, manifest_sha256(manifest)),
        version_number=1,
        extract_path=extract_path,
        health_command=health,
        timeout_seconds=30,
        manifest=manifest,
    )


def tree(root: Path) -> dict[str, Any]:
    """What is on disk below ``root``, in the shape of :data:`Files` (modes made explicit)."""
    found: dict[str, Any] = {}
    for top, dirs, files in os.walk(root):
        for name in dirs + files:
            path = Path(top) / name
            rel = path.relative_to(root).as_posix()
            info = path.lstat()
            if stat.S_ISLNK(info.st_mode):
                found[rel] = ("link", os.readlink(path))
            elif stat.S_ISDIR(info.st_mode):
                found[rel] = ("dir", stat.S_IMODE(info.st_mode))
            else:
                found[rel] = (stat.S_IMODE(info.st_mode), path.read_bytes())
    return found


def expected(d: Deployment, source: Source) -> dict[str, Any]:
    out: dict[str, Any] = {}
    plan = install_plan(d.manifest)
    for step in plan.dirs:
        out[step.path] = ("dir", step.mode)
    for file in plan.files:
        out[file.path] = (file.mode, b"".join(source.chunks[c.hash] for c in file.chunks))
    for link in plan.symlinks:
        out[link.path] = ("link", link.target)
    return out


class World:
    def __init__(self, tmp_path: Path, outbox: Outbox) -> None:
        self.apps = tmp_path / "apps"
        self.outbox = outbox
        self.source = Source()
        self.layout = AppLayout(self.apps, APP)

    def deployer(self, checkpoint: Callable[[str], None] | None = None, **kw: Any) -> Deployer:
        return Deployer(
            self.apps, self.outbox, lambda d, missing: self.source, checkpoint=checkpoint, **kw
        )

    def current(self) -> str | None:
        return self.layout.target(self.layout.current)

    def previous(self) -> str | None:
        return self.layout.target(self.layout.previous)

    def frames(self) -> list[dict[str, Any]]:
        bodies = [row.body for row in self.outbox.pending(limit=10_000)]
        for body in bodies:  # every frame is one the server accepts once the session adds a ref
            DeployUpdate.model_validate({**body, "ref": "x"})
        return bodies

    def states(self, rollout: str) -> list[str]:
        return [f["state"] for f in self.frames() if f["rollout_id"] == rollout]

    def leftovers(self) -> list[str]:
        return sorted(p.name for p in self.apps.rglob("*") if p.name.endswith((".tmp", ".del"))) + (
            ["switch.json"] if self.layout.journal.exists() else []
        )


@pytest.fixture
def world(tmp_path: Path, outbox: Outbox) -> Iterator[World]:
    w = World(tmp_path, outbox)
    yield w
    for path in [w.apps, *w.apps.rglob("*")] if w.apps.exists() else []:
        if path.is_dir() and not path.is_symlink():
            path.chmod(0o755)  # read-only dirs of a manifest: let tmp_path cleanup remove them


V1: Files = {"a.txt": b"alpha alpha alpha", "b.txt": b"bravo bravo", "c.txt": b"charlie"}
V2: Files = {**V1, "b.txt": b"bravo CHANGED"}
V3: Files = {**V2, "d.txt": b"delta"}


# -- planning ---------------------------------------------------------------------------


async def test_second_version_downloads_only_the_chunks_of_the_changed_file(world: World) -> None:
    v1, v2 = version(world.source, V1), version(world.source, V2, rollout="rol_2")
    assert await world.deployer().apply(v1) == ("succeeded", None)
    first = set(world.source.fetched)
    assert first == v1.manifest.chunk_hashes()
    world.source.fetched.clear()
    assert await world.deployer().apply(v2) == ("succeeded", None)
    changed = {c.hash for e in v2.manifest.entries if e.path == "b.txt" for c in e.chunks or ()}
    assert set(world.source.fetched) == changed - first
    assert world.source.fetched  # "CHANGED" makes new chunks
    assert download_plan(v2.manifest, cached=first | changed) == []


# -- assembly ----------------------------------------------------------------------------


async def test_assembly_writes_modes_empty_files_nested_dirs_and_symlinks(world: World) -> None:
    files: Files = {
        "bin/run.sh": (0o755, b"#!/bin/sh\necho hi\n"),
        "conf/secret.txt": (0o600, b"s3cret"),
        "empty": b"",
        "deep/er/still/file.txt": b"nested without listed parents",
        "ro": ("dir", 0o555),
        "ro/inside.txt": b"in a read-only dir",
        "empty_dir": ("dir", 0o700),
        "links/run": ("link", "../bin/run.sh"),
        "links/deep": ("link", "../deep/er"),
    }
    d = version(world.source, files)
    assert await world.deployer().apply(d) == ("succeeded", None)
    assert tree(world.layout.current.resolve()) == expected(d, world.source)
    on_disk = tree(world.layout.current.resolve())
    assert on_disk["empty"] == (0o644, b"")
    assert on_disk["deep/er"] == ("dir", 0o755)
    assert (world.layout.current / "links/run").read_bytes() == b"#!/bin/sh\necho hi\n"
    assert world.leftovers() == []


async def test_a_chunk_with_the_wrong_hash_fails_and_current_stays(world: World) -> None:
    v1 = version(world.source, V1)
    await world.deployer().apply(v1)
    v2 = version(world.source, V2, rollout="rol_2")
    bad = next(iter(v2.manifest.chunk_hashes() - v1.manifest.chunk_hashes()))
    world.source.corrupt.add(bad)
    state, error = await world.deployer().apply(v2)
    assert state == "failed"
    assert error is not None
    assert bad[:12] in error
    assert world.current() == v1.version_id
    assert tree(world.layout.current.resolve()) == expected(v1, world.source)
    assert not world.layout.has_version(v2.version_id)
    assert not world.layout.chunks.joinpath(bad[:2], bad).exists()
    assert world.states("rol_2") == ["downloading", "failed"]
    assert world.leftovers() == []


async def test_a_manifest_that_does_not_match_its_version_id_fails(world: World) -> None:
    d = version(world.source, V1).model_copy(update={"version_id": "ver_" + "0" * 32})
    state, error = await world.deployer().apply(d)
    assert state == "failed"
    assert error is not None
    assert "does not match" in error
    assert world.current() is None


# -- switch and health --------------------------------------------------------------------


async def test_success_switches_current_and_keeps_the_previous_version(world: World) -> None:
    v1 = version(world.source, V1)
    v2 = version(
        world.source,
        V2,
        rollout="rol_2",
        health=["sh", "-c", 'test -f b.txt && test "$FLEETYARD_ROLLOUT_ID" = rol_2'],
    )
    await world.deployer().apply(v1)
    assert world.current() == v1.version_id
    assert world.previous() is None
    assert await world.deployer().apply(v2) == ("succeeded", None)
    assert world.current() == v2.version_id
    assert world.previous() == v1.version_id
    assert os.readlink(world.layout.current) == f"versions/{v2.version_id}"
    assert tree(world.layout.previous.resolve()) == expected(v1, world.source)
    assert world.states("rol_2") == ["downloading", "installing", "succeeded"]
    assert world.outbox.work_record("deployment", "rol_2") == ("succeeded", None)


async def test_a_failing_health_command_switches_back(world: World) -> None:
    v1 = version(world.source, V1)
    v2 = version(world.source, V2, rollout="rol_2", health=["sh", "-c", "echo broken >&2; exit 3"])
    await world.deployer().apply(v1)
    state, error = await world.deployer().apply(v2)
    assert state == "failed"
    assert error is not None
    assert "exited with 3" in error
    assert "broken" in error
    assert world.current() == v1.version_id
    assert world.states("rol_2")[-1] == "failed"
    assert world.outbox.work_record("deployment", "rol_2") == ("failed", error)
    assert world.leftovers() == []


async def test_a_health_command_over_its_timeout_fails(world: World) -> None:
    v1 = version(world.source, V1, health=["sleep", "5"])
    state, error = await world.deployer(health_timeout_seconds=0.2).apply(v1)
    assert state == "failed"
    assert error is not None
    assert "timed out" in error
    assert world.current() is None  # nothing ran before: nothing to switch back to


async def test_prune_keeps_current_and_previous_and_their_chunks(world: World) -> None:
    versions = [
        version(world.source, files, rollout=f"rol_{n}") for n, files in enumerate((V1, V2, V3))
    ]
    for d in versions:
        assert await world.deployer().apply(d) == ("succeeded", None)
    _v1, v2, v3 = versions
    assert world.layout.versions_on_disk() == sorted([v2.version_id, v3.version_id])
    assert (world.current(), world.previous()) == (v3.version_id, v2.version_id)
    kept = v2.manifest.chunk_hashes() | v3.manifest.chunk_hashes()
    cached = {p.name for p in world.layout.chunks.rglob("*") if p.is_file()}
    assert cached == kept
    manifests = sorted(p.stem for p in world.layout.manifests.iterdir())
    assert manifests == sorted([v2.version_id, v3.version_id])
    # Rolling back to the previous version downloads nothing.
    world.source.fetched.clear()
    back = v2.model_copy(update={"rollout_id": "rol_back"})
    assert await world.deployer().apply(back) == ("succeeded", None)
    assert world.source.fetched == []
    assert (world.current(), world.previous()) == (v2.version_id, v3.version_id)


# -- crashes ------------------------------------------------------------------------------


async def test_a_crash_between_any_two_steps_leaves_current_complete(world: World) -> None:
    v1 = version(world.source, V1)
    v2 = version(world.source, V3, rollout="rol_2", health=["true"])
    await world.deployer().apply(v1)
    complete = {
        v1.version_id: expected(v1, world.source),
        v2.version_id: expected(v2, world.source),
    }
    crashed_at: list[str] = []
    step = 0
    while True:
        step += 1
        calls: list[str] = []

        def checkpoint(name: str, stop_at: int = step, calls: list[str] = calls) -> None:
            calls.append(name)
            if len(calls) == stop_at:
                raise Crash(name)

        try:
            await world.deployer(checkpoint=checkpoint).apply(v2)
        except Crash as crash:
            crashed_at.append(str(crash))
        else:
            break
        # The power is back: current is a complete tree, whichever it is.
        current = world.current()
        assert current in complete
        assert tree(world.layout.current.resolve()) == complete[current]
        restarted = world.deployer()
        restarted.recover()
        assert world.leftovers() == []
        # A switch never confirmed healthy is undone.
        assert world.current() == v1.version_id or crashed_at[-1] in (
            "previous",
            "confirmed",
            "pruned",
        )
        # The server sends deploy.start again: the deployment runs to its end.
        assert restarted.start(v2)
        await restarted.wait("rol_2")
        assert world.current() == v2.version_id
        assert world.previous() == v1.version_id
        assert tree(world.layout.current.resolve()) == complete[v2.version_id]
        assert world.states("rol_2")[-1] == "succeeded"
        # Back to v1 for the next round, with an empty outbox and work table.
        world.outbox.delete([row.id for row in world.outbox.pending(limit=1000)])
        world.outbox.set_work("deployment", "rol_2", "forgotten")
        world.layout.point(world.layout.current, v1.version_id)
        world.layout.point(world.layout.previous, None)
        remove_tree(world.layout.version_dir(v2.version_id))
        ChunkCache(world.layout.chunks).drop(
            v2.manifest.chunk_hashes() - v1.manifest.chunk_hashes()
        )
    assert {"chunk", "first_file", "assembled", "journal", "switched", "health"} <= set(crashed_at)


async def test_recover_removes_a_half_written_tree_and_stray_links(world: World) -> None:
    v1 = version(world.source, V1)
    await world.deployer().apply(v1)
    staging = world.layout.versions / "ver_half.tmp"
    (staging / "sub").mkdir(parents=True)
    (staging / "sub" / "x").write_bytes(b"half")
    (staging / "sub").chmod(0o500)
    os.symlink("versions/ver_half", world.layout.root / "current.tmp")
    done = world.deployer().recover()
    assert any("ver_half.tmp" in line for line in done)
    assert world.leftovers() == []
    assert world.current() == v1.version_id


# -- control --------------------------------------------------------------------------------


async def test_cancel_before_the_switch_stops_and_reports_cancelled(world: World) -> None:
    v1, v2 = version(world.source, V1), version(world.source, V2, rollout="rol_2")
    await world.deployer().apply(v1)
    deployer = world.deployer()
    world.source.gate = asyncio.Event()
    assert deployer.start(v2)
    await asyncio.wait_for(world.source.waiting.wait(), 5)
    assert deployer.cancel("rol_2")
    await deployer.wait("rol_2")
    assert world.states("rol_2") == ["downloading", "cancelled"]
    assert world.current() == v1.version_id
    assert not world.layout.has_version(v2.version_id)
    assert world.leftovers() == []
    # A late deploy.start for it is answered with the recorded state.
    world.source.gate = None
    assert not deployer.start(v2)
    assert world.states("rol_2") == ["downloading", "cancelled", "cancelled"]


async def test_cancel_once_switching_is_refused(world: World) -> None:
    d = version(world.source, V1, health=["sleep", "0.3"])
    deployer = world.deployer()
    assert deployer.start(d)
    for _ in range(200):
        if world.layout.journal.exists():
            break
        await asyncio.sleep(0.01)
    assert not deployer.cancel("rol_1")
    await deployer.wait("rol_1")
    assert world.states("rol_1")[-1] == "succeeded"
    assert world.current() == d.version_id


async def test_a_resent_start_is_answered_with_the_recorded_final_state(world: World) -> None:
    d = version(world.source, V1, health=["sh", "-c", "echo nope; exit 1"])
    deployer = world.deployer()
    assert deployer.start(d)
    assert not deployer.start(d)  # running already: ignored
    await deployer.wait("rol_1")
    fetched = len(world.source.fetched)
    assert not world.deployer().start(d)  # after a restart too
    last = world.frames()[-1]
    assert last["state"] == "failed"
    assert last["error"] is not None
    assert "nope" in last["error"]
    assert len(world.source.fetched) == fetched
    # A cancel for a rollout never seen is recorded, so its late start does nothing.
    assert deployer.cancel("rol_unknown")
    assert not deployer.start(d.model_copy(update={"rollout_id": "rol_unknown"}))
    assert world.states("rol_unknown") == ["cancelled", "cancelled"]


async def test_extract_path_is_a_symlink_to_current_and_a_real_dir_is_refused(
    world: World, tmp_path: Path
) -> None:
    link = tmp_path / "opt" / "demo"
    d = version(world.source, V1, extract_path=str(link))
    assert await world.deployer().apply(d) == ("succeeded", None)
    assert os.readlink(link) == str(world.layout.current)
    assert (link / "a.txt").read_bytes() == b"alpha alpha alpha"
    real = tmp_path / "srv" / "demo"
    real.mkdir(parents=True)
    (real / "keep.txt").write_text("mine")
    d2 = version(world.source, V2, rollout="rol_2", extract_path=str(real))
    state, error = await world.deployer().apply(d2)
    assert state == "failed"
    assert error is not None
    assert "not a symlink" in error
    assert (real / "keep.txt").read_text() == "mine"
    assert world.current() == d.version_id


async def test_stop_leaves_the_deployment_to_run_again(world: World) -> None:
    d = version(world.source, V1)
    deployer = world.deployer()
    world.source.gate = asyncio.Event()
    deployer.start(d)
    await asyncio.wait_for(world.source.waiting.wait(), 5)
    await deployer.stop()
    assert world.states("rol_1") == ["downloading"]
    assert world.outbox.work_record("deployment", "rol_1") == ("running", None)
    world.source.gate = None
    again = world.deployer()
    again.recover()
    assert again.start(d)
    await again.wait("rol_1")
    assert world.states("rol_1")[-1] == "succeeded"


def test_outbox_made_before_deployments_gains_the_detail_column(tmp_path: Path) -> None:
    import sqlite3

    data = tmp_path / "old"
    data.mkdir()
    db = sqlite3.connect(data / "outbox.sqlite3")
    db.execute(
        "CREATE TABLE work (kind TEXT NOT NULL, id TEXT NOT NULL, state TEXT NOT NULL,"
        " updated_ms INTEGER NOT NULL, PRIMARY KEY (kind, id))"
    )
    db.execute("INSERT INTO work VALUES ('execution', 'exe_1', 'completed', 1)")
    db.commit()
    db.close()
    box = Outbox.open(data)
    try:
        assert box.work_record("execution", "exe_1") == ("completed", None)
        box.add_frame({"type": "x"}, work=("deployment", "rol_1", "failed"), detail="why")
        assert box.work_record("deployment", "rol_1") == ("failed", "why")
    finally:
        box.close()


async def test_a_manifest_with_members_this_agent_does_not_know_is_applied(world: World) -> None:
    """A newer server may add members to the manifest, its entries and their chunks:
    the deploy.start frame is read leniently, the version id still matches (it derives
    from the known members), and the saved manifest is read back the same way."""
    from fleetyard.protocol.agent_session import DeployStart

    def newer(d: Deployment) -> Deployment:
        body = d.model_dump(mode="json", exclude_none=True)
        body["manifest"]["signature"] = "future"
        for entry in body["manifest"]["entries"]:
            entry["owner"] = "root"
            for chunk in entry.get("chunks", []):
                chunk["compression"] = "zstd"
        frame = DeployStart.model_validate({"type": "deploy.start", "deployment": body})
        return frame.deployment

    v1 = newer(version(world.source, V1))
    v2 = newer(version(world.source, V2, rollout="rol_2"))
    assert v1.manifest.model_extra == {"signature": "future"}
    assert await world.deployer().apply(v1) == ("succeeded", None)
    assert await world.deployer().apply(v2) == ("succeeded", None)
    assert tree(world.layout.current.resolve()) == expected(v2, world.source)
    saved = world.layout.load_manifest(v1.version_id)
    assert saved is not None
    assert saved.entries[0].model_extra == {"owner": "root"}
    # Both manifests read back, so the cache is pruned to what they use.
    v3 = newer(version(world.source, V3, rollout="rol_3"))
    assert await world.deployer().apply(v3) == ("succeeded", None)
    cached = {p.name for p in world.layout.chunks.rglob("*") if p.is_file()}
    assert cached == v2.manifest.chunk_hashes() | v3.manifest.chunk_hashes()
