"""``client.apps.push`` and ``client.versions`` against the real app in-process."""

from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2
import pytest

import fleetyard
from fleetyard import Client, PushOptions
from fleetyard.sdk._push import chunker
from tests.conftest import ADMIN_KEY
from tests.support.asgi import PortalASGITransport

BASE = "http://fleetyard.test"
APP = "app_pushdemo"


@pytest.fixture
def admin(app_transport: PortalASGITransport) -> Iterator[Client]:
    with Client(api_key=ADMIN_KEY, base_url=BASE, transport=app_transport) as client:
        yield client


def _tree(root: Path) -> None:
    rng = random.Random(5)
    (root / "lib").mkdir()
    (root / "lib" / "big.bin").write_bytes(rng.randbytes(3 * 1024 * 1024))
    for i in range(5):
        (root / f"f{i}.txt").write_text(f"file {i}\n")
    (root / "lib" / "link").symlink_to("big.bin")


def test_push_twice_dry_run_and_versions(admin: Client, tmp_path: Path) -> None:
    # Not tmp_path itself: the server's SQLite database lives there and changes mid-push.
    tmp_path = tmp_path / "dist"
    tmp_path.mkdir()
    site = admin.sites.create("Depot")
    _tree(tmp_path)
    first = admin.apps.push(
        tmp_path, APP, PushOptions(site_id=site.id, description="one", concurrency=1)
    )
    assert first.number == 1
    assert first.created
    assert first.stats.chunks_uploaded == first.stats.chunks_total
    assert admin.apps.get(APP).current_version is not None

    (tmp_path / "f2.txt").write_text("changed\n")
    dry = admin.apps.push(tmp_path, APP, PushOptions(dry_run=True))
    assert dry.stats.chunks_missing == 1
    assert dry.diff is not None
    assert [c.path for c in dry.diff.changed] == ["f2.txt"]
    assert [v.number for v in admin.versions.list(APP)] == [1]

    second = admin.apps.push(tmp_path, APP, PushOptions(description="two"))
    assert second.number == 2
    assert second.stats.chunks_uploaded == 1
    assert second.version_id == dry.version_id

    same = admin.apps.push(tmp_path, APP)
    assert not same.created
    assert same.number == 2
    assert same.stats.chunks_uploaded == 0

    diff = admin.versions.diff(APP, "current", against="previous")
    assert [c.path for c in diff.changed] == ["f2.txt"]
    paths = [e.path for e in admin.versions.files(APP, "v2")]
    assert paths == sorted(paths, key=lambda p: p.encode())
    assert "lib/link" in paths
    assert admin.versions.get(APP, 2).manifest is not None
    rolled = admin.apps.rollback(APP, to="v1")
    assert rolled.current_version is not None
    assert rolled.current_version.number == 1


class _FailingUploads(httpx2.BaseTransport):
    """Answers 400 to the ``fail_at``-th multi-chunk upload; passes everything else on."""

    def __init__(self, inner: httpx2.BaseTransport, fail_at: int) -> None:
        self.inner = inner
        self.fail_at = fail_at
        self.uploads: list[int] = []

    def handle_request(self, request: httpx2.Request) -> httpx2.Response:
        if request.method == "PUT" and request.url.path.startswith("/v1/chunk-uploads"):
            self.uploads.append(len(request.read()))
            if len(self.uploads) == self.fail_at:
                return httpx2.Response(400, json={"code": "bad_request"}, request=request)
        return self.inner.handle_request(request)


def test_an_interrupted_push_resumes_without_sending_what_arrived(
    app_transport: PortalASGITransport, tmp_path: Path
) -> None:
    tree = tmp_path / "dist"
    tree.mkdir()
    rng = random.Random(9)
    (tree / "big.bin").write_bytes(rng.randbytes(24 * 1024 * 1024))  # three or four requests
    for i in range(40):
        (tree / f"small{i}.txt").write_text(f"small file {i}\n")
    failing = _FailingUploads(app_transport, fail_at=2)
    with Client(api_key=ADMIN_KEY, base_url=BASE, transport=failing) as client:
        site = client.sites.create("Depot")
        with pytest.raises(fleetyard.BadRequestError):
            client.apps.push(tree, APP, PushOptions(site_id=site.id, concurrency=1))
        failing.fail_at = 0
        sent_before = len(failing.uploads)
        result = client.apps.push(tree, APP, PushOptions(site_id=site.id, concurrency=1))
    assert result.number == 1
    # The first request's chunks were committed before the error: not sent again.
    assert 0 < result.stats.chunks_uploaded < result.stats.chunks_total
    assert result.stats.chunks_reused == result.stats.chunks_total - result.stats.chunks_uploaded
    assert len(failing.uploads) > sent_before


def test_a_change_only_the_server_sees_fails_the_push_naming_the_file(
    admin: Client, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Every file looks unchanged to the client (as after a write within one tick of
    # the file system's clock): the server's chunk_hash_mismatch names the file.
    for module in ("walk", "chunker"):
        monkeypatch.setattr(f"fleetyard.sdk._push.{module}.stamp_of", lambda st: (0, 0, 0, 0))
    tree = tmp_path / "dist"
    tree.mkdir()
    _tree(tree)
    changed = tree / "f2.txt"
    same_size = changed.read_bytes().upper()
    real = chunker.chunk_small_file

    def hash_then_rewrite(source: Any, **kwargs: Any) -> list[chunker.FileChunk]:
        chunks = real(source, **kwargs)
        if Path(source) == changed:  # after its hashing, before its upload
            changed.write_bytes(same_size)
        return chunks

    monkeypatch.setattr(chunker, "chunk_small_file", hash_then_rewrite)
    site = admin.sites.create("Depot")
    with pytest.raises(OSError, match=r"f2\.txt changed while pushing") as caught:
        admin.apps.push(tree, APP, PushOptions(site_id=site.id))
    assert isinstance(caught.value.__cause__, fleetyard.UnprocessableEntityError)
    assert admin.apps.get(APP).current_version is None
