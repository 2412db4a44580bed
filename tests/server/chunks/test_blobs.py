"""The filesystem blob store and the signed links, without a server."""

from __future__ import annotations

import hashlib
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from fleetyard.server.services.chunks import signing
from fleetyard.server.services.errors import ServiceError
from fleetyard.server.storage.blobs import (
    BlobMismatchError,
    BlobNotFoundError,
    FileBlobStore,
    create_blob_store,
)

pytestmark = pytest.mark.anyio

DATA = b"hello chunk"
HASH = hashlib.sha256(DATA).hexdigest()


async def pieces(*parts: bytes) -> AsyncIterator[bytes]:
    for part in parts:
        yield part


def files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file())


async def test_a_verified_chunk_lands_in_its_shard(tmp_path: Path) -> None:
    store = FileBlobStore(tmp_path / "blobs")
    await store.put_verified(HASH, len(DATA), pieces(b"hello ", b"chunk"))
    path = tmp_path / "blobs" / HASH[:2] / HASH[2:4] / HASH
    assert files(tmp_path / "blobs") == [path]
    assert await store.get(HASH) == DATA
    assert await store.exists(HASH)
    assert b"".join([p async for p in store.open(HASH)]) == DATA
    # Storing it again is harmless (same bytes under the same name).
    await store.put_verified(HASH, len(DATA), DATA)
    await store.delete(HASH)
    await store.delete(HASH)
    assert not await store.exists(HASH)
    with pytest.raises(BlobNotFoundError):
        await store.get(HASH)


@pytest.mark.parametrize(
    ("size", "data"),
    [
        (len(DATA), b"hello chunK"),  # other bytes, same size
        (len(DATA), DATA + b"!"),  # more bytes than announced
        (len(DATA) + 1, DATA),  # fewer
    ],
)
async def test_a_mismatch_leaves_nothing(tmp_path: Path, size: int, data: bytes) -> None:
    store = FileBlobStore(tmp_path / "blobs")
    with pytest.raises(BlobMismatchError):
        await store.put_verified(HASH, size, pieces(data[:3], data[3:]))
    with pytest.raises(BlobMismatchError):
        await store.put_verified(HASH, size, data)
    assert files(tmp_path) == []
    assert not await store.exists(HASH)


async def test_a_failed_write_leaves_no_temporary_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = FileBlobStore(tmp_path / "blobs")

    def broken(*args: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr("os.replace", broken)
    with pytest.raises(OSError, match="disk full"):
        await store.put_verified(HASH, len(DATA), DATA)
    assert files(tmp_path) == []


def test_the_store_is_chosen_by_url(tmp_path: Path) -> None:
    default = create_blob_store(None, tmp_path)
    assert isinstance(default, FileBlobStore)
    assert default.root == tmp_path / "blobs"
    explicit = create_blob_store(f"file://{tmp_path}/elsewhere", tmp_path)
    assert isinstance(explicit, FileBlobStore)
    assert explicit.root == tmp_path / "elsewhere"
    with pytest.raises(ValueError, match="unsupported"):
        create_blob_store("ftp://x", tmp_path)


def test_a_good_link_verifies_and_a_changed_one_does_not() -> None:
    exp = int(time.time()) + 60
    sig = signing.signature("k" * 32, method="PUT", hash=HASH, site_id="site_1", size=3, exp=exp)
    signing.verify("k" * 32, method="PUT", hash=HASH, site_id="site_1", size=3, exp=exp, sig=sig)
    changes = [
        {"method": "GET"},
        {"site_id": "site_2"},
        {"size": 4},
        {"exp": exp + 1},
        {"sig": sig[:-1] + ("0" if sig[-1] != "0" else "1")},
    ]
    for change in changes:
        given = {
            "method": "PUT",
            "hash": HASH,
            "site_id": "site_1",
            "size": 3,
            "exp": exp,
            "sig": sig,
        } | change
        with pytest.raises(ServiceError) as caught:
            signing.verify("k" * 32, **given)  # type: ignore[arg-type]
        assert caught.value.code == "signature_invalid", change
    with pytest.raises(ServiceError) as caught:
        signing.verify(
            "x" * 32, method="PUT", hash=HASH, site_id="site_1", size=3, exp=exp, sig=sig
        )
    assert caught.value.code == "signature_invalid"


def test_an_expired_link_is_refused() -> None:
    exp = int(time.time()) - 1
    sig = signing.signature("k" * 32, method="GET", hash=HASH, site_id="s", size=None, exp=exp)
    with pytest.raises(ServiceError) as caught:
        signing.verify("k" * 32, method="GET", hash=HASH, site_id="s", size=None, exp=exp, sig=sig)
    assert (caught.value.status, caught.value.code) == (403, "url_expired")


@pytest.mark.parametrize("tmpfile", [True, False], ids=["O_TMPFILE", "rename"])
async def test_staging_writes_no_fsync_and_commit_makes_the_batch_durable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, tmpfile: bool
) -> None:
    synced: list[Path] = []
    monkeypatch.setattr(
        "fleetyard.server.storage.blobs.fs._fsync_path",
        lambda path, directory=False: synced.append(path),
    )
    store = FileBlobStore(tmp_path / "blobs", use_syncfs=False)
    store.use_tmpfile = store.use_tmpfile and tmpfile
    other = b"another chunk"
    other_hash = hashlib.sha256(other).hexdigest()
    # Chunks uploaded one per request are staged (and stored) as files of their own.
    await store.stage_verified("site_1", [(HASH, len(DATA), DATA)])
    await store.stage_verified("site_1", [(other_hash, len(other), other)])
    # Again (a retried request): harmless, and no temporary file is left behind.
    await store.stage_verified("site_1", [(HASH, len(DATA), DATA)])
    assert sorted(p.name for p in files(store.staging)) == sorted([HASH, other_hash])
    assert synced == []
    assert not await store.exists(HASH)
    absent = "0" * 64
    outcome = await store.commit_staged_many(
        "site_1", {HASH: len(DATA), absent: 3, other_hash: len(other)}
    )
    assert outcome.placed == {HASH: len(DATA), other_hash: len(other)}
    assert outcome.missing == [absent]
    assert outcome.mismatch is None
    # Every new file, its shard directories and the root, before the commit answers.
    for h in (HASH, other_hash):
        path = store.path_of(h)
        assert {path, path.parent, path.parent.parent} <= set(synced)
    assert store.root in synced
    assert await store.get(HASH) == DATA
    await store.release_staged("site_1", [HASH, other_hash])
    assert files(store.staging) == []
    assert await store.get(other_hash) == other
    # Another site cannot commit what this site staged.
    assert (await store.commit_staged_many("site_2", {HASH: len(DATA)})).missing == [HASH]


