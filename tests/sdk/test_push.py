"""``client.apps.push`` against a small stateful fake of the chunk and version routes."""

from __future__ import annotations

import hashlib
import json
import random
import threading
from pathlib import Path
from typing import Any

import httpx2
import pytest

import fleetyard
from fleetyard import PushOptions, PushProgress
from fleetyard.protocol.software import Manifest, manifest_sha256, version_id_for
from fleetyard.sdk._push import chunker

TS = "2026-11-24T12:00:00.000Z"
SITE = "site_01"
APP = "app_demo1"


def _problem(status: int, code: str, **extra: Any) -> httpx2.Response:
    body = {"type": "about:blank", "title": code, "status": status, "code": code, **extra}
    return httpx2.Response(status, json=body, headers={"Content-Type": "application/problem+json"})


class FakeYard:
    """Apps, versions and a chunk store in memory, thread-safe; records uploads.

    Like the server, an upload is staged and the chunk only becomes the site's at
    commit; with ``pack`` it hands out multi-chunk uploads of ``batch_limit`` chunks.
    Bytes not matching their hash are 422 ``chunk_hash_mismatch``, at upload or
    (``verify_at_commit``, as with S3) at commit.
    """

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.chunks: dict[str, bytes] = {}
        self.staged: dict[str, bytes] = {}
        self.pack = True
        self.refuses_pack = False  # a server from before multi-chunk uploads
        self.batch_limit = 4
        self.batches: list[list[tuple[str, int]]] = []
        self.commits: list[list[str]] = []
        self.app: dict[str, Any] | None = None
        self.versions: list[dict[str, Any]] = []
        self.uploads: list[str] = []
        self.requests: list[tuple[str, str]] = []
        self.fail_upload_after: int | None = None
        self.expire_first_upload = False
        self.stale_once = False
        self.verify_at_commit = False  # like S3: uploads are checked at commit

    def _app_json(self) -> dict[str, Any]:
        assert self.app is not None
        current = next((v for v in self.versions if v["id"] == self.app["current"]), None)
        summary = {k: v for k, v in current.items() if k != "manifest"} if current else None
        return {
            "id": APP,
            "site_id": SITE,
            "name": self.app["name"],
            "targets": [],
            "created_at": TS,
            "updated_at": TS,
            "current_version": summary,
        }

    def publish_elsewhere(self) -> None:
        """Another writer publishes an empty version (makes our expectation stale)."""
        manifest = Manifest(entries=[])
        self._new_version(manifest, "elsewhere")

    def _new_version(self, manifest: Manifest, description: str) -> dict[str, Any]:
        assert self.app is not None
        sha = manifest_sha256(manifest)
        version = {
            "id": version_id_for(APP, sha),
            "app_id": APP,
            "number": len(self.versions) + 1,
            "description": description,
            "manifest_sha256": sha,
            "files": manifest.file_count,
            "bytes": manifest.total_bytes,
            "created_at": TS,
            "manifest": manifest.canonical(),
        }
        self.versions.append(version)
        self.app["current"] = version["id"]
        return version

    def __call__(self, request: httpx2.Request) -> httpx2.Response:
        with self.lock:
            return self._handle(request)

    def _handle(self, request: httpx2.Request) -> httpx2.Response:
        method, path = request.method, request.url.path
        self.requests.append((method, path))
        body = json.loads(request.content) if request.content and method != "PUT" else None
        if path == f"/v1/apps/{APP}" and method == "GET":
            return (
                httpx2.Response(200, json=self._app_json())
                if self.app
                else _problem(404, "not_found")
            )
        if path == "/v1/apps" and method == "POST":
            self.app = {"name": body["name"], "current": None}
            return httpx2.Response(201, json=self._app_json())
        if path == f"/v1/sites/{SITE}/chunks/check":
            return httpx2.Response(
                200, json={"missing": [h for h in body["hashes"] if h not in self.chunks]}
            )
        if path == f"/v1/sites/{SITE}/chunks/upload-urls":
            if "pack" in body and self.refuses_pack:
                return _problem(422, "validation_failed")
            wanted = [c for c in body["chunks"] if c["hash"] not in self.chunks]
            if body.get("pack") and self.pack:
                batches = []
                for i in range(0, len(wanted), self.batch_limit):
                    listed = [(c["hash"], c["size"]) for c in wanted[i : i + self.batch_limit]]
                    self.batches.append(listed)
                    batches.append(
                        {
                            "url": f"http://blob.test/putmany/{len(self.batches) - 1}?sig=x",
                            "chunks": [{"hash": h, "size": n} for h, n in listed],
                            "expires_at": TS,
                        }
                    )
                return httpx2.Response(200, json={"urls": [], "batches": batches})
            urls = [
                {
                    "hash": c["hash"],
                    "url": f"http://blob.test/put/{c['hash']}",
                    "method": "PUT",
                    "headers": {},
                    "expires_at": TS,
                }
                for c in wanted
            ]
            return httpx2.Response(200, json={"urls": urls})
        if path.startswith(("/put/", "/putmany/")):
            if self.expire_first_upload:
                self.expire_first_upload = False
                return _problem(403, "url_expired")
            if self.fail_upload_after is not None and len(self.uploads) >= self.fail_upload_after:
                return _problem(400, "bad_request")
            assert "authorization" not in request.headers
            if path.startswith("/put/"):
                frames = [(path.rsplit("/", 1)[1], request.content)]
            else:
                assert request.url.params["sig"] == "x"
                frames = _frames(request.content)
                listed = self.batches[int(path.rsplit("/", 1)[1])]
                assert [(h, len(d)) for h, d in frames] == listed
            for digest, data in frames:
                if not self.verify_at_commit and hashlib.sha256(data).hexdigest() != digest:
                    return _problem(422, "chunk_hash_mismatch", hash=digest)
            for digest, data in frames:
                self.staged[digest] = data
                self.uploads.append(digest)
            return httpx2.Response(201 if path.startswith("/put/") else 204)
        if path == f"/v1/sites/{SITE}/chunks/commit":
            hashes = [c["hash"] for c in body["chunks"]]
            lacking = [h for h in hashes if h not in self.staged and h not in self.chunks]
            if lacking:
                return _problem(422, "chunk_missing", missing=lacking)
            for h in hashes:
                if h in self.staged and hashlib.sha256(self.staged[h]).hexdigest() != h:
                    del self.staged[h]
                    return _problem(422, "chunk_hash_mismatch", hash=h)
            for h in hashes:
                if h in self.staged:
                    self.chunks[h] = self.staged.pop(h)
            self.commits.append(hashes)
            return httpx2.Response(200, json={"committed": hashes})
        if path == f"/v1/apps/{APP}/versions" and method == "POST":
            assert self.app is not None
            if self.stale_once:
                self.stale_once = False
                self.publish_elsewhere()
            if body["expected_current"] != self.app["current"]:
                return _problem(412, "version_stale", current_version_id=self.app["current"])
            manifest = Manifest.model_validate(body["manifest"])
            lacking = sorted(manifest.chunk_hashes() - set(self.chunks))
            if lacking:
                return _problem(422, "chunk_missing", missing=lacking)
            return httpx2.Response(201, json=self._new_version(manifest, body["description"]))
        if path == f"/v1/apps/{APP}/versions/current":
            assert self.app is not None
            current = next(v for v in self.versions if v["id"] == self.app["current"])
            return httpx2.Response(200, json=current)
        raise AssertionError(f"unexpected {method} {path}")


