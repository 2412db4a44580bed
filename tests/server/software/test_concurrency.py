"""Two publishers racing with the same expected_current: one 201, one 412; events."""

from __future__ import annotations

import json
from typing import Any

import anyio
import httpx2
import pytest

from fleetyard.server.state import AppState
from tests.conftest import ADMIN_KEY
from tests.server.software.conftest import file_entry, record_chunks

pytestmark = pytest.mark.anyio


def _state(transport: httpx2.ASGITransport) -> AppState:
    state = transport.app.state.fleetyard  # type: ignore[attr-defined]
    assert isinstance(state, AppState)
    return state


async def test_concurrent_publishes(
    async_app_transport: httpx2.ASGITransport, database_url: str
) -> None:
    async with httpx2.AsyncClient(
        transport=async_app_transport,
        base_url="http://fleetyard.test",
        headers={"Authorization": f"Bearer {ADMIN_KEY}"},
    ) as client:
        site = (await client.post("/v1/sites", json={"name": "race"})).json()
        app = (await client.post("/v1/apps", json={"site_id": site["id"], "name": "r"})).json()
        blobs = [f"content {i}".encode() for i in range(6)]
        await anyio.to_thread.run_sync(lambda: record_chunks(database_url, site["id"], *blobs))
        url = f"/v1/apps/{app['id']}/versions"
        first = await client.post(url, json={"manifest": {"entries": [file_entry("a", blobs[0])]}})
        assert first.status_code == 201, first.text
        current = first.json()["id"]

        for round_ in range(2):
            results: list[httpx2.Response] = []

            async def publish(
                data: bytes, results: list[httpx2.Response] = results, current: str = current
            ) -> None:
                results.append(
                    await client.post(
                        url,
                        json={
                            "manifest": {"entries": [file_entry("a", data)]},
                            "expected_current": current,
                        },
                    )
                )

            async with anyio.create_task_group() as group:
                group.start_soon(publish, blobs[1 + 2 * round_])
                group.start_soon(publish, blobs[2 + 2 * round_])
            statuses = sorted(r.status_code for r in results)
            assert statuses == [201, 412], [r.text for r in results]
            winner = next(r for r in results if r.status_code == 201).json()
            loser = next(r for r in results if r.status_code == 412).json()
            assert loser["code"] == "version_stale"
            assert loser["current_version_id"] == winner["id"]
            assert winner["number"] == 2 + round_
            # The loser retries with the id it was given, and wins.
            current = winner["id"]
        listed = (await client.get(url)).json()["items"]
        assert [v["number"] for v in listed] == [3, 2, 1]


async def test_events_on_the_bus(
    async_app_transport: httpx2.ASGITransport, database_url: str
) -> None:
    state = _state(async_app_transport)
    async with httpx2.AsyncClient(
        transport=async_app_transport,
        base_url="http://fleetyard.test",
        headers={"Authorization": f"Bearer {ADMIN_KEY}"},
    ) as client:
        site = (await client.post("/v1/sites", json={"name": "events"})).json()
        app = (await client.post("/v1/apps", json={"site_id": site["id"], "name": "e"})).json()
        org_id = await _org_of(database_url, site["id"])
        await anyio.to_thread.run_sync(lambda: record_chunks(database_url, site["id"], b"1", b"2"))
        url = f"/v1/apps/{app['id']}/versions"
        async with state.bus.subscribe([f"org:{org_id}:software"]) as subscription:
            v1 = await client.post(url, json={"manifest": {"entries": [file_entry("a", b"1")]}})
            v2 = await client.post(
                url,
                json={
                    "manifest": {"entries": [file_entry("a", b"2")]},
                    "expected_current": v1.json()["id"],
                },
            )
            assert v2.status_code == 201
            rolled = await client.post(f"/v1/apps/{app['id']}/rollback")
            assert rolled.status_code == 200
            seen: list[tuple[str, dict[str, Any]]] = []
            with anyio.fail_after(5):
                while len(seen) < 3:
                    batch = await subscription.next_batch()
                    assert isinstance(batch, list)
                    seen += [(event.type, json.loads(event.body)) for _, event in batch]
        assert [t for t, _ in seen] == [
            "version.published",
            "version.published",
            "version.rolled_back",
        ]
        assert [b["number"] for _, b in seen] == [1, 2, 1]
        assert seen[2][1]["version_id"] == v1.json()["id"]
        assert all(b["app_id"] == app["id"] and b["at"].endswith("Z") for _, b in seen)


async def _org_of(database_url: str, site_id: str) -> str:
    import sqlalchemy as sa

    from fleetyard.server.storage.database import Database
    from fleetyard.server.storage.tables import sites

    database = Database(database_url)
    try:
        async with database.connect() as conn:
            org: str = (
                await conn.execute(sa.select(sites.c.org_id).where(sites.c.id == site_id))
            ).scalar_one()
    finally:
        await database.dispose()
    return org
