"""What the rollout services share: the write transaction, effects after commit, models."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from fleetyard.protocol.agent_session import DeployCancel, DeployStart
from fleetyard.protocol.common import format_timestamp
from fleetyard.protocol.rollouts import (
    MachineState,
    Rollout,
    RolloutCounts,
    RolloutMachine,
    RolloutState,
)
from fleetyard.server.bus import Bus, BusEvent
from fleetyard.server.services.agent_commands import control_topic
from fleetyard.server.services.clock import optional_datetime, to_datetime
from fleetyard.server.storage.database import Database
from fleetyard.server.storage.dialect import begin_write
from fleetyard.server.storage.repositories.rollouts import MachineRecord, RolloutRecord

DEPLOY = "deploy"
"""The permission to deploy and cancel rollouts (``admin`` implies it; ``write`` does not)."""

EVENT_STARTED = "rollout.started"
EVENT_COMPLETED = "rollout.completed"
EVENT_FAILED = "rollout.failed"
EVENT_CANCELLED = "rollout.cancelled"
EVENT_MACHINE_FAILED = "machine.deploy_failed"


def software_topic(org_id: str) -> str:
    """The bus topic of an organisation's software events.

    >>> software_topic("org_1")
    'org:org_1:software'
    """
    return f"org:{org_id}:software"


@asynccontextmanager
async def writing(database: Database) -> AsyncIterator[AsyncConnection]:
    """A write transaction holding SQLite's write lock from its first statement."""
    async with database.engine.connect() as conn:
        await begin_write(conn, database.kind)
        yield conn
        await conn.commit()


@dataclass
class Effects:
    """What to announce once the transaction committed: agent frames and software events.

    ``sites`` remembers each app's site for the events' bodies (app id → site id).
    """

    frames: list[tuple[str, DeployStart | DeployCancel]] = field(default_factory=list)
    events: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    sites: dict[str, str] = field(default_factory=dict)

    def event(self, type: str, at_ms: int, **body: Any) -> None:
        self.events.append((type, {**body, "at": format_timestamp(to_datetime(at_ms))}))


async def deliver(bus: Bus, org_id: str, effects: Effects) -> None:
    """Publish committed software events, then the frames for the agents' sessions."""
    for type, body in effects.events:
        await bus.publish(
            software_topic(org_id),
            BusEvent(type=type, key=str(body.get("app_id", "")), position=0, body=json.dumps(body)),
        )
    for agent_id, frame in effects.frames:
        await bus.publish(
            control_topic(agent_id),
            BusEvent(type=frame.type, key=agent_id, position=0, body=frame.model_dump_json()),
        )


def machine_model(record: MachineRecord) -> RolloutMachine:
    return RolloutMachine(
        agent_id=record.agent_id,
        state=MachineState(record.state),
        wave=record.wave,
        error=record.error,
        started_at=optional_datetime(record.started_at),
        updated_at=to_datetime(record.updated_at),
        finished_at=optional_datetime(record.finished_at),
    )


def counts_of(machines: list[MachineRecord]) -> RolloutCounts:
    counts: dict[str, int] = {}
    for machine in machines:
        counts[machine.state] = counts.get(machine.state, 0) + 1
    return RolloutCounts(**counts)


def rollout_model(
    record: RolloutRecord,
    machines: list[MachineRecord],
    *,
    version_number: int,
    only_agent: str | None = None,
) -> Rollout:
    shown = machines if only_agent is None else [m for m in machines if m.agent_id == only_agent]
    return Rollout(
        id=record.id,
        app_id=record.app_id,
        version_id=record.version_id,
        version_number=version_number,
        state=RolloutState(record.state),
        options=record.options,
        counts=counts_of(machines),
        machines=[machine_model(m) for m in shown],
        created_at=to_datetime(record.created_at),
        updated_at=to_datetime(record.updated_at),
        finished_at=optional_datetime(record.finished_at),
        schedule_at=optional_datetime(record.schedule_at),
    )