def _frames(body: bytes) -> list[tuple[str, bytes]]:
    frames, at = [], 0
    while at < len(body):
        digest, size = body[at : at + 32].hex(), int.from_bytes(body[at + 32 : at + 36], "big")
        frames.append((digest, body[at + 36 : at + 36 + size]))
        at += 36 + size
    return frames


@pytest.fixture
def yard() -> FakeYard:
    return FakeYard()


@pytest.fixture
def client(yard: FakeYard) -> fleetyard.Client:
    c = fleetyard.Client(
        "fy_test_x",
        base_url="http://yard.test",
        transport=httpx2.MockTransport(yard),
        retry=fleetyard.RetryPolicy(max_attempts=2, base_delay=0.0, jitter=False),
    )
    c._sleep = lambda s: None
    return c


def _make_tree(root: Path) -> None:
    rng = random.Random(3)
    (root / "bin").mkdir(parents=True)
    (root / "bin" / "big.bin").write_bytes(rng.randbytes(6 * 1024 * 1024))
    for i in range(10):
        (root / f"small{i}.txt").write_text(f"file {i}\n")
    (root / "empty").write_bytes(b"")


def test_first_push_creates_the_app_and_uploads_every_chunk(
    client: fleetyard.Client, yard: FakeYard, tmp_path: Path
) -> None:
    _make_tree(tmp_path)
    events: list[PushProgress] = []
    result = client.apps.push(
        tmp_path, APP, PushOptions(site_id=SITE, description="one", on_progress=events.append)
    )
    assert result.number == 1
    assert result.created
    assert result.stats.files == 12
    assert result.stats.chunks_uploaded == result.stats.chunks_total == len(yard.uploads)
    assert result.stats.bytes_uploaded == sum(len(v) for v in yard.chunks.values())
    assert result.stats.chunks_reused == 0
    assert yard.versions[0]["description"] == "one"
    phases = [e.phase for e in events]
    assert phases[0] == "discover"
    assert phases[-1] == "publish"
    assert {"hash", "check-missing", "upload"} <= set(phases)
    assert events[-1].chunks_uploaded == result.stats.chunks_uploaded


