"""Chunks over HTTP with the filesystem store: check, upload, tampering, quotas,
download, mount, referrers and other organisations. SQLite and PostgreSQL."""

from __future__ import annotations

import time
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx2
import sqlalchemy as sa

from fleetyard.server.services.chunks import signing
from fleetyard.server.settings import DEV_SECRET_KEY, Settings
from fleetyard.server.storage.software_tables import (
    chunk_packs,
    chunks,
    quota_history,
    site_chunks,
)
from tests.server.chunks.helpers import (
    add_version,
    batch_body,
    blob_files,
    chunk,
    rows,
    staged_files,
    upload,
)
from tests.server.conftest import ClientFor
from tests.server.helpers import create_other_org, make_key, make_site, ok, problem


def test_upload_then_check_and_download(
    http: httpx2.Client, client_for: ClientFor, settings: Settings, database_url: str
) -> None:
    site = make_site(http, "plant")["id"]
    anonymous = client_for(None)
    h1, d1 = chunk("first chunk")
    h2, d2 = chunk("second")
    assert ok(http.post(f"/v1/sites/{site}/chunks/check", json={"hashes": [h1, h2, h1]})) == {
        "missing": [h1, h2]
    }
    urls = ok(
        http.post(
            f"/v1/sites/{site}/chunks/upload-urls",
            json={"chunks": [{"hash": h1, "size": len(d1)}, {"hash": h2, "size": len(d2)}]},
        )
    )["urls"]
    assert [u["hash"] for u in urls] == [h1, h2]
    assert urls[0]["method"] == "PUT"
    assert urls[0]["url"].startswith(f"http://fleetyard.test/v1/chunk-uploads/{h1}?")
    assert anonymous.put(urls[0]["url"], content=d1).status_code == 204
    # Uploading the same chunk again is harmless.
    assert anonymous.put(urls[0]["url"], content=d1).status_code == 204
    # Staged, not the site's yet: no database row, nothing counted, still missing.
    assert rows(database_url, sa.select(site_chunks.c.hash)) == []
    assert blob_files(settings.data_dir) == []
    assert len(staged_files(settings.data_dir)) == 1
    assert ok(http.post(f"/v1/sites/{site}/chunks/check", json={"hashes": [h1, h2]})) == {
        "missing": [h1, h2]
    }
    ref1 = {"hash": h1, "size": len(d1)}
    assert ok(http.post(f"/v1/sites/{site}/chunks/commit", json={"chunks": [ref1]})) == {
        "committed": [h1]
    }
    assert staged_files(settings.data_dir) == []
    assert ok(http.post(f"/v1/sites/{site}/chunks/check", json={"hashes": [h1, h2]})) == {
        "missing": [h2]
    }
    # Only the missing chunk gets an upload URL now.
    again = ok(
        http.post(
            f"/v1/sites/{site}/chunks/upload-urls",
            json={"chunks": [{"hash": h1, "size": len(d1)}, {"hash": h2, "size": len(d2)}]},
        )
    )["urls"]
    assert [u["hash"] for u in again] == [h2]
    assert anonymous.put(again[0]["url"], content=d2).status_code == 204
    assert ok(
        http.post(
            f"/v1/sites/{site}/chunks/commit",
            json={"chunks": [{"hash": h1, "size": len(d1)}, {"hash": h2, "size": len(d2)}]},
        )
    ) == {"committed": [h1, h2]}
    assert len(blob_files(settings.data_dir)) == 2
    quota = ok(http.get(f"/v1/sites/{site}/quota"))
    assert quota == {"site_id": site, "used_bytes": len(d1) + len(d2), "limit_bytes": None}
    history = ok(http.get(f"/v1/sites/{site}/quota/history"))["items"]
    assert history == [
        {"day": time.strftime("%Y-%m-%d", time.gmtime()), "used_bytes": len(d1) + len(d2)}
    ]

    links = ok(http.post(f"/v1/sites/{site}/chunks/download-urls", json={"hashes": [h2, h1]}))
    assert [u["hash"] for u in links["urls"]] == [h2, h1]
    got = anonymous.get(links["urls"][1]["url"])
    assert got.status_code == 200
    assert got.content == d1
    assert got.headers["content-type"] == "application/octet-stream"
    # Another site of the same organisation does not have them.
    other = make_site(http, "other plant")["id"]
    assert ok(http.post(f"/v1/sites/{other}/chunks/check", json={"hashes": [h1]})) == {
        "missing": [h1]
    }
    missing = problem(
        http.post(f"/v1/sites/{other}/chunks/download-urls", json={"hashes": [h1]}),
        422,
        "chunk_missing",
    )
    assert missing["missing"] == [h1]
    # A download link is bound to its site.
    url = links["urls"][1]["url"].replace(site, other)
    problem(anonymous.get(url), 403, "signature_invalid")


