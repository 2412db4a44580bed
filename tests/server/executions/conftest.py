"""Fixtures for executions, scenes, schedules and jobs: a database, a bus, a gateway with
devices taken from a real gateway setup (``setup_local_tahoma.json``)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest
import sqlalchemy as sa

from fleetyard.protocol.devices import CommandDefinition, DeviceDefinition
from fleetyard.protocol.executions import Action, Command, ExecutionCreate
from fleetyard.protocol.ids import new_id
from fleetyard.protocol.scopes import parse_scopes
from fleetyard.protocol.telemetry import AgentCreate
from fleetyard.server.bus import MemoryBus
from fleetyard.server.services.auth import Principal
from fleetyard.server.services.telemetry.agents import create_agent
from fleetyard.server.storage.database import Database
from fleetyard.server.storage.device_tables import devices
from fleetyard.server.storage.tables import organizations, sites
from tests.support.fixtures import LOCAL_TAHOMA

SETUP = LOCAL_TAHOMA
AWNING = "io://1234-5678-3293/5770898"
AWNING_2 = "io://1234-5678-3293/3541212"
AWNING_3 = "io://1234-5678-3293/5353900"
LIGHT = "io://1234-5678-3293/5046564"
PERGOLA = "io://1234-5678-3293/7614902"
THERMOSTAT = "io://1234-5678-3293/9999999"
"""Not in the setup: a made-up thermostat with ``setTargetTemperature(p1)``."""


def setup_devices() -> list[dict[str, Any]]:
    data = json.loads(SETUP.read_text())
    found: list[dict[str, Any]] = data["devices"]
    return found


def stored_definition(raw: dict[str, Any]) -> dict[str, Any]:
    """The definition as the device importer stores it (the protocol model's JSON)."""
    commands = [
        CommandDefinition(
            command_name=c["commandName"],
            nparams=c.get("nparams", 0),
            params_sig=c.get("paramsSig"),
        )
        for c in raw.get("commands", [])
    ]
    return DeviceDefinition(commands=commands).model_dump(mode="json")


@dataclass
class Gateway:
    """An organisation with one site, an admin principal and a gateway agent with devices."""

    principal: Principal
    site_id: str
    agent_id: str
    device_ids: dict[str, str] = field(default_factory=dict)

    @property
    def org_id(self) -> str:
        return self.principal.org_id


async def add_gateway(db: Database, principal: Principal, site_id: str, name: str) -> str:
    agent = await create_agent(
        db, principal, AgentCreate(site_id=site_id, name=name, kind="gateway")
    )
    return agent.id


async def add_devices(
    db: Database, gateway: Gateway, agent_id: str | None = None, *, camel_case: bool = False
) -> dict[str, str]:
    """Insert the setup's devices (and the made-up thermostat) behind ``agent_id``."""
    agent_id = agent_id or gateway.agent_id
    raws = setup_devices()
    raws.append(
        {
            "deviceURL": THERMOSTAT,
            "label": "Thermostat",
            "controllableName": "test:Thermostat",
            "definition": {
                "commands": [
                    {"commandName": "setTargetTemperature", "nparams": 1, "paramsSig": "p1"},
                    {"commandName": "refresh", "nparams": 0},
                ]
            },
        }
    )
    ids: dict[str, str] = {}
    async with db.begin() as conn:
        for raw in raws:
            device_id = new_id("dev")
            ids[raw["deviceURL"]] = device_id
            definition = raw["definition"] if camel_case else stored_definition(raw["definition"])
            await conn.execute(
                sa.insert(devices).values(
                    id=device_id,
                    org_id=gateway.org_id,
                    site_id=gateway.site_id,
                    agent_id=agent_id,
                    device_url=raw["deviceURL"],
                    label=raw.get("label") or "",
                    controllable_name=raw.get("controllableName") or "",
                    definition=definition,
                    states=[],
                    attributes=[],
                    created_at=1,
                    updated_at=1,
                )
            )
    return ids


async def make_gateway(db: Database, name: str) -> Gateway:
    org_id, site_id = new_id("org"), new_id("site")
    async with db.begin() as conn:
        await conn.execute(sa.insert(organizations).values(id=org_id, name=name, created_at=1))
        await conn.execute(
            sa.insert(sites).values(
                id=site_id, org_id=org_id, name="home", created_at=1, updated_at=1
            )
        )
    principal = Principal(kind="api_key", org_id=org_id, scopes=parse_scopes(["*:*:admin"]))
    agent_id = await add_gateway(db, principal, site_id, "tahoma")
    gateway = Gateway(principal, site_id, agent_id)
    gateway.device_ids = await add_devices(db, gateway)
    return gateway


def body(*actions: tuple[str, list[tuple[str, list[Any]]]], **extra: Any) -> ExecutionCreate:
    """``body((AWNING, [("setClosure", [50])]))``: an ExecutionCreate, briefly."""
    return ExecutionCreate(
        label="test",
        actions=[
            Action(device_url=url, commands=[Command(name=n, parameters=p) for n, p in commands])
            for url, commands in actions
        ],
        **extra,
    )


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    database = Database(database_url)
    await database.migrate()
    try:
        yield database
    finally:
        await database.dispose()


@pytest.fixture
def bus() -> MemoryBus:
    return MemoryBus()


@pytest.fixture
async def gateway(db: Database) -> Gateway:
    return await make_gateway(db, "acme")


@pytest.fixture
async def other(db: Database) -> Gateway:
    return await make_gateway(db, "globex")
