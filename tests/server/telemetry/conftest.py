"""Fixtures for the telemetry services: a migrated database, a running writer, tenants."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
import sqlalchemy as sa

from fleetyard.protocol.ids import new_id
from fleetyard.protocol.scopes import parse_scopes
from fleetyard.protocol.telemetry import Agent, AgentCreate
from fleetyard.server.services.auth import Principal
from fleetyard.server.services.telemetry.agents import create_agent
from fleetyard.server.services.telemetry.ingest import IngestWriter
from fleetyard.server.storage.database import Database
from fleetyard.server.storage.tables import organizations, sites


@dataclass
class Tenant:
    """An organisation with one site, an admin principal and one agent."""

    principal: Principal
    site_id: str
    agent: Agent

    @property
    def org_id(self) -> str:
        return self.principal.org_id


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    database = Database(database_url)
    await database.migrate()
    try:
        yield database
    finally:
        await database.dispose()


@pytest.fixture
async def writer(db: Database) -> AsyncIterator[IngestWriter]:
    ingest = IngestWriter(db)
    await ingest.start()
    try:
        yield ingest
    finally:
        await ingest.stop()


async def make_tenant(db: Database, name: str) -> Tenant:
    org_id, site_id = new_id("org"), new_id("site")
    async with db.begin() as conn:
        await conn.execute(sa.insert(organizations).values(id=org_id, name=name, created_at=1))
        await conn.execute(
            sa.insert(sites).values(
                id=site_id, org_id=org_id, name="main", created_at=1, updated_at=1
            )
        )
    principal = Principal(kind="api_key", org_id=org_id, scopes=parse_scopes(["*:*:admin"]))
    agent = await create_agent(db, principal, AgentCreate(site_id=site_id, name="pump-1"))
    return Tenant(principal, site_id, agent)


@pytest.fixture
async def tenant(db: Database) -> Tenant:
    return await make_tenant(db, "acme")


@pytest.fixture
async def other(db: Database) -> Tenant:
    return await make_tenant(db, "globex")