def test_second_push_uploads_only_changed_chunks(
    client: fleetyard.Client, yard: FakeYard, tmp_path: Path
) -> None:
    _make_tree(tmp_path)
    client.apps.push(tmp_path, APP, PushOptions(site_id=SITE))
    first = len(yard.uploads)
    (tmp_path / "small3.txt").write_text("changed\n")
    result = client.apps.push(tmp_path, APP)
    assert result.number == 2
    assert len(yard.uploads) == first + 1
    assert result.stats.chunks_uploaded == 1
    assert result.stats.chunks_reused == result.stats.chunks_total - 1
    # The same tree again: nothing uploaded, no new version... (the fake makes one; the
    # real server answers 200 with the current version, checked against the app.)


@pytest.mark.parametrize("pack", [True, False], ids=["multi-chunk", "one-per-request"])
def test_an_interrupted_push_resumes_without_sending_a_chunk_twice(
    client: fleetyard.Client, yard: FakeYard, tmp_path: Path, pack: bool
) -> None:
    _make_tree(tmp_path)
    yard.pack = pack
    yard.fail_upload_after = 4  # one multi-chunk upload of 4, or 4 single ones
    with pytest.raises(fleetyard.BadRequestError):
        client.apps.push(tmp_path, APP, PushOptions(site_id=SITE, concurrency=1))
    assert yard.versions == []
    assert len(yard.uploads) == 4
    # What arrived before the failure was committed: the site has it.
    assert sorted(yard.chunks) == sorted(yard.uploads)
    yard.fail_upload_after = None
    result = client.apps.push(tmp_path, APP, PushOptions(site_id=SITE))
    assert len(yard.uploads) == len(set(yard.uploads)) == result.stats.chunks_total
    assert result.stats.chunks_uploaded == result.stats.chunks_total - 4
    assert yard.staged == {}


