"""The deployer's reuse of unchanged files: hard links to the current version, guarded
by the stamps recorded at install (size, mtime_ns, inode)."""

from __future__ import annotations

import doctest
import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from fleetyard.agent.deployer import plan as plan_module
from fleetyard.agent.deployer.reuse import Stamp, read_stamps
from fleetyard.agent.outbox import Outbox
from fleetyard.protocol.agent_session import Deployment
from tests.agent.test_deployer import V1, Crash, Files, World, expected, tree, version

pytestmark = pytest.mark.anyio

V2: Files = {**V1, "b.txt": b"bravo CHANGED", "sub/e.txt": b"echo echo"}


@pytest.fixture
def world(tmp_path: Path, outbox: Outbox) -> Iterator[World]:
    w = World(tmp_path, outbox)
    yield w
    for path in [w.apps, *w.apps.rglob("*")] if w.apps.exists() else []:
        if path.is_dir() and not path.is_symlink():
            path.chmod(0o755)


def ino(world: World, version_id: str, path: str) -> int:
    return (world.layout.version_dir(version_id) / path).lstat().st_ino


def rewrite_in_place(path: Path, data: bytes) -> None:
    """What an app editing its own file does: same inode, new bytes, a later mtime."""
    before = path.stat()
    with open(path, "r+b") as handle:
        handle.write(data)
        handle.truncate()
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns + 1_000_000_000))


async def deploy(world: World, d: Deployment) -> None:
    assert await world.deployer().apply(d) == ("succeeded", None)
    assert tree(world.layout.current.resolve()) == expected(d, world.source)


async def test_unchanged_files_are_links_to_the_current_version(world: World) -> None:
    v1, v2 = version(world.source, V1), version(world.source, V2, rollout="rol_2")
    await deploy(world, v1)
    await deploy(world, v2)
    for path in ("a.txt", "c.txt"):
        assert ino(world, v2.version_id, path) == ino(world, v1.version_id, path)
    assert ino(world, v2.version_id, "b.txt") != ino(world, v1.version_id, "b.txt")
    # The previous version is untouched, and the stamps of v2 describe its files.
    assert tree(world.layout.previous.resolve()) == expected(v1, world.source)
    stamps = read_stamps(world.layout.stamps_file(v2.version_id))
    assert stamps is not None
    assert sorted(stamps) == ["a.txt", "b.txt", "c.txt", "sub/e.txt"]
    on_disk = world.layout.version_dir(v2.version_id) / "b.txt"
    assert stamps["b.txt"] == Stamp.of(on_disk.lstat())
    assert world.leftovers() == []


async def test_a_file_the_app_rewrote_in_place_is_not_carried_into_the_new_version(
    world: World,
) -> None:
    v1, v2 = version(world.source, V1), version(world.source, V2, rollout="rol_2")
    await deploy(world, v1)
    edited = world.layout.current / "a.txt"
    rewrite_in_place(edited, b"ALPHA ALPHA ALPHA")  # same size, later mtime
    await deploy(world, v2)  # v2 keeps a.txt as in v1
    assert (world.layout.current / "a.txt").read_bytes() == b"alpha alpha alpha"
    assert ino(world, v2.version_id, "a.txt") != ino(world, v1.version_id, "a.txt")
    assert ino(world, v2.version_id, "c.txt") == ino(world, v1.version_id, "c.txt")
    # What the app did to its version stays there (it is the rollback tree now).
    assert (world.layout.previous / "a.txt").read_bytes() == b"ALPHA ALPHA ALPHA"


async def test_a_mode_change_never_shares_an_inode(world: World) -> None:
    v1 = version(world.source, V1)
    v2 = version(world.source, {**V1, "c.txt": (0o755, V1["c.txt"])}, rollout="rol_2")
    await deploy(world, v1)
    await deploy(world, v2)
    assert ino(world, v2.version_id, "c.txt") != ino(world, v1.version_id, "c.txt")
    old = world.layout.version_dir(v1.version_id) / "c.txt"
    assert stat.S_IMODE(old.stat().st_mode) == 0o644
    # A file the app chmod-ed is not linked either: the new version has the manifest's mode.
    (world.layout.current / "a.txt").chmod(0o600)
    v3 = version(world.source, {**V1, "c.txt": (0o755, V1["c.txt"]), "d": b"d"}, rollout="rol_3")
    await deploy(world, v3)
    assert ino(world, v3.version_id, "a.txt") != ino(world, v2.version_id, "a.txt")
    assert ino(world, v3.version_id, "c.txt") == ino(world, v2.version_id, "c.txt")


async def test_same_content_at_two_paths_does_not_become_one_inode(world: World) -> None:
    v1 = version(world.source, V1)
    v2 = version(world.source, {**V1, "copy.txt": V1["a.txt"]}, rollout="rol_2")
    await deploy(world, v1)
    await deploy(world, v2)
    linked = ino(world, v1.version_id, "a.txt")
    assert ino(world, v2.version_id, "a.txt") == linked
    assert ino(world, v2.version_id, "copy.txt") != linked
    # A moved file is linked from its old path.
    v3 = version(world.source, {"moved/c.txt": V1["c.txt"]}, rollout="rol_3")
    await deploy(world, v3)
    assert ino(world, v3.version_id, "moved/c.txt") == ino(world, v2.version_id, "c.txt")