def test_a_tampered_chunk_is_rejected_and_nothing_is_stored(
    http: httpx2.Client, client_for: ClientFor, settings: Settings, database_url: str
) -> None:
    site = make_site(http, "plant")["id"]
    anonymous = client_for(None)
    h, data = chunk("the real bytes")
    (entry,) = ok(
        http.post(
            f"/v1/sites/{site}/chunks/upload-urls",
            json={"chunks": [{"hash": h, "size": len(data)}]},
        )
    )["urls"]
    body = problem(
        anonymous.put(entry["url"], content=b"the fake bytes"), 422, "chunk_hash_mismatch"
    )
    assert body["hash"] == h
    problem(anonymous.put(entry["url"], content=data + b"x"), 422, "chunk_hash_mismatch")
    problem(anonymous.put(entry["url"], content=data[:-1]), 422, "chunk_hash_mismatch")
    assert blob_files(settings.data_dir) == []
    assert list((settings.data_dir / "blobs" / ".tmp").glob("*")) == []
    assert rows(database_url, sa.select(chunks.c.hash)) == []
    assert ok(http.post(f"/v1/sites/{site}/chunks/check", json={"hashes": [h]}))["missing"] == [h]
    assert ok(http.get(f"/v1/sites/{site}/quota"))["used_bytes"] == 0
    problem(
        http.post(
            f"/v1/sites/{site}/chunks/commit", json={"chunks": [{"hash": h, "size": len(data)}]}
        ),
        422,
        "chunk_missing",
    )


def _resigned(url: str, **change: str) -> str:
    parts = urlsplit(url)
    query = {k: v[0] for k, v in parse_qs(parts.query).items()}
    query.update(change)
    return f"{parts.scheme}://{parts.netloc}{parts.path}?" + "&".join(
        f"{k}={v}" for k, v in query.items()
    )


def test_expired_and_tampered_upload_links_are_refused(
    http: httpx2.Client, client_for: ClientFor, settings: Settings
) -> None:
    site = make_site(http, "plant")["id"]
    anonymous = client_for(None)
    h, data = chunk("some bytes")
    exp = int(time.time()) - 5
    expired = signing.upload_url(
        "http://fleetyard.test", DEV_SECRET_KEY, hash=h, site_id=site, size=len(data), exp=exp
    )
    problem(anonymous.put(expired, content=data), 403, "url_expired")
    (entry,) = ok(
        http.post(
            f"/v1/sites/{site}/chunks/upload-urls",
            json={"chunks": [{"hash": h, "size": len(data)}]},
        )
    )["urls"]
    future = str(int(time.time()) + 10 * 86_400)
    problem(
        anonymous.put(_resigned(entry["url"], exp=future), content=data), 403, "signature_invalid"
    )
    problem(
        anonymous.put(_resigned(entry["url"], size="11"), content=data), 403, "signature_invalid"
    )
    problem(
        anonymous.put(_resigned(entry["url"], sig="0" * 64), content=data), 403, "signature_invalid"
    )
    assert anonymous.put(_resigned(entry["url"], site="x")).status_code == 403
    assert blob_files(settings.data_dir) == []
    assert ok(http.get(f"/v1/sites/{site}/quota"))["used_bytes"] == 0


