"""Multi-chunk uploads read as they stream in: the reader on its own, and the upload
fast path against the route behind it."""

from __future__ import annotations

import hashlib
import os
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, cast
from urllib.parse import parse_qsl

import anyio
import anyio.lowlevel
import httpx2
import pytest

from fleetyard.protocol import API_VERSION
from fleetyard.server.api.fastpath import FleetyardAPI
from fleetyard.server.api.middleware import BodyMiddleware
from fleetyard.server.app import create_app
from fleetyard.server.services.chunks import signing
from fleetyard.server.services.chunks.receive import BatchReader, receive_batch
from fleetyard.server.services.chunks.uploads import ChunkMismatch, Chunks
from fleetyard.server.services.errors import Unprocessable
from fleetyard.server.settings import Settings
from fleetyard.server.storage.blobs import FileBlobStore
from fleetyard.server.storage.blobs.base import PackWriter
from fleetyard.server.storage.database import Database
from tests.conftest import ADMIN_KEY
from tests.server.chunks.helpers import batch_body, chunk, staged_files
from tests.server.helpers import ok, problem
from tests.support.asgi import running_app


class CollectingWriter(PackWriter):
    def __init__(self) -> None:
        self.written = bytearray()

    def write(self, parts: Sequence[bytes | memoryview]) -> None:
        for part in parts:
            self.written += part

    def keep(self, chunks: Mapping[str, tuple[int, int]]) -> None:
        raise AssertionError("the reader never stages by itself")

    def discard(self) -> None:
        pass


DATAS = [b"first", b"the second chunk", b"3"]
BODY = batch_body(*DATAS)


@pytest.mark.parametrize("piece", [1, 2, 7, 35, 36, 37, 64, len(BODY)])
def test_frames_are_read_across_any_piece_boundaries(piece: int) -> None:
    writer = CollectingWriter()
    reader = BatchReader(writer)
    pieces = [BODY[i : i + piece] for i in range(0, len(BODY), piece)]
    for one in pieces[:-1]:
        reader.feed([one])
    frames = reader.finish(pieces[-1:])
    assert frames == [(hashlib.sha256(d).hexdigest(), len(d)) for d in DATAS]
    assert bytes(writer.written) == BODY
    for data in DATAS:
        offset, size = reader.where[hashlib.sha256(data).hexdigest()]
        assert BODY[offset : offset + size] == data


def test_a_forged_chunk_is_named_as_soon_as_it_is_complete() -> None:
    forged = bytearray(BODY)
    second = 36 + len(DATAS[0]) + 36
    forged[second] ^= 0xFF
    reader = BatchReader(CollectingWriter())
    with pytest.raises(ChunkMismatch) as caught:
        reader.feed([bytes(forged[: second + len(DATAS[1])])])
    assert caught.value.extra["hash"] == hashlib.sha256(DATAS[1]).hexdigest()


@pytest.mark.parametrize(
    ("body", "error"),
    [
        (BODY[:-1], ChunkMismatch),  # inside the last chunk's bytes
        (BODY + b"\0" * 10, Unprocessable),  # inside a header
        (b"\0" * 32 + (0).to_bytes(4, "big"), Unprocessable),  # an empty chunk
        (b"\0" * 32 + (9 * 2**20).to_bytes(4, "big"), Unprocessable),  # a chunk too big
    ],
)
def test_bodies_cut_short_or_malformed_are_refused(body: bytes, error: type[Exception]) -> None:
    with pytest.raises(error):
        BatchReader(CollectingWriter()).finish([body])


def test_more_chunks_than_a_multi_chunk_upload_carries_are_refused() -> None:
    body = batch_body(*(b"%d" % i for i in range(513)))
    with pytest.raises(Unprocessable, match="at most 512"):
        BatchReader(None).finish([body])


@pytest.fixture(params=[True, False], ids=["fast-path", "routes"])
def http(request: pytest.FixtureRequest, settings: Settings) -> Iterator[httpx2.Client]:
    app = create_app(settings)
    assert isinstance(app, FleetyardAPI)
    app.fast_path = request.param
    with (
        running_app(app) as transport,
        httpx2.Client(
            transport=transport,
            base_url="http://fleetyard.test",
            headers={"Authorization": f"Bearer {ADMIN_KEY}"},
        ) as client,
    ):
        yield client


def _link(http: httpx2.Client, site: str, parts: list[tuple[str, bytes]]) -> str:
    refs = [{"hash": h, "size": len(d)} for h, d in parts]
    answer = ok(
        http.post(f"/v1/sites/{site}/chunks/upload-urls", json={"chunks": refs, "pack": True})
    )
    (batch,) = answer["batches"]
    url: str = batch["url"]
    return url.removeprefix("http://fleetyard.test")


