"""The S3 blob store against moto's standalone server: presigned PUT and GET really
work, a commit verifies what was uploaded, and a forged upload never lands."""

from __future__ import annotations

import hashlib
import socket
from collections.abc import Iterator
from pathlib import Path

import httpx2
import pytest

from fleetyard.server.settings import Settings
from tests.conftest import ADMIN_KEY
from tests.server.chunks.helpers import collect
from tests.server.helpers import make_site, ok, problem

moto_server = pytest.importorskip("moto.server")
boto3 = pytest.importorskip("boto3")

BUCKET = "fleetyard-chunks"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    port = _free_port()
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    try:
        yield endpoint
    finally:
        server.stop()


@pytest.fixture
def s3_bucket(s3_endpoint: str, tmp_path: Path) -> str:
    name = f"{BUCKET}-{abs(hash(tmp_path)) % 10**8}"
    client = boto3.client(
        "s3",
        endpoint_url=s3_endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    client.create_bucket(Bucket=name)
    return name


@pytest.fixture
def settings(database_url: str, tmp_path: Path, s3_endpoint: str, s3_bucket: str) -> Settings:
    return Settings(
        dev=True,
        data_dir=tmp_path / "data",
        database_url=database_url,
        bootstrap_api_key=ADMIN_KEY,
        blob_url=(
            f"s3://{s3_bucket}/blobs?endpoint={s3_endpoint}&region=us-east-1"
            "&access_key_id=testing&secret_access_key=testing"
        ),
    )


def _keys(endpoint: str, bucket: str) -> list[str]:
    client = boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    listed = client.list_objects_v2(Bucket=bucket)
    return sorted(item["Key"] for item in listed.get("Contents", []))


def test_presigned_upload_commit_and_download(
    http: httpx2.Client, s3_endpoint: str, s3_bucket: str
) -> None:
    site = make_site(http, "plant")["id"]
    data = b"bytes through S3" * 100
    h = hashlib.sha256(data).hexdigest()
    (entry,) = ok(
        http.post(
            f"/v1/sites/{site}/chunks/upload-urls",
            json={"chunks": [{"hash": h, "size": len(data)}]},
        )
    )["urls"]
    assert entry["url"].startswith(s3_endpoint)
    with httpx2.Client() as outside:
        put = outside.put(entry["url"], content=data, headers=entry["headers"])
        assert put.status_code == 200, put.text
        # Not the site's chunk until committed.
        assert ok(http.post(f"/v1/sites/{site}/chunks/check", json={"hashes": [h]}))["missing"] == [
            h
        ]
        assert ok(
            http.post(
                f"/v1/sites/{site}/chunks/commit",
                json={"chunks": [{"hash": h, "size": len(data)}]},
            )
        ) == {"committed": [h]}
        assert _keys(s3_endpoint, s3_bucket) == [f"blobs/chunks/{h[:2]}/{h[2:4]}/{h}"]
        assert (
            ok(http.post(f"/v1/sites/{site}/chunks/check", json={"hashes": [h]}))["missing"] == []
        )
        assert ok(http.get(f"/v1/sites/{site}/quota"))["used_bytes"] == len(data)
        # Committing again is idempotent.
        ok(
            http.post(
                f"/v1/sites/{site}/chunks/commit",
                json={"chunks": [{"hash": h, "size": len(data)}]},
            )
        )
        (link,) = ok(http.post(f"/v1/sites/{site}/chunks/download-urls", json={"hashes": [h]}))[
            "urls"
        ]
        assert link["url"].startswith(s3_endpoint)
        got = outside.get(link["url"])
        assert got.status_code == 200
        assert got.content == data


def test_a_forged_upload_is_rejected_at_commit(
    http: httpx2.Client, s3_endpoint: str, s3_bucket: str
) -> None:
    site = make_site(http, "plant")["id"]
    data = b"what the manifest promises"
    h = hashlib.sha256(data).hexdigest()
    (entry,) = ok(
        http.post(
            f"/v1/sites/{site}/chunks/upload-urls",
            json={"chunks": [{"hash": h, "size": len(data)}]},
        )
    )["urls"]
    ref = {"hash": h, "size": len(data)}
    with httpx2.Client() as outside:
        # Nothing uploaded yet.
        body = problem(
            http.post(f"/v1/sites/{site}/chunks/commit", json={"chunks": [ref]}),
            422,
            "chunk_missing",
        )
        assert body["missing"] == [h]
        forged = b"what the attacker sends!!!"
        assert len(forged) == len(data)
        assert outside.put(entry["url"], content=forged).status_code == 200
        body = problem(
            http.post(f"/v1/sites/{site}/chunks/commit", json={"chunks": [ref]}),
            422,
            "chunk_hash_mismatch",
        )
        assert body["hash"] == h
        # The forged object is gone and never reached the chunk's key.
        assert _keys(s3_endpoint, s3_bucket) == []
        assert ok(http.post(f"/v1/sites/{site}/chunks/check", json={"hashes": [h]}))["missing"] == [
            h
        ]
        assert ok(http.get(f"/v1/sites/{site}/quota"))["used_bytes"] == 0
        # A wrong size is refused too; the real bytes then go through.
        assert outside.put(entry["url"], content=data + b"x").status_code == 200
        problem(
            http.post(f"/v1/sites/{site}/chunks/commit", json={"chunks": [ref]}),
            422,
            "chunk_hash_mismatch",
        )
        assert outside.put(entry["url"], content=data).status_code == 200
        ok(http.post(f"/v1/sites/{site}/chunks/commit", json={"chunks": [ref]}))
        assert ok(http.get(f"/v1/sites/{site}/quota"))["used_bytes"] == len(data)


def test_packing_is_for_the_filesystem_store_s3_gets_presigned_urls(
    http: httpx2.Client, s3_endpoint: str
) -> None:
    site = make_site(http, "plant")["id"]
    answer = ok(
        http.post(
            f"/v1/sites/{site}/chunks/upload-urls",
            json={"chunks": [{"hash": "a" * 64, "size": 5}], "pack": True},
        )
    )
    assert answer["batches"] == []
    assert answer["urls"][0]["url"].startswith(s3_endpoint)


def test_gc_deletes_staged_objects_never_committed(
    http: httpx2.Client, settings: Settings, s3_endpoint: str, s3_bucket: str
) -> None:
    site = make_site(http, "plant")["id"]
    data = b"uploaded, never committed"
    h = hashlib.sha256(data).hexdigest()
    ref = {"hash": h, "size": len(data)}
    (entry,) = ok(http.post(f"/v1/sites/{site}/chunks/upload-urls", json={"chunks": [ref]}))["urls"]
    with httpx2.Client() as outside:
        assert outside.put(entry["url"], content=data).status_code == 200
    staged = f"blobs/staging/{site}/{h}"
    assert _keys(s3_endpoint, s3_bucket) == [staged]
    # Within an upload link's lifetime (and the margin) it stays: a commit may follow.
    assert collect(settings, hours_later=1).staged_purged == 0
    assert _keys(s3_endpoint, s3_bucket) == [staged]
    assert collect(settings, hours_later=2).staged_purged == 1
    assert _keys(s3_endpoint, s3_bucket) == []
    problem(
        http.post(f"/v1/sites/{site}/chunks/commit", json={"chunks": [ref]}), 422, "chunk_missing"
    )


def test_a_commit_past_the_quota_keeps_nothing(
    http: httpx2.Client, s3_endpoint: str, s3_bucket: str
) -> None:
    site = make_site(http, "plant")["id"]
    data = b"ten bytes!"
    h = hashlib.sha256(data).hexdigest()
    ref = {"hash": h, "size": len(data)}
    (entry,) = ok(http.post(f"/v1/sites/{site}/chunks/upload-urls", json={"chunks": [ref]}))["urls"]
    ok(http.patch(f"/v1/sites/{site}/quota", json={"limit_bytes": 5}))
    with httpx2.Client() as outside:
        assert outside.put(entry["url"], content=data).status_code == 200
    problem(
        http.post(f"/v1/sites/{site}/chunks/commit", json={"chunks": [ref]}), 413, "quota_exceeded"
    )
    assert _keys(s3_endpoint, s3_bucket) == []
    assert ok(http.get(f"/v1/sites/{site}/quota"))["used_bytes"] == 0


def test_a_push_past_the_quota_signs_nothing(http: httpx2.Client) -> None:
    site = make_site(http, "small")["id"]
    ok(http.patch(f"/v1/sites/{site}/quota", json={"limit_bytes": 4}))
    problem(
        http.post(
            f"/v1/sites/{site}/chunks/upload-urls",
            json={"chunks": [{"hash": "a" * 64, "size": 5}]},
        ),
        413,
        "quota_exceeded",
    )