def test_a_push_past_the_quota_fails_before_any_upload(
    http: httpx2.Client, client_for: ClientFor, settings: Settings, database_url: str
) -> None:
    site = make_site(http, "small")["id"]
    anonymous = client_for(None)
    h1, d1 = chunk("0123456789")
    h2, d2 = chunk("abcdefghij")
    assert ok(http.patch(f"/v1/sites/{site}/quota", json={"limit_bytes": 15})) == {
        "site_id": site,
        "used_bytes": 0,
        "limit_bytes": 15,
    }
    body = problem(
        http.post(
            f"/v1/sites/{site}/chunks/upload-urls",
            json={"chunks": [{"hash": h1, "size": 10}, {"hash": h2, "size": 10}]},
        ),
        413,
        "quota_exceeded",
    )
    assert (body["used_bytes"], body["limit_bytes"], body["needed_bytes"]) == (0, 15, 20)
    assert blob_files(settings.data_dir) == []
    assert rows(database_url, sa.select(site_chunks.c.hash)) == []
    # One fits; a link handed out before the limit shrank is held to it at commit,
    # which then keeps nothing (not even the staged upload).
    ref1 = {"hash": h1, "size": 10}
    (entry,) = ok(http.post(f"/v1/sites/{site}/chunks/upload-urls", json={"chunks": [ref1]}))[
        "urls"
    ]
    ok(http.patch(f"/v1/sites/{site}/quota", json={"limit_bytes": 5}))
    assert anonymous.put(entry["url"], content=d1).status_code == 204
    problem(
        http.post(f"/v1/sites/{site}/chunks/commit", json={"chunks": [ref1]}),
        413,
        "quota_exceeded",
    )
    assert blob_files(settings.data_dir) == []
    assert staged_files(settings.data_dir) == []
    assert rows(database_url, sa.select(chunks.c.hash)) == []
    ok(http.patch(f"/v1/sites/{site}/quota", json={"limit_bytes": None}))
    problem(
        http.post(f"/v1/sites/{site}/chunks/commit", json={"chunks": [ref1]}),
        422,
        "chunk_missing",
    )
    assert anonymous.put(entry["url"], content=d1).status_code == 204
    ok(http.post(f"/v1/sites/{site}/chunks/commit", json={"chunks": [ref1]}))
    ok(http.patch(f"/v1/sites/{site}/quota", json={"limit_bytes": 10}))
    body = problem(
        http.post(
            f"/v1/sites/{site}/chunks/upload-urls", json={"chunks": [{"hash": h2, "size": 10}]}
        ),
        413,
        "quota_exceeded",
    )
    assert body["used_bytes"] == 10
    assert d2
    assert len(blob_files(settings.data_dir)) == 1
    history = rows(database_url, sa.select(quota_history.c.used_bytes))
    assert [r.used_bytes for r in history] == [10]


def test_invalid_chunk_requests_are_422(http: httpx2.Client) -> None:
    site = make_site(http, "plant")["id"]
    problem(
        http.post(f"/v1/sites/{site}/chunks/check", json={"hashes": ["ABC"]}),
        422,
        "validation_failed",
    )
    problem(
        http.post(f"/v1/sites/{site}/chunks/check", json={"hashes": ["0" * 64] * 1001}),
        422,
        "validation_failed",
    )
    problem(
        http.post(
            f"/v1/sites/{site}/chunks/upload-urls",
            json={"chunks": [{"hash": "0" * 64, "size": 8 * 1024 * 1024 + 1}]},
        ),
        422,
        "validation_failed",
    )
    problem(
        http.post(
            f"/v1/sites/{site}/chunks/upload-urls",
            json={"chunks": [{"hash": "0" * 64, "size": 1}, {"hash": "0" * 64, "size": 2}]},
        ),
        422,
        "validation_failed",
    )
    problem(
        http.patch(f"/v1/sites/{site}/quota", json={"limit_bytes": -1}), 422, "validation_failed"
    )


