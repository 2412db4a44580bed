"""Fixtures for apps and versions: a site with an agent, chunks the site holds, manifests."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

import anyio
import httpx2
import pytest
import sqlalchemy as sa

from fleetyard.server.storage.database import Database
from fleetyard.server.storage.software_tables import chunks, site_chunks
from fleetyard.server.storage.tables import sites
from tests.server.helpers import make_site, ok


def chunk_of(data: bytes) -> dict[str, Any]:
    return {"hash": hashlib.sha256(data).hexdigest(), "size": len(data)}


def file_entry(path: str, data: bytes, mode: int = 0o644) -> dict[str, Any]:
    """A manifest file entry with one chunk (none for empty data)."""
    return {
        "path": path,
        "type": "file",
        "mode": mode,
        "size": len(data),
        "chunks": [chunk_of(data)] if data else [],
    }


def dir_entry(path: str, mode: int = 0o755) -> dict[str, Any]:
    return {"path": path, "type": "dir", "mode": mode}


def link_entry(path: str, target: str) -> dict[str, Any]:
    return {"path": path, "type": "symlink", "target": target}


def manifest(*entries: dict[str, Any]) -> dict[str, Any]:
    return {"entries": list(entries)}


async def _record_chunks(database_url: str, site_id: str, blobs: list[bytes]) -> None:
    database = Database(database_url)
    try:
        async with database.begin() as conn:
            org_id = (
                await conn.execute(sa.select(sites.c.org_id).where(sites.c.id == site_id))
            ).scalar_one()
            for data in blobs:
                digest = hashlib.sha256(data).hexdigest()
                have = (
                    await conn.execute(sa.select(chunks.c.hash).where(chunks.c.hash == digest))
                ).first()
                if have is None:
                    await conn.execute(
                        sa.insert(chunks).values(hash=digest, size=len(data), created_at=1)
                    )
                mine = (
                    await conn.execute(
                        sa.select(site_chunks.c.hash).where(
                            site_chunks.c.hash == digest, site_chunks.c.site_id == site_id
                        )
                    )
                ).first()
                if mine is None:
                    await conn.execute(
                        sa.insert(site_chunks).values(
                            site_id=site_id,
                            hash=digest,
                            org_id=org_id,
                            size=len(data),
                            created_at=1,
                        )
                    )
    finally:
        await database.dispose()


def record_chunks(database_url: str, site_id: str, *blobs: bytes) -> None:
    """Make the site hold these chunks, as an upload would (rows straight in storage)."""
    anyio.run(_record_chunks, database_url, site_id, [b for b in blobs if b])


@dataclass
class Setup:
    """The admin's site, an agent in it and a helper to publish."""

    http: httpx2.Client
    database_url: str
    site_id: str
    agent_id: str

    def app(self, **extra: Any) -> dict[str, Any]:
        body = {"site_id": self.site_id, "name": "kiosk", **extra}
        created: dict[str, Any] = ok(self.http.post("/v1/apps", json=body), 201)
        return created

    def publish(
        self,
        app_id: str,
        files: dict[str, bytes],
        *,
        expected: str | None,
        description: str = "",
        extra: tuple[dict[str, Any], ...] = (),
        status: int = 201,
    ) -> dict[str, Any]:
        """Record the files' chunks on the site, then publish them (plus ``extra`` entries)."""
        record_chunks(self.database_url, self.site_id, *files.values())
        entries = [file_entry(p, d) for p, d in files.items()] + list(extra)
        response = self.http.post(
            f"/v1/apps/{app_id}/versions",
            json={
                "manifest": manifest(*entries),
                "description": description,
                "expected_current": expected,
            },
        )
        version: dict[str, Any] = ok(response, status)
        return version


@pytest.fixture
def setup(http: httpx2.Client, database_url: str) -> Setup:
    site = make_site(http, "plant")
    agent = ok(
        http.post("/v1/agents", json={"site_id": site["id"], "name": "press-1", "kind": "device"}),
        201,
    )
    return Setup(http, database_url, site["id"], agent["id"])
