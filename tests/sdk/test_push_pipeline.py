"""A push uploads while it still hashes, and never leaves a hashing thread behind."""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio
import httpx2
import pytest

import fleetyard
from fleetyard import PushOptions, PushResult
from fleetyard.sdk._push import chunker, drivers
from fleetyard.sdk._push.walk import TreeWalk
from tests.sdk.test_push import APP, SITE, FakeYard

Handler = Callable[[httpx2.Request], httpx2.Response]


def _push(mode: str, handler: Handler, root: Path, options: PushOptions) -> PushResult:
    """``client.apps.push`` with the sync client or, inside an event loop, the async one."""
    retry = fleetyard.RetryPolicy(max_attempts=1)
    transport = httpx2.MockTransport(handler)
    if mode == "sync":
        with fleetyard.Client(
            "fy_test_x", base_url="http://yard.test", transport=transport, retry=retry
        ) as client:
            return client.apps.push(root, APP, options)

    async def push_async() -> PushResult:
        async with fleetyard.AsyncClient(
            "fy_test_x", base_url="http://yard.test", transport=transport, retry=retry
        ) as client:
            return await client.apps.push(root, APP, options)

    return anyio.run(push_async)


def _hashing_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("fleetyard-hash")]


def _small_files(root: Path, count: int, size: int, prefix: str) -> None:
    rng = random.Random(count + size)
    for i in range(count):
        (root / f"{prefix}{i:02d}").write_bytes(rng.randbytes(size))


def _slow_large_files(monkeypatch: pytest.MonkeyPatch, seconds: float) -> None:
    """Hashing a file above the minimum chunk size takes ``seconds``, reported in small
    steps (as FastCDC reports each chunk): a stopped push stops it within a step."""
    steps = 200

    def slow_chunk_file(path: Any, **kwargs: Any) -> list[chunker.FileChunk]:
        for _ in range(steps):
            time.sleep(seconds / steps)
            kwargs["on_bytes"](1)
        return []

    monkeypatch.setattr(chunker, "chunk_file", slow_chunk_file)


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_uploads_start_while_the_last_files_are_still_hashed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, mode: str
) -> None:
    monkeypatch.setattr("fleetyard.sdk._push.uploading.COMMIT_BYTES", 256 * 1024)
    _small_files(tmp_path, 24, 40 * 1024, "a")  # about four commit groups
    _small_files(tmp_path, 3, 1024, "z")  # walked (and hashed) last
    yard = FakeYard()
    timeline: list[str] = []
    uploaded = threading.Event()
    real = chunker.chunk_small_file

    def record(request: httpx2.Request) -> httpx2.Response:
        if request.method == "PUT":
            timeline.append("upload")
            uploaded.set()
        return yard(request)

    def hash_last_files_slowly(source: Any, **kwargs: Any) -> list[chunker.FileChunk]:
        if Path(source).name.startswith("z"):
            uploaded.wait(5.0)  # done at once when the push uploads while hashing
        chunks = real(source, **kwargs)
        timeline.append(f"hashed {Path(source).name}")
        return chunks

    monkeypatch.setattr(chunker, "chunk_small_file", hash_last_files_slowly)
    result = _push(mode, record, tmp_path, PushOptions(site_id=SITE))
    assert timeline.index("upload") < timeline.index("hashed z00")
    assert result.stats.chunks_uploaded == result.stats.chunks_total == 27
    assert sorted(yard.chunks) == sorted(yard.uploads)
    assert len(yard.commits) >= 2
    assert len(yard.versions) == 1
    assert _hashing_threads() == []


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_a_file_unreadable_when_hashed_fails_the_push_and_stops_hashing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, mode: str
) -> None:
    _small_files(tmp_path, 10, 100, "a")
    _small_files(tmp_path, 3, 300 * 1024, "large")  # 3 x 5 s unless stopped
    _slow_large_files(monkeypatch, 5.0)
    real_walk = drivers.walk_tree

    def walk_then_delete(root: Path, ignore: tuple[str, ...]) -> TreeWalk:
        walk = real_walk(root, ignore)
        (tmp_path / "a05").unlink()
        return walk

    monkeypatch.setattr(drivers, "walk_tree", walk_then_delete)
    yard = FakeYard()
    started = time.monotonic()
    with pytest.raises(FileNotFoundError, match="a05"):
        _push(mode, yard, tmp_path, PushOptions(site_id=SITE))
    assert time.monotonic() - started < 4.0  # the large files were not hashed to the end
    assert _hashing_threads() == []
    assert yard.versions == []


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_a_failed_upload_stops_the_hashing_still_going_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, mode: str
) -> None:
    monkeypatch.setattr("fleetyard.sdk._push.uploading.COMMIT_BYTES", 64 * 1024)
    _small_files(tmp_path, 8, 40 * 1024, "a")
    _small_files(tmp_path, 2, 300 * 1024, "large")
    _slow_large_files(monkeypatch, 5.0)
    yard = FakeYard()
    yard.fail_upload_after = 2
    started = time.monotonic()
    with pytest.raises(fleetyard.BadRequestError):
        _push(mode, yard, tmp_path, PushOptions(site_id=SITE, concurrency=1, hash_workers=2))
    assert time.monotonic() - started < 4.0
    assert _hashing_threads() == []
    # What arrived before the failure was committed (a re-run would skip it).
    assert len(yard.uploads) == 2
    assert sorted(yard.chunks) == sorted(yard.uploads)
    assert yard.versions == []