def test_mount_reuses_another_apps_chunks(
    http: httpx2.Client, client_for: ClientFor, settings: Settings, database_url: str
) -> None:
    first = make_site(http, "first")["id"]
    second = make_site(http, "second")["id"]
    anonymous = client_for(None)
    h1 = upload(http, anonymous, first, b"shared bytes")
    h2 = upload(http, anonymous, first, b"not in a version")
    add_version(database_url, first, "app_source1", "ver_source1", [h1])
    body = problem(
        http.post(
            f"/v1/sites/{second}/chunks/mount",
            json={"hashes": [h1, h2], "from_app_id": "app_source1"},
        ),
        422,
        "chunk_missing",
    )
    assert body["missing"] == [h2]
    problem(
        http.post(
            f"/v1/sites/{second}/chunks/mount", json={"hashes": [h1], "from_app_id": "app_nope"}
        ),
        404,
        "not_found",
    )
    assert ok(
        http.post(
            f"/v1/sites/{second}/chunks/mount", json={"hashes": [h1], "from_app_id": "app_source1"}
        )
    ) == {"mounted": [h1]}
    assert ok(http.post(f"/v1/sites/{second}/chunks/check", json={"hashes": [h1]}))["missing"] == []
    assert ok(http.get(f"/v1/sites/{second}/quota"))["used_bytes"] == len(b"shared bytes")
    # Mounting again is a no-op; the blob is stored once.
    ok(
        http.post(
            f"/v1/sites/{second}/chunks/mount", json={"hashes": [h1], "from_app_id": "app_source1"}
        )
    )
    assert ok(http.get(f"/v1/sites/{second}/quota"))["used_bytes"] == len(b"shared bytes")
    assert len(blob_files(settings.data_dir)) == 2
    # A quota the mount would break refuses it.
    third = make_site(http, "third")["id"]
    ok(http.patch(f"/v1/sites/{third}/quota", json={"limit_bytes": 3}))
    problem(
        http.post(
            f"/v1/sites/{third}/chunks/mount", json={"hashes": [h1], "from_app_id": "app_source1"}
        ),
        413,
        "quota_exceeded",
    )
    # A caller who cannot read the source app's site cannot mount from it.
    writer = make_key(http, [f"site:{third}:write"])["secret"]
    problem(
        client_for(writer).post(
            f"/v1/sites/{third}/chunks/mount", json={"hashes": [h1], "from_app_id": "app_source1"}
        ),
        404,
        "not_found",
    )


def test_referrers_page_through_the_versions_that_use_a_chunk(
    http: httpx2.Client, client_for: ClientFor, database_url: str
) -> None:
    site = make_site(http, "plant")["id"]
    anonymous = client_for(None)
    h = upload(http, anonymous, site, b"popular")
    add_version(database_url, site, "app_a1", "ver_a1", [h])
    add_version(database_url, site, "app_a1", "ver_a2", [h], number=2)
    add_version(database_url, site, "app_b1", "ver_b1", [h])
    page = ok(http.get(f"/v1/sites/{site}/chunks/{h}/referrers", params={"limit": 2}))
    assert page["items"] == [
        {"app_id": "app_a1", "version_id": "ver_a1", "number": 1},
        {"app_id": "app_a1", "version_id": "ver_a2", "number": 2},
    ]
    rest = ok(
        http.get(
            f"/v1/sites/{site}/chunks/{h}/referrers",
            params={"limit": 2, "cursor": page["next_cursor"]},
        )
    )
    assert rest == {
        "items": [{"app_id": "app_b1", "version_id": "ver_b1", "number": 1}],
        "next_cursor": None,
    }
    other = make_site(http, "elsewhere")["id"]
    assert ok(http.get(f"/v1/sites/{other}/chunks/{h}/referrers")) == {
        "items": [],
        "next_cursor": None,
    }
    problem(http.get(f"/v1/sites/{site}/chunks/nothex/referrers"), 422, "validation_failed")


def test_scopes_decide_who_may_use_a_sites_chunks(
    http: httpx2.Client, client_for: ClientFor
) -> None:
    site = make_site(http, "plant")["id"]
    hidden = make_site(http, "hidden")["id"]
    h, _ = chunk("x")
    reader = client_for(make_key(http, [f"site:{site}:read"])["secret"])
    writer = client_for(make_key(http, [f"site:{site}:write"])["secret"])
    problem(
        reader.post(f"/v1/sites/{site}/chunks/check", json={"hashes": [h]}),
        403,
        "scope_insufficient",
    )
    ok(reader.get(f"/v1/sites/{site}/quota"))
    ok(writer.post(f"/v1/sites/{site}/chunks/check", json={"hashes": [h]}))
    problem(
        writer.patch(f"/v1/sites/{site}/quota", json={"limit_bytes": 1}), 403, "scope_insufficient"
    )
    # A site the caller cannot read is not there for it.
    problem(writer.post(f"/v1/sites/{hidden}/chunks/check", json={"hashes": [h]}), 404, "not_found")
    problem(reader.get(f"/v1/sites/{hidden}/quota"), 404, "not_found")


