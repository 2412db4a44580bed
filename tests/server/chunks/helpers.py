"""Helpers for chunk tests: chunk bytes, uploads through the signed routes, and app
versions inserted straight in storage (to reference chunks without the publish API)."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import anyio
import httpx2
import sqlalchemy as sa

from fleetyard.server.services.chunks import gc, references
from fleetyard.server.services.chunks.uploads import Chunks
from fleetyard.server.services.clock import now_ms
from fleetyard.server.settings import Settings
from fleetyard.server.storage.blobs import create_blob_store
from fleetyard.server.storage.database import Database
from fleetyard.server.storage.software_tables import apps, versions
from fleetyard.server.storage.tables import sites
from tests.server.helpers import ok


def chunk(text: str) -> tuple[str, bytes]:
    data = text.encode()
    return hashlib.sha256(data).hexdigest(), data


def upload(http: httpx2.Client, anonymous: httpx2.Client, site_id: str, data: bytes) -> str:
    """Upload one chunk through the filesystem store's signed route (no token) and
    commit it; its hash."""
    h = hashlib.sha256(data).hexdigest()
    ref = {"hash": h, "size": len(data)}
    urls = ok(http.post(f"/v1/sites/{site_id}/chunks/upload-urls", json={"chunks": [ref]}))["urls"]
    for entry in urls:
        response = anonymous.put(entry["url"], content=data)
        assert response.status_code == 204, response.text
    ok(http.post(f"/v1/sites/{site_id}/chunks/commit", json={"chunks": [ref]}))
    return h


def upload_packed(
    http: httpx2.Client, anonymous: httpx2.Client, site_id: str, *datas: bytes
) -> list[str]:
    """Upload chunks together (one multi-chunk request: one pack) and commit them;
    their hashes."""
    refs = [{"hash": hashlib.sha256(d).hexdigest(), "size": len(d)} for d in datas]
    answer = ok(
        http.post(f"/v1/sites/{site_id}/chunks/upload-urls", json={"chunks": refs, "pack": True})
    )
    for batch in answer["batches"]:
        wanted = {c["hash"] for c in batch["chunks"]}
        body = batch_body(*(d for d in datas if hashlib.sha256(d).hexdigest() in wanted))
        response = anonymous.put(batch["url"], content=body)
        assert response.status_code == 204, response.text
    ok(http.post(f"/v1/sites/{site_id}/chunks/commit", json={"chunks": refs}))
    return [r["hash"] for r in refs]


def batch_body(*chunks: bytes) -> bytes:
    """The body of a multi-chunk upload: per chunk its raw SHA-256, size, bytes."""
    return b"".join(
        hashlib.sha256(data).digest() + len(data).to_bytes(4, "big") + data for data in chunks
    )


def staged_files(data_dir: Path) -> list[Path]:
    root = data_dir / "blobs" / ".staging"
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []


def blob_files(data_dir: Path) -> list[Path]:
    root = data_dir / "blobs"
    if not root.exists():
        return []
    return sorted(
        p
        for p in root.rglob("*")
        if p.is_file() and ".tmp" not in p.parts and ".staging" not in p.parts
    )


async def _add_version(
    database_url: str, site_id: str, app_id: str, version_id: str, number: int, hashes: list[str]
) -> None:
    database = Database(database_url)
    try:
        async with database.begin() as conn:
            org_id = await conn.scalar(sa.select(sites.c.org_id).where(sites.c.id == site_id))
            now = now_ms()
            exists = await conn.scalar(sa.select(apps.c.id).where(apps.c.id == app_id))
            if exists is None:
                await conn.execute(
                    sa.insert(apps).values(
                        id=app_id,
                        org_id=org_id,
                        site_id=site_id,
                        name=app_id,
                        targets=[],
                        run={},
                        created_at=now,
                        updated_at=now,
                    )
                )
            await conn.execute(
                sa.insert(versions).values(
                    id=version_id,
                    org_id=org_id,
                    app_id=app_id,
                    number=number,
                    description="",
                    manifest={"entries": []},
                    manifest_sha256="0" * 64,
                    files=0,
                    bytes=0,
                    created_at=now,
                )
            )
            assert (
                await references.missing_for_site(
                    conn, org_id=str(org_id), site_id=site_id, hashes=hashes
                )
                == []
            )
            await references.add_version_references(
                conn,
                org_id=str(org_id),
                site_id=site_id,
                app_id=app_id,
                version_id=version_id,
                hashes=hashes,
            )
    finally:
        await database.dispose()


def add_version(
    database_url: str,
    site_id: str,
    app_id: str,
    version_id: str,
    hashes: list[str],
    number: int = 1,
) -> None:
    """An app (made if absent) and a version of it that references ``hashes``."""
    anyio.run(_add_version, database_url, site_id, app_id, version_id, number, hashes)


async def _run(database_url: str, statement: Any) -> list[Any]:
    database = Database(database_url)
    try:
        async with database.connect() as conn:
            return list((await conn.execute(statement)).all())
    finally:
        await database.dispose()


def rows(database_url: str, statement: Any) -> list[Any]:
    return anyio.run(_run, database_url, statement)


HOUR_MS = 3_600_000


def collect(settings: Settings, *, hours_later: float) -> gc.GcResult:
    """One GC pass as if ``hours_later`` hours had passed."""

    async def run() -> gc.GcResult:
        database = Database(settings.resolved_database_url)
        try:
            ctx = Chunks(
                database, create_blob_store(settings.blob_url, settings.data_dir), settings
            )
            return await gc.collect(ctx, now=now_ms() + int(hours_later * HOUR_MS))
        finally:
            await database.dispose()

    return anyio.run(run)