async def test_a_source_rewritten_while_assembling_is_written_from_chunks(world: World) -> None:
    v1, v2 = version(world.source, V1), version(world.source, V2, rollout="rol_2")
    await deploy(world, v1)
    source = world.layout.version_dir(v1.version_id) / "a.txt"

    def checkpoint(step: str) -> None:
        if step == "first_file":  # a.txt is linked already, c.txt not yet
            rewrite_in_place(source, b"ALPHA ALPHA ALPHA")

    assert await world.deployer(checkpoint=checkpoint).apply(v2) == ("succeeded", None)
    assert (world.layout.current / "a.txt").read_bytes() == b"alpha alpha alpha"
    assert ino(world, v2.version_id, "a.txt") != source.lstat().st_ino
    assert ino(world, v2.version_id, "c.txt") == ino(world, v1.version_id, "c.txt")


async def test_a_version_installed_without_stamps_is_copied_not_linked(world: World) -> None:
    v1, v2 = version(world.source, V1), version(world.source, V2, rollout="rol_2")
    await deploy(world, v1)
    world.layout.stamps_file(v1.version_id).unlink()
    await deploy(world, v2)
    assert ino(world, v2.version_id, "a.txt") != ino(world, v1.version_id, "a.txt")


async def test_a_parent_replaced_by_a_symlink_is_not_followed(world: World, tmp_path: Path) -> None:
    files: Files = {"sub/x.txt": b"xray", "y.txt": b"yankee"}
    v1 = version(world.source, files)
    await deploy(world, v1)
    root = world.layout.version_dir(v1.version_id)
    elsewhere = tmp_path / "elsewhere"
    os.rename(root / "sub", elsewhere)
    os.symlink(elsewhere, root / "sub")
    v2 = version(world.source, {**files, "z.txt": b"zulu"}, rollout="rol_2")
    await deploy(world, v2)
    assert ino(world, v2.version_id, "sub/x.txt") != (elsewhere / "x.txt").lstat().st_ino
    assert ino(world, v2.version_id, "y.txt") == ino(world, v1.version_id, "y.txt")


async def test_rollback_rebuilds_a_version_whose_shared_file_the_app_rewrote(
    world: World,
) -> None:
    v1, v2 = version(world.source, V1), version(world.source, V2, rollout="rol_2")
    await deploy(world, v1)
    await deploy(world, v2)
    # Rolling back with nothing changed reuses the tree as it is: no rebuild.
    before = ino(world, v1.version_id, "b.txt")
    await deploy(world, v1.model_copy(update={"rollout_id": "rol_back"}))
    assert ino(world, v1.version_id, "b.txt") == before
    await deploy(world, v2.model_copy(update={"rollout_id": "rol_fwd"}))
    # a.txt is one inode in both trees: the app's edit under v2 reaches v1's tree too.
    rewrite_in_place(world.layout.current / "a.txt", b"ALPHA ALPHA ALPHA")
    assert (world.layout.previous / "a.txt").read_bytes() == b"ALPHA ALPHA ALPHA"
    world.source.fetched.clear()
    await deploy(world, v1.model_copy(update={"rollout_id": "rol_back2"}))
    assert world.source.fetched == []  # the chunks of current and previous are cached
    assert (world.current(), world.previous()) == (v1.version_id, v2.version_id)
    assert (world.layout.current / "a.txt").read_bytes() == b"alpha alpha alpha"
    assert ino(world, v1.version_id, "b.txt") == before  # intact files linked back
    assert world.leftovers() == []


async def test_a_crash_while_replacing_a_rebuilt_version_recovers(world: World) -> None:
    v1, v2 = version(world.source, V1), version(world.source, V2, rollout="rol_2")
    await deploy(world, v1)
    await deploy(world, v2)
    rewrite_in_place(world.layout.current / "a.txt", b"ALPHA ALPHA ALPHA")
    back = v1.model_copy(update={"rollout_id": "rol_back"})

    def crash_at(step: str) -> None:
        if step == "assembled":  # stamps of the new tree written, old tree still in place
            raise Crash(step)

    with pytest.raises(Crash):
        await world.deployer(checkpoint=crash_at).apply(back)
    assert world.current() == v2.version_id
    restarted = world.deployer()
    restarted.recover()
    assert world.leftovers() == []
    assert restarted.start(back)
    await restarted.wait("rol_back")
    assert world.current() == v1.version_id
    assert tree(world.layout.current.resolve()) == expected(v1, world.source)


async def test_recover_drops_stamps_of_a_tree_that_never_got_its_name(world: World) -> None:
    v1 = version(world.source, V1)
    await deploy(world, v1)
    orphan = world.layout.stamps_file("ver_never")
    orphan.write_text('{"format": 1, "files": {}}')
    world.deployer().recover()
    assert not orphan.exists()
    assert world.layout.stamps_file(v1.version_id).exists()


def test_the_plan_examples_run_and_stay_true() -> None:
    result = doctest.testmod(plan_module, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0
    assert result.failed == 0