def test_another_organisation_sees_nothing(
    http: httpx2.Client, client_for: ClientFor, settings: Settings, database_url: str
) -> None:
    site = make_site(http, "plant")["id"]
    anonymous = client_for(None)
    h = upload(http, anonymous, site, b"private bytes")
    add_version(database_url, site, "app_mine1", "ver_mine1", [h])
    foreign = client_for(create_other_org(database_url)["key"])
    their_site = ok(foreign.post("/v1/sites", json={"name": "theirs"}), 201)["id"]
    ref = {"hash": h, "size": len(b"private bytes")}
    for method, path, body in [
        ("POST", f"/v1/sites/{site}/chunks/check", {"hashes": [h]}),
        ("POST", f"/v1/sites/{site}/chunks/upload-urls", {"chunks": [ref]}),
        ("POST", f"/v1/sites/{site}/chunks/commit", {"chunks": [ref]}),
        ("POST", f"/v1/sites/{site}/chunks/download-urls", {"hashes": [h]}),
        ("POST", f"/v1/sites/{site}/chunks/mount", {"hashes": [h], "from_app_id": "app_mine1"}),
        ("GET", f"/v1/sites/{site}/chunks/{h}/referrers", None),
        ("GET", f"/v1/sites/{site}/quota", None),
        ("PATCH", f"/v1/sites/{site}/quota", {"limit_bytes": 1}),
        ("GET", f"/v1/sites/{site}/quota/history", None),
        # Their own site, but our app: mounting from it is 404 too.
        (
            "POST",
            f"/v1/sites/{their_site}/chunks/mount",
            {"hashes": [h], "from_app_id": "app_mine1"},
        ),
    ]:
        response = foreign.request(method, path, json=body)
        problem(response, 404, "not_found")
    # Knowing the hash does not make it theirs.
    assert ok(foreign.post(f"/v1/sites/{their_site}/chunks/check", json={"hashes": [h]})) == {
        "missing": [h]
    }
    problem(
        foreign.post(f"/v1/sites/{their_site}/chunks/download-urls", json={"hashes": [h]}),
        422,
        "chunk_missing",
    )
    problem(
        foreign.post(f"/v1/sites/{their_site}/chunks/commit", json={"chunks": [ref]}),
        422,
        "chunk_missing",
    )
    # A download link signed for their site does not serve our chunk.
    link = signing.download_url(
        "http://fleetyard.test",
        DEV_SECRET_KEY,
        hash=h,
        site_id=their_site,
        exp=int(time.time()) + 60,
    )
    problem(anonymous.get(link), 404, "not_found")
    assert ok(http.get(f"/v1/sites/{site}/quota"))["limit_bytes"] is None
    assert isinstance(settings.data_dir, Path)


