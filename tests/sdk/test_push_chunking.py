"""The push's local half: walking a tree, content-defined chunking, manifests."""

from __future__ import annotations

import hashlib
import os
import random
from pathlib import Path

import pytest

from fleetyard.protocol.software import canonical_manifest_json, manifest_sha256
from fleetyard.sdk._push import chunker as chunker_module
from fleetyard.sdk._push.chunker import (
    MAX_CHUNK_SIZE,
    MIN_CHUNK_SIZE,
    FileChunk,
    chunk_file,
    hash_files,
    new_chunker,
    read_chunk,
)
from fleetyard.sdk._push.manifest import build_manifest, diff_manifests
from fleetyard.sdk._push.upload import Item, batch_body
from fleetyard.sdk._push.walk import stamp_of, walk_tree


def _random(size: int, seed: int) -> bytes:
    return random.Random(seed).randbytes(size)


@pytest.fixture(scope="module")
def big(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """~20 MB of deterministic random data, and the same with 1 byte inserted at 1,000."""
    base = tmp_path_factory.mktemp("big")
    data = _random(20 * 1024 * 1024, seed=7)
    original, edited = base / "original.bin", base / "edited.bin"
    original.write_bytes(data)
    edited.write_bytes(data[:1000] + b"\x00" + data[1000:])
    return original, edited


def test_chunks_cover_the_file_with_sizes_in_bounds(big: tuple[Path, Path]) -> None:
    original, _ = big
    chunks = chunk_file(original)
    data = original.read_bytes()
    assert sum(c.size for c in chunks) == len(data)
    assert [c.offset for c in chunks] == [
        sum(c.size for c in chunks[:i]) for i in range(len(chunks))
    ]
    assert all(MIN_CHUNK_SIZE <= c.size <= MAX_CHUNK_SIZE for c in chunks[:-1])
    assert 8 <= len(chunks) <= 40  # about 1 MiB on average
    for c in chunks:
        assert c.hash == hashlib.sha256(data[c.offset : c.offset + c.size]).hexdigest()
        assert c.hash == c.hash.lower()
        assert len(c.hash) == 64


def test_an_insertion_near_the_start_changes_only_the_first_chunks(
    big: tuple[Path, Path],
) -> None:
    original, edited = big
    before = [c.hash for c in chunk_file(original)]
    after = [c.hash for c in chunk_file(edited)]
    changed = [h for h in after if h not in set(before)]
    assert len(changed) <= 2
    assert after[len(changed) :] == before[-(len(after) - len(changed)) :]
    assert set(after[2:]) <= set(before)


def test_chunking_reads_in_blocks_never_the_whole_file(
    big: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    original, _ = big
    reads: list[int] = []
    real_open = open

    class Spy:
        def __init__(self, raw: object) -> None:
            self.raw = raw

        def __enter__(self) -> Spy:
            return self

        def __exit__(self, *exc: object) -> None:
            self.raw.close()  # type: ignore[attr-defined]

        def readinto(self, buffer: memoryview) -> int:
            reads.append(len(buffer))
            return self.raw.readinto(buffer)  # type: ignore[attr-defined,no-any-return]

    monkeypatch.setattr(
        chunker_module, "open", lambda *a, **k: Spy(real_open(*a, **k)), raising=False
    )
    chunks = chunk_file(original)
    assert sum(c.size for c in chunks) == original.stat().st_size
    assert len(reads) > 2
    assert max(reads) <= 2 * MAX_CHUNK_SIZE < original.stat().st_size


def test_empty_file_has_no_chunks_and_read_chunk_reads_back(tmp_path: Path) -> None:
    empty = tmp_path / "e"
    empty.write_bytes(b"")
    assert chunk_file(empty) == []
    data = tmp_path / "d"
    data.write_bytes(b"hello world")
    [only] = chunk_file(data)
    assert read_chunk(data, only.offset, only.size) == b"hello world"
    with pytest.raises(OSError, match="changed"):
        read_chunk(data, 5, 100)


def _tree(root: Path) -> None:
    (root / "b").mkdir()
    (root / "b" / "z.txt").write_text("z")
    (root / "a.txt").write_text("a")
    (root / "b" / "link").symlink_to("z.txt")
    (root / "out").symlink_to("../elsewhere")
    (root / ".git").mkdir()
    (root / ".git" / "HEAD").write_text("ref")
    (root / "cache").mkdir()
    (root / "cache" / "x.pyc").write_text("x")
    (root / "skip.log").write_text("x")
    (root / "run.sh").write_text("#!/bin/sh\n")
    os.chmod(root / "run.sh", 0o755)  # noqa: S103 - an executable in the tree


def test_walk_is_sorted_skips_git_globs_and_outside_links(tmp_path: Path) -> None:
    _tree(tmp_path)
    walk = walk_tree(tmp_path, ignore=["*.log", "cache"])
    assert [(e.path, e.type) for e in walk.entries] == [
        ("a.txt", "file"),
        ("b", "dir"),
        ("b/link", "symlink"),
        ("b/z.txt", "file"),
        ("run.sh", "file"),
    ]
    assert walk.skipped == ["out: symbolic link to '../elsewhere' leaves the tree"]
    assert {e.path: e.mode for e in walk.entries}["run.sh"] == 0o755
    with pytest.raises(TypeError):
        walk_tree(tmp_path, ignore="*.log")


def test_manifest_is_deterministic_and_diffs_locally(tmp_path: Path) -> None:
    _tree(tmp_path)

    def manifest_of() -> tuple[str, str]:
        walk = walk_tree(tmp_path)
        chunks = {f.path: chunk_file(f.source) for f in walk.files if f.source}
        m = build_manifest(walk.entries, chunks, [])
        return canonical_manifest_json(m), manifest_sha256(m)

    first, second = manifest_of(), manifest_of()
    assert first == second
    assert '"path":"b/link","target":"z.txt","type":"symlink"' in first[0]

    walk = walk_tree(tmp_path)
    old = build_manifest(
        walk.entries, {f.path: chunk_file(f.source) for f in walk.files if f.source}, []
    )
    (tmp_path / "a.txt").write_text("changed")
    (tmp_path / "new.txt").write_text("new")
    (tmp_path / "run.sh").unlink()
    walk = walk_tree(tmp_path)
    new = build_manifest(
        walk.entries, {f.path: chunk_file(f.source) for f in walk.files if f.source}, []
    )
    diff = diff_manifests(old, new, from_version="ver_a", to_version="ver_b")
    assert [e.path for e in diff.added] == ["new.txt"]
    assert [e.path for e in diff.removed] == ["run.sh"]
    assert [(c.path, c.old_size, c.new_size) for c in diff.changed] == [("a.txt", 1, 7)]


@pytest.mark.parametrize("size", [1, 4096, MIN_CHUNK_SIZE - 1, MIN_CHUNK_SIZE, MIN_CHUNK_SIZE + 1])
def test_a_small_file_is_hashed_directly_and_cut_as_fastcdc_would(
    tmp_path: Path, size: int
) -> None:
    path = tmp_path / "f"
    path.write_bytes(random.Random(size).randbytes(size))
    seen: list[int] = []
    fast = chunk_file(path, on_bytes=seen.append)
    with open(path, "rb") as stream:
        reference = [
            FileChunk(p.offset, p.length, hashlib.sha256(p.data).hexdigest())
            for p in new_chunker().cut_stream(stream)
        ]
    assert fast == reference
    assert sum(seen) == size


class _Counts:
    """A tracker's ``add``, counting what the hashing reports."""

    def __init__(self) -> None:
        self.totals: dict[str, int] = {}

    def add(self, **amounts: int) -> None:
        for name, value in amounts.items():
            self.totals[name] = self.totals.get(name, 0) + value


def _mixed_tree(root: Path) -> None:
    """Small files (one chunk each, some on the boundary), empty ones and larger ones."""
    rng = random.Random(11)
    sizes = [0, 1, 200, 4096, MIN_CHUNK_SIZE - 1, MIN_CHUNK_SIZE, MIN_CHUNK_SIZE + 1]
    sizes += [rng.randint(1, 64 * 1024) for _ in range(300)]
    sizes += [3 * 1024 * 1024, 9 * 1024 * 1024 + 17]
    for i, size in enumerate(sizes):
        (root / f"d{i % 7}").mkdir(exist_ok=True)
        (root / f"d{i % 7}" / f"f{i:03d}").write_bytes(rng.randbytes(size))


@pytest.mark.parametrize("workers", [1, 2, 3])
def test_hashing_small_and_large_files_together_gives_each_file_its_chunks(
    tmp_path: Path, workers: int
) -> None:
    _mixed_tree(tmp_path)
    files = walk_tree(tmp_path).files
    counts = _Counts()
    hashed = hash_files(files, workers, counts)
    assert hashed == [chunk_file(f.source) for f in files if f.source]
    assert sum(len(c) for c in hashed) > len(files)  # the large files have several
    assert counts.totals == {"files_done": len(files), "bytes_hashed": sum(f.size for f in files)}


def test_a_file_that_grew_after_the_walk_is_chunked_like_any_file(tmp_path: Path) -> None:
    small, other = tmp_path / "grows", tmp_path / "other"
    small.write_bytes(b"tiny")
    other.write_bytes(b"x" * 10)
    files = walk_tree(tmp_path).files
    small.write_bytes(_random(3 * MAX_CHUNK_SIZE, seed=5))
    counts = _Counts()
    [grown, _] = hash_files(files, 2, counts)
    assert grown == chunk_file(small)
    assert len(grown) > 1
    assert counts.totals["bytes_hashed"] == 3 * MAX_CHUNK_SIZE + 10


def test_read_chunk_hashes_again_only_when_the_file_stamp_changed(tmp_path: Path) -> None:
    path = tmp_path / "f"
    path.write_bytes(b"hello world")
    [chunk] = chunk_file(path)
    stamp = stamp_of(path.stat())
    assert read_chunk(path, 0, chunk.size, chunk.hash, stamp) == b"hello world"
    path.write_bytes(b"HELLO WORLD!")  # another size: another stamp
    with pytest.raises(OSError, match=r"/f changed while pushing \(the chunk at byte 0"):
        read_chunk(path, 0, chunk.size, chunk.hash, stamp)
    # The stamp it has now vouches for the bytes: they are not hashed again (a write
    # the stamp does not show is left to the server's check of the hash).
    now = stamp_of(path.stat())
    assert read_chunk(path, 0, chunk.size, chunk.hash, now) == b"HELLO WORLD"
    with pytest.raises(OSError, match="changed"):
        read_chunk(path, 0, chunk.size, chunk.hash)  # without a stamp: always hashed


def test_a_batch_body_frames_each_chunk_with_its_hash_and_size(tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    a.write_bytes(b"first file")
    b.write_bytes(_random(MIN_CHUNK_SIZE * 3, seed=2))
    items = [
        Item(c.hash, c.size, str(path), c.offset, stamp_of(path.stat()))
        for path in (a, b)
        for c in chunk_file(path)
    ]
    body = batch_body(items)
    expected = b"".join(
        bytes.fromhex(i.hash) + i.size.to_bytes(4, "big") + read_chunk(i.source, i.offset, i.size)
        for i in items
    )
    assert body == expected
    assert len(body) == sum(36 + i.size for i in items)
