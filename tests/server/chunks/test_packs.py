"""Packs in the filesystem store: a multi-chunk upload staged and stored as one file."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from fleetyard.server.storage.blobs import FileBlobStore
from fleetyard.server.storage.blobs.base import PackedAt
from fleetyard.server.storage.blobs.packs import frame_parts, read_frames, write_all

pytestmark = pytest.mark.anyio


def chunks_of(*texts: str) -> list[tuple[str, int, bytes]]:
    return [(hashlib.sha256(t.encode()).hexdigest(), len(t), t.encode()) for t in texts]


def files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file())


async def test_a_multi_chunk_upload_is_staged_and_stored_as_one_pack(tmp_path: Path) -> None:
    store = FileBlobStore(tmp_path / "blobs")
    chunks = chunks_of("alpha", "bravo!", "charlie chunk")
    await store.stage_verified("site_1", chunks)
    (staged,) = files(store.staging)
    assert staged.name.endswith(".pack")

    outcome = await store.commit_staged_many("site_1", {h: n for h, n, _ in chunks})
    assert outcome.placed == {h: n for h, n, _ in chunks}
    (pack_id,) = outcome.packs
    assert outcome.packs[pack_id] == sum(n for _, n, _ in chunks)
    (pack,) = files(store.packs)
    assert pack == store.pack_path(pack_id)
    for h, _, data in chunks:
        at = outcome.packed[h]
        assert at.pack == pack_id
        assert await store.get(h, at) == data
    # Nothing stored under the chunks' own names.
    assert not await store.exists(chunks[0][0])
    assert await store.absent([h for h, _, _ in chunks], at=outcome.packed) == []
    await store.release_staged("site_1", [h for h, _, _ in chunks])
    assert files(store.staging) == []


async def test_a_commit_finds_packs_staged_by_another_process(tmp_path: Path) -> None:
    chunks = chunks_of("one", "two", "three")
    await FileBlobStore(tmp_path / "blobs").stage_verified("site_1", chunks)
    # A second store over the same directory knows nothing of it in memory.
    other = FileBlobStore(tmp_path / "blobs")
    outcome = await other.commit_staged_many("site_1", {h: n for h, n, _ in chunks})
    assert outcome.missing == []
    assert await other.get(chunks[1][0], outcome.packed[chunks[1][0]]) == b"two"
    # Another site's commit does not see the site's staged pack.
    fresh = FileBlobStore(tmp_path / "blobs")
    assert (await fresh.commit_staged_many("site_2", {chunks[0][0]: 3})).missing == [chunks[0][0]]


async def test_chunks_stored_already_are_checked_but_not_stored_again(tmp_path: Path) -> None:
    store = FileBlobStore(tmp_path / "blobs")
    chunks = chunks_of("known", "known too")
    await store.stage_verified("site_1", chunks)
    outcome = await store.commit_staged_many(
        "site_1", {h: n for h, n, _ in chunks}, skip={h for h, _, _ in chunks}
    )
    assert outcome.placed == {h: n for h, n, _ in chunks}
    assert (outcome.packed, outcome.packs) == ({}, {})
    assert files(store.packs) == []
    # The announced size is still checked against what was uploaded.
    await store.stage_verified("site_2", chunks)
    wrong = await store.commit_staged_many("site_2", {chunks[0][0]: 99}, skip={chunks[0][0]})
    assert wrong.mismatch is not None
    assert wrong.placed == {}


async def test_without_a_boot_id_staged_packs_are_hashed_again(tmp_path: Path) -> None:
    store = FileBlobStore(tmp_path / "blobs")
    chunks = chunks_of("first chunk", "second chunk")
    await store.stage_verified("site_1", chunks)
    (staged,) = files(store.staging)
    damaged = bytearray(staged.read_bytes())
    damaged[-1] ^= 0xFF  # the last byte of the second chunk, as a lost write might leave it
    staged.write_bytes(bytes(damaged))
    store.trust_staged = False
    outcome = await store.commit_staged_many("site_1", {h: n for h, n, _ in chunks})
    assert outcome.mismatch is not None
    assert outcome.mismatch.hash == chunks[1][0]
    assert list(outcome.placed) == [chunks[0][0]]


async def test_repack_copies_the_live_chunks_into_a_new_pack(tmp_path: Path) -> None:
    store = FileBlobStore(tmp_path / "blobs")
    chunks = chunks_of("dead weight " * 10, "still used", "dead too " * 10)
    await store.stage_verified("site_1", chunks)
    placed = await store.commit_staged_many("site_1", {h: n for h, n, _ in chunks})
    (old,) = placed.packs
    live = [(chunks[1][0], placed.packed[chunks[1][0]])]
    moved = await store.repack(old, live)
    (new,) = moved.packs
    assert new != old
    assert moved.packs[new] == len("still used")
    assert await store.get(chunks[1][0], moved.packed[chunks[1][0]]) == b"still used"
    await store.drop_pack(old)
    assert files(store.packs) == [store.pack_path(new)]


def test_pack_frames_round_trip_and_a_cut_pack_lists_its_whole_chunks(tmp_path: Path) -> None:
    chunks = chunks_of("a" * 10, "b" * 20, "c" * 30)
    parts, where, total = frame_parts("p1", chunks)
    path = tmp_path / "p1.pack"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT)
    try:
        write_all(fd, parts)
    finally:
        os.close(fd)
    assert total == 60
    assert read_frames(str(path)) == [(h, where[h]) for h, _, _ in chunks]
    assert where[chunks[2][0]] == PackedAt("p1", 36 * 3 + 30, 30)
    path.write_bytes(path.read_bytes()[:-1])
    assert [h for h, _ in read_frames(str(path))] == [chunks[0][0], chunks[1][0]]


def test_write_all_resumes_short_writes_and_more_pieces_than_writev_takes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = os.writev
    calls: list[int] = []

    def short_writev(fd: int, buffers: list[memoryview]) -> int:
        calls.append(len(buffers))
        # At most 1,000 bytes per call, cutting pieces in the middle.
        budget, taken = 1000, []
        for buffer in buffers:
            taken.append(buffer[:budget])
            budget -= len(taken[-1])
            if not budget:
                break
        return real(fd, taken)

    monkeypatch.setattr(os, "writev", short_writev)
    pieces = [bytes([i % 251]) * 7 for i in range(3000)]
    path = tmp_path / "out"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT)
    try:
        write_all(fd, pieces)
    finally:
        os.close(fd)
    assert path.read_bytes() == b"".join(pieces)
    assert max(calls) <= 1024
