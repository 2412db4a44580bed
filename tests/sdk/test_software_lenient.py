"""A newer server may add members to manifests and run settings: the SDK still reads them.

Manifests and ``run`` are request models (strict: the server refuses unknown
members); inside responses the SDK reads them with lenient subclasses.
"""

from __future__ import annotations

import json
from hashlib import sha256
from typing import Any

import pydantic
import pytest

import fleetyard
from fleetyard.protocol.software import (
    AppRun,
    AppUpdate,
    Manifest,
    ManifestEntry,
    ServerManifest,
    VersionPublish,
    canonical_manifest_json,
    manifest_sha256,
)

from .fakes import TS, FakeAPI, make_async_client, ok

DATA = b"hello\n"
HASH = sha256(DATA).hexdigest()


def manifest_json() -> dict[str, Any]:
    """A manifest as a newer server might send it: unknown members at every level."""
    return {
        "entries": [
            {"path": "bin", "type": "dir", "mode": 0o755, "owner": "root"},
            {
                "path": "bin/hello",
                "type": "file",
                "mode": 0o755,
                "size": len(DATA),
                "chunks": [{"hash": HASH, "size": len(DATA), "compression": "zstd"}],
                "xattrs": {"user.origin": "ci"},
            },
            {"path": "latest", "type": "symlink", "target": "bin/hello", "owner": "root"},
        ],
        "signature": "sig-1",
    }


def version_json() -> dict[str, Any]:
    return {
        "id": "ver_" + "b" * 32,
        "app_id": "app_kiosk",
        "number": 2,
        "description": "",
        "manifest_sha256": "c" * 64,
        "files": 1,
        "bytes": len(DATA),
        "created_at": TS,
        "current": True,
        "manifest": manifest_json(),
    }


def app_json() -> dict[str, Any]:
    return {
        "id": "app_kiosk",
        "site_id": "site_1",
        "name": "kiosk",
        "targets": ["agt_1"],
        "extract_path": None,
        "run": {"command": ["./serve"], "env": {}, "health_command": None, "restart": "always"},
        "current_version": {k: v for k, v in version_json().items() if k != "manifest"},
        "deleted_at": None,
        "created_at": TS,
        "updated_at": TS,
    }


def test_a_version_whose_manifest_has_unknown_members_parses(
    api: FakeAPI, client: fleetyard.Client
) -> None:
    api.reply(ok(version_json()))

    version = client.versions.get("app_kiosk", 2)

    manifest = version.manifest
    assert manifest is not None
    assert [e.path for e in manifest.entries] == ["bin", "bin/hello", "latest"]
    hello = manifest.entries[1]
    assert hello.model_extra == {"xattrs": {"user.origin": "ci"}}
    assert hello.chunks is not None
    assert hello.chunks[0].hash == HASH
    assert hello.chunks[0].model_extra == {"compression": "zstd"}
    # Unknown members change nothing the SDK derives: ids come from the canonical form.
    plain = Manifest(
        entries=[
            ManifestEntry(path="bin", type="dir", mode=0o755),
            ManifestEntry(
                path="bin/hello",
                type="file",
                mode=0o755,
                size=len(DATA),
                chunks=[{"hash": HASH, "size": len(DATA)}],  # type: ignore[list-item]
            ),
            ManifestEntry(path="latest", type="symlink", target="bin/hello"),
        ]
    )
    assert canonical_manifest_json(manifest) == canonical_manifest_json(plain)
    assert manifest_sha256(manifest) == manifest_sha256(plain)
    assert manifest.chunk_hashes() == {HASH}


def test_an_app_whose_run_has_unknown_members_parses_and_patches_back(
    api: FakeAPI, client: fleetyard.Client
) -> None:
    api.reply(ok(app_json()), ok(app_json()))

    app = client.apps.get("app_kiosk")

    assert app.run.command == ["./serve"]
    assert app.run.model_extra == {"restart": "always"}
    assert isinstance(app.run, AppRun)
    # Sent back with a patch, the member reaches the server that knows it.
    client.apps.patch("app_kiosk", run=app.run)
    assert json.loads(api.last.content)["run"]["restart"] == "always"


@pytest.mark.anyio
async def test_the_async_client_reads_them_too(api: FakeAPI, sleeps: list[float]) -> None:
    api.reply(ok(app_json()), ok(version_json()))
    async with make_async_client(api, sleeps, api_key="k") as client:
        app = await client.apps.get("app_kiosk")
        version = await client.versions.get("app_kiosk", 2)
    assert app.run.model_extra == {"restart": "always"}
    assert version.manifest is not None
    assert version.manifest.model_extra == {"signature": "sig-1"}


def test_what_a_client_sends_stays_strict() -> None:
    with pytest.raises(pydantic.ValidationError):
        AppUpdate.model_validate({"run": {"command": ["x"], "restart": "always"}})
    with pytest.raises(pydantic.ValidationError):
        VersionPublish.model_validate({"manifest": manifest_json()})


def test_lenient_manifests_keep_the_manifest_rules() -> None:
    broken = {"entries": [{"path": "../escape", "type": "file", "owner": "root"}]}
    with pytest.raises(pydantic.ValidationError, match=r"'\.\.' segment"):
        ServerManifest.model_validate(broken)