def test_small_chunks_share_requests_and_groups_commit_while_the_next_uploads(
    client: fleetyard.Client, yard: FakeYard, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("fleetyard.sdk._push.uploading.COMMIT_BYTES", 2 * 1024 * 1024)
    _make_tree(tmp_path)
    result = client.apps.push(tmp_path, APP, PushOptions(site_id=SITE, concurrency=2))
    total = result.stats.chunks_total
    puts = [p for m, p in yard.requests if m == "PUT"]
    assert all(p.startswith("/putmany/") for p in puts)
    assert len(puts) < total  # several chunks per request
    # Every chunk committed once, in several commits, the first before the last upload.
    committed = [h for c in yard.commits for h in c]
    assert sorted(committed) == sorted(set(committed)) == sorted(yard.chunks)
    assert len(yard.commits) >= 2
    order = [p for _, p in yard.requests]
    first_commit = order.index(f"/v1/sites/{SITE}/chunks/commit")
    last_put = max(i for i, p in enumerate(order) if p.startswith("/putmany/"))
    assert first_commit < last_put
    assert yard.staged == {}


def _rewrite_after_hashing(monkeypatch: pytest.MonkeyPatch, path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` right after the push hashed it, before it learns its chunks."""
    real = chunker.chunk_small_file

    def hash_then_rewrite(source: Any, **kwargs: Any) -> list[chunker.FileChunk]:
        chunks = real(source, **kwargs)
        if Path(source) == path:
            path.write_bytes(data)
        return chunks

    monkeypatch.setattr(chunker, "chunk_small_file", hash_then_rewrite)


@pytest.mark.parametrize("pack", [True, False], ids=["multi-chunk", "one-per-request"])
def test_a_file_written_to_after_hashing_fails_the_push_naming_it(
    client: fleetyard.Client,
    yard: FakeYard,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    pack: bool,
) -> None:
    _make_tree(tmp_path)
    yard.pack = pack
    changed = tmp_path / "small3.txt"
    _rewrite_after_hashing(monkeypatch, changed, b"other!\n")
    with pytest.raises(OSError, match=r"small3\.txt changed while pushing") as caught:
        client.apps.push(tmp_path, APP, PushOptions(site_id=SITE))
    assert caught.value.__cause__ is None  # found by the client, before sending the bytes
    assert yard.versions == []
    assert all(hashlib.sha256(d).hexdigest() == h for h, d in yard.chunks.items())


@pytest.mark.parametrize("at_commit", [False, True], ids=["at-upload", "at-commit"])
def test_a_change_the_file_stamp_misses_is_caught_by_the_server_and_named(
    client: fleetyard.Client,
    yard: FakeYard,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    at_commit: bool,
) -> None:
    # A write within one tick of the file system's clock leaves size and times alone:
    # every file looks unchanged, so only the server sees the new bytes.
    for module in ("walk", "chunker"):
        monkeypatch.setattr(f"fleetyard.sdk._push.{module}.stamp_of", lambda st: (0, 0, 0, 0))
    _make_tree(tmp_path)
    yard.verify_at_commit = at_commit
    changed = tmp_path / "small3.txt"
    _rewrite_after_hashing(monkeypatch, changed, changed.read_bytes().upper())
    with pytest.raises(OSError, match=r"small3\.txt changed while pushing") as caught:
        client.apps.push(tmp_path, APP, PushOptions(site_id=SITE))
    assert isinstance(caught.value.__cause__, fleetyard.UnprocessableEntityError)
    assert caught.value.__cause__.code == "chunk_hash_mismatch"
    assert yard.versions == []


def test_dry_run_changes_nothing_and_reports_the_diff(
    client: fleetyard.Client, yard: FakeYard, tmp_path: Path
) -> None:
    _make_tree(tmp_path)
    client.apps.push(tmp_path, APP, PushOptions(site_id=SITE))
    (tmp_path / "small1.txt").write_text("other\n")
    (tmp_path / "added.txt").write_text("added\n")
    before = (len(yard.uploads), len(yard.versions))
    marker = len(yard.requests)
    result = client.apps.push(tmp_path, APP, PushOptions(dry_run=True))
    assert (len(yard.uploads), len(yard.versions)) == before
    assert result.dry_run
    assert result.number is None
    assert not result.created
    assert result.stats.chunks_missing == 2
    assert result.stats.chunks_uploaded == 0
    assert result.diff is not None
    assert [e.path for e in result.diff.added] == ["added.txt"]
    assert [c.path for c in result.diff.changed] == ["small1.txt"]
    assert result.version_id == version_id_for(APP, result.manifest_sha256)
    dry_requests = yard.requests[marker:]
    assert [m for m, _ in dry_requests] == ["GET", "POST", "GET"]
    assert dry_requests[1][1].endswith("/chunks/check")


def test_publish_retries_on_version_stale_with_the_reported_current(
    client: fleetyard.Client, yard: FakeYard, tmp_path: Path
) -> None:
    _make_tree(tmp_path)
    client.apps.push(tmp_path, APP, PushOptions(site_id=SITE))
    (tmp_path / "small0.txt").write_text("again\n")
    yard.stale_once = True
    result = client.apps.push(tmp_path, APP)
    assert result.number == 3  # v2 was published by someone else meanwhile
    publishes = [r for r in yard.requests if r == ("POST", f"/v1/apps/{APP}/versions")]
    assert len(publishes) == 3


@pytest.mark.parametrize("pack", [True, False], ids=["multi-chunk", "one-per-request"])
def test_an_expired_upload_url_is_requested_again(
    client: fleetyard.Client, yard: FakeYard, tmp_path: Path, pack: bool
) -> None:
    (tmp_path / "one.txt").write_text("one\n")
    (tmp_path / "two.txt").write_text("two\n")
    yard.pack = pack
    yard.expire_first_upload = True
    result = client.apps.push(tmp_path, APP, PushOptions(site_id=SITE, concurrency=1))
    assert result.stats.chunks_uploaded == 2
    url_requests = [p for m, p in yard.requests if p.endswith("/upload-urls")]
    assert len(url_requests) == 2
    assert sorted(yard.chunks) == sorted(yard.uploads)


def test_a_server_without_multi_chunk_uploads_gets_one_chunk_per_request(
    client: fleetyard.Client, yard: FakeYard, tmp_path: Path
) -> None:
    _make_tree(tmp_path)
    yard.refuses_pack = True
    result = client.apps.push(tmp_path, APP, PushOptions(site_id=SITE))
    puts = [p for m, p in yard.requests if m == "PUT"]
    assert len(puts) == result.stats.chunks_uploaded == result.stats.chunks_total
    assert all(p.startswith("/put/") for p in puts)


def test_a_missing_app_without_site_id_is_not_found(
    client: fleetyard.Client, tmp_path: Path
) -> None:
    with pytest.raises(fleetyard.NotFoundError):
        client.apps.push(tmp_path, APP)


@pytest.mark.anyio
async def test_async_push_with_an_async_callback(yard: FakeYard, tmp_path: Path) -> None:
    _make_tree(tmp_path)
    seen: list[str] = []

    async def on_progress(progress: PushProgress) -> None:
        seen.append(progress.phase)

    async with fleetyard.AsyncClient(
        "fy_test_x", base_url="http://yard.test", transport=httpx2.MockTransport(yard)
    ) as client:
        result = await client.apps.push(
            tmp_path, APP, PushOptions(site_id=SITE, on_progress=on_progress)
        )
        assert result.number == 1
        assert result.stats.chunks_uploaded == len(yard.uploads)
        (tmp_path / "small2.txt").write_text("x\n")
        again = await client.apps.push(tmp_path, APP, PushOptions(dry_run=True))
    assert again.stats.chunks_missing == 1
    assert seen[0] == "discover"
    assert "upload" in seen
    assert seen[-1] == "publish"


def test_sync_client_accepts_an_async_callback(client: fleetyard.Client, tmp_path: Path) -> None:
    (tmp_path / "a").write_text("a")
    seen: list[str] = []

    async def on_progress(progress: PushProgress) -> None:
        seen.append(progress.phase)

    client.apps.push(tmp_path, APP, PushOptions(site_id=SITE, on_progress=on_progress))
    assert seen[0] == "discover"
    assert seen[-1] == "publish"