def test_an_upload_answers_the_same_through_the_fast_path_and_the_route(
    http: httpx2.Client, settings: Settings
) -> None:
    site = ok(http.post("/v1/sites", json={"name": "plant"}), 201)["id"]
    parts = [chunk(f"streamed piece {i}") for i in range(4)]
    url = _link(http, site, parts)
    bare = {"Authorization": ""}  # the signature is the authorisation

    # A forged chunk: 422 naming it, nothing staged; the request's own id comes back.
    forged = bytearray(batch_body(*(d for _, d in parts)))
    forged[-1] ^= 0xFF
    answer = http.put(url, content=bytes(forged), headers={**bare, "X-Request-Id": "trace-7"})
    body = problem(answer, 422, "chunk_hash_mismatch")
    assert body["hash"] == parts[-1][0]
    assert (answer.headers["x-request-id"], answer.headers["fleetyard-version"]) == (
        "trace-7",
        API_VERSION,
    )
    assert staged_files(settings.data_dir) == []
    # Other chunks than the link was signed for: 403.
    other = batch_body(*(d + b"!" for _, d in parts))
    problem(http.put(url, content=other, headers=bare), 403, "signature_invalid")
    # Longer than the signed chunks could be: 422.
    problem(http.put(url, content=b"\0" * 9 * 2**20, headers=bare), 422, "validation_failed")
    # A query that does not validate is the route's 422 either way.
    problem(
        http.put(url.replace("list=", "list=zz"), content=b"", headers=bare),
        422,
        "validation_failed",
    )
    assert staged_files(settings.data_dir) == []

    good = http.put(url, content=batch_body(*(d for _, d in parts)), headers=bare)
    assert good.status_code == 204, good.text
    assert good.headers["fleetyard-version"] == API_VERSION
    assert good.headers["x-request-id"].startswith("req_")
    assert len(staged_files(settings.data_dir)) == 1
    refs: list[dict[str, Any]] = [{"hash": h, "size": len(d)} for h, d in parts]
    ok(http.post(f"/v1/sites/{site}/chunks/commit", json={"chunks": refs}))
    links = ok(
        http.post(f"/v1/sites/{site}/chunks/download-urls", json={"hashes": [h for h, _ in parts]})
    )["urls"]
    assert [http.get(link["url"]).content for link in links] == [d for _, d in parts]


def test_the_fast_path_streams_the_body_past_the_request_pipeline(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = create_app(settings)
    with (
        running_app(app) as transport,
        httpx2.Client(
            transport=transport,
            base_url="http://fleetyard.test",
            headers={"Authorization": f"Bearer {ADMIN_KEY}"},
        ) as client,
    ):
        site = ok(client.post("/v1/sites", json={"name": "plant"}), 201)["id"]
        parts = [chunk("past the pipeline"), chunk("and its body copies")]
        url = _link(client, site, parts)

        async def no_pipeline(self: object, scope: object, receive: object, send: object) -> None:
            raise AssertionError("the upload went through the body middleware")

        monkeypatch.setattr(BodyMiddleware, "__call__", no_pipeline)
        answer = client.put(url, content=batch_body(*(d for _, d in parts)))
        assert answer.status_code == 204, answer.text
        assert len(staged_files(settings.data_dir)) == 1


async def _pieces_of(body: bytes, size: int) -> AsyncIterator[bytes]:
    for start in range(0, len(body), size):
        await anyio.lowlevel.checkpoint()
        yield body[start : start + size]


@pytest.mark.anyio
@pytest.mark.parametrize("forged_at", [None, 10, -10])
async def test_a_streamed_upload_of_many_windows_is_staged_whole_or_not_at_all(
    tmp_path: Path, settings: Settings, forged_at: int | None
) -> None:
    store = FileBlobStore(tmp_path / "blobs")
    ctx = Chunks(database=cast(Database, None), blobs=store, settings=settings)
    datas = [os.urandom(700_000) for _ in range(5)]  # about 3.5 MB: several windows
    body = bytearray(batch_body(*datas))
    if forged_at is not None:
        body[36 + forged_at if forged_at > 0 else forged_at] ^= 0xFF
    refs = [(hashlib.sha256(d).hexdigest(), len(d)) for d in datas]
    url = signing.batch_url(
        "http://x", settings.effective_secret_key, chunks=refs, site_id="site_1", exp=2**31
    )
    query = dict(parse_qsl(url.split("?", 1)[1]))
    receiving = receive_batch(
        ctx,
        site_id="site_1",
        listed=query["list"],
        total=int(query["bytes"]),
        exp=int(query["exp"]),
        sig=query["sig"],
        body=_pieces_of(bytes(body), 65_536),
    )
    if forged_at is None:
        assert await receiving == 5
        (staged,) = [p for p in store.staging.rglob("*") if p.is_file()]
        assert staged.read_bytes() == bytes(body)
        return
    with pytest.raises(ChunkMismatch):
        await receiving
    await anyio.sleep(0.2)  # a window still being written is closed once done
    assert [p for p in store.staging.rglob("*") if p.is_file()] == []