async def test_with_syncfs_a_commit_flushes_the_filesystem_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[int] = []

    def fake_syncfs(fd: int) -> int:
        calls.append(fd)
        return 0

    monkeypatch.setattr("fleetyard.server.storage.blobs.fs._SYNCFS", fake_syncfs)
    store = FileBlobStore(tmp_path / "blobs")
    assert store.use_syncfs
    chunks = [(hashlib.sha256(b"%d" % i).hexdigest(), b"%d" % i) for i in range(20)]
    await store.stage_verified("site_1", [(h, len(d), d) for h, d in chunks])
    assert calls == []
    outcome = await store.commit_staged_many("site_1", {h: len(d) for h, d in chunks})
    assert len(outcome.placed) == 20
    assert len(calls) == 1


async def test_a_mismatch_in_a_staged_request_stages_nothing(tmp_path: Path) -> None:
    store = FileBlobStore(tmp_path / "blobs")
    with pytest.raises(BlobMismatchError) as caught:
        await store.stage_verified("site_1", [(HASH, len(DATA), DATA), ("1" * 64, len(DATA), DATA)])
    assert caught.value.hash == "1" * 64
    assert files(tmp_path) == []


async def test_staged_files_are_hashed_again_without_a_boot_id(tmp_path: Path) -> None:
    store = FileBlobStore(tmp_path / "blobs")
    store.trust_staged = False
    staged = store.staged_path("site_1", HASH)
    staged.parent.mkdir(parents=True)
    staged.write_bytes(b"hello chunK")  # the right size, not the right bytes
    outcome = await store.commit_staged_many("site_1", {HASH: len(DATA)})
    assert outcome.mismatch is not None
    assert outcome.placed == {}
    assert not staged.exists()
    assert not await store.exists(HASH)


async def test_a_commit_replaces_a_chunk_name_left_with_the_wrong_bytes(tmp_path: Path) -> None:
    # As after a crash between linking a chunk's name and syncing it, where the name
    # survived and its bytes did not: the next upload of that chunk must repair it.
    store = FileBlobStore(tmp_path / "blobs")
    target = store.path_of(HASH)
    target.parent.mkdir(parents=True)
    target.write_bytes(b"\0" * len(DATA))
    await store.stage_verified("site_1", [(HASH, len(DATA), DATA)])
    outcome = await store.commit_staged_many("site_1", {HASH: len(DATA)})
    assert outcome.placed == {HASH: len(DATA)}
    assert target.read_bytes() == DATA
    assert await store.get(HASH) == DATA
    # A name that already holds the right bytes is kept as it is.
    inode = target.stat().st_ino
    await store.stage_verified("site_2", [(HASH, len(DATA), DATA)])
    await store.commit_staged_many("site_2", {HASH: len(DATA)})
    assert target.stat().st_ino == inode
