"""Fixtures for rollouts: an app with target machines and a published version, the bus."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import anyio
import httpx2
import pytest
import sqlalchemy as sa

from fleetyard.protocol.agent_session import DeployUpdate
from fleetyard.server.bus import Subscription
from fleetyard.server.services.rollouts import engine
from fleetyard.server.state import AppState
from fleetyard.server.storage.tables import sites
from tests.conftest import ADMIN_KEY
from tests.server.software.conftest import file_entry, record_chunks
from tests.server.software.conftest import setup as setup  # the sync fixture, re-exported

FILES = {"bin/run.sh": b"#!/bin/sh\necho hi\n", "data.txt": b"payload bytes"}


@dataclass
class Fleet:
    """An app targeting ``agents`` with one published version, and a bus subscription."""

    client: httpx2.AsyncClient
    state: AppState
    org_id: str
    site_id: str
    agents: list[str]
    app_id: str
    version: dict[str, Any]
    sub: Subscription
    seen: list[tuple[str, str, dict[str, Any]]] = field(default_factory=list)

    async def deploy(self, status: int = 201, **body: Any) -> dict[str, Any]:
        response = await self.client.post(f"/v1/apps/{self.app_id}/deploy", json=body)
        assert response.status_code == status, response.text
        result: dict[str, Any] = response.json()
        return result

    async def get(self, rollout_id: str) -> dict[str, Any]:
        response = await self.client.get(f"/v1/rollouts/{rollout_id}")
        assert response.status_code == 200, response.text
        result: dict[str, Any] = response.json()
        return result

    async def drain(self) -> list[tuple[str, str, dict[str, Any]]]:
        """Everything published since the last drain: ``(topic, type, body)``."""
        out: list[tuple[str, str, dict[str, Any]]] = []
        while True:
            try:
                batch = await asyncio.wait_for(self.sub.next_batch(), 0.2)
            except TimeoutError:
                break
            assert isinstance(batch, list)
            out.extend((topic, event.type, json.loads(event.body)) for topic, event in batch)
        self.seen.extend(out)
        return out

    async def update(
        self, rollout_id: str, agent_id: str, state: str, *, error: str | None = None, **kw: Any
    ) -> None:
        await engine.record_update(
            self.state.database,
            self.state.bus,
            org_id=self.org_id,
            agent_id=agent_id,
            update=DeployUpdate(ref="r", rollout_id=rollout_id, state=state, error=error),  # type: ignore[arg-type]
            **kw,
        )

    async def advance(self, rollout_id: str, now_ms: int) -> None:
        await engine.advance(
            self.state.database,
            self.state.bus,
            org_id=self.org_id,
            rollout_id=rollout_id,
            now_ms=now_ms,
        )


def starts(events: list[tuple[str, str, dict[str, Any]]]) -> list[str]:
    """The agents that got a ``deploy.start`` frame, in order."""
    return [t.split(":")[1] for t, kind, _ in events if kind == "deploy.start"]


def cancels(events: list[tuple[str, str, dict[str, Any]]]) -> list[str]:
    return [t.split(":")[1] for t, kind, _ in events if kind == "deploy.cancel"]


def software(events: list[tuple[str, str, dict[str, Any]]]) -> list[str]:
    return [kind for t, kind, _ in events if t.endswith(":software")]


async def make_fleet(
    transport: httpx2.ASGITransport, database_url: str, machines: int = 3
) -> AsyncIterator[Fleet]:
    state = transport.app.state.fleetyard  # type: ignore[attr-defined]
    assert isinstance(state, AppState)
    async with httpx2.AsyncClient(
        transport=transport,
        base_url="http://fleetyard.test",
        headers={"Authorization": f"Bearer {ADMIN_KEY}"},
    ) as client:
        site = (await client.post("/v1/sites", json={"name": "plant"})).json()
        agents = []
        for i in range(machines):
            body = {"site_id": site["id"], "name": f"m{i}", "kind": "device"}
            agents.append((await client.post("/v1/agents", json=body)).json()["id"])
        body = {
            "site_id": site["id"],
            "name": "kiosk",
            "targets": agents,
            "extract_path": "/opt/kiosk",
            "run": {"health_command": ["true"]},
        }
        app = (await client.post("/v1/apps", json=body)).json()
        await anyio.to_thread.run_sync(
            lambda: record_chunks(database_url, site["id"], *FILES.values())
        )
        manifest = {"entries": [file_entry(p, d) for p, d in FILES.items()]}
        response = await client.post(f"/v1/apps/{app['id']}/versions", json={"manifest": manifest})
        assert response.status_code == 201, response.text
        async with state.database.connect() as conn:
            org_id = (
                await conn.execute(sa.select(sites.c.org_id).where(sites.c.id == site["id"]))
            ).scalar_one()
        topics = [f"agent:{a}:control" for a in agents] + [f"org:{org_id}:software"]
        sub = state.bus.subscribe(topics)
        try:
            yield Fleet(client, state, org_id, site["id"], agents, app["id"], response.json(), sub)
        finally:
            sub.close()


@pytest.fixture
async def fleet(
    async_app_transport: httpx2.ASGITransport, database_url: str
) -> AsyncIterator[Fleet]:
    async for made in make_fleet(async_app_transport, database_url):
        yield made


@pytest.fixture
async def fleet5(
    async_app_transport: httpx2.ASGITransport, database_url: str
) -> AsyncIterator[Fleet]:
    async for made in make_fleet(async_app_transport, database_url, machines=5):
        yield made