def test_a_multi_chunk_upload_is_checked_chunk_by_chunk_and_recorded_at_commit(
    http: httpx2.Client, client_for: ClientFor, settings: Settings, database_url: str
) -> None:
    site = make_site(http, "plant")["id"]
    anonymous = client_for(None)
    parts = [chunk(f"piece number {i}") for i in range(5)]
    refs = [{"hash": h, "size": len(d)} for h, d in parts]
    answer = ok(
        http.post(f"/v1/sites/{site}/chunks/upload-urls", json={"chunks": refs, "pack": True})
    )
    assert answer["urls"] == []
    (batch,) = answer["batches"]
    assert [(c["hash"], c["size"]) for c in batch["chunks"]] == [
        (r["hash"], r["size"]) for r in refs
    ]
    assert batch["url"].startswith("http://fleetyard.test/v1/chunk-uploads?")
    datas = [d for _, d in parts]
    # One chunk's bytes replaced: 422 naming it, and nothing of the request is staged.
    h2 = parts[2][0]
    forged = bytearray(batch_body(*datas))
    at = forged.index(datas[2])
    forged[at : at + len(datas[2])] = b"X" * len(datas[2])
    body = problem(anonymous.put(batch["url"], content=bytes(forged)), 422, "chunk_hash_mismatch")
    assert body["hash"] == h2
    assert staged_files(settings.data_dir) == []
    # Another list than the signed one (a chunk left out, or reordered) is refused.
    problem(anonymous.put(batch["url"], content=batch_body(*datas[:4])), 403, "signature_invalid")
    problem(
        anonymous.put(batch["url"], content=batch_body(*reversed(datas))), 403, "signature_invalid"
    )
    problem(anonymous.put(batch["url"], content=b"\x00" * 10), 422, "validation_failed")
    problem(
        anonymous.put(batch["url"].replace(site, "site_other"), content=batch_body(*datas)),
        403,
        "signature_invalid",
    )
    assert staged_files(settings.data_dir) == []
    assert anonymous.put(batch["url"], content=batch_body(*datas)).status_code == 204
    # The whole upload is staged as one file, a pack, in the upload's own framing.
    (staged,) = staged_files(settings.data_dir)
    assert staged.suffix == ".pack"
    assert staged.read_bytes() == batch_body(*datas)
    assert rows(database_url, sa.select(chunks.c.hash)) == []
    assert ok(http.post(f"/v1/sites/{site}/chunks/check", json={"hashes": [h2]}))["missing"] == [h2]
    assert ok(http.post(f"/v1/sites/{site}/chunks/commit", json={"chunks": refs})) == {
        "committed": [r["hash"] for r in refs]
    }
    assert staged_files(settings.data_dir) == []
    (pack,) = blob_files(settings.data_dir)
    assert pack.parent.parent.name == "packs"
    # Each chunk row says where in the pack its bytes are.
    stored = {r.hash: r for r in rows(database_url, sa.select(chunks))}
    assert sorted(stored) == sorted(h for h, _ in parts)
    packed = pack.read_bytes()
    for h, data in parts:
        assert stored[h].pack == pack.name
        assert packed[stored[h].pack_offset : stored[h].pack_offset + len(data)] == data
    assert rows(database_url, sa.select(chunk_packs.c.id, chunk_packs.c.bytes)) == [
        (pack.name, sum(len(d) for d in datas))
    ]
    # Served from the pack.
    (link,) = ok(http.post(f"/v1/sites/{site}/chunks/download-urls", json={"hashes": [h2]}))["urls"]
    assert anonymous.get(link["url"]).content == parts[2][1]
    assert ok(
        http.post(f"/v1/sites/{site}/chunks/check", json={"hashes": [h for h, _ in parts]})
    ) == {"missing": []}
    assert ok(http.get(f"/v1/sites/{site}/quota"))["used_bytes"] == sum(len(d) for d in datas)
    # Only what the site lacks is packed; an expired batch link is refused.
    more = chunk("one more")
    again = ok(
        http.post(
            f"/v1/sites/{site}/chunks/upload-urls",
            json={"chunks": [*refs, {"hash": more[0], "size": len(more[1])}], "pack": True},
        )
    )["batches"]
    assert [[c["hash"] for c in b["chunks"]] for b in again] == [[more[0]]]
    listed = [(more[0], len(more[1]))]
    expired = signing.batch_url(
        "http://fleetyard.test",
        DEV_SECRET_KEY,
        chunks=listed,
        site_id=site,
        exp=int(time.time()) - 5,
    )
    problem(anonymous.put(expired, content=batch_body(more[1])), 403, "url_expired")


def test_packing_cuts_batches_by_bytes_and_count(http: httpx2.Client) -> None:
    site = make_site(http, "plant")["id"]
    big = 3 * 1024 * 1024
    refs = [{"hash": f"{i:064x}", "size": big} for i in range(5)]
    refs += [{"hash": f"{i + 100:064x}", "size": 1} for i in range(600)]
    batches = ok(
        http.post(f"/v1/sites/{site}/chunks/upload-urls", json={"chunks": refs, "pack": True})
    )["batches"]
    sizes = [sum(c["size"] for c in b["chunks"]) for b in batches]
    counts = [len(b["chunks"]) for b in batches]
    assert all(s <= 8 * 1024 * 1024 for s in sizes)
    assert all(n <= 512 for n in counts)
    assert sum(counts) == len(refs)
    assert [c["hash"] for b in batches for c in b["chunks"]] == [r["hash"] for r in refs]
