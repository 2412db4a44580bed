"""Manifests checked by hand (large publishes, the SDK's build) against the models.

:func:`plain_manifest`, :func:`plain_entries` and :func:`plain_publish` must hold
exactly what the models hold for the same data, or answer ``None`` (and then the
models give the errors); the canonical JSON must stay byte for byte what
``json.dumps(canonical, sort_keys=True, ...)`` gives, since ids derive from it.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import anyio
import pytest
import sqlalchemy as sa
from pydantic import ValidationError

from fleetyard.protocol.manifest_plain import (
    PlainPublish,
    plain_entries,
    plain_manifest,
    plain_manifest_json,
    plain_publish,
    valid_paths,
)
from fleetyard.protocol.software import (
    MANIFEST_INVALID,
    Manifest,
    ManifestEntry,
    ServerManifest,
    VersionPublish,
    canonical_manifest_json,
    manifest_sha256,
    version_id_for,
)
from fleetyard.sdk._push.chunker import FileChunk
from fleetyard.sdk._push.manifest import build_manifest
from fleetyard.sdk._push.walk import TreeEntry
from fleetyard.server.storage.database import Database
from fleetyard.server.storage.software_tables import chunks, site_chunks
from fleetyard.server.storage.tables import sites
from tests.server.helpers import ok, problem
from tests.server.software.conftest import Setup


def _hash(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _chunk(text: str, size: int = 3) -> dict[str, Any]:
    return {"hash": _hash(text), "size": size}


TRICKY: list[dict[str, Any]] = [
    {"path": "zz/é/ünï cödé 🚀.txt", "type": "file", "mode": 0o755, "chunks": [_chunk("u")]},
    {"path": "zz", "type": "dir", "mode": 0o700},
    {"path": "zz/é", "type": "dir"},
    {"path": "empty", "type": "file"},
    {"path": "empty-too", "type": "file", "size": 0, "chunks": []},
    {
        "path": 'quote"back\x7f tab\t nl\n\u2028',
        "type": "file",
        "mode": 0,
        "size": 6,
        "chunks": [_chunk("a"), _chunk("b")],
    },
    {
        "path": ".hidden/...",
        "type": "file",
        "mode": 0o7777,
        "size": None,
        "chunks": [_chunk("c", 8)],
    },
    {"path": ".hidden", "type": "dir", "mode": None, "size": 0, "chunks": [], "target": None},
    {"path": "link", "type": "symlink", "target": "zz/é/../é"},
    {
        "path": "link-with-mode",
        "type": "symlink",
        "target": '\\odd "target"',
        "mode": 0o777,
        "size": 0,
    },
    {"path": "Ä", "type": "dir"},
    {"path": "a", "type": "dir"},
]


def _tricky() -> list[dict[str, Any]]:
    return json.loads(json.dumps(TRICKY))  # type: ignore[no-any-return]


def _dumped(manifest: Manifest) -> str:
    """The canonical JSON as it was defined before it was written out by hand."""
    return json.dumps(
        manifest.canonical(), sort_keys=True, separators=(",", ":"), ensure_ascii=False
    )


def test_plain_manifest_is_what_the_models_build() -> None:
    validated = Manifest.model_validate({"entries": _tricky()})
    plain = plain_manifest(_tricky())
    assert plain is not None
    assert plain == validated
    assert [e.path for e in plain.entries] == [e.path for e in validated.entries]
    for mine, theirs in zip(plain.entries, validated.entries, strict=True):
        assert mine.model_dump() == theirs.model_dump()
        assert mine.model_fields_set == theirs.model_fields_set
        assert [c.model_fields_set for c in mine.chunks or []] == [
            c.model_fields_set for c in theirs.chunks or []
        ]
    assert plain.model_fields_set == validated.model_fields_set
    assert canonical_manifest_json(plain) == _dumped(validated)
    assert manifest_sha256(plain) == hashlib.sha256(_dumped(validated).encode()).hexdigest()
    entries = plain_entries(_tricky())
    assert entries is not None
    assert plain_manifest_json(entries) == _dumped(validated)
    assert entries == PlainPublish.of(VersionPublish(manifest=validated)).entries


def test_canonical_json_is_the_dumped_canonical_form_even_for_odd_values() -> None:
    odd = Manifest.model_construct(
        entries=[
            ManifestEntry.model_construct(path="f", type="file", mode=None, size=None),
            ManifestEntry.model_construct(path="d", type="dir", mode=None),
            ManifestEntry.model_construct(path="l", type="symlink", target=None),
        ]
    )
    assert canonical_manifest_json(odd) == _dumped(odd)
    regular = Manifest.model_validate({"entries": _tricky()})
    assert canonical_manifest_json(regular) == _dumped(regular)


BROKEN: list[list[dict[str, Any]]] = [
    [{"path": "a", "type": "dir"}, {"path": "a", "type": "dir"}],
    [{"path": "f", "type": "file"}, {"path": "f/x", "type": "file"}],
    [{"path": "l", "type": "symlink", "target": "../out"}],
    [{"path": "l", "type": "symlink"}],
    [{"path": "d", "type": "dir", "target": "x"}],
    [{"path": "d", "type": "dir", "chunks": [_chunk("x")]}],
    [{"path": "f", "type": "file", "size": 4, "chunks": [_chunk("x")]}],
    [{"path": "f", "type": "file", "target": "x"}],
    [{"path": "f", "type": "file", "chunks": [{"hash": "A" * 64, "size": 1}]}],
    [{"path": "f", "type": "file", "chunks": [{"hash": _hash("x"), "size": 0}]}],
    [{"path": "f", "type": "file", "chunks": [{"hash": _hash("x"), "size": 1, "x": 1}]}],
    [{"path": "a/./b", "type": "file"}],
    [{"path": "/abs", "type": "file"}],
    [{"path": "a\\b", "type": "file"}],
    [{"path": "x" * 1025, "type": "file"}],
    [{"path": "f", "type": "file", "mode": 0o10000}],
    [{"path": "f", "type": "file", "owner": "root"}],
    [{"path": "f", "type": "fifo"}],
]


@pytest.mark.parametrize("entries", BROKEN)
def test_plain_manifest_leaves_broken_manifests_to_the_models(
    entries: list[dict[str, Any]],
) -> None:
    assert plain_manifest(entries) is None
    assert plain_entries(entries) is None
    with pytest.raises(ValidationError):
        Manifest.model_validate({"entries": entries})


@pytest.mark.parametrize(
    "entries",
    [
        [{"path": "f", "type": "file", "mode": True}],
        [{"path": "f", "type": "file", "size": 3.0, "chunks": [_chunk("x")]}],
        [{"path": "f", "type": "file", "mode": "420"}],
        # The models' hash pattern lets a final newline through; the hand check does not.
        [{"path": "f", "type": "file", "chunks": [{"hash": _hash("x") + "\n", "size": 1}]}],
    ],
)
def test_plain_manifest_leaves_coercions_to_the_models(entries: list[dict[str, Any]]) -> None:
    assert plain_manifest(entries) is None
    assert plain_entries(entries) is None
    assert Manifest.model_validate({"entries": entries}).entries[0].path == "f"


def test_plain_publish_holds_what_the_model_holds() -> None:
    body = {"manifest": {"entries": _tricky()}, "description": "é", "expected_current": "ver_1"}
    plain = plain_publish(json.loads(json.dumps(body)))
    validated = VersionPublish.model_validate(body)
    assert plain == PlainPublish.of(validated)
    assert plain is not None
    assert plain.canonical_json == _dumped(validated.manifest)
    assert plain_publish({"manifest": {}}) == PlainPublish(
        [], '{"entries":[]}', description="", expected_current=None
    )
    assert PlainPublish.of(VersionPublish.model_validate({"manifest": {}})) == plain_publish(
        {"manifest": {}}
    )
    broken_bodies: list[dict[str, Any]] = [
        {"manifest": {"entries": []}, "other": 1},
        {"manifest": {"entries": {}}},
        {"manifest": {"entries": [], "x": 1}},
        {"manifest": {"entries": []}, "description": "x" * 501},
        {"manifest": {"entries": []}, "expected_current": "v" * 41},
        {"description": ""},
    ]
    for broken in broken_bodies:
        assert plain_publish(broken) is None
        with pytest.raises(ValidationError):
            VersionPublish.model_validate(broken)


def test_valid_paths_agrees_with_check_path() -> None:
    assert valid_paths(["a", "a/b", "...", "a/.b", "é/ü", "x" * 1024])
    for bad in ("", "/a", "a/", "a//b", "./a", "a/.", "a/..", "a\\b", "a\x00b", "x" * 1025):
        assert not valid_paths(["ok", bad]), bad


def test_build_manifest_is_what_the_models_build() -> None:
    tree = [
        TreeEntry("a", "dir", 0o755),
        TreeEntry("a/empty", "file", 0o600),
        TreeEntry("a/é.bin", "file", 0o644, size=5),
        TreeEntry("bad\\name", "file", 0o644),
        TreeEntry("link", "symlink", 0o777, target="a/é.bin"),
        TreeEntry("out", "symlink", 0o777, target="../x"),
    ]
    chunked = {"a/é.bin": [FileChunk(0, 2, _hash("1")), FileChunk(2, 3, _hash("2"))]}
    warnings: list[str] = []
    built = build_manifest(tree, chunked, warnings)
    assert [w.split(":")[0] for w in warnings] == ["bad\\name", "out"]
    expected = Manifest(
        entries=[
            ManifestEntry(path="a", type="dir", mode=0o755),
            ManifestEntry(path="a/empty", type="file", mode=0o600, size=0, chunks=[]),
            ManifestEntry.model_validate(
                {
                    "path": "a/é.bin",
                    "type": "file",
                    "mode": 0o644,
                    "size": 5,
                    "chunks": [{"hash": _hash("1"), "size": 2}, {"hash": _hash("2"), "size": 3}],
                }
            ),
            ManifestEntry(path="link", type="symlink", target="a/é.bin"),
        ]
    )
    assert built == expected
    assert [e.model_fields_set for e in built.entries] == [
        e.model_fields_set for e in expected.entries
    ]
    assert manifest_sha256(built) == manifest_sha256(expected)


# -- a 20,000-file publish over HTTP ---------------------------------------------------------

DIRECTORIES, FILES_PER_DIRECTORY = 500, 40


def _large(salt: str) -> tuple[list[dict[str, Any]], dict[str, int]]:
    entries: list[dict[str, Any]] = [{"path": "src", "type": "dir"}]
    sizes: dict[str, int] = {}
    for d in range(DIRECTORIES):
        directory = f"src/pkg{d:04d}"
        entries.append({"path": directory, "type": "dir", "mode": 0o755})
        for i in range(FILES_PER_DIRECTORY):
            digest = _hash(f"{salt}/{directory}/{i}")
            sizes[digest] = 100 + i
            entries.append(
                {
                    "path": f"{directory}/mödule_{i:02d}.py",
                    "type": "file",
                    "mode": 0o644,
                    "size": 100 + i,
                    "chunks": [{"hash": digest, "size": 100 + i}],
                }
            )
    entries.append({"path": "current", "type": "symlink", "target": "src/pkg0001"})
    entries.reverse()
    return entries, sizes


async def _hold(database_url: str, site_id: str, sizes: dict[str, int]) -> None:
    database = Database(database_url)
    try:
        async with database.begin() as conn:
            org_id = (
                await conn.execute(sa.select(sites.c.org_id).where(sites.c.id == site_id))
            ).scalar_one()
            await conn.execute(
                sa.insert(chunks),
                [{"hash": h, "size": s, "created_at": 1} for h, s in sizes.items()],
            )
            await conn.execute(
                sa.insert(site_chunks),
                [
                    {"site_id": site_id, "hash": h, "org_id": org_id, "size": s, "created_at": 1}
                    for h, s in sizes.items()
                ],
            )
    finally:
        await database.dispose()


def test_a_20000_file_manifest_publishes_and_round_trips(setup: Setup) -> None:
    app = setup.app()
    entries, sizes = _large("one")
    anyio.run(_hold, setup.database_url, setup.site_id, sizes)
    expected = Manifest.model_validate({"entries": entries})
    body = {"manifest": {"entries": entries}, "description": "big", "expected_current": None}
    version = ok(setup.http.post(f"/v1/apps/{app['id']}/versions", json=body), 201)
    sha = manifest_sha256(expected)
    assert version["manifest_sha256"] == sha
    assert version["id"] == version_id_for(app["id"], sha)
    assert (version["files"], version["bytes"]) == (expected.file_count, expected.total_bytes)

    got = ok(setup.http.get(f"/v1/apps/{app['id']}/versions/current"))
    assert canonical_manifest_json(ServerManifest.model_validate(got["manifest"])) == (
        canonical_manifest_json(expected)
    )
    page = ok(setup.http.get(f"/v1/apps/{app['id']}/versions/1/files", params={"limit": 3}))
    assert [f["path"] for f in page["items"]] == [e.path for e in expected.entries[:3]]
    assert page["items"][0] == {
        "path": "current",
        "type": "symlink",
        "size": 0,
        "mode": None,
        "digest": None,
        "target": "src/pkg0001",
    }

    # The same manifest again is the current version (200); with one entry twice, 422.
    again = setup.http.post(f"/v1/apps/{app['id']}/versions", json=body)
    assert (again.status_code, again.json()["id"]) == (200, version["id"])
    twice = {
        **body,
        "manifest": {"entries": [*entries, entries[5]]},
        "expected_current": version["id"],
    }
    refused = problem(
        setup.http.post(f"/v1/apps/{app['id']}/versions", json=twice), 422, MANIFEST_INVALID
    )
    assert "appears twice" in refused["detail"]


def test_a_manifest_with_a_lost_chunk_names_it(setup: Setup) -> None:
    app = setup.app()
    entries, sizes = _large("two")
    lost = sorted(sizes)[7]
    anyio.run(
        _hold, setup.database_url, setup.site_id, {h: s for h, s in sizes.items() if h != lost}
    )
    body = {"manifest": {"entries": entries}, "expected_current": None}
    found = problem(
        setup.http.post(f"/v1/apps/{app['id']}/versions", json=body), 422, "chunk_missing"
    )
    assert found["missing"] == [lost]
